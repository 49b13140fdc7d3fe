"""`mwaa-hibernate plan`: the coming days under the adaptive schedule, the fixed one, and always on. Pure.

The DAGs' predicted runs (``planning.predicted_runs``) with their observed durations are replayed under three
policies and billed the way the estimator bills (``estimate``): creation and deletion count as billed time.

- **Adaptive**: the environment is awake for each run from its due time for its observed duration, and for each
  keep-awake window; gaps no longer than the break-even time are slept through awake; each awake stretch starts
  the lead time before its first run and ends one idle-check interval after its last (the check that sees it
  idle), plus the deletion.
- **Fixed**: the stack's two cron schedules (``estimate.billed_intervals``). Runs due while the environment is not
  AVAILABLE start late (or, with ``catchup=False``, are skipped); runs still going at a scheduled hibernation are
  drained (the export waits for them, up to DrainTimeoutMinutes, or the hibernation fails).
- **Best fixed pair**: the one daily wake and hibernate (on the weekdays that have runs) that cover every run
  with the least billed time, for users who prefer fixed schedules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from mwaa_hibernate import estimate, planning
from mwaa_hibernate.dagschedule import DagFacts, zone

# When a DAG's duration is unknown (no finished scheduled run in the history).
DEFAULT_RUN = timedelta(minutes=10)
ROUND_MINUTES = 5
_AWS_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


@dataclass(frozen=True)
class Segment:
    """One stretch the environment exists (billed): from the wake's start to the deletion's end."""

    wake_at: datetime
    available_at: datetime
    hibernate_at: datetime
    deleted_at: datetime
    woke_for: str  # the DAG (or window) that drove the wake
    slept_after: str  # the last DAG (or window) before the hibernation

    def to_json(self) -> dict[str, Any]:
        return {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class RunIssue:
    dag_id: str
    due_at: datetime
    issue: str  # "late" or "drained"
    detail: str

    def to_json(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id, "due_at": self.due_at.isoformat(), "issue": self.issue, "detail": self.detail}


@dataclass
class Policy:
    name: str
    billed_hours: float
    cost_usd: float | None
    segments: list[Segment] = field(default_factory=list)
    issues: list[RunIssue] = field(default_factory=list)
    schedule: dict[str, str] = field(default_factory=dict)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "billed_hours": round(self.billed_hours, 2),
            "cost_usd": None if self.cost_usd is None else round(self.cost_usd, 2),
            "segments": [s.to_json() for s in self.segments],
            "issues": [i.to_json() for i in self.issues],
            "schedule": self.schedule,
            "note": self.note,
        }


@dataclass
class WeekPlan:
    start: datetime
    end: datetime
    timezone: str
    runs: list[planning.Run]
    durations: dict[str, timedelta]
    unpredictable: list[str]
    lead: planning.LeadTime
    break_even: timedelta
    hourly_rate: float | None
    policies: dict[str, Policy]

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "timezone": self.timezone,
            "runs": [
                {**r.to_json(), "minutes": round(self.duration(r.dag_id).total_seconds() / 60, 1)} for r in self.runs
            ],
            "unpredictable_dags": self.unpredictable,
            "lead": self.lead.to_json(),
            "break_even_seconds": round(self.break_even.total_seconds()),
            "hourly_rate_usd": self.hourly_rate,
            "policies": {name: policy.to_json() for name, policy in self.policies.items()},
        }

    def duration(self, dag_id: str) -> timedelta:
        return self.durations.get(dag_id, DEFAULT_RUN)


def _busy(
    runs: Sequence[planning.Run], durations: dict[str, timedelta], windows: Sequence[tuple[datetime, datetime, str]]
) -> list[tuple[datetime, datetime, str, str]]:
    """(start, end, first driver, last driver) per run and window, merged where they overlap."""
    items = [(r.due_at, r.due_at + durations.get(r.dag_id, DEFAULT_RUN), r.dag_id, r.dag_id) for r in runs]
    items += [(a, b, f"window {w}", f"window {w}") for a, b, w in windows]
    items.sort()
    merged: list[tuple[datetime, datetime, str, str]] = []
    for start, end, first, last in items:
        if merged and start <= merged[-1][1]:
            prev = merged[-1]
            merged[-1] = (prev[0], max(prev[1], end), prev[2], last if end >= prev[1] else prev[3])
        else:
            merged.append((start, end, first, last))
    return merged


def adaptive_segments(
    runs: Sequence[planning.Run],
    durations: dict[str, timedelta],
    *,
    windows: Sequence[tuple[datetime, datetime, str]] = (),
    lead: timedelta,
    break_even: timedelta,
    delete: timedelta,
    idle_check: timedelta,
) -> list[Segment]:
    """The awake stretches the adaptive rules produce for these runs (see the module docstring)."""
    segments: list[Segment] = []
    for start, end, first, last in _busy(runs, durations, windows):
        if segments and start - segments[-1].hibernate_at + idle_check <= break_even:
            prev = segments[-1]  # the idle check sees the next run within break-even: stays awake
            hibernate_at = max(prev.hibernate_at, end + idle_check)
            segments[-1] = Segment(
                prev.wake_at, prev.available_at, hibernate_at, hibernate_at + delete, prev.woke_for, last
            )
            continue
        hibernate_at = end + idle_check
        segments.append(Segment(start - lead, start, hibernate_at, hibernate_at + delete, first, last))
    return segments


def _hours(intervals: Sequence[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    """Hours covered by the union of intervals, within [start, end)."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals if b > start and a < end)
    total, cursor = 0.0, start
    for a, b in clipped:
        a = max(a, cursor)
        if b > a:
            total += (b - a).total_seconds()
            cursor = b
    return total / 3600


