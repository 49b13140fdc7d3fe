"""After a failed hibernation, unpause the DAGs that were active before the export paused them."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from mwaa_hibernate import metrics as published
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
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        time_left=lambda: context.get_remaining_time_in_millis() / 1000,
    )
    published.publish(metrics, event["environment_name"], {published.DAGS_UNPAUSED_AFTER_FAILURE: restored["restored"]})
    return restored
