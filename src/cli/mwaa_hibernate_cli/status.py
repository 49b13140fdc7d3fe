"""`mwaa-hibernate status`: where a deployment stands, at a glance (or as JSON for scripts).

The environment's status (absent means hibernated), the phase state.json records, the next hibernate and
wake in the schedules' time zone, the last executions of each state machine with the step that failed,
and the latest verified snapshot. Read-only: DescribeStacks, airflow:GetEnvironment, scheduler:GetSchedule,
states:ListExecutions and GetExecutionHistory, s3:GetObject on latest.json, state.json and the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from botocore.exceptions import ClientError
from mwaa_hibernate import layout, snapshots
from mwaa_hibernate.aws import error_code
from mwaa_hibernate.awscron import CronExpressionError, parse_cron
from mwaa_hibernate.environment.status import describe_environment, failure_text
from mwaa_hibernate_snapshot.manifest import Manifest
from rich.table import Table

from mwaa_hibernate_cli import adaptive_view, executions
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
from mwaa_hibernate_cli.output import JsonOption, print_json, reported, size_text, stdout

DEFAULT_EXECUTIONS = 3
# How far ahead to look for a schedule's next run: a cron that fires at least yearly is found.
_HORIZON = timedelta(days=400)


@dataclass(frozen=True)
class ScheduleInfo:
    flow: Flow
    name: str
    expression: str | None = None
    timezone: str = "UTC"
    state: str | None = None
    next_run: datetime | None = None
    note: str | None = None  # why there is no next run


@dataclass(frozen=True)
class SnapshotInfo:
    snapshot_id: str
    created_at: str | None
    tables: int | None
    rows: int | None
    bytes: int | None
    airflow_version: str | None
    uri: str
    note: str | None = None


@dataclass
class Status:
    deployment: Deployment
    environment_status: str | None  # None: the environment does not exist (hibernated)
    environment_error: str
    state: dict[str, Any] | None
    schedules: dict[str, ScheduleInfo]
    executions: dict[str, list[executions.Execution]] = field(default_factory=dict)
    snapshot: SnapshotInfo | None = None
    schedule: dict[str, Any] = field(default_factory=dict)  # the adaptive schedule: mode, override, decisions

    @property
    def hibernated(self) -> bool:
        return self.environment_status is None

    def to_json(self) -> dict[str, Any]:
        return {
            "deployment": self.deployment.to_json(),
            "environment": {
                "name": self.deployment.environment,
                "status": self.environment_status or "ABSENT",
                "hibernated": self.hibernated,
                "error": self.environment_error or None,
            },
            "state": self.state,
            "schedules": {flow: vars(info) for flow, info in self.schedules.items()},
            "executions": {flow: [run.to_json() for run in runs] for flow, runs in self.executions.items()},
            "latest_snapshot": None if self.snapshot is None else vars(self.snapshot),
            "schedule": self.schedule,
        }


def status(
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    last: Annotated[
        int, typer.Option("--last", min=0, max=100, help="How many executions of each state machine to show.")
    ] = DEFAULT_EXECUTIONS,
    as_json: JsonOption = False,
) -> None:
    """Show the environment, the next hibernate and wake, the last executions and the latest snapshot."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        report = collect(session, deployment, executions_per_flow=last)
    if as_json:
        print_json(report.to_json())
    else:
        render(report)


def collect(
    session: AwsSession, deployment: Deployment, *, executions_per_flow: int, now: datetime | None = None
) -> Status:
    now = now or datetime.now(UTC)
    s3 = session.client("s3")
    described = describe_environment(deployment.environment, mwaa=session.client("mwaa"))
    sfn = session.client("stepfunctions")
    return Status(
        deployment=deployment,
        environment_status=None if described is None else described["Status"],
        environment_error=failure_text(described),
        state=snapshots.read_state(environment=deployment.environment, bucket=deployment.bucket, s3=s3),
        schedules={flow: _schedule(session, deployment, flow, now) for flow in FLOWS},
        executions={
            flow: executions.recent(sfn, deployment.state_machine_arn(flow), executions_per_flow) for flow in FLOWS
        },
        snapshot=_latest_snapshot(s3, deployment),
        schedule=adaptive_view.collect(session, deployment),
    )


def _schedule(session: AwsSession, deployment: Deployment, flow: Flow, now: datetime) -> ScheduleInfo:
    name = deployment.schedule_name(flow)
    try:
        found = session.client("scheduler").get_schedule(Name=name, GroupName=deployment.schedule_group)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return ScheduleInfo(flow=flow, name=name, note="schedule not found: redeploy the stack")
        raise
    expression, timezone = found["ScheduleExpression"], found.get("ScheduleExpressionTimezone") or "UTC"
    info = ScheduleInfo(flow=flow, name=name, expression=expression, timezone=timezone, state=found.get("State"))
    if info.state == "DISABLED":
        note = (
            "replaced by the adaptive schedule (below)"
            if deployment.adaptive
            else "schedule disabled: it runs only when started by hand"
        )
        return ScheduleInfo(**{**vars(info), "note": note})
    try:
        fires = parse_cron(expression).fires_between(start=now, end=now + _HORIZON, tz=ZoneInfo(timezone))
    except (CronExpressionError, ZoneInfoNotFoundError):
        return ScheduleInfo(**{**vars(info), "note": f"next run not computed for {expression}"})
    if not fires:
        return ScheduleInfo(**{**vars(info), "note": "no run in the next 400 days"})
    return ScheduleInfo(**{**vars(info), "next_run": fires[0]})


