"""Reading Step Functions executions for a person: recent runs, the step that failed, the steps so far."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from mwaa_hibernate.notify import console_url, explain

TERMINAL = frozenset({"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"})
UNSUCCESSFUL = frozenset({"FAILED", "TIMED_OUT", "ABORTED"})
# History events that mark the execution itself ending: their state is the last one entered.
_EXECUTION_END = frozenset({"ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted"})
_FAILURE_SUFFIXES = ("Failed", "TimedOut", "Aborted")


@dataclass(frozen=True)
class Failure:
    step: str | None
    error: str
    cause: str


@dataclass(frozen=True)
class Execution:
    name: str
    arn: str
    status: str
    started: datetime
    stopped: datetime | None
    failure: Failure | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.stopped is None else (self.stopped - self.started).total_seconds()

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.update(seconds=self.seconds, console_url=console_url(self.arn))
        return data


@dataclass
class Step:
    """One state the execution entered: running until it exits, failed if a failure event came while in it."""

    name: str
    type: str
    entered: datetime
    exited: datetime | None = None
    failed: bool = False

    @property
    def status(self) -> str:
        if self.failed:
            return "failed"
        return "running" if self.exited is None else "succeeded"


def history(sfn: Any, execution_arn: str) -> list[dict[str, Any]]:
    """Every event of the execution, oldest first."""
    events: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"executionArn": execution_arn, "maxResults": 1000}
    while True:
        page = sfn.get_execution_history(**kwargs)
        events.extend(page.get("events", []))
        if not page.get("nextToken"):
            return events
        kwargs["nextToken"] = page["nextToken"]


def _details(event: dict[str, Any]) -> dict[str, Any]:
    return next((value for key, value in event.items() if key.endswith("EventDetails")), {})


def steps(events: list[dict[str, Any]]) -> list[Step]:
    """The states in the order they were entered (a state entered twice appears twice)."""
    found: list[Step] = []
    for event in events:
        kind = event.get("type", "")
        if kind.endswith("StateEntered"):
            name, state_type = _details(event).get("name", "?"), kind[: -len("StateEntered")]
            found.append(Step(name=name, type=state_type, entered=event["timestamp"]))
        elif kind.endswith("StateExited") and found:
            found[-1].exited = event["timestamp"]
        elif kind not in _EXECUTION_END and found and found[-1].exited is None:
            if kind.endswith(_FAILURE_SUFFIXES):
                found[-1].failed = True
            elif kind.endswith("Succeeded"):  # a retry of the step worked
                found[-1].failed = False
    return found


def failure(events: list[dict[str, Any]]) -> Failure | None:
    """The last step that failed, with its innermost error and cause; else how the execution itself ended."""
    state: str | None = None
    last: Failure | None = None
    for event in events:
        kind = event.get("type", "")
        details = _details(event)
        if kind.endswith("StateEntered"):
            state = details.get("name")
        elif kind.endswith(_FAILURE_SUFFIXES):
            if kind in _EXECUTION_END and last is not None:
                continue
            error, cause = explain(details.get("error"), details.get("cause"))
            last = Failure(step=state, error=error or kind, cause=cause)
    return last


def recent(sfn: Any, state_machine_arn: str, count: int) -> list[Execution]:
    """The last `count` executions, newest first, each unsuccessful one with the step that failed."""
    if count <= 0:
        return []
    listed = sfn.list_executions(stateMachineArn=state_machine_arn, maxResults=count).get("executions", [])
    return [_summary(sfn, item) for item in listed[:count]]


def _summary(sfn: Any, item: dict[str, Any]) -> Execution:
    status = item["status"]
    return Execution(
        name=item["name"],
        arn=item["executionArn"],
        status=status,
        started=item["startDate"],
        stopped=item.get("stopDate"),
        failure=failure(history(sfn, item["executionArn"])) if status in UNSUCCESSFUL else None,
    )


def running(sfn: Any, state_machine_arn: str) -> list[Execution]:
    listed = sfn.list_executions(stateMachineArn=state_machine_arn, statusFilter="RUNNING").get("executions", [])
    return [_summary(sfn, item) for item in listed]


def describe(sfn: Any, execution_arn: str) -> Execution:
    described = sfn.describe_execution(executionArn=execution_arn)
    return _summary(sfn, {**described, "executionArn": execution_arn})


def follow_hint(execution_arn: str, selector: str) -> str:
    """How a person follows an execution we are not watching any more."""
    return (
        f"Follow it with `mwaa-hibernate status {selector}`, in the console: {console_url(execution_arn)}, or with "
        f"`aws stepfunctions describe-execution --execution-arn {execution_arn}`."
    )
