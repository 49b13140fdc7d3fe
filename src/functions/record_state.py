"""Record whether the environment is hibernated or awake (state.json), which the next wake reads."""

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
    """event: {environment_name, phase: "HIBERNATED"|"AWAKE", snapshot_id, started_at?} (started_at: the wake
    execution's start). Returns {phase, snapshot_id, hours_hibernated?}."""
    config = settings.Settings.from_environment()
    environment = event["environment_name"]
    recorded = snapshots.record_state(
        environment=environment,
        phase=event["phase"],
        snapshot_id=event.get("snapshot_id"),
        bucket=config.bucket,
        started_at=event.get("started_at"),
    )
    values = {published.ENVIRONMENT_AWAKE: 1 if recorded["phase"] == "AWAKE" else 0}
    if "hours_hibernated" in recorded:
        values[published.HOURS_HIBERNATED] = recorded["hours_hibernated"]
    published.publish(metrics, environment, values)
    return recorded
