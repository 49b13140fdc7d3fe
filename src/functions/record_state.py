"""Record whether the environment is hibernated or awake (state.json), which the next wake reads."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from mwaa_hibernate import settings, snapshots

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, phase: "HIBERNATED"|"AWAKE", snapshot_id}. Returns {phase, snapshot_id}."""
    config = settings.Settings.from_environment()
    recorded = snapshots.record_state(
        environment=event["environment_name"],
        phase=event["phase"],
        snapshot_id=event.get("snapshot_id"),
        bucket=config.bucket,
    )
    metrics.add_metric(name=f"Environment{event['phase'].title()}", unit=MetricUnit.Count, value=1)
    return recorded
