"""Before recording a wake, check from outside the environment that the restore is there."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import restore_check, settings

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, snapshot_id, import: the import DAG's callback output}. Returns {counts,
    paused_checked}; raises RestoreNotConfirmed."""
    config = settings.Settings.from_environment()
    return restore_check.check_restore(
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        bucket=config.bucket,
        already_restored=bool((event.get("import") or {}).get("already_restored")),
    )
