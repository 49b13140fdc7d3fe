"""Delete snapshots beyond the number to keep; the latest is never deleted."""

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
    """event: {environment_name, keep}. Returns {kept, deleted} (snapshot ids)."""
    config = settings.Settings.from_environment()
    pruned = snapshots.prune(environment=event["environment_name"], keep=int(event["keep"]), bucket=config.bucket)
    published.publish(metrics, event["environment_name"], {published.SNAPSHOTS_PRUNED: len(pruned["deleted"])})
    return pruned
