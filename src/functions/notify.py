"""Send alerts for a person to the alert topic, from the state machines and from the EventBridge rule."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from mwaa_hibernate import metrics as published
from mwaa_hibernate import notify, settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: an EventBridge execution status change, or {kind, flow, environment_name, execution_arn, ...}
    from a state machine. Returns {published, subject}.

    Counts how each execution ended, once: its own report or catch path (success, warning, failure), or the
    EventBridge rule for the endings those cannot report (timed out, stopped, failed outside the catch paths)."""
    if "detail-type" in event:
        environment = settings.required(settings.ENVIRONMENT_NAME)
        detail = event.get("detail") or {}
        alert = notify.from_event(
            event,
            environment=environment,
            status_now=notify.environment_now(environment),
            step=notify.last_step(detail.get("executionArn", "")),
        )
        ended = None if alert is None else published.outcome(notify.event_flow(detail), succeeded=False)
    else:
        environment = event["environment_name"]
        # A warning on the way ("ongoing") does not end the execution: it is counted when the execution ends.
        ended = None if event.get("ongoing") else published.outcome(event["flow"], succeeded=event["kind"] != "failure")
        if event["kind"] == "success" and settings.optional(settings.NOTIFY_ON_SUCCESS, "false") != "true":
            alert = None
        else:
            alert = notify.from_state_machine(event, status_now=notify.environment_now(environment))
    values = {} if ended is None else {ended: 1}
    if alert is not None:
        notify.publish(alert, topic_arn=settings.required(settings.ALERT_TOPIC_ARN))
        logger.info("Alert published", extra={"subject": alert.subject})
        values[published.ALERTS_PUBLISHED] = 1
    published.publish(metrics, environment, values)
    return {"published": alert is not None, "subject": None if alert is None else alert.subject}
