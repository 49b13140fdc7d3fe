"""Choose how the hibernation reaches the environment's metadata database (the carrier), before each
hibernation and wake: the version guard, then the probes, then the record in carrier.json."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import carriers, settings

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {purpose: "hibernate"|"wake", environment_name, snapshot_id?}

    Returns {carrier: "in-process"|"task"|"api-server", airflow_version, probes}.
    """
    if event["purpose"] not in ("hibernate", "wake"):
        raise ValueError(f"purpose must be hibernate or wake, not {event['purpose']!r}")
    config = settings.Settings.from_environment()
    answer = carriers.choose(
        environment=event["environment_name"],
        bucket=config.bucket,
        purpose=event["purpose"],
        snapshot_id=event.get("snapshot_id"),
    )
    logger.info("Carrier chosen", extra={"carrier": answer["carrier"], "airflow_version": answer["airflow_version"]})
    return answer
