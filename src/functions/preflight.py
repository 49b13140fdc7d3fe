"""Preflight: may this hibernation or wake start? Refuses unsafe starts before anything is touched."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import preflight, settings

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {flow: "hibernate"|"wake", environment_name, execution_arn, started_at, settings}

    Returns {action, environment_status, snapshot_id, snapshot_uri}.
    """
    config = settings.Settings.from_environment()
    preflight.check_timeouts(event.get("settings") or {})
    common = {
        "environment": event["environment_name"],
        "execution_arn": event["execution_arn"],
        "bucket": config.bucket,
        "state_machine_arns": [
            settings.required(settings.HIBERNATE_STATE_MACHINE_ARN),
            settings.required(settings.WAKE_STATE_MACHINE_ARN),
        ],
    }
    if event["flow"] == "hibernate":
        answer = preflight.check_hibernate(started_at=event["started_at"], **common)
    elif event["flow"] == "wake":
        answer = preflight.check_wake(**common)
    else:
        raise ValueError(f"flow must be hibernate or wake, not {event['flow']!r}")
    logger.info("Preflight decided", extra={"flow": event["flow"], **answer})
    return answer
