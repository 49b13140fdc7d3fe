"""Recreate the environment from the configuration saved with the snapshot, with the user's overrides."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from mwaa_hibernate import metrics as published
from mwaa_hibernate import settings
from mwaa_hibernate.environment.create import create_environment

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, snapshot_id}. Returns {arn}."""
    config = settings.Settings.from_environment()
    created = create_environment(
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        overrides=settings.optional(settings.ENVIRONMENT_OVERRIDES),
        execution_role_name=settings.optional(settings.EXECUTION_ROLE_NAME),
    )
    published.publish(metrics, event["environment_name"], {published.ENVIRONMENTS_CREATED: 1})
    return created
