"""Move the latest pointer to a verified snapshot."""

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
    """event: {environment_name, snapshot_id, configuration_sha256}. Returns {snapshot_id, previous_snapshot_id}.

    Publishes the new latest snapshot's size, rows, tables, export time and growth over the previous one."""
    config = settings.Settings.from_environment()
    environment = event["environment_name"]
    committed = snapshots.commit_latest(
        environment=environment,
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        configuration_sha256=event.get("configuration_sha256"),
    )
    logger.info("Latest pointer moved", extra=committed)
    figures = snapshots.committed_figures(environment=environment, bucket=config.bucket, **committed)
    published.publish(metrics, environment, published.snapshot_values(figures))
    return committed
