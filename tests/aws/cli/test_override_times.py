"""How `wake --for/--until` and `hibernate --until` read durations and times (in the stack's time zone)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mwaa_hibernate_cli.errors import CliError
from mwaa_hibernate_cli.overrides import parse_duration, parse_until

# Saturday 2027-03-27 20:00 UTC = 21:00 in Berlin (CET); clocks go forward that night.
NOW = datetime(2027, 3, 27, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2h", timedelta(hours=2)),
        ("90m", timedelta(minutes=90)),
        ("1h30m", timedelta(minutes=90)),
        ("1d", timedelta(days=1)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["2", "soon", "2h soon", "0h"])
def test_bad_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(CliError, match="--for"):
        parse_duration(text)


def test_times_are_read_in_the_stacks_time_zone_across_a_dst_change() -> None:
    # "tomorrow 09:00" in Berlin is Sunday 09:00 CEST (UTC+2) = 07:00 UTC, after the clocks changed.
    assert parse_until("tomorrow 09:00", timezone="Europe/Berlin", now=NOW) == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)
    # "22:00" is later today: 22:00 CET = 21:00 UTC; "18:00" has passed, so it means tomorrow 18:00 CEST.
    assert parse_until("22:00", timezone="Europe/Berlin", now=NOW) == datetime(2027, 3, 27, 21, 0, tzinfo=UTC)
    assert parse_until("18:00", timezone="Europe/Berlin", now=NOW) == datetime(2027, 3, 28, 16, 0, tzinfo=UTC)
    assert parse_until("2027-04-01 08:00", timezone="UTC", now=NOW) == datetime(2027, 4, 1, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize("text", ["yesterday", "2020-01-01 00:00", "today 18:00"])
def test_past_or_unreadable_times_are_usage_errors(text: str) -> None:
    with pytest.raises(CliError, match="--until"):
        parse_until(text, timezone="Europe/Berlin", now=NOW)
