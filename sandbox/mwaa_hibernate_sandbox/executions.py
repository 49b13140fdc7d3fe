"""Run a state machine in moto and follow it step by step through its execution history.

``run_execution`` starts an execution and polls ``GetExecutionHistory`` (not the interpreter's
internals), so what it reports is what the Step Functions console would show: each state entered and
left, with its duration, and the error and cause of what failed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

# How often the history is read: a state lasts from milliseconds (Pass) to minutes (the DAG callbacks).
POLL_SECONDS = 0.5
# Longest a whole execution may take in the sandbox: creating an environment and a DAG run on a busy
# two-core machine, with the template's own timeouts (counted in polls) well inside.
EXECUTION_TIMEOUT_SECONDS = 1200


class ExecutionTimedOut(TimeoutError):
    """The execution was still running when the sandbox stopped waiting (it was stopped)."""


@dataclass
class Step:
    """One state of an execution, as its history shows it."""

    name: str
    state_type: str
    entered: dt.datetime
    exited: dt.datetime | None = None
    error: str | None = None
    cause: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.exited is None else (self.exited - self.entered).total_seconds()

    @property
    def failed(self) -> bool:
        return self.error is not None


@dataclass
class ExecutionResult:
    arn: str
    status: str
    steps: list[Step] = field(default_factory=list)
    output: Any = None
    error: str | None = None
    cause: str | None = None
    seconds: float = 0.0

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCEEDED"

    def step(self, name: str) -> Step | None:
        return next((step for step in self.steps if step.name == name), None)

    @property
    def path(self) -> list[str]:
        return [step.name for step in self.steps]


StepListener = Callable[[Step, bool], None]  # (step, finished)


def _history(sfn: Any, arn: str) -> Iterator[dict[str, Any]]:
    token = None
    while True:
        page = sfn.get_execution_history(executionArn=arn, maxResults=1000, **({"nextToken": token} if token else {}))
        yield from page["events"]
        token = page.get("nextToken")
        if not token:
            return


def _failure(event: dict[str, Any]) -> tuple[str | None, str | None] | None:
    for key, details in event.items():
        if key.endswith("FailedEventDetails") or key.endswith("TimedOutEventDetails"):
            return details.get("error"), details.get("cause")
    return None


def run_execution(
    sfn: Any,
    state_machine_arn: str,
    *,
    execution_input: dict[str, Any] | None = None,
    on_step: StepListener | None = None,
    timeout: float = EXECUTION_TIMEOUT_SECONDS,
) -> ExecutionResult:
    """Start an execution, report each step as it happens, and return once it ended."""
    started = time.monotonic()
    arn = sfn.start_execution(stateMachineArn=state_machine_arn, input=json.dumps(execution_input or {}))[
        "executionArn"
    ]
    result = ExecutionResult(arn=arn, status="RUNNING")
    seen = 0
    current: Step | None = None
    while True:
        description = sfn.describe_execution(executionArn=arn)
        events = list(_history(sfn, arn))
        for event in events[seen:]:
            kind = event["type"]
            if kind.endswith("StateEntered"):
                details = event["stateEnteredEventDetails"]
                current = Step(
                    name=details["name"], state_type=kind[: -len("StateEntered")], entered=event["timestamp"]
                )
                result.steps.append(current)
                if on_step:
                    on_step(current, False)
            elif kind.endswith("StateExited") and current is not None:
                current.exited = event["timestamp"]
                if on_step:
                    on_step(current, True)
                current = None
            elif (failure := _failure(event)) is not None and current is not None:
                current.error, current.cause = failure
        seen = len(events)
        if description["status"] != "RUNNING":
            break
        if time.monotonic() - started > timeout:
            sfn.stop_execution(executionArn=arn, error="SandboxTimeout", cause="the sandbox stopped waiting")
            raise ExecutionTimedOut(f"{state_machine_arn} execution {arn} still RUNNING after {timeout:.0f}s")
        time.sleep(POLL_SECONDS)
    if current is not None and on_step:  # a Fail state or an uncaught error ends without StateExited
        current.exited = current.exited or description.get("stopDate")
        on_step(current, True)
    result.status = description["status"]
    result.error = description.get("error")
    result.cause = description.get("cause")
    if description.get("output"):
        result.output = json.loads(description["output"])
    result.seconds = time.monotonic() - started
    return result
