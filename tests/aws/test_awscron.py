"""EventBridge Scheduler cron expressions: the grammar AWS documents, and its daylight-saving rules.

Calendar facts the expectations rely on: 2026-11-01 is a Sunday, 2026-08-01 a Saturday, 2026-11-15 a Sunday;
Europe/Madrid springs forward on 2027-03-28 (02:00 -> 03:00) and falls back on 2026-10-25 (03:00 -> 02:00);
America/New_York springs forward on 2027-03-14 and falls back on 2026-11-01 (both at 02:00).
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from mwaa_hibernate.awscron import CronExpressionError, parse_cron

UTC_ZONE = ZoneInfo("UTC")


def fire_days(expression: str, year: int, month: int) -> list[int]:
    """Days of the month on which the expression fires (UTC)."""
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    fires = parse_cron(expression).fires_between(start=datetime(year, month, 1, tzinfo=UTC), end=end, tz=UTC_ZONE)
    return sorted({instant.day for instant in fires})


@pytest.mark.parametrize(
    ("expression", "year", "month", "days"),
    [
        pytest.param(
            "cron(0 9 ? * MON-FRI *)",
            2026,
            11,
            [2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30],
            id="weekdays",
        ),
        pytest.param(
            "cron(0 9 ? * 2-6 *)",
            2026,
            11,
            [2, 3, 4, 5, 6, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 23, 24, 25, 26, 27, 30],
            id="weekdays-as-numbers-sunday-is-1",
        ),
        pytest.param("cron(0 9 ? * SAT,SUN *)", 2026, 11, [1, 7, 8, 14, 15, 21, 22, 28, 29], id="weekend-list"),
        pytest.param("cron(0 9 L * ? *)", 2027, 2, [28], id="last-day-of-february"),
        pytest.param("cron(0 9 L * ? *)", 2028, 2, [29], id="last-day-of-leap-february"),
        pytest.param("cron(0 9 15W * ? *)", 2026, 11, [16], id="15W-sunday-moves-to-monday"),
        pytest.param("cron(0 9 1W * ? *)", 2026, 8, [3], id="1W-saturday-stays-in-month"),
        pytest.param("cron(0 9 31W * ? *)", 2026, 10, [30], id="31W-saturday-moves-to-friday"),
        pytest.param("cron(0 9 31 * ? *)", 2026, 11, [], id="31st-in-a-30-day-month-never"),
        pytest.param("cron(0 9 ? * 3#2 *)", 2026, 11, [10], id="second-tuesday"),
        pytest.param("cron(0 9 ? * FRI#5 *)", 2026, 11, [], id="no-fifth-friday"),
        pytest.param("cron(0 9 ? * 6L *)", 2026, 11, [27], id="last-friday"),
        pytest.param("cron(0 9 ? * L *)", 2026, 11, [7, 14, 21, 28], id="L-alone-is-saturday"),
        pytest.param("cron(0 9 1/10 * ? *)", 2026, 11, [1, 11, 21], id="day-step"),
        pytest.param("cron(0 9 * JAN,MAR ? *)", 2026, 11, [], id="other-months"),
        pytest.param("cron(0 9 * * ? 2027)", 2026, 11, [], id="other-year"),
    ],
)
def test_days_match_the_documented_wildcards(expression: str, year: int, month: int, days: list[int]) -> None:
    assert fire_days(expression, year, month) == days


def test_minute_and_hour_steps_and_ranges_give_every_named_time() -> None:
    schedule = parse_cron("cron(0/20 8-9,17 * * ? *)")
    times = [(t.hour, t.minute) for t in schedule.local_times(date(2026, 11, 2))]
    assert times == [(8, 0), (8, 20), (8, 40), (9, 0), (9, 20), (9, 40), (17, 0), (17, 20), (17, 40)]


def test_bare_fields_are_accepted_like_the_wrapped_form() -> None:
    assert fire_days("0 9 ? * MON *", 2026, 11) == fire_days("cron(0 9 ? * MON *)", 2026, 11) == [2, 9, 16, 23, 30]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        pytest.param("cron(0 9 * * MON-FRI *)", "exactly one of day-of-month", id="both-days-given"),
        pytest.param("cron(0 9 ? * ? *)", "exactly one of day-of-month", id="both-days-open"),
        pytest.param("cron(0 9 * * ?)", "has 5 fields", id="five-fields"),
        pytest.param("cron(60 9 * * ? *)", "outside the minutes field's range 0-59", id="minute-60"),
        pytest.param("cron(0 24 * * ? *)", "outside the hours field's range 0-23", id="hour-24"),
        pytest.param("cron(0 9 * * ? 1969)", "outside the year field's range", id="year-1969"),
        pytest.param("rate(5 minutes)", "not a cron(...) expression", id="rate"),
        pytest.param("cron(0 22-2 * * ? *)", "runs backwards", id="wrapped-range"),
        pytest.param("cron(0 9 ? * MON/2 *)", "does not accept '/'", id="step-in-day-of-week"),
        pytest.param("cron(0 9 ? * 3#1,6#3 *)", "single weekday#n", id="two-hash-terms"),
        pytest.param("cron(0 9 ? * 2#6 *)", "single weekday#n", id="sixth-monday"),
        pytest.param("cron(0 9 L-2 * ? *)", "not supported", id="L-offset"),
        pytest.param("cron(0 9 ? * MON,L *)", "L must be used alone", id="L-in-list"),
        pytest.param("cron(0 9 * FOO ? *)", "'FOO' is not a valid value for the month field", id="bad-month-name"),
        pytest.param("cron(0/0 9 * * ? *)", "must be a positive number", id="zero-step"),
    ],
)
def test_expressions_aws_would_refuse_are_refused_with_the_reason(expression: str, message: str) -> None:
    with pytest.raises(CronExpressionError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_cron(expression)


def local_fires(expression: str, zone: str, start: datetime, end: datetime) -> list[str]:
    tz = ZoneInfo(zone)
    return [t.astimezone(tz).isoformat() for t in parse_cron(expression).fires_between(start=start, end=end, tz=tz)]


def test_madrid_spring_forward_skips_the_missing_local_time() -> None:
    fires = local_fires(
        "cron(30 2 * * ? *)", "Europe/Madrid", datetime(2027, 3, 27, tzinfo=UTC), datetime(2027, 3, 30, tzinfo=UTC)
    )
    # 2027-03-28 02:30 does not exist in Madrid: no fire that day, and none moved to 03:30.
    assert fires == ["2027-03-27T02:30:00+01:00", "2027-03-29T02:30:00+02:00"]


def test_madrid_fall_back_fires_once_at_the_first_occurrence() -> None:
    schedule = parse_cron("cron(30 2 * * ? *)")
    fires = schedule.fires_between(
        start=datetime(2026, 10, 24, 12, tzinfo=UTC),
        end=datetime(2026, 10, 26, 12, tzinfo=UTC),
        tz=ZoneInfo("Europe/Madrid"),
    )
    # 02:30 happens at 00:30 UTC (CEST) and again at 01:30 UTC (CET): one fire, the first.
    assert fires == [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)]


def test_new_york_spring_forward_and_fall_back() -> None:
    spring = local_fires(
        "cron(30 2 * * ? *)",
        "America/New_York",
        datetime(2027, 3, 13, 12, tzinfo=UTC),
        datetime(2027, 3, 15, 12, tzinfo=UTC),
    )
    assert spring == ["2027-03-15T02:30:00-04:00"]
    fall = parse_cron("cron(30 1 * * ? *)").fires_between(
        start=datetime(2026, 11, 1, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC), tz=ZoneInfo("America/New_York")
    )
    assert fall == [datetime(2026, 11, 1, 5, 30, tzinfo=UTC)]  # 01:30 EDT, not also 01:30 EST (06:30 UTC)


def test_last_fire_before_looks_back_across_months() -> None:
    schedule = parse_cron("cron(0 19 ? * 6L *)")  # the last Friday of the month, 19:00
    last = schedule.last_fire_before(datetime(2026, 12, 1, tzinfo=UTC), tz=ZoneInfo("Europe/Madrid"))
    assert last == datetime(2026, 11, 27, 18, 0, tzinfo=UTC)
    assert parse_cron("cron(0 9 * * ? 2020)").last_fire_before(datetime(2026, 12, 1, tzinfo=UTC), tz=UTC_ZONE) is None
