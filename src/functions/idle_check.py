"""Every few minutes while awake (adaptive mode): is the environment idle and the next run beyond break-even?"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import adaptive, airflow_api, settings

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: whatever the schedule sends (ignored). Returns {checked, decision?, reason, execution_arn?}."""
    answer = adaptive.idle_check(
        environment=settings.required(settings.ENVIRONMENT_NAME),
        bucket=settings.Settings.from_environment().bucket,
        config=adaptive.AdaptiveSettings.from_environment(),
        api_factory=airflow_api.for_version,
    )
    logger.info("Idle check done", extra=answer)
    return answer
