"""Alerts written for a person: which environment, which step, its status now, the snapshot, what to do.

Two sources: the state machines' own catch paths (they know the step and what was compensated) and the
EventBridge rule on FAILED / TIMED_OUT / ABORTED executions (for everything the catch paths cannot see:
an execution stopped by hand, an alert that could not be sent). Executions that end in the catch paths'
own Fail states were already alerted, so the rule's copy is dropped.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from mwaa_hibernate.aws import client
from mwaa_hibernate.environment.status import describe_environment, failure_text
from mwaa_hibernate.layout import snapshot_id_for

logger = logging.getLogger(__name__)

# The Fail states the catch paths end in, after they have sent their own alert.
ALERTED_ERRORS = frozenset({"HibernationFailed", "WakeFailed"})
# SNS refuses subjects longer than 100 characters.
MAX_SUBJECT = 100
FLOW_NOUNS = {"hibernate": "Hibernation", "wake": "Wake"}

# step key (the Catch ResultPath $.failure.<key>) -> (what the step does, what to do when it failed)
STEPS: dict[str, tuple[str, str]] = {
    "gate": (
        "checking a person's override",
        "Nothing was touched. Check the function's log and its access to the bucket's schedule/ folder; "
        "`mwaa-hibernate resume` removes an unreadable override.",
    ),
    "preflight": (
        "checking that it may start",
        "Nothing was touched. Follow the reason above, then start the execution again.",
    ),
    "choose_carrier": (
        "choosing how to reach the metadata database",
        "Nothing was paused, exported or deleted. Follow the reason above (an Airflow version mwaa-hibernate was not "
        "tested on, a snapshot from another Airflow version, or neither the task carrier nor the API-server plugin "
        "reaching the database), then run the execution again.",
    ),
    "save_configuration": (
        "saving the environment configuration",
        "No DAG was paused and the environment was not deleted. Check the function's log, then run the "
        "hibernation again.",
    ),
    "recreatable": (
        "checking that a wake could recreate the environment",
        "No DAG was paused and the environment was NOT deleted: a wake could not recreate it from its saved "
        "configuration. Fix what the error lists (EnvironmentOverrides can change the fields a wake sends), then "
        "run the hibernation again.",
    ),
    "recreatable_warning": (
        "checking that a wake could recreate the environment",
        "The hibernation goes on. Upgrade the environment's Airflow version before the date above: from then on "
        "MWAA refuses to create environments on it, and the hibernation refuses to delete this one.",
    ),
    "export": (
        "running the export DAG",
        "The environment was NOT deleted. Read the task logs of the latest mwaa_hibernate_export run in Airflow "
        "(with the API-server carrier: the web server's log), fix the cause, then run the hibernation again.",
    ),
    "verify": (
        "verifying the snapshot",
        "The environment was NOT deleted and the snapshot was not marked as the latest (it stays in S3 for "
        "inspection). Run the hibernation again; if it fails the same way, look at the export DAG's logs.",
    ),
    "commit": (
        "marking the snapshot as the latest",
        "The environment was NOT deleted. Check the function's log and its access to the bucket, then run the "
        "hibernation again.",
    ),
    "delete": (
        "deleting the environment",
        "The environment was NOT deleted; the snapshot is verified and marked as the latest. Check its status "
        "and the state machine's permission to delete it, then run the hibernation again.",
    ),
    "wait_for_deletion": (
        "waiting for the environment to be deleted",
        "The snapshot is verified and marked as the latest. Check the environment in the MWAA console: once it "
        "is gone the next wake recreates it; if it is stuck, contact AWS support.",
    ),
    "record_state": (
        "recording the environment's state",
        "The snapshot and the environment are in the state described above; only state.json was not updated. "
        "Check the function's log and its access to the bucket before the next scheduled run.",
    ),
    "plan": (
        "planning the next wake (adaptive schedule)",
        "The hibernation itself succeeded, but no wake is scheduled: wake the environment by hand "
        "(`mwaa-hibernate wake`) before its DAGs need it, and check the function's log.",
    ),
    "prune": (
        "pruning old snapshots",
        "The hibernation itself succeeded. Old snapshots were not deleted: check the function's log; they will "
        "be pruned after the next hibernation.",
    ),
    "create_environment": (
        "creating the environment",
        "The snapshot is untouched. Fix the cause (the stack's EnvironmentOverrides parameter can change the "
        "saved configuration), then run the wake again.",
    ),
    "wait_for_available": (
        "waiting for the environment to become available",
        "The snapshot is untouched. Read MWAA's error above; delete the failed environment in the MWAA console, "
        "fix the cause, then run the wake again.",
    ),
    "import": (
        "restoring the snapshot (import DAG)",
        "Nothing was half imported: the restore is all or nothing. The environment is kept and its DAGs stay "
        "paused. Read the task logs of the latest mwaa_hibernate_import run in Airflow (with the API-server "
        "carrier: the web server's log), fix the cause, then run the wake again: it restores into the existing "
        "environment.",
    ),
    "restore_check": (
        "checking the restore from outside the environment",
        "The import DAG reported success, but the environment's REST API does not show the snapshot restored. "
        "The environment is kept and not recorded as awake, so the next wake restores into it again. Read the "
        "latest mwaa_hibernate_import run's log in Airflow, then run the wake again.",
    ),
    "update_after_restore": (
        "updating the environment after the restore",
        "The restore is complete and recorded. Plugins that read Variables or Connections at start-up may not "
        "see them: update the environment once in the MWAA console.",
    ),
    "wait_for_update": (
        "waiting for the post-restore update",
        "The restore is complete and recorded. Check the update in the MWAA console.",
    ),
}
ERROR_ADVICE = {
    "DrainTimeout": "Tasks were still running when the drain timeout ended. Hibernate at a quieter time, or raise "
    "the stack's DrainTimeoutMinutes.",
    "States.Timeout": "The DAG did not call back in time: raise the stack's timeout parameter if the export or "
    "import is only slow.",
    "States.HeartbeatTimeout": "The DAG stopped sending heartbeats: its worker (or, with the API-server carrier, "
    "the API server running the job) probably died. Check the workers and web servers.",
}


@dataclass(frozen=True)
class Alert:
    subject: str
    message: str


def explain(error: str | None, cause: str | None) -> tuple[str, str]:
    """The innermost error name and message, unwrapping Lambda and child-execution causes (JSON in JSON)."""
    error, cause = error or "", cause or ""
    for _ in range(5):
        try:
            inner = json.loads(cause)
        except (TypeError, ValueError):
            break
        if not isinstance(inner, dict):
            break
        if "errorMessage" in inner:  # a Lambda function's error
            error, cause = inner.get("errorType") or error, inner.get("errorMessage") or ""
        elif "Error" in inner or "Cause" in inner:  # a child execution (startExecution.sync:2)
            error, cause = inner.get("Error") or error, inner.get("Cause") or ""
        else:
            break
    return error, cause


def environment_now(environment: str, *, mwaa: Any = None) -> str:
    """The environment's status, read now, with MWAA's last error when there is one."""
    try:
        described = describe_environment(environment, mwaa=mwaa)
    except Exception as exc:  # an alert must go out even when MWAA cannot be read
        return f"unknown (reading it failed: {exc})"
    if described is None:
        return "does not exist"
    text = failure_text(described)
    return described["Status"] + (f" (MWAA's last error: {text})" if text else "")


def console_url(execution_arn: str) -> str:
    region = execution_arn.split(":")[3] if execution_arn.count(":") >= 4 else "us-east-1"
    return f"https://{region}.console.aws.amazon.com/states/home?region={region}#/v2/executions/details/{execution_arn}"


def _subject(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_SUBJECT else text[: MAX_SUBJECT - 1] + "…"


def _lines(pairs: list[tuple[str, str | None]]) -> str:
    return "\n".join(f"{label}: {value}" for label, value in pairs if value)


def from_state_machine(payload: dict[str, Any], *, status_now: str) -> Alert:
    """An alert from a catch path (kind failure or warning) or a report (kind success)."""
    flow, environment = payload["flow"], payload["environment_name"]
    noun, snapshot_id = FLOW_NOUNS.get(flow, flow), payload.get("snapshot_id")
    if payload["kind"] == "success":
        details = payload.get("details") or {}
        figures = ", ".join(f"{k} {details[k]}" for k in ("tables", "rows", "bytes", "seconds") if k in details)
        return Alert(
            subject=_subject(f"mwaa-hibernate: {noun} of {environment} succeeded"),
            message=_lines(
                [
                    ("Environment", environment),
                    ("Status now", status_now),
                    ("Snapshot", snapshot_id),
                    ("Figures", figures),
                    ("Execution", console_url(payload.get("execution_arn", ""))),
                ]
            ),
        )
    failures: dict[str, dict[str, Any]] = payload.get("failure") or {}
    step_key, failure = next(iter(failures.items()), ("", {}))
    step, advice = STEPS.get(step_key, (step_key.replace("_", " ") or "an unknown step", ""))
    error, cause = explain(failure.get("Error"), failure.get("Cause"))
    advice = " ".join(a for a in (ERROR_ADVICE.get(error, ""), advice) if a)
    verb = "finished with a warning" if payload["kind"] == "warning" else "FAILED"
    return Alert(
        subject=_subject(f"mwaa-hibernate: {noun} of {environment} {verb} while {step}"),
        message=_lines(
            [
                ("Environment", environment),
                ("What happened", f"{noun} {verb} while {step}."),
                ("Error", f"{error}: {cause}" if cause else error),
                ("Status now", status_now),
                ("Snapshot", snapshot_id),
                ("Done to compensate", _compensation(payload.get("compensation"))),
                ("What to do", advice),
                ("Execution", console_url(payload.get("execution_arn", ""))),
            ]
        ),
    )


def _compensation(compensation: Any) -> str | None:
    if not isinstance(compensation, dict):
        return None
    if "Error" in compensation:
        error, cause = explain(compensation.get("Error"), compensation.get("Cause"))
        return f"restoring the DAGs' paused states FAILED ({error}: {cause}). Unpause them in the Airflow UI."
    return compensation.get("note")


def event_flow(detail: dict[str, Any]) -> str:
    """Which state machine an EventBridge execution event is about (the stack names them <stack>-wake and
    <stack>-hibernate)."""
    return "wake" if detail.get("stateMachineArn", "").endswith("-wake") else "hibernate"


def from_event(event: dict[str, Any], *, environment: str, status_now: str, step: str | None) -> Alert | None:
    """An alert from an EventBridge "Step Functions Execution Status Change" event, or None if already sent."""
    detail = event.get("detail") or {}
    status, error = detail.get("status", "?"), detail.get("error")
    if status == "FAILED" and error in ALERTED_ERRORS:
        return None
    flow = event_flow(detail)
    noun = FLOW_NOUNS[flow]
    error, cause = explain(error, detail.get("cause"))
    what = {
        "ABORTED": "was stopped before it finished (by a person or an API call)",
        "TIMED_OUT": "timed out",
    }.get(status, "failed where its own error handling could not report it (see the error below)")
    advice = (
        "If it was stopped after the export DAG started, DAGs may still be paused: unpause them in the Airflow UI "
        "(the snapshot folder's dag_paused_state.json lists which were active), then run it again."
        if flow == "hibernate"
        else "Check the environment in the MWAA console and run the wake again; the snapshot is untouched."
    )
    return Alert(
        subject=_subject(f"mwaa-hibernate: {noun} of {environment} {status}"),
        message=_lines(
            [
                ("Environment", environment),
                ("What happened", f"The {flow} execution {what}."),
                ("Last step", step),
                ("Error", f"{error}: {cause}" if cause else error),
                ("Status now", status_now),
                ("Snapshot", _snapshot_of(detail) if flow == "hibernate" else None),
                ("What to do", advice),
                ("Execution", console_url(detail.get("executionArn", ""))),
            ]
        ),
    )


def _snapshot_of(detail: dict[str, Any]) -> str | None:
    """A hibernation's snapshot id is its start time (layout.SNAPSHOT_ID_FORMAT)."""
    start = detail.get("startDate")
    return snapshot_id_for(datetime.fromtimestamp(start / 1000, UTC)) if isinstance(start, int | float) else None


def last_step(execution_arn: str, *, sfn: Any = None) -> str | None:
    """The name of the last state the execution entered (None when the history cannot be read)."""
    try:
        history = client("stepfunctions", sfn).get_execution_history(
            executionArn=execution_arn, reverseOrder=True, maxResults=100
        )
    except Exception:  # the alert matters more than this detail
        logger.warning("Could not read the execution history of %s", execution_arn)
        return None
    for event in history.get("events", []):
        entered = event.get("stateEnteredEventDetails")
        if entered:
            return entered.get("name")
    return None


def publish(alert: Alert, *, topic_arn: str, sns: Any = None) -> str:
    return client("sns", sns).publish(TopicArn=topic_arn, Subject=alert.subject, Message=alert.message)["MessageId"]
