"""What a DAG's schedule says about when it needs the environment: the facts, and the runs they predict.

Airflow records per DAG its next run (``next_dagrun_create_after``: when the scheduler creates it, i.e. when
it is due) and its schedule as a summary: a cron expression or preset, a time interval, ``@once``,
``@continuous``, ``Dataset`` (triggered by datasets; assets on Airflow 3), ``None`` (manual only), or a custom
timetable's own summary. The next run is exact. Later runs are predicted from the schedule: cron expressions
with croniter (the evaluator Airflow 2 itself uses) in the DAG's time zone, intervals by adding them up.

What cannot be predicted: DAGs triggered by datasets or assets, manual DAGs, and custom timetables. They are
reported as unpredictable; keep-awake windows and the wake event cover them (docs/adaptive-schedule.md).

The time zone of a DAG is not in the metadata database's ``dag`` table. The environment's
``core.default_timezone`` (its saved configuration) is assumed, checked against the recorded next run; when they
disagree the prediction keeps the next run's UTC offset for the later ones and says so.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, tzinfo
from datetime import timezone as dt_timezone
from functools import partial
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# How a DAG is scheduled, as far as waking the environment is concerned.
CRON = "cron"  # a cron expression or preset: predictable
INTERVAL = "interval"  # a fixed time interval: predictable
ONCE = "once"  # @once: at most the recorded next run
CONTINUOUS = "continuous"  # @continuous: always running, the environment never idles
EVENT = "event"  # dataset- or asset-triggered: unpredictable
MANUAL = "manual"  # schedule None: runs only when triggered
CUSTOM = "custom"  # a custom timetable: only the recorded next run is known
PREDICTABLE = frozenset({CRON, INTERVAL, ONCE})

# Airflow's cron presets (airflow.utils.dates.cron_presets); @once and @continuous are their own kinds.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@midnight": "0 0 * * *",
}
_EVENT_SUMMARIES = ("Dataset", "Asset")
# "Dataset or <cron>" (DatasetOrTimeSchedule): runs on the time part and on dataset events.
_EVENT_OR_TIME = (" or ", "Dataset or ", "Asset or ")


@dataclass(frozen=True)
class DagFacts:
    """One DAG as the adaptive schedule sees it."""

    dag_id: str
    paused: bool
    kind: str
    next_run: datetime | None = None  # when the next run is due (UTC), as Airflow recorded it
    expression: str | None = None  # the cron expression, or the interval as text
    interval: timedelta | None = None
    description: str | None = None  # Airflow's own words for the schedule ("At 09:00")
    event_triggered: bool = False  # also (or only) triggered by datasets or assets

    @property
    def predictable(self) -> bool:
        return self.kind in PREDICTABLE

    def to_json(self) -> dict[str, Any]:
        return {
            "dag_id": self.dag_id,
            "paused": self.paused,
            "kind": self.kind,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "expression": self.expression,
            "description": self.description,
            "event_triggered": self.event_triggered,
        }


def parse_timestamp(text: str | None) -> datetime | None:
    """PostgreSQL's text (``2026-11-24 09:00:00+00``) or ISO 8601 (the REST API) as an aware UTC datetime."""
    if not text:
        return None
    value = text.strip().replace(" ", "T", 1)
    if value.endswith("Z"):
        value = value[:-1] + "+00:00"
    elif len(value) >= 3 and value[-3] in "+-" and ":" not in value[-3:]:
        value += ":00"  # PostgreSQL writes "+00", Python wants "+00:00"
    parsed = datetime.fromisoformat(value)
    return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC)


def schedule_from_column(value: str | None) -> Any:
    """The ``dag.schedule_interval`` column (JSON text written by Airflow's Interval type) as a Python value:
    a string (cron, preset, summary), a timedelta, {"relativedelta": attrs}, or None."""
    if value is None or value == "":
        return None
    try:
        data = json.loads(value)
    except ValueError:
        return value  # not JSON: take the text as the summary
    if isinstance(data, dict) and data.get("type") == "timedelta":
        return timedelta(**data.get("attrs", {}))
    if isinstance(data, dict) and data.get("type") == "relativedelta":
        return {"relativedelta": data.get("attrs", {})}
    return data


