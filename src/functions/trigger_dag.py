"""Unpause a hibernation DAG and start a run that calls the state machine back with the task token.

The event holds a task token: it is never logged (log_event=False, and only the purpose is logged).
"""

from __future__ import annotations

from typing import Any

import boto3
from aws_lambda_powertools import Logger, Metrics, Tracer
from mwaa_hibernate import metrics as published
from mwaa_hibernate import settings, trigger

logger = Logger()
tracer = Tracer()
metrics = Metrics()


@logger.inject_lambda_context(log_event=False)
@tracer.capture_lambda_handler(capture_response=False)
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """event: {purpose: "export"|"import", environment_name, snapshot_id, task_token,
    retention_days?, drain_timeout_minutes?, carrier?, airflow_version?}.

    Returns {dag_id, dag_run_id, state} (a DAG run), or {carrier: "api-server", job_id, state} (a plugin job).
    """
    config = settings.Settings.from_environment()
    run = trigger.trigger_dag(
        purpose=event["purpose"],
        environment=event["environment_name"],
        snapshot_id=event["snapshot_id"],
        task_token=event["task_token"],
        bucket=config.bucket,
        kms_key_arn=config.kms_key_arn,
        region=boto3.session.Session().region_name,
        retention_days=event.get("retention_days"),
        drain_timeout_minutes=event.get("drain_timeout_minutes"),
        carrier=event.get("carrier"),
        airflow_version=event.get("airflow_version"),
    )
    published.publish(metrics, event["environment_name"], {published.DAG_RUNS_TRIGGERED: 1})
    return run