def _latest_snapshot(s3: Any, deployment: Deployment) -> SnapshotInfo | None:
    environment, bucket = deployment.environment, deployment.bucket
    snapshot_id = snapshots.read_latest(environment=environment, bucket=bucket, s3=s3)
    if snapshot_id is None:
        return None
    uri = layout.snapshot_uri(bucket, environment, snapshot_id)
    key = layout.manifest_key(environment, snapshot_id)
    try:
        manifest = Manifest.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read(), where=f"s3://{bucket}/{key}")
    except ClientError as exc:
        if error_code(exc) not in {"NoSuchKey", "404"}:
            raise
        return SnapshotInfo(snapshot_id, None, None, None, None, None, uri, note="manifest missing: verify it")
    return SnapshotInfo(
        snapshot_id=snapshot_id,
        created_at=manifest.created_at,
        tables=len(manifest.files),
        rows=manifest.rows,
        bytes=manifest.bytes,
        airflow_version=manifest.airflow_version,
        uri=uri,
    )


# --- rendering -------------------------------------------------------------------------------------


def render(report: Status) -> None:
    console = stdout()
    deployment = report.deployment
    zone = _zone(report)
    console.print(
        f"[bold]{deployment.environment}[/]  (stack {deployment.stack_name}, {deployment.region})", highlight=False
    )
    facts = Table(show_header=False, box=None, pad_edge=False)
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("Environment", _environment_line(report))
    for flow in FLOWS:
        facts.add_row(f"Next {flow}", _schedule_line(report.schedules[flow]))
    facts.add_row("Latest snapshot", _snapshot_line(report.snapshot, zone))
    adaptive_view.add_rows(facts, report.schedule, zone)
    console.print(facts)
    adaptive_view.render_decisions(console, report.schedule, zone)

    runs = Table(title=f"Last executions (times in {zone.key})", title_justify="left")
    for column in ("State machine", "Started", "Status", "Duration", "Failed step: cause"):
        runs.add_column(column)
    for flow in FLOWS:
        for run in report.executions.get(flow, []):
            runs.add_row(flow, _time(run.started, zone), _status(run.status), _duration(run.seconds), _failure(run))
    if runs.row_count:
        console.print(runs)
    else:
        console.print("No executions yet.")


def _zone(report: Status) -> ZoneInfo:
    try:
        return ZoneInfo(report.schedules["hibernate"].timezone)
    except ZoneInfoNotFoundError:
        return ZoneInfo("UTC")


def _environment_line(report: Status) -> str:
    state = report.state or {}
    phase = state.get("phase")
    recorded = (
        f"; recorded {phase}" + (f" at {state['updated_at']}" if state.get("updated_at") else "") if phase else ""
    )
    if report.hibernated:
        return f"[cyan]hibernated[/] (no environment){recorded}"
    colour = "green" if report.environment_status == "AVAILABLE" else "yellow"
    line = f"[{colour}]{report.environment_status}[/]{recorded}"
    if phase == "HIBERNATED" and report.environment_status == "AVAILABLE":
        line += " [yellow](a restore is owed: run `mwaa-hibernate wake`)[/]"
    if report.environment_error:
        line += f"\nMWAA's last error: {report.environment_error}"
    return line


def _schedule_line(info: ScheduleInfo) -> str:
    where = f"  [dim]{info.expression} {info.timezone}, {info.state}[/]" if info.expression else ""
    if info.next_run is None:
        return f"[yellow]{info.note}[/]{where}"
    local = info.next_run.astimezone(ZoneInfo(info.timezone))
    hours, minutes = divmod(max(0, round((info.next_run - datetime.now(UTC)).total_seconds() / 60)), 60)
    return f"{local:%a %Y-%m-%d %H:%M %Z} (in {hours} h {minutes:02d} min){where}"


def _snapshot_line(snapshot: SnapshotInfo | None, zone: ZoneInfo) -> str:
    if snapshot is None:
        return "none yet (the first hibernation makes one)"
    if snapshot.note:
        return f"{snapshot.snapshot_id} [yellow]{snapshot.note}[/]"
    return (
        f"{snapshot.snapshot_id}, created {_iso_time(snapshot.created_at, zone)}, {snapshot.tables} tables, "
        f"{snapshot.rows:,} rows, {size_text(snapshot.bytes or 0)}, Airflow {snapshot.airflow_version or '?'}"
    )


def _iso_time(text: str | None, zone: ZoneInfo) -> str:
    try:
        return f"{datetime.fromisoformat(text or '').astimezone(zone):%Y-%m-%d %H:%M %Z}"
    except ValueError:
        return text or "?"


def _time(moment: datetime, zone: ZoneInfo) -> str:
    return f"{moment.astimezone(zone):%Y-%m-%d %H:%M:%S}"


def _status(value: str) -> str:
    colour = {"SUCCEEDED": "green", "RUNNING": "cyan"}.get(value, "red")
    return f"[{colour}]{value}[/]"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "running"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s" if minutes else f"{rest} s"


def _failure(run: executions.Execution) -> str:
    if run.failure is None:
        return ""
    cause = f": {run.failure.cause}" if run.failure.cause else ""
    return f"{run.failure.step or '?'} ({run.failure.error}){cause}"