def schedule_from_rest(value: Any) -> Any:
    """The REST API's ``schedule_interval`` ({"__type": "CronExpression", "value": ...}, "TimeDelta", ...)."""
    if not isinstance(value, Mapping):
        return value
    kind = value.get("__type")
    if kind == "CronExpression":
        return value.get("value")
    if kind == "TimeDelta":
        return timedelta(
            days=value.get("days", 0), seconds=value.get("seconds", 0), microseconds=value.get("microseconds", 0)
        )
    if kind == "RelativeDelta":
        return {"relativedelta": {k: v for k, v in value.items() if k != "__type"}}
    return value.get("value")


def classify(
    dag_id: str,
    *,
    paused: bool,
    schedule: Any,
    next_run: datetime | None,
    description: str | None = None,
    dataset_expression: Any = None,
) -> DagFacts:
    """The DagFacts of one DAG from its schedule value (see schedule_from_column / schedule_from_rest)."""
    facts = partial(DagFacts, dag_id=dag_id, paused=paused, next_run=next_run, description=description)
    if isinstance(schedule, timedelta):
        return facts(kind=INTERVAL, expression=str(schedule), interval=schedule)
    if isinstance(schedule, dict):  # a relativedelta: months or years; only the next run is exact
        return facts(kind=CUSTOM, expression=f"relativedelta({schedule.get('relativedelta')})")
    if schedule is None or schedule == "None":
        return facts(kind=MANUAL)
    text = str(schedule).strip()
    if text == "@once":
        return facts(kind=ONCE, expression=text)
    if text == "@continuous":
        return facts(kind=CONTINUOUS, expression=text)
    if text in _EVENT_SUMMARIES:
        return facts(kind=EVENT, expression=text, event_triggered=True)
    for prefix in _EVENT_OR_TIME[1:]:
        if text.startswith(prefix):
            time_part = text[len(prefix) :]
            inner = classify(dag_id, paused=paused, schedule=time_part, next_run=next_run, description=description)
            return replace(inner, event_triggered=True)
    cron = CRON_PRESETS.get(text, text)
    if _is_cron(cron):
        return facts(kind=CRON, expression=cron)
    return facts(kind=CUSTOM, expression=text)


def _is_cron(text: str) -> bool:
    from croniter import croniter

    return len(text.split()) in (5, 6) and croniter.is_valid(text)


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def runs_between(facts: DagFacts, *, start: datetime, end: datetime, tz_name: str = "UTC") -> Iterator[datetime]:
    """Every run of the DAG due in ``[start, end)``, UTC, from its recorded next run onwards.

    Nothing for paused or unpredictable DAGs (a custom timetable yields its recorded next run only).
    """
    if facts.paused or facts.next_run is None or facts.kind in (EVENT, MANUAL, CONTINUOUS):
        return
    first = facts.next_run
    if start <= first < end:
        yield first
    if facts.kind in (ONCE, CUSTOM):
        return
    if facts.kind == INTERVAL and facts.interval:
        moment = first + facts.interval
        while moment < end:
            if moment >= start:
                yield moment
            moment += facts.interval
        return
    from croniter import croniter

    runs = croniter(facts.expression or "", first.astimezone(cron_zone(facts, tz_name)))
    while (moment := runs.get_next(datetime).astimezone(UTC)) < end:
        if moment >= start:
            yield moment


def cron_zone(facts: DagFacts, tz_name: str) -> tzinfo:
    """The zone to evaluate the DAG's cron in: ``tz_name`` when the recorded next run fits it, else the fixed
    UTC offset (whole quarter hours) that makes the recorded next run a fire of the cron."""
    assumed = zone(tz_name)
    if facts.next_run is None or time_zone_fits(facts, tz_name):
        return assumed
    from croniter import croniter

    for quarters in sorted(range(-48, 57), key=abs):
        offset = timedelta(minutes=15 * quarters)
        if croniter.match(facts.expression or "", (facts.next_run + offset).replace(tzinfo=None)):
            return dt_timezone(offset)
    return assumed


def time_zone_fits(facts: DagFacts, tz_name: str) -> bool:
    """Whether the recorded next run is a fire of the DAG's cron in ``tz_name`` (true for other kinds)."""
    if facts.kind != CRON or facts.next_run is None:
        return True
    from croniter import croniter

    return bool(croniter.match(facts.expression or "", facts.next_run.astimezone(zone(tz_name))))
