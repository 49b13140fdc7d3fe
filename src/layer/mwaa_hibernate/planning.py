"""The adaptive schedule's rules: when to wake, when to sleep, and why. Pure: no AWS, no clock of its own.

Everything comes in as values (the DAGs' schedule facts, the measured wakes, a person's override, the
keep-awake windows, the break-even time, "now") and a Decision with its reason goes out. The functions and the
CLI load those values and act on the decision; docs/adaptive-schedule.md states the rules for people.

- **Lead time** (``lead_time``): the 90th percentile (nearest rank) of the last 20 measured wakes, plus 10 %;
  the configured default until 3 wakes were measured. A wake that ended late raises the floor to its own
  duration plus 10 % for as long as it is among the last 20.
- **Wake** (``plan_wake``): at the first moment anything needs the environment (the earliest next run of an
  unpaused DAG with a time schedule, the start of a keep-awake window) minus the lead time; never before a
  sleep override ends. DAGs triggered by datasets or assets, manual DAGs and custom timetables are listed as
  unpredictable.
- **Sleep** (``check_idle``): only when no run is queued or running, no keep-awake window or stay-awake override
  is on, no unpaused ``@continuous`` DAG exists, and the next need is further away than the break-even time
  (what a hibernation costs in billed creation and deletion, see ``estimate.break_even``). A sleep override
  lifts the break-even condition, never the "no running work" one.
- **Overrides** (``gate``): scheduled and event-started executions that an override contradicts are skipped;
  executions a person starts always run.
- **Late** (``lateness``): a wake that finished after the first run it was for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from mwaa_hibernate.dagschedule import CONTINUOUS, PREDICTABLE, DagFacts, runs_between
from mwaa_hibernate.exceptions import MwaaHibernateError

# Lead time: the default until this many wakes were measured, then a high percentile of the recent ones.
MIN_MEASURED_WAKES = 3
WAKE_WINDOW = 20
LEAD_PERCENTILE = 90
LEAD_MARGIN = 0.10
# When a decision lists the runs a wake is for: those due within this much of the first one.
RUNS_SHOWN_WITHIN = timedelta(hours=1)
MAX_RUNS_SHOWN = 10

# Decision kinds.
WAKE_AT = "WAKE_AT"  # plan: start a wake at `at`
NO_WAKE = "NO_WAKE"  # plan: nothing predictable needs the environment
HIBERNATE = "HIBERNATE"  # idle check: hibernate now
STAY_AWAKE = "STAY_AWAKE"  # idle check: not now
PROCEED = "PROCEED"  # gate: the execution goes on
SKIP = "SKIP"  # gate: an override says otherwise
AWAKE = "AWAKE"  # an override: stay awake until
ASLEEP = "ASLEEP"  # an override: stay asleep until
OVERRIDE_KINDS = (AWAKE, ASLEEP)
# Executions people start: overrides never stop them.
MANUAL_TRIGGERS = frozenset({"manual"})
UTC_ZONE = ZoneInfo("UTC")


class PlanningError(MwaaHibernateError, ValueError):
    """An input the rules cannot use (a malformed keep-awake window or override); the message says which."""


def utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise PlanningError(f"{moment!r} has no time zone")
    return moment.astimezone(UTC)


def minutes(delta: timedelta) -> str:
    """A duration for a person: "45 min", "2 h 05 min", "3 d 4 h"."""
    total = max(0, round(delta.total_seconds() / 60))
    days, rest = divmod(total, 1440)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {mins:02d} min" if hours else f"{mins} min"


# --- keep-awake windows ----------------------------------------------------------------------------------

_DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
_WINDOW = re.compile(r"^(?P<days>[A-Za-z*,-]+)\s+(?P<start>\d{1,2}:\d{2})-(?P<end>\d{1,2}:\d{2})$")


@dataclass(frozen=True)
class Window:
    """A keep-awake window: on these weekdays (0 = Monday), from start to end local time (end may be past
    midnight, "24:00" is midnight)."""

    text: str
    weekdays: frozenset[int]
    start: time
    end_minutes: int  # minutes after the start day's midnight; above 1440 when it ends the next day

    def occurrences(self, *, start: datetime, end: datetime, tz: ZoneInfo) -> list[tuple[datetime, datetime]]:
        """Every [open, close) of the window that overlaps [start, end), in UTC."""
        found = []
        day = start.astimezone(tz).date() - timedelta(days=1)
        while day <= end.astimezone(tz).date():
            if day.weekday() in self.weekdays:
                opened = datetime.combine(day, self.start, tzinfo=tz).astimezone(UTC)
                # Wall-clock arithmetic: 18:00 is 18:00 local on a daylight-saving day too.
                closed = (datetime.combine(day, time(0), tzinfo=tz) + timedelta(minutes=self.end_minutes)).astimezone(
                    UTC
                )
                if opened < end and closed > start:
                    found.append((opened, closed))
            day += timedelta(days=1)
        return found


def parse_windows(text: str) -> list[Window]:
    """``"MON-FRI 08:00-18:00; SAT 10:00-12:00"`` (days: MON..SUN, ranges, lists, * for every day)."""
    windows = []
    for part in (p.strip() for p in (text or "").replace("\n", ";").split(";")):
        if not part:
            continue
        match = _WINDOW.match(part)
        if not match:
            raise PlanningError(
                f"keep-awake window {part!r} is not 'DAYS HH:MM-HH:MM' (for example 'MON-FRI 08:00-18:00')"
            )
        start_h, start_m = (int(x) for x in match["start"].split(":"))
        end_h, end_m = (int(x) for x in match["end"].split(":"))
        if start_h > 23 or start_m > 59 or end_h > 24 or end_m > 59 or (end_h == 24 and end_m):
            raise PlanningError(f"keep-awake window {part!r}: a time is out of range")
        start_minutes, end_minutes = start_h * 60 + start_m, end_h * 60 + end_m
        if end_minutes == start_minutes:
            raise PlanningError(f"keep-awake window {part!r} is empty")
        if end_minutes < start_minutes:
            end_minutes += 1440  # past midnight
        windows.append(Window(part, _weekdays(match["days"], part), time(start_h, start_m), end_minutes))
    return windows


def _weekdays(text: str, part: str) -> frozenset[int]:
    days: set[int] = set()
    for item in text.upper().split(","):
        if item in ("*", "DAILY"):
            days.update(range(7))
            continue
        first, _, last = item.partition("-")
        try:
            a, b = _DAYS.index(first), _DAYS.index(last or first)
        except ValueError:
            raise PlanningError(f"keep-awake window {part!r}: {item!r} is not a day (MON..SUN)") from None
        days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
    return frozenset(days)


def window_at(windows: Sequence[Window], moment: datetime, tz: ZoneInfo) -> tuple[Window, datetime] | None:
    """The window open at ``moment`` and when it closes, or None."""
    for window in windows:
        for opened, closed in window.occurrences(start=moment, end=moment + timedelta(seconds=1), tz=tz):
            if opened <= moment < closed:
                return window, closed
    return None


def next_window_open(windows: Sequence[Window], after: datetime, tz: ZoneInfo, horizon: timedelta) -> Any:
    """(window, opens) of the first window opening at or after ``after`` within ``horizon``, or None."""
    best = None
    for window in windows:
        for opened, _ in window.occurrences(start=after, end=after + horizon, tz=tz):
            if opened >= after and (best is None or opened < best[1]):
                best = (window, opened)
    return best


# --- overrides -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Override:
    """A person's word: stay AWAKE or ASLEEP until ``until``, whatever the schedule says."""

    kind: str
    until: datetime
    set_at: datetime
    by: str = ""
    reason: str = ""

    def active(self, now: datetime) -> bool:
        return utc(now) < self.until

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "until": self.until.isoformat(),
            "set_at": self.set_at.isoformat(),
            "by": self.by,
            "reason": self.reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Override:
        try:
            kind = data["kind"]
            if kind not in OVERRIDE_KINDS:
                raise ValueError(f"kind must be one of {OVERRIDE_KINDS}")
            return cls(
                kind=kind,
                until=utc(datetime.fromisoformat(data["until"])),
                set_at=utc(datetime.fromisoformat(data["set_at"])),
                by=data.get("by", ""),
                reason=data.get("reason", ""),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise PlanningError(f"the override record is unreadable ({exc}): set it again or `resume`") from exc

    def describe(self, tz: ZoneInfo) -> str:
        word = "awake" if self.kind == AWAKE else "asleep"
        return f"{word} until {self.until.astimezone(tz):%a %Y-%m-%d %H:%M %Z} (override by {self.by or 'a person'})"


# --- measured wakes and the lead time --------------------------------------------------------------------


@dataclass(frozen=True)
class WakeRecord:
    """One measured wake: from the wake execution's start until the environment was recorded awake."""

    started_at: datetime
    awake_at: datetime
    due_at: datetime | None = None  # the first run it was for (adaptive wakes)
    trigger: str = ""

    @property
    def duration(self) -> timedelta:
        return self.awake_at - self.started_at

    @property
    def late_by(self) -> timedelta:
        if self.due_at is None or self.awake_at <= self.due_at:
            return timedelta(0)
        return self.awake_at - self.due_at

    def to_json(self) -> dict[str, Any]:
        return {
            "started_at": self.started_at.isoformat(),
            "awake_at": self.awake_at.isoformat(),
            "seconds": round(self.duration.total_seconds(), 1),
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "late_seconds": round(self.late_by.total_seconds(), 1),
            "trigger": self.trigger,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> WakeRecord:
        due = data.get("due_at")
        return cls(
            started_at=utc(datetime.fromisoformat(data["started_at"])),
            awake_at=utc(datetime.fromisoformat(data["awake_at"])),
            due_at=utc(datetime.fromisoformat(due)) if due else None,
            trigger=data.get("trigger", ""),
        )


@dataclass(frozen=True)
class LeadTime:
    value: timedelta
    reason: str
    measured: int

    def to_json(self) -> dict[str, Any]:
        return {"seconds": round(self.value.total_seconds()), "reason": self.reason, "measured_wakes": self.measured}


def percentile(values: Sequence[float], rank: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``rank`` % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(rank / 100 * len(ordered)) - 1)]


def lead_time(history: Sequence[WakeRecord], *, default: timedelta) -> LeadTime:
    """How long before the first run a wake must start (see the module docstring for the rule)."""
    recent = list(history)[-WAKE_WINDOW:]
    durations = [record.duration.total_seconds() for record in recent]
    late = [record for record in recent if record.late_by > timedelta(0)]
    if len(recent) < MIN_MEASURED_WAKES:
        base = default.total_seconds()
        reason = (
            f"the default ({minutes(default)}) until {MIN_MEASURED_WAKES} wakes are measured ({len(recent)} so far)"
        )
    else:
        base = percentile(durations, LEAD_PERCENTILE) * (1 + LEAD_MARGIN)
        reason = (
            f"{LEAD_PERCENTILE}th percentile of the last {len(recent)} wakes "
            f"({minutes(timedelta(seconds=percentile(durations, LEAD_PERCENTILE)))}) + {LEAD_MARGIN:.0%}"
        )
    if late:
        floor = max(record.duration.total_seconds() for record in late) * (1 + LEAD_MARGIN)
        if floor > base:
            base = floor
            worst = max(late, key=lambda r: r.duration)
            reason = (
                f"lengthened after a late wake ({minutes(worst.duration)}, {minutes(worst.late_by)} late on "
                f"{worst.awake_at:%Y-%m-%d}) + {LEAD_MARGIN:.0%}"
            )
    return LeadTime(value=timedelta(seconds=math.ceil(round(base, 6))), reason=reason, measured=len(recent))


# --- what needs the environment -------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    dag_id: str
    due_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"dag_id": self.dag_id, "due_at": self.due_at.isoformat()}


