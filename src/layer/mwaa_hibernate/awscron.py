"""EventBridge Scheduler cron expressions: parse them, and list the instants they fire in an IANA time zone.

Why not a library: the PyPI candidate, pyawscron 1.0.7 (Aug 2024), silently ignores the day-of-week when both
day fields are given (``cron(0 9 * * MON-FRI *)`` fires on Sundays instead of being refused), raises bare
``Exception`` on ``L`` alone, and ``IndexError`` on ``? ?`` or a wrapped range. A schedule read wrongly makes a
wrong estimate without a word, so this module parses the documented grammar itself and refuses everything else.

Grammar (https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-cron-expressions.html):
``cron(minutes hours day-of-month month day-of-week year)``; ``, - * /`` everywhere except day-of-week (no ``/``);
``?`` in exactly one of the two day fields; ``L`` and ``nW`` in day-of-month; ``L``, ``nL`` and ``n#k`` (alone) in
day-of-week, where 1 is Sunday and 7 is Saturday.

Time zones (https://docs.aws.amazon.com/scheduler/latest/UserGuide/schedule-types.html): a local time that does not
exist (spring forward) is skipped; a local time that happens twice (fall back) fires once. Which of the two instants
AWS picks is not documented; we take the first (``fold=0``).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from mwaa_hibernate.exceptions import MwaaHibernateError

__all__ = ["CronExpressionError", "CronSchedule", "parse_cron"]

_MONTH_NAMES = {name.upper(): number for number, name in enumerate(calendar.month_abbr) if name}
# AWS numbers days of the week 1 (SUN) to 7 (SAT).
_WEEKDAY_NAMES = {"SUN": 1, "MON": 2, "TUE": 3, "WED": 4, "THU": 5, "FRI": 6, "SAT": 7}
# The range of the year field, as documented.
_YEAR_RANGE = (1970, 2199)
# How far back `last_fire_before` looks: a year and a bit covers every schedule that fires at least yearly.
_LOOKBACK_DAYS = 400

_WRAPPED = re.compile(r"^\s*cron\((?P<body>.*)\)\s*$", re.IGNORECASE)

DayRule = Callable[[date], bool]


class CronExpressionError(MwaaHibernateError, ValueError):
    """A cron expression EventBridge Scheduler would refuse, or one this parser does not understand."""


@dataclass(frozen=True)
class CronSchedule:
    """A parsed expression: the sets of allowed values, and a rule for the two day fields combined."""

    expression: str
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    years: frozenset[int]
    day_rule: DayRule

    def fires_on(self, day: date) -> bool:
        """Whether the schedule fires at least once on this local calendar day."""
        return day.month in self.months and day.year in self.years and self.day_rule(day)

    def local_times(self, day: date) -> list[datetime]:
        """The naive local wall-clock times the schedule names on this day, in order."""
        if not self.fires_on(day):
            return []
        return [datetime.combine(day, time(hour, minute)) for hour in self.hours for minute in self.minutes]

    def fires_between(self, *, start: datetime, end: datetime, tz: ZoneInfo) -> list[datetime]:
        """Every instant in ``[start, end)`` the schedule fires, as aware UTC datetimes, DST rules applied."""
        first_day = start.astimezone(tz).date() - timedelta(days=1)
        last_day = end.astimezone(tz).date() + timedelta(days=1)
        fires: list[datetime] = []
        day = first_day
        while day <= last_day:
            for local in self.local_times(day):
                instant = _resolve_local(local, tz)
                if instant is not None and start <= instant < end:
                    fires.append(instant)
            day += timedelta(days=1)
        return fires

    def last_fire_before(self, instant: datetime, *, tz: ZoneInfo) -> datetime | None:
        """The latest fire strictly before ``instant``, or None if there is none in the last ~13 months."""
        day = instant.astimezone(tz).date()
        for _ in range(_LOOKBACK_DAYS):
            for local in reversed(self.local_times(day)):
                resolved = _resolve_local(local, tz)
                if resolved is not None and resolved < instant:
                    return resolved
            day -= timedelta(days=1)
        return None


def _resolve_local(local: datetime, tz: ZoneInfo) -> datetime | None:
    """Map a naive local time to its UTC instant: None if the clocks skip it, the first one if it happens twice."""
    aware = local.replace(tzinfo=tz, fold=0)
    instant = aware.astimezone(UTC)
    if instant.astimezone(tz).replace(tzinfo=None) != local:
        return None  # spring forward: this wall-clock time does not exist today
    return instant


def parse_cron(expression: str) -> CronSchedule:
    """Parse ``cron(...)`` (the six fields alone are accepted too); raise CronExpressionError saying what is wrong."""
    if expression.strip().lower().startswith(("rate(", "at(")):
        raise CronExpressionError(f"{expression!r} is not a cron(...) expression; the estimator needs cron schedules")
    match = _WRAPPED.match(expression)
    body = match.group("body") if match else expression
    fields = body.split()
    if len(fields) != 6:
        raise CronExpressionError(
            f"{expression!r} has {len(fields)} fields; EventBridge cron needs 6: "
            "minutes hours day-of-month month day-of-week year, e.g. cron(0 19 ? * MON-FRI *)"
        )
    minute_f, hour_f, dom_f, month_f, dow_f, year_f = fields
    if (dom_f == "?") == (dow_f == "?"):
        raise CronExpressionError(
            f"{expression!r}: exactly one of day-of-month ({dom_f}) and day-of-week ({dow_f}) must be '?'; "
            "for example cron(0 9 ? * MON-FRI *) or cron(0 9 * * ? *)"
        )
    day_rule = _parse_day_of_month(dom_f, expression) if dow_f == "?" else _parse_day_of_week(dow_f, expression)
    return CronSchedule(
        expression=expression.strip(),
        minutes=tuple(sorted(_parse_field(minute_f, "minutes", 0, 59, expression))),
        hours=tuple(sorted(_parse_field(hour_f, "hours", 0, 23, expression))),
        months=frozenset(_parse_field(month_f, "month", 1, 12, expression, names=_MONTH_NAMES)),
        years=frozenset(_parse_field(year_f, "year", *_YEAR_RANGE, expression)),
        day_rule=day_rule,
    )


def _parse_field(
    text: str,
    name: str,
    low: int,
    high: int,
    expression: str,
    *,
    names: dict[str, int] | None = None,
    allow_step: bool = True,
) -> set[int]:
    """A field made of ``*``, values, ranges and ``/`` steps, joined by commas."""
    values: set[int] = set()
    for item in text.split(","):
        base, _, step_text = item.partition("/")
        if step_text and not allow_step:
            raise CronExpressionError(f"{expression!r}: the {name} field does not accept '/' ({item!r})")
        if base == "*":
            first, last = low, high
        elif "-" in base:
            first_text, _, last_text = base.partition("-")
            first = _value(first_text, name, low, high, expression, names)
            last = _value(last_text, name, low, high, expression, names)
            if first > last:
                raise CronExpressionError(
                    f"{expression!r}: the {name} range {base!r} runs backwards; write it as a list instead"
                )
        else:
            first = _value(base, name, low, high, expression, names)
            last = high if step_text else first
        step = _step(step_text, name, expression) if step_text else 1
        values.update(range(first, last + 1, step))
    return values


def _value(text: str, name: str, low: int, high: int, expression: str, names: dict[str, int] | None) -> int:
    token = text.strip().upper()
    if names and token in names:
        return names[token]
    if not token.isdigit():
        raise CronExpressionError(f"{expression!r}: {text!r} is not a valid value for the {name} field")
    number = int(token)
    if not low <= number <= high:
        raise CronExpressionError(f"{expression!r}: {number} is outside the {name} field's range {low}-{high}")
    return number


def _step(text: str, name: str, expression: str) -> int:
    if not text.isdigit() or int(text) == 0:
        raise CronExpressionError(f"{expression!r}: the step {text!r} in the {name} field must be a positive number")
    return int(text)


def _parse_day_of_month(text: str, expression: str) -> DayRule:
    if text.upper() == "L":
        return lambda day: day.day == _days_in_month(day)
    weekday_match = re.fullmatch(r"(\d{1,2})W", text, flags=re.IGNORECASE)
    if weekday_match:
        target = _value(weekday_match.group(1), "day-of-month", 1, 31, expression, None)
        return lambda day: day.day == _nearest_weekday(day.year, day.month, target)
    if any(letter in text.upper() for letter in "LW"):
        raise CronExpressionError(
            f"{expression!r}: day-of-month {text!r} is not supported; use L (last day) or nW (weekday nearest n) alone"
        )
    days = _parse_field(text, "day-of-month", 1, 31, expression)
    return lambda day: day.day in days


def _parse_day_of_week(text: str, expression: str) -> DayRule:
    token = text.upper()
    if token == "L":  # the last day of the week: Saturday
        return lambda day: _aws_weekday(day) == 7
    last_match = re.fullmatch(r"(\w{1,3})L", token)
    if last_match:
        weekday = _value(last_match.group(1), "day-of-week", 1, 7, expression, _WEEKDAY_NAMES)
        return lambda day: _aws_weekday(day) == weekday and day.day + 7 > _days_in_month(day)
    if "#" in token:
        weekday_text, _, nth_text = token.partition("#")
        weekday = _value(weekday_text, "day-of-week", 1, 7, expression, _WEEKDAY_NAMES)
        if "," in nth_text or not nth_text.isdigit() or not 1 <= int(nth_text) <= 5:
            raise CronExpressionError(
                f"{expression!r}: {text!r} must be a single weekday#n with n from 1 to 5 (AWS allows one '#' term)"
            )
        nth = int(nth_text)
        return lambda day: _aws_weekday(day) == weekday and (day.day - 1) // 7 + 1 == nth
    if "L" in token:  # no weekday name contains an L, so this is a misplaced L
        raise CronExpressionError(f"{expression!r}: day-of-week {text!r}: L must be used alone, as L or nL")
    weekdays = _parse_field(token, "day-of-week", 1, 7, expression, names=_WEEKDAY_NAMES, allow_step=False)
    return lambda day: _aws_weekday(day) in weekdays


def _aws_weekday(day: date) -> int:
    """Python's Monday=0..Sunday=6 as AWS's Sunday=1..Saturday=7."""
    return (day.weekday() + 1) % 7 + 1


def _days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def _nearest_weekday(year: int, month: int, target: int) -> int | None:
    """The weekday (Mon-Fri) nearest day ``target``, without leaving the month; None if the month is shorter."""
    length = calendar.monthrange(year, month)[1]
    if target > length:
        return None
    weekday = date(year, month, target).weekday()
    if weekday == 5:  # Saturday: the Friday before, or the Monday after if the month starts on it
        return target - 1 if target > 1 else target + 2
    if weekday == 6:  # Sunday: the Monday after, or the Friday before if the month ends on it
        return target + 1 if target < length else target - 2
    return target
