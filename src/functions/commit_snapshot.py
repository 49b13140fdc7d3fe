"""Move the latest pointer to a verified snapshot."""

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
    """event: {environment_name, snapshot_id}. Returns {snapshot_id, previous_snapshot_id}."""
    config = settings.Settings.from_environment()
    committed = snapshots.commit_latest(
        environment=event["environment_name"], snapshot_id=event["snapshot_id"], bucket=config.bucket
    )
    logger.info("Latest pointer moved", extra=committed)
    metrics.add_metric(name="SnapshotsCommitted", unit=MetricUnit.Count, value=1)
    return committed