@dataclass(frozen=True)
class Need:
    """The first moment something needs the environment, and what."""

    at: datetime
    reason: str
    dag_id: str | None = None
    runs: tuple[Run, ...] = ()  # runs due from `at` within RUNS_SHOWN_WITHIN
    window: str | None = None


def predicted_runs(dags: Iterable[DagFacts], *, start: datetime, end: datetime, timezone: str = "UTC") -> list[Run]:
    """Every run of the unpaused, predictable DAGs in [start, end), by time. Overdue next runs count as due at
    ``start`` (Airflow creates them as soon as the scheduler runs)."""
    runs = []
    for facts in dags:
        if facts.paused or facts.next_run is None:
            continue
        for moment in runs_between(facts, start=min(start, facts.next_run), end=end, tz_name=timezone):
            runs.append(Run(facts.dag_id, max(moment, start)))
    return sorted(runs, key=lambda run: (run.due_at, run.dag_id))


def unpredictable(dags: Iterable[DagFacts]) -> list[DagFacts]:
    """Unpaused DAGs whose runs cannot be foreseen: event-triggered, manual, custom timetables."""
    return [d for d in dags if not d.paused and (d.kind not in PREDICTABLE or d.event_triggered)]


def next_need(
    dags: Sequence[DagFacts],
    *,
    now: datetime,
    windows: Sequence[Window] = (),
    tz: ZoneInfo = UTC_ZONE,
    horizon: timedelta = timedelta(days=400),
) -> Need | None:
    """The first moment at or after ``now`` something needs the environment, or None."""
    now = utc(now)
    candidates: list[Need] = []
    open_now = window_at(windows, now, tz)
    if open_now:
        candidates.append(Need(at=now, reason=f"keep-awake window {open_now[0].text} is open", window=open_now[0].text))
    upcoming = next_window_open(windows, now, tz, horizon)
    if upcoming:
        window, opens = upcoming
        candidates.append(Need(at=opens, reason=f"keep-awake window {window.text} opens", window=window.text))
    firsts = [(max(d.next_run, now), d) for d in dags if not d.paused and d.next_run is not None]
    if firsts:
        first_at, first = min(firsts, key=lambda pair: (pair[0], pair[1].dag_id))
        runs = tuple(
            Run(d.dag_id, at)
            for at, d in sorted(firsts, key=lambda pair: (pair[0], pair[1].dag_id))
            if at < first_at + RUNS_SHOWN_WITHIN
        )[:MAX_RUNS_SHOWN]
        overdue = " (overdue)" if first.next_run and first.next_run < now else ""
        candidates.append(
            Need(
                at=first_at,
                reason=f"{first.dag_id} is due at {first_at:%Y-%m-%d %H:%M} UTC{overdue}",
                dag_id=first.dag_id,
                runs=runs,
            )
        )
    return min(candidates, key=lambda need: need.at) if candidates else None


