"""Before the delete: could a wake recreate the environment? Refuses (keeping it) if not (invariant 8)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import settings
from mwaa_hibernate.environment.recreatable import check_recreatable

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, snapshot_id, configuration_sha256}. Returns {recreatable, warnings, airflow_version};
    raises EnvironmentCannotBeRecreated saying what to fix."""
    config = settings.Settings.from_environment()
    checked = check_recreatable(
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        configuration_sha256=event["configuration_sha256"],
        overrides=settings.optional(settings.ENVIRONMENT_OVERRIDES),
        execution_role_name=settings.optional(settings.EXECUTION_ROLE_NAME),
    )
    logger.info("Recreatability checked", extra=checked)
    return checked