def fixed_issues(
    runs: Sequence[planning.Run],
    durations: dict[str, timedelta],
    usable: Sequence[tuple[datetime, datetime]],
    tz_name: str,
    period_end: datetime | None = None,
) -> list[RunIssue]:
    """Runs a fixed schedule starts late (not AVAILABLE when due) or drains (still running at a hibernation).
    A window cut off by the end of the period is not a hibernation."""
    tz = zone(tz_name)
    issues = []
    for run in runs:
        end = run.due_at + durations.get(run.dag_id, DEFAULT_RUN)
        window = next(((a, b) for a, b in usable if a <= run.due_at < b), None)
        if window is None:
            later = [a for a, _ in usable if a > run.due_at]
            when = f"starts at {min(later).astimezone(tz):%a %H:%M}" if later else "skipped"
            issues.append(RunIssue(run.dag_id, run.due_at, "late", f"environment not available; {when}"))
        elif end > window[1] and (period_end is None or window[1] < period_end):
            detail = f"still running at the {window[1].astimezone(tz):%a %H:%M} hibernation"
            issues.append(RunIssue(run.dag_id, run.due_at, "drained", detail))
    return issues


def best_fixed_pair(
    runs: Sequence[planning.Run], durations: dict[str, timedelta], *, create: timedelta, tz_name: str
) -> tuple[str, str] | None:
    """The daily cron pair covering every run with the least billed time, or None when none saves anything
    (runs around the clock or across midnight)."""
    tz = zone(tz_name)
    if not runs:
        return None
    starts, ends, days = [], [], set()
    for run in runs:
        local = run.due_at.astimezone(tz)
        finish = (run.due_at + durations.get(run.dag_id, DEFAULT_RUN)).astimezone(tz)
        if finish.date() != local.date():
            return None  # crosses midnight: one pair per day cannot cover it
        days.add(local.weekday())
        starts.append(local - create - datetime.combine(local.date(), time(0), tzinfo=tz))
        ends.append(finish - datetime.combine(finish.date(), time(0), tzinfo=tz))
    wake = min(starts)
    hibernate = max(ends)
    if wake < timedelta(0):
        return None
    wake_min = math.floor(wake.total_seconds() / 60 / ROUND_MINUTES) * ROUND_MINUTES
    hib_min = math.ceil(hibernate.total_seconds() / 60 / ROUND_MINUTES) * ROUND_MINUTES
    if hib_min >= 24 * 60:
        return None
    weekdays = "*" if len(days) == 7 else _days_text(sorted(days))
    return (
        f"cron({wake_min % 60} {wake_min // 60} ? * {weekdays} *)",
        f"cron({hib_min % 60} {hib_min // 60} ? * {weekdays} *)",
    )