# --- decisions -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    """What the rules decided, why, and which DAG drove it (recorded in decisions.json, shown by `status`)."""

    kind: str
    reason: str
    decided_at: datetime
    at: datetime | None = None  # when to act (a wake's start), if not now
    due_at: datetime | None = None  # the first run the decision is for
    dag_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reason": self.reason,
            "decided_at": self.decided_at.isoformat(),
            "at": self.at.isoformat() if self.at else None,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "dag_id": self.dag_id,
            "details": self.details,
        }


def plan_wake(
    dags: Sequence[DagFacts],
    *,
    now: datetime,
    lead: LeadTime,
    windows: Sequence[Window] = (),
    override: Override | None = None,
    tz: ZoneInfo = UTC_ZONE,
) -> Decision:
    """When the hibernated environment must start waking (at the earliest: now)."""
    now = utc(now)
    details: dict[str, Any] = {
        "lead": lead.to_json(),
        "unpredictable": [d.dag_id for d in unpredictable(dags)],
        "paused_ignored": sorted(d.dag_id for d in dags if d.paused),
    }
    asleep = override if override and override.kind == ASLEEP and override.active(now) else None
    need = next_need(dags, now=max(now, asleep.until) if asleep else now, windows=windows, tz=tz)
    if asleep is not None:
        details["override"] = asleep.to_json()
        skipped = [d.dag_id for d in dags if not d.paused and d.next_run and d.next_run < asleep.until]
        details["skipped_by_override"] = sorted(skipped)
    if need is None:
        reason = "no unpaused DAG has a time schedule and no keep-awake window is set"
        if details["unpredictable"]:
            reason += f"; {len(details['unpredictable'])} DAG(s) run on events or by hand: wake by event or by hand"
        return Decision(NO_WAKE, reason, decided_at=now, details=details)
    start = max(need.at - lead.value, now)
    reason = f"{need.reason}; start {minutes(lead.value)} ahead ({lead.reason})"
    if asleep is not None and start <= asleep.until:
        start = asleep.until
        reason = f"asleep by override until {asleep.until:%Y-%m-%d %H:%M} UTC, then: " + reason
    if need.at - start < lead.value and start == now and not asleep:
        reason += f"; less than the lead time is left, so wake now ({minutes(need.at - now)} before)"
    details["runs"] = [run.to_json() for run in need.runs]
    if need.window:
        details["window"] = need.window
    return Decision(WAKE_AT, reason, decided_at=now, at=start, due_at=need.at, dag_id=need.dag_id, details=details)


