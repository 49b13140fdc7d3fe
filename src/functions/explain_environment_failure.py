"""Fail the waiter with MWAA's own words for why the environment failed."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from mwaa_hibernate import metrics as published
from mwaa_hibernate.environment import describe_environment, failure_text
from mwaa_hibernate.exceptions import EnvironmentFailed

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {environment_name, target, status}. Always raises EnvironmentFailed (that is its job)."""
    name, status = event["environment_name"], event["status"]
    text = failure_text(describe_environment(name)) or "MWAA gave no error message"
    published.publish(metrics, name, {published.ENVIRONMENT_FAILURES: 1})
    raise EnvironmentFailed(
        f"Environment {name} is {status} instead of {event['target']}. MWAA says: {text.rstrip('.')}. "
        "Fix the cause it names (often the execution role, the network, or requirements.txt), delete the failed "
        "environment in the MWAA console if it is still there, then run the state machine again."
    )