def _days_text(days: list[int]) -> str:
    """Weekday numbers (0 = Monday) as AWS cron names, consecutive days as ranges. AWS numbers the days from SUN
    (1) to SAT (7) and refuses a range that runs backwards, so the days are grouped in that order: MON-FRI,
    SUN-MON,WED,SAT."""
    aws_order = sorted((day + 1) % 7 for day in days)  # 0 = SUN ... 6 = SAT
    groups: list[list[int]] = []
    for day in aws_order:
        if groups and day == groups[-1][1] + 1:
            groups[-1][1] = day
        else:
            groups.append([day, day])
    return ",".join(_AWS_DAYS[a] if a == b else f"{_AWS_DAYS[a]}-{_AWS_DAYS[b]}" for a, b in groups)


def build(
    dags: Sequence[DagFacts],
    *,
    start: datetime,
    days: int,
    dag_timezone: str,
    durations: dict[str, timedelta],
    lead: planning.LeadTime,
    delete: timedelta,
    idle_check: timedelta,
    hourly_rate: float | None,
    windows: Sequence[planning.Window] = (),
    schedule_timezone: str = "UTC",
    fixed: tuple[str, str] | None = None,
) -> WeekPlan:
    """The comparison `mwaa-hibernate plan` prints. ``fixed`` is the stack's (wake, hibernate) pair."""
    start = start.astimezone(UTC)
    end = start + timedelta(days=days)
    runs = planning.predicted_runs(dags, start=start, end=end, timezone=dag_timezone)
    even = estimate.break_even(lead=lead.value, delete=delete, hourly_rate=hourly_rate)
    tz = zone(schedule_timezone)
    opened = [(a, b, window.text) for window in windows for a, b in window.occurrences(start=start, end=end, tz=tz)]
    policies: dict[str, Policy] = {}

    def cost(hours: float) -> float | None:
        return None if hourly_rate is None else hours * hourly_rate

    segments = adaptive_segments(
        runs, durations, windows=opened, lead=lead.value, break_even=even, delete=delete, idle_check=idle_check
    )
    hours = _hours([(s.wake_at, s.deleted_at) for s in segments], start, end)
    policies["adaptive"] = Policy("adaptive", hours, cost(hours), segments=segments)
    for name, pair in (("fixed", fixed), ("best fixed pair", None)):
        if name == "best fixed pair":
            pair = best_fixed_pair(runs, durations, create=lead.value, tz_name=schedule_timezone)
            if not runs:
                policies[name] = Policy(name, 0.0, cost(0.0), note="no predictable run to cover")
                continue
            if pair is None:
                policies[name] = Policy(name, days * 24.0, cost(days * 24.0), note="no daily pair covers the runs")
                continue
        if pair is None:
            continue
        try:
            billed, usable = estimate.billed_intervals(
                wake=pair[0],
                hibernate=pair[1],
                timezone=schedule_timezone,
                start=start,
                end=end,
                create_minutes=lead.value.total_seconds() / 60,
                delete_minutes=delete.total_seconds() / 60,
            )
        except estimate.EstimateError as exc:
            policies[name] = Policy(name, 0.0, None, note=f"not compared: {exc}")
            continue
        hours = _hours(billed, start, end)
        policies[name] = Policy(
            name,
            hours,
            cost(hours),
            segments=[
                Segment(a, u[0], u[1], b, "schedule", "schedule") for (a, b), u in zip(billed, usable, strict=False)
            ],
            issues=fixed_issues(runs, durations, usable, schedule_timezone, period_end=end),
            schedule={"wake": pair[0], "hibernate": pair[1], "timezone": schedule_timezone},
        )
    policies["always on"] = Policy("always on", days * 24.0, cost(days * 24.0))
    return WeekPlan(
        start=start,
        end=end,
        timezone=schedule_timezone,
        runs=runs,
        durations=dict(durations),
        unpredictable=[d.dag_id for d in planning.unpredictable(dags)],
        lead=lead,
        break_even=even,
        hourly_rate=hourly_rate,
        policies=policies,
    )
