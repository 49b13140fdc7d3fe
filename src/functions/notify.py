"""Send alerts for a person to the alert topic, from the state machines and from the EventBridge rule."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit
from mwaa_hibernate import notify, settings

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: an EventBridge execution status change, or {kind, flow, environment_name, execution_arn, ...}
    from a state machine. Returns {published, subject}."""
    if "detail-type" in event:
        environment = settings.required(settings.ENVIRONMENT_NAME)
        detail = event.get("detail") or {}
        alert = notify.from_event(
            event,
            environment=environment,
            status_now=notify.environment_now(environment),
            step=notify.last_step(detail.get("executionArn", "")),
        )
    elif event["kind"] == "success" and settings.optional(settings.NOTIFY_ON_SUCCESS, "false") != "true":
        alert = None
    else:
        alert = notify.from_state_machine(event, status_now=notify.environment_now(event["environment_name"]))
    if alert is None:
        metrics.add_metric(name="AlertsAlreadySent", unit=MetricUnit.Count, value=1)
        return {"published": False, "subject": None}
    notify.publish(alert, topic_arn=settings.required(settings.ALERT_TOPIC_ARN))
    logger.info("Alert published", extra={"subject": alert.subject})
    metrics.add_metric(name="AlertsPublished", unit=MetricUnit.Count, value=1)
    return {"published": True, "subject": alert.subject}
