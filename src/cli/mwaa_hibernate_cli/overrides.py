"""Overrides for people: `wake --for 2h | --until 18:00`, `hibernate --until "tomorrow 09:00"`, `resume`.

An override is one small object in the stack's bucket (``mwaa_hibernate.layout.overrides_key``), written here
and read by the stack's functions: scheduled and event-started executions that contradict it are skipped until
it ends, the idle check keeps an environment awake (or puts it to sleep when idle), and the planned wake
waits for it. It survives failed cycles: only `resume`, a plain `wake` (ends a sleep override) or a plain
`hibernate` (ends a stay-awake override) remove it. Times are read in the stack's ScheduleTimezone.
"""

from __future__ import annotations

import contextlib
import getpass
import json
import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

import typer
from mwaa_hibernate import adaptive, planning
from mwaa_hibernate.dagschedule import zone

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
from mwaa_hibernate_cli.exits import EXIT_USAGE
from mwaa_hibernate_cli.output import JsonOption, print_json, reported, stderr

ForOption = Annotated[
    str | None, typer.Option("--for", help="Stay awake this long, whatever the schedule says: 2h, 90m, 1h30m, 1d.")
]
UntilOption = Annotated[
    str | None,
    typer.Option(
        "--until", help='Until this time in the stack\'s time zone: "18:00", "tomorrow 09:00", "2026-12-01 08:00".'
    ),
]
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(d|h|m|min)", re.IGNORECASE)
_UNITS = {"d": timedelta(days=1), "h": timedelta(hours=1), "m": timedelta(minutes=1), "min": timedelta(minutes=1)}


def parse_duration(text: str) -> timedelta:
    cleaned = text.strip().replace(" ", "")
    parts = _DURATION.findall(cleaned)
    if not parts or "".join(f"{n}{u}" for n, u in parts).lower() != cleaned.lower():
        raise CliError(f"--for {text!r}: give a duration like 2h, 90m, 1h30m or 1d.", EXIT_USAGE)
    total = sum((float(n) * _UNITS[u.lower()] for n, u in parts), timedelta(0))
    if total <= timedelta(0):
        raise CliError(f"--for {text!r} is not a positive duration.", EXIT_USAGE)
    return total


def parse_until(text: str, *, timezone: str, now: datetime) -> datetime:
    """A moment from "18:00", "today 18:00", "tomorrow 09:00", "2026-12-01 08:00" or ISO 8601, in ``timezone``
    unless it says otherwise. A bare time already past today means tomorrow."""
    tz = zone(timezone)
    words = text.strip().lower()
    shift = 0
    for word, days in (("tomorrow", 1), ("today", 0)):
        if words.startswith(word):
            shift, words = days, words[len(word) :].strip()
    try:
        if re.fullmatch(r"\d{1,2}:\d{2}", words):
            hours, minutes = (int(x) for x in words.split(":"))
            local_today = now.astimezone(tz).date() + timedelta(days=shift)
            moment = datetime.combine(local_today, time(hours, minutes), tzinfo=tz)
            if shift == 0 and moment <= now and not text.strip().lower().startswith("today"):
                moment = datetime.combine(local_today + timedelta(days=1), time(hours, minutes), tzinfo=tz)
        elif shift == 0:
            moment = datetime.fromisoformat(text.strip())
            moment = moment if moment.tzinfo else moment.replace(tzinfo=tz)
        else:
            raise ValueError(text)
    except ValueError:
        raise CliError(
            f'--until {text!r}: give "HH:MM", "tomorrow HH:MM" or "YYYY-MM-DD HH:MM" ({timezone}).', EXIT_USAGE
        ) from None
    if moment <= now:
        raise CliError(f"--until {text!r} is in the past ({moment:%Y-%m-%d %H:%M %Z}).", EXIT_USAGE)
    return moment.astimezone(UTC)


def override_until(*, for_: str | None, until: str | None, deployment: Deployment, now: datetime) -> datetime | None:
    if for_ and until:
        raise CliError("Give --for or --until, not both.", EXIT_USAGE)
    if for_:
        return now + parse_duration(for_)
    if until:
        return parse_until(until, timezone=deployment.schedule_timezone, now=now)
    return None


def current(session: AwsSession, deployment: Deployment) -> planning.Override | None:
    return adaptive.read_override(environment=deployment.environment, bucket=deployment.bucket, s3=session.client("s3"))


def set_override(
    session: AwsSession, deployment: Deployment, *, kind: str, until: datetime, reason: str
) -> planning.Override:
    override = planning.Override(
        kind=kind, until=until, set_at=datetime.now(UTC).replace(microsecond=0), by=_who(), reason=reason
    )
    adaptive.write_override(
        environment=deployment.environment, bucket=deployment.bucket, override=override, s3=session.client("s3")
    )
    return override


def clear(session: AwsSession, deployment: Deployment, *, only: str | None = None) -> planning.Override | None:
    """Remove the override (only one of that kind, if given); the one removed, or None."""
    found = current(session, deployment)
    if found is None or (only and found.kind != only):
        return None
    adaptive.clear_override(environment=deployment.environment, bucket=deployment.bucket, s3=session.client("s3"))
    if deployment.adaptive_group:
        scheduler = session.client("scheduler")
        with contextlib.suppress(scheduler.exceptions.ResourceNotFoundException):
            scheduler.delete_schedule(Name=adaptive.OVERRIDE_END_SCHEDULE, GroupName=deployment.adaptive_group)
    return found


def replan(session: AwsSession, deployment: Deployment) -> dict[str, Any] | None:
    """Ask the stack to plan the adaptive wake again (the override that delayed it is gone)."""
    if not deployment.adaptive or not deployment.adaptive_function:
        return None
    answer = session.client("lambda").invoke(
        FunctionName=deployment.adaptive_function,
        Payload=json.dumps({"action": "replan", "environment_name": deployment.environment}).encode(),
    )
    return json.loads(answer["Payload"].read() or b"{}")


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no user name in some containers
        return "mwaa-hibernate CLI"


def describe(override: planning.Override | None, deployment: Deployment) -> str:
    return override.describe(zone(deployment.schedule_timezone)) if override else "none"


def resume(
    stack: StackOption = None,
    environment: EnvironmentOption = None,
    region: RegionOption = None,
    profile: ProfileOption = None,
    as_json: JsonOption = False,
) -> None:
    """Remove the override: the schedule (fixed or adaptive) decides again."""
    with reported(as_json=as_json, profile=profile):
        session, deployment = resolve(stack=stack, environment=environment, region=region, profile=profile)
        removed = clear(session, deployment)
        planned = replan(session, deployment) if removed else None
    err = stderr()
    if removed is None:
        err.print(f"{deployment.environment} has no override: it follows its schedule.")
    else:
        err.print(f"Removed the override ({describe(removed, deployment)}): back to the schedule.")
        if planned:
            err.print(f"Adaptive wake: {planned.get('reason', planned)}")
    if as_json:
        print_json({"removed": removed.to_json() if removed else None, "replanned": planned})
