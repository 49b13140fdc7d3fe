"""After a failed hibernation, unpause the DAGs that were active before the export paused them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from mwaa_hibernate import paused_dags, settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, snapshot_id}. Returns {restored, unpaused, kept_paused, note}."""
    config = settings.Settings.from_environment()
    restored = paused_dags.restore_paused_states(
        environment=event["environment_name"], snapshot_id=event["snapshot_id"], bucket=config.bucket
    )
    metrics.add_metric(name="DagsUnpausedAfterFailure", unit=MetricUnit.Count, value=restored["restored"])
    return restored
