"""`mwaa-hibernate plan`: the next days under the adaptive schedule, the stack's fixed one, and always on.

Reads the DAGs' schedules from the latest snapshot (the environment may be asleep) or, with ``--live``, from the
running environment's REST API; their durations from the snapshot's run history; the lead time and hibernation
time this stack measured. The comparison itself is ``mwaa_hibernate.weekplan`` (pure), priced by the estimator.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer
from mwaa_hibernate import adaptive, airflow_api, planning, snapshots, weekplan
from mwaa_hibernate.awscron import CronExpressionError, parse_cron
from mwaa_hibernate.dagschedule import zone
from mwaa_hibernate.environment.status import describe_environment
from mwaa_hibernate.pricing import EstimateError, resolve_prices
from rich.table import Table

from mwaa_hibernate_cli.deployment import (
    AwsSession,
    Deployment,
    EnvironmentOption,
    ProfileOption,
    RegionOption,
    StackOption,
    resolve,
)
from mwaa_hibernate_cli.errors import CliError
from mwaa_hibernate_cli.exits import EXIT_NOT_FOUND
from mwaa_hibernate_cli.output import JsonOption, print_json, reported, stdout

SLOTS_PER_HOUR = 2  # the timeline's resolution: half hours


def plan(
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    days: Annotated[int, typer.Option("--days", min=1, max=31, help="How many days ahead.")] = 7,
    live: Annotated[bool, typer.Option("--live", help="Read the DAGs from the running environment.")] = False,
    as_json: JsonOption = False,
) -> None:
    """When the adaptive schedule would wake and sleep, and the billed hours and cost: adaptive, fixed, always on."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        report, source = collect(session, deployment, days=days, live=live)
    if as_json:
        print_json({"environment": deployment.environment, "source": source, **report.to_json()})
    else:
        render(report, deployment, source)


def collect(
    session: AwsSession, deployment: Deployment, *, days: int, live: bool, now: datetime | None = None
) -> tuple[weekplan.WeekPlan, str]:
    s3 = session.client("s3")
    env, bucket = deployment.environment, deployment.bucket
    latest = snapshots.read_latest(environment=env, bucket=bucket, s3=s3)
    described = describe_environment(env, mwaa=session.client("mwaa"))
    durations: dict[str, timedelta] = {}
    if latest:
        durations = adaptive.run_durations(environment=env, snapshot_id=latest, bucket=bucket, s3=s3)
    if live:
        if described is None or described.get("Status") != "AVAILABLE":
            raise CliError(f"{env} is not running: leave out --live to plan from the latest snapshot.", EXIT_NOT_FOUND)
        api = airflow_api.for_version(env, described.get("AirflowVersion"), mwaa=session.client("mwaa"))
        dags = api.schedule_facts()
        dag_timezone = adaptive._default_timezone(described)
        environment_class = described.get("EnvironmentClass")
        source = "the running environment"
    else:
        if latest is None:
            raise CliError(
                f"{env} has no snapshot yet: run a hibernation first, or plan from the running environment (--live).",
                EXIT_NOT_FOUND,
            )
        facts = adaptive.snapshot_facts(environment=env, snapshot_id=latest, bucket=bucket, s3=s3)
        dags, dag_timezone, environment_class = facts.dags, facts.timezone, facts.environment_class
        source = f"snapshot {latest}"
    history = adaptive.read_history(environment=env, bucket=bucket, s3=s3)
    lead = planning.lead_time(
        adaptive.wake_records(history), default=timedelta(minutes=float(deployment.wake_lead_minutes or 45))
    )
    try:
        hourly = resolve_prices(
            environment_class=environment_class or "", region=deployment.region
        ).environment_per_hour
    except EstimateError:
        hourly = None
    start = (now or datetime.now(UTC)).replace(second=0, microsecond=0)
    report = weekplan.build(
        dags,
        start=start,
        days=days,
        dag_timezone=dag_timezone,
        durations=durations,
        lead=lead,
        delete=adaptive.hibernation_time(history),
        idle_check=timedelta(minutes=float(deployment.idle_check_minutes or 15)),
        hourly_rate=hourly,
        windows=planning.parse_windows(deployment.keep_awake_windows),
        schedule_timezone=deployment.schedule_timezone,
        fixed=_fixed_pair(deployment),
    )
    return report, source


