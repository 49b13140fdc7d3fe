"""Verify a snapshot from outside the environment before anything relies on it."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import settings, snapshots

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, snapshot_id, configuration_sha256}. Returns {snapshot_id, files, bytes};
    raises if unusable."""
    config = settings.Settings.from_environment()
    summary = snapshots.verify(
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        configuration_sha256=event.get("configuration_sha256") or "",
    )
    logger.info("Snapshot verified", extra=summary)
    return summary