@dataclass(frozen=True)
class Activity:
    """What the live environment is doing, from the Airflow REST API."""

    running: int = 0
    queued: int = 0
    running_dags: tuple[str, ...] = ()

    @property
    def busy(self) -> bool:
        return self.running + self.queued > 0


def check_idle(
    dags: Sequence[DagFacts],
    *,
    now: datetime,
    activity: Activity,
    break_even: timedelta,
    windows: Sequence[Window] = (),
    override: Override | None = None,
    tz: ZoneInfo = UTC_ZONE,
) -> Decision:
    """Whether the awake environment should hibernate now. Never while work runs or waits to run."""
    now = utc(now)
    details: dict[str, Any] = {
        "running": activity.running,
        "queued": activity.queued,
        "break_even_seconds": round(break_even.total_seconds()),
    }
    if override and override.active(now) and override.kind == AWAKE:
        return Decision(
            STAY_AWAKE, f"awake by override until {override.until:%Y-%m-%d %H:%M} UTC", now, details=details
        )
    if activity.busy:
        dags_busy = ", ".join(activity.running_dags[:5]) or "-"
        reason = f"{activity.running} run(s) running and {activity.queued} queued ({dags_busy}): never interrupted"
        dag = activity.running_dags[0] if activity.running_dags else None
        return Decision(STAY_AWAKE, reason, now, dag_id=dag, details=details)
    continuous = [d.dag_id for d in dags if not d.paused and d.kind == CONTINUOUS]
    if continuous:
        return Decision(STAY_AWAKE, f"{continuous[0]} is @continuous: always working", now, dag_id=continuous[0])
    if override is not None and override.active(now) and override.kind == ASLEEP:
        return Decision(HIBERNATE, f"idle, and asleep by override until {override.until:%Y-%m-%d %H:%M} UTC", now)
    open_now = window_at(windows, now, tz)
    if open_now:
        return Decision(
            STAY_AWAKE,
            f"keep-awake window {open_now[0].text} is open",
            now,
            details={**details, "window": open_now[0].text},
        )
    need = next_need(dags, now=now, windows=windows, tz=tz)
    if need is not None and need.at - now <= break_even:
        reason = (
            f"idle, but {need.reason}, in {minutes(need.at - now)}: within the break-even time "
            f"({minutes(break_even)}), so sleeping would cost more than it saves"
        )
        return Decision(STAY_AWAKE, reason, now, due_at=need.at, dag_id=need.dag_id, details=details)
    if need is None:
        reason = "idle, and nothing predictable needs the environment"
        if unpredictable(dags):
            reason += " (event-triggered or manual DAGs wake it by event or by hand)"
        return Decision(HIBERNATE, reason, now, details=details)
    reason = (
        f"idle; next: {need.reason}, in {minutes(need.at - now)}, beyond the break-even time ({minutes(break_even)})"
    )
    return Decision(HIBERNATE, reason, now, due_at=need.at, dag_id=need.dag_id, details=details)


def gate(*, flow: str, trigger: str, now: datetime, override: Override | None) -> Decision:
    """Whether a hibernate or wake execution goes on: a person's starts always do; scheduled, adaptive and
    event-started ones are skipped while an override says the opposite."""
    now = utc(now)
    if trigger in MANUAL_TRIGGERS or override is None or not override.active(now):
        return Decision(PROCEED, f"{flow} started by {trigger or 'an unnamed trigger'}", now)
    if flow == "wake" and override.kind == ASLEEP:
        return Decision(SKIP, f"asleep by override until {override.until:%Y-%m-%d %H:%M} UTC", now)
    if flow == "hibernate" and override.kind == AWAKE:
        return Decision(SKIP, f"awake by override until {override.until:%Y-%m-%d %H:%M} UTC", now)
    return Decision(PROCEED, f"{flow} agrees with the override ({override.kind.lower()})", now)


def lateness(*, due_at: datetime | None, awake_at: datetime, runs: Sequence[Run] = ()) -> tuple[timedelta, list[Run]]:
    """How late a wake finished for the first run it was for, and the runs due before it finished."""
    if due_at is None or awake_at <= due_at:
        return timedelta(0), []
    return awake_at - due_at, [run for run in runs if run.due_at < awake_at]
