"""`mwaa-hibernate wake|hibernate [--wait]`: start the state machine now, and optionally watch it to the end.

The execution gets the input the schedule sends (read from the schedule's target, not repeated here), marked
``"trigger": "manual"``: a person's start, which no override skips.
One cycle at a time: if a wake or hibernate execution is running, nothing is started. With --wait, the
steps appear as they happen (on stderr, so --json keeps stdout for the result); Ctrl-C stops watching,
never the execution. Exit codes: 0 SUCCEEDED (or started, without --wait), 9 FAILED/TIMED_OUT/ABORTED,
10 already running, 130 interrupted (see `exits`).
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from mwaa_hibernate.environment.status import environment_status
from rich.console import Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from mwaa_hibernate_cli import executions, overrides
from mwaa_hibernate_cli.deployment import (
    FLOWS,
    AwsSession,
    Deployment,
    EnvironmentOption,
    Flow,
    ProfileOption,
    RegionOption,
    StackOption,
    resolve,
)
from mwaa_hibernate_cli.errors import CliError
from mwaa_hibernate_cli.exits import EXIT_ALREADY_RUNNING, EXIT_EXECUTION_FAILED, EXIT_INTERRUPTED
from mwaa_hibernate_cli.output import JsonOption, print_json, reported, stderr

DEFAULT_POLL_SECONDS = 10.0

WaitOption = Annotated[bool, typer.Option("--wait", help="Show the steps live until the execution ends.")]
PollOption = Annotated[float, typer.Option("--poll-seconds", min=0.0, hidden=True, help="Seconds between reads.")]


def wake(
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    wait: WaitOption = False,
    poll_seconds: PollOption = DEFAULT_POLL_SECONDS,
    as_json: JsonOption = False,
    for_: overrides.ForOption = None,
    until: overrides.UntilOption = None,
) -> None:
    """Wake the environment now: recreate it and restore the latest snapshot (20 to 40 minutes). With --for or
    --until it stays awake until then whatever the schedule says; plain, it ends a sleep override."""
    _run("wake", stack, environment, region, profile, wait, poll_seconds, as_json, for_=for_, until=until)


def hibernate(
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    wait: WaitOption = False,
    poll_seconds: PollOption = DEFAULT_POLL_SECONDS,
    as_json: JsonOption = False,
    until: overrides.UntilOption = None,
) -> None:
    """Hibernate the environment now: snapshot, verify, delete. With --until it stays asleep until then, skipping
    scheduled wakes; plain, it ends a stay-awake override."""
    _run("hibernate", stack, environment, region, profile, wait, poll_seconds, as_json, until=until)


def _run(
    flow: Flow,
    stack: str | None,
    environment: str | None,
    region: str | None,
    profile: str | None,
    wait: bool,
    poll_seconds: float,
    as_json: bool,
    *,
    for_: str | None = None,
    until: str | None = None,
) -> None:
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        moment = overrides.override_until(for_=for_, until=until, deployment=deployment, now=datetime.now(UTC))
        refuse_if_running(session, deployment)
        note = _apply_override(session, deployment, flow, moment)
        arn = start(session, deployment, flow)
    err = stderr()
    if note:
        err.print(note)
    err.print(f"Started the {flow} of {deployment.environment}: {arn.rsplit(':', 1)[-1]}")
    if not wait:
        err.print(executions.follow_hint(arn, deployment.selector()))
        if as_json:
            print_json({"flow": flow, "execution_arn": arn, "status": "RUNNING"})
        return
    try:
        with reported(as_json=as_json, profile=profile):
            final = follow(session, deployment, arn, poll_seconds=poll_seconds)
    except KeyboardInterrupt:
        err.print(
            f"\nStopped watching; the {flow} keeps running. " + executions.follow_hint(arn, deployment.selector())
        )
        if as_json:
            print_json({"flow": flow, "execution_arn": arn, "status": "RUNNING", "interrupted": True})
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if as_json:
        print_json({"flow": flow, **final.to_json()})
    if final.status == "SUCCEEDED":
        err.print(f"[green]The {flow} of {deployment.environment} succeeded[/] in {final.seconds or 0:.0f} s.")
        return
    failure = final.failure
    where = f" at step '{failure.step}' ({failure.error}): {failure.cause}" if failure else "."
    err.print(
        f"[bold red]The {flow} of {deployment.environment} ended {final.status}[/]{where}\n"
        f"The alert topic has the details; `mwaa-hibernate status {deployment.selector()}` shows where things stand."
    )
    raise typer.Exit(EXIT_EXECUTION_FAILED)


def _apply_override(session: AwsSession, deployment: Deployment, flow: Flow, until: datetime | None) -> str:
    """Set the override a --for/--until asks for, or end the one a plain wake/hibernate contradicts."""
    kind = "AWAKE" if flow == "wake" else "ASLEEP"
    if until is not None:
        override = overrides.set_override(session, deployment, kind=kind, until=until, reason=f"{flow} --until")
        return f"Override: {overrides.describe(override, deployment)}."
    removed = overrides.clear(session, deployment, only="ASLEEP" if flow == "wake" else "AWAKE")
    return f"Removed the override ({overrides.describe(removed, deployment)}): back to the schedule." if removed else ""


def refuse_if_running(session: AwsSession, deployment: Deployment) -> None:
    sfn = session.client("stepfunctions")
    for other in FLOWS:
        for run in executions.running(sfn, deployment.state_machine_arn(other)):
            raise CliError(
                f"A {other} of {deployment.environment} is already running ({run.name}, started "
                f"{run.started:%Y-%m-%d %H:%M:%S %Z}); one cycle at a time, so nothing was started. "
                + executions.follow_hint(run.arn, deployment.selector()),
                EXIT_ALREADY_RUNNING,
            )


def start(session: AwsSession, deployment: Deployment, flow: Flow) -> str:
    """Start the flow's state machine with its schedule's input; refuse while any cycle is running."""
    sfn = session.client("stepfunctions")
    for other in FLOWS:
        for run in executions.running(sfn, deployment.state_machine_arn(other)):
            raise CliError(
                f"A {other} of {deployment.environment} is already running ({run.name}, started "
                f"{run.started:%Y-%m-%d %H:%M:%S %Z}); one cycle at a time, so nothing was started. "
                + executions.follow_hint(run.arn, deployment.selector()),
                EXIT_ALREADY_RUNNING,
            )
    schedule = session.client("scheduler").get_schedule(
        Name=deployment.schedule_name(flow), GroupName=deployment.schedule_group
    )
    name = f"manual-{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:6]}"
    # A person's start, whatever the schedule's input says: overrides never skip it.
    execution_input = {**json.loads(schedule["Target"].get("Input") or "{}"), "trigger": "manual"}
    started = sfn.start_execution(
        stateMachineArn=deployment.state_machine_arn(flow), name=name, input=json.dumps(execution_input)
    )
    return started["executionArn"]


def follow(session: AwsSession, deployment: Deployment, execution_arn: str, *, poll_seconds: float) -> Any:
    """Redraw the execution's steps until it ends; the final Execution (with the failed step, if any)."""
    sfn = session.client("stepfunctions")
    mwaa = session.client("mwaa")
    console = stderr()
    with Live(console=console, auto_refresh=False, transient=True) as live:
        while True:
            status = sfn.describe_execution(executionArn=execution_arn)["status"]
            view = _view(executions.steps(executions.history(sfn, execution_arn)), status)
            if status in executions.TERMINAL:
                break
            environment = deployment.environment
            live.update(Group(view, Text(f"Environment {environment}: {environment_status(environment, mwaa=mwaa)}")))
            live.refresh()
            time.sleep(poll_seconds)
    console.print(view)  # the final steps stay on screen (and reach logs when stderr is not a terminal)
    return executions.describe(sfn, execution_arn)


_MARK = {"succeeded": "[green]✓[/]", "failed": "[red]✗[/]", "running": "[cyan]…[/]"}


def _view(steps: list[executions.Step], status: str) -> Group:
    table = Table(box=None, pad_edge=False, show_header=False)
    now = datetime.now(UTC)
    for step in steps:
        took = ((step.exited or now) - step.entered).total_seconds()
        waiting = " (waiting)" if step.type == "Wait" and step.status == "running" else ""
        table.add_row(f"{_MARK[step.status]} {step.name}{waiting}", f"{step.entered:%H:%M:%S}", f"{took:.0f} s")
    return Group(table, Text(f"Execution {status}", style="bold"))
