"""Save the environment's configuration (GetEnvironment output) as the first file of a new snapshot."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from mwaa_hibernate import metrics as published
from mwaa_hibernate import settings, snapshots

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, snapshot_id}. Returns {snapshot_id, key, airflow_version}."""
    config = settings.Settings.from_environment()
    saved = snapshots.save_configuration(
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        kms_key_arn=config.kms_key_arn,
    )
    published.publish(metrics, event["environment_name"], {published.CONFIGURATIONS_SAVED: 1})
    return saved