def _fixed_pair(deployment: Deployment) -> tuple[str, str] | None:
    try:
        parse_cron(deployment.wake_expression)
        parse_cron(deployment.hibernate_expression)
    except CronExpressionError:
        return None  # rate() schedules (or an older stack without them): nothing to compare
    return deployment.wake_expression, deployment.hibernate_expression


# --- rendering -------------------------------------------------------------------------------------


def render(report: weekplan.WeekPlan, deployment: Deployment, source: str) -> None:
    console = stdout()
    tz = zone(report.timezone)
    console.print(
        f"[bold]{deployment.environment}[/]: the next {(report.end - report.start).days} days from {source} "
        f"(times in {report.timezone}; mode {deployment.schedule_mode})",
        highlight=False,
    )
    console.print(
        f"Lead time {planning.minutes(report.lead.value)} ({report.lead.reason}); break-even "
        f"{planning.minutes(report.break_even)}.",
        highlight=False,
    )
    console.print(_timeline(report, tz))
    totals = Table(title="Billed environment hours and cost over the period", title_justify="left")
    for column in ("schedule", "billed hours", "cost", "runs late", "runs drained", "expression"):
        totals.add_column(column, justify="right" if column not in ("schedule", "expression") else "left")
    for name, policy in report.policies.items():
        counts = Counter(issue.issue for issue in policy.issues)
        expression = (
            f"wake {policy.schedule['wake']}, hibernate {policy.schedule['hibernate']}"
            if policy.schedule
            else policy.note
        )
        totals.add_row(
            name,
            f"{policy.billed_hours:.1f}",
            "-" if policy.cost_usd is None else f"${policy.cost_usd:,.2f}",
            str(counts.get("late", 0)),
            str(counts.get("drained", 0)),
            expression,
        )
    console.print(totals)
    fixed = report.policies.get("fixed")
    if fixed and fixed.issues:
        console.print("[bold]Runs the fixed schedule would start late or drain:[/]")
        grouped = Counter((issue.dag_id, issue.issue, issue.detail.split(";")[0]) for issue in fixed.issues)
        for (dag_id, issue, detail), count in sorted(grouped.items()):
            console.print(f"  {dag_id}: {issue} ({detail}), {count}x", highlight=False)
    if report.unpredictable:
        console.print(
            f"[yellow]Not predictable[/] (run on events or by hand; keep-awake windows or the wake event cover them): "
            f"{', '.join(report.unpredictable)}",
            highlight=False,
        )
    if report.hourly_rate is None:
        console.print("[dim]No verified price for this environment class and region: hours only.[/]")


def _hours_header() -> str:
    """ "0h", "6h", "12h", "18h" above their slots."""
    header = [" "] * (24 * SLOTS_PER_HOUR)
    for hour in (0, 6, 12, 18):
        for offset, char in enumerate(f"{hour}h"):
            header[hour * SLOTS_PER_HOUR + offset] = char
    return "".join(header)


def _timeline(report: weekplan.WeekPlan, tz: Any) -> Table:
    table = Table(box=None, pad_edge=False, show_header=True, title="Awake (█ billed) by the adaptive schedule")
    table.add_column("day")
    table.add_column(_hours_header(), no_wrap=True)
    table.add_column("woke for → slept after")
    adaptive_policy = report.policies["adaptive"]
    day = report.start.astimezone(tz).date()
    last = (report.end - timedelta(seconds=1)).astimezone(tz).date()
    while day <= last:
        midnight = datetime.combine(day, datetime.min.time(), tzinfo=tz)
        cells = []
        for slot in range(24 * SLOTS_PER_HOUR):
            a = midnight + timedelta(minutes=slot * 60 // SLOTS_PER_HOUR)
            b = a + timedelta(minutes=60 // SLOTS_PER_HOUR)
            awake = any(s.wake_at < b and s.deleted_at > a for s in adaptive_policy.segments)
            cells.append("█" if awake else "·")
        stories = [
            f"{s.wake_at.astimezone(tz):%H:%M}-{s.deleted_at.astimezone(tz):%H:%M} {s.woke_for} → {s.slept_after}"
            for s in adaptive_policy.segments
            if s.wake_at.astimezone(tz).date() == day
        ]
        table.add_row(f"{midnight:%a %d %b}", "".join(cells), "; ".join(stories) or "asleep")
        day += timedelta(days=1)
    return table
