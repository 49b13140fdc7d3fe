"""The adaptive schedule's steps in the state machines: honour overrides, plan the next wake, measure the wake."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Tracer
from mwaa_hibernate import adaptive, settings

logger = Logger()
tracer = Tracer()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {action: "gate"|"plan"|"record_wake", environment_name, ...}

    gate: {flow, execution_input} -> {proceed, reason, arranged}
    plan: {snapshot_id, started_at} (after a hibernation) -> {mode, planned, wake_at, due_at, dag_id, reason}
    record_wake: {started_at, execution_input} -> {seconds, late_seconds, ...}
    replan: {} (the CLI, after an override changed) -> {planned, reason}
    """
    bucket = settings.Settings.from_environment().bucket
    config = adaptive.AdaptiveSettings.from_environment()
    environment, action = event["environment_name"], event["action"]
    execution_input = event.get("execution_input") or {}
    if action == "gate":
        trigger = str(execution_input.get("trigger") or "")
        answer = adaptive.gate(
            environment=environment, flow=event["flow"], trigger=trigger, bucket=bucket, config=config
        )
    elif action == "plan":
        answer = adaptive.after_hibernation(
            environment=environment,
            snapshot_id=event["snapshot_id"],
            started_at=event["started_at"],
            bucket=bucket,
            config=config,
        )
    elif action == "record_wake":
        answer = adaptive.after_wake(
            environment=environment,
            execution_input=execution_input,
            started_at=event["started_at"],
            bucket=bucket,
            config=config,
            topic_arn=settings.optional(settings.ALERT_TOPIC_ARN),
        )
    elif action == "replan":  # `mwaa-hibernate resume`: plan the wake again from the latest snapshot
        answer = adaptive.replan(environment=environment, bucket=bucket, config=config)
    else:
        raise ValueError(f"action must be gate, plan, record_wake or replan, not {action!r}")
    logger.info("Adaptive schedule step done", extra={"action": action, **answer})
    return answer
