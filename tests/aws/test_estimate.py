"""The savings estimator against hand-computed months, and the `mwaa-hibernate estimate` command.

Calendar facts used below: December 2026 has 31 days (744 h) and 23 weekdays (it starts on a Tuesday);
Europe/Madrid springs forward on 2027-03-28 and falls back on 2026-10-25; America/New_York springs forward on
2027-03-14 and falls back on 2026-11-01. A month with a spring-forward day lasts 743 h, one with a fall-back
day 745 h (November 2026 in New York: 30 x 24 + 1 = 721 h).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from mwaa_hibernate import pricing
from mwaa_hibernate.estimate import (
    InvalidEstimateInput,
    InvalidSchedule,
    SavingsEstimate,
    estimate_savings,
    next_full_month,
)
from mwaa_hibernate.pricing import PriceUnavailable, resolve_prices, table_prices
from mwaa_hibernate_cli import app
from typer.testing import CliRunner

SMALL_US_EAST_1 = table_prices(environment_class="mw1.small", region="us-east-1")
SEED_WAKE, SEED_HIBERNATE = "cron(30 8 * * ? *)", "cron(0 12 * * ? *)"
WEEKDAY_WAKE, WEEKDAY_HIBERNATE = "cron(30 8 ? * MON-FRI *)", "cron(0 12 ? * MON-FRI *)"

# Orchestration unit prices (us-east-1), spelled out so the arithmetic below can be checked by hand.
PER_TRANSITION = 0.000025  # $0.025 per 1,000
PER_INVOCATION = 0.0000002 + 0.5 * 0.0000166667  # request + 256 MB for 2 s
PER_PUT, PER_GET, PER_KMS_REQUEST, PER_SCHEDULE = 0.000005, 0.0000004, 0.000003, 0.000001


def estimate(**overrides: Any) -> SavingsEstimate:
    arguments: dict[str, Any] = {
        "prices": SMALL_US_EAST_1,
        "wake": SEED_WAKE,
        "hibernate": SEED_HIBERNATE,
        "timezone": "UTC",
        "month": (2026, 12),
    }
    return estimate_savings(**(arguments | overrides))


def test_seed_case_3_of_24_hours_is_not_87_5_percent_once_creation_deletion_and_orchestration_count() -> None:
    """The seed article's case: the environment is needed 3 hours a day (09:00-12:00), a 31-day month, mw1.small.

    The article's 87.5% is 1 - 3/24: it counts only the hours the environment is usable. But MWAA bills while the
    environment exists, and it exists while it is being created (the wake must start 30 minutes early, at 08:30,
    for it to be AVAILABLE at 09:00) and while it is being deleted (20 minutes after the 12:00 hibernate). That is
    3 h 50 min a day, not 3 h: 1 - 3.8333/24 = 84.03%. The metadata database is billed only while the environment
    exists, and the machinery that hibernates it costs a little (mostly the $1/month KMS key), so the real saving
    is 83.7%.
    """
    result = estimate(storage_gb=10, snapshot_gb=0.5)

    assert result.hours_in_month == 744
    assert result.usable_hours == pytest.approx(31 * 3)  # 93 h
    assert result.naive_savings_percent == pytest.approx(87.5)  # 1 - 93/744
    assert result.billed_hours == pytest.approx(31 * (3 + 30 / 60 + 20 / 60))  # 118.8333 h
    assert (result.cycles, result.wake_executions, result.hibernate_executions) == (31, 31, 31)

    # Always on: 744 h x $0.49 = $364.56, plus 10 GB x $0.10 = $1.00 (the AWS pricing page's worked example).
    assert result.always_on.environment == pytest.approx(364.56)
    assert result.always_on.total == pytest.approx(365.56)

    hibernated = result.hibernated
    assert hibernated.environment == pytest.approx(118.8333333 * 0.49)  # $58.23
    assert hibernated.metadata_storage == pytest.approx(10 * 0.10 * 118.8333333 / 744)  # $0.16
    assert hibernated.snapshot_storage == pytest.approx(0.5 * 7 * 0.023)  # 7 retained snapshots: $0.08
    # 31 hibernations x 22 + 31 wakes x 18 + 31 creates x 30 polls x 4 + 31 deletes x 20 polls x 4 = 7,440
    # transitions: $0.186 (per-execution counts measured by tests/aws/statemachine/test_orchestration_counts.py)
    assert hibernated.step_functions == pytest.approx((31 * 22 + 31 * 18 + 31 * 30 * 4 + 31 * 20 * 4) * PER_TRANSITION)
    assert hibernated.lambda_ == pytest.approx((31 * 12 + 31 * 9) * PER_INVOCATION)  # 651 invocations: $0.004
    assert hibernated.s3_requests == pytest.approx(31 * 60 * PER_PUT + 62 * 40 * PER_GET)  # $0.010
    assert hibernated.kms == pytest.approx(1.00 + 62 * 4 * PER_KMS_REQUEST)  # key + 248 requests
    assert hibernated.scheduler == pytest.approx(62 * PER_SCHEDULE)
    assert hibernated.total == pytest.approx(59.6712, abs=1e-4)

    assert result.savings_usd == pytest.approx(365.56 - 59.6712, abs=1e-4)  # $305.89
    assert result.savings_percent == pytest.approx(83.68, abs=0.01)
    assert 1 - result.billed_hours / 744 == pytest.approx(0.8403, abs=1e-4)  # the environment-hours-only saving


def test_weekday_only_schedule_sleeps_through_weekends() -> None:
    """3 usable hours on each of December 2026's 23 weekdays; nothing runs on the 8 weekend days."""
    result = estimate(wake=WEEKDAY_WAKE, hibernate=WEEKDAY_HIBERNATE)

    assert (result.cycles, result.wake_executions, result.hibernate_executions) == (23, 23, 23)
    assert result.usable_hours == pytest.approx(23 * 3)  # 69 h
    assert result.naive_savings_percent == pytest.approx(100 * (1 - 69 / 744))  # 90.73%
    assert result.billed_hours == pytest.approx(23 * 3.8333333)  # 88.17 h
    assert result.hibernated.environment == pytest.approx(88.1666667 * 0.49)  # $43.20
    # 23 hibernations x 22 + 23 wakes x 18 + 23 x 30 polls x 4 + 23 x 20 polls x 4 = 5,520 transitions
    assert result.hibernated.step_functions == pytest.approx(5520 * PER_TRANSITION)
    expected_total = (
        88.1666667 * 0.49
        + 5520 * PER_TRANSITION
        + 23 * (12 + 9) * PER_INVOCATION
        + 23 * 60 * PER_PUT
        + 46 * 40 * PER_GET
        + 1.00
        + 46 * 4 * PER_KMS_REQUEST
        + 46 * PER_SCHEDULE
    )  # $44.33
    assert result.hibernated.total == pytest.approx(expected_total)
    assert result.savings_percent == pytest.approx(100 * (364.56 - expected_total) / 364.56)  # 87.84%


def test_a_daily_hibernate_on_weekends_finds_the_environment_asleep_and_costs_only_its_execution() -> None:
    result = estimate(wake=WEEKDAY_WAKE, hibernate="cron(0 12 * * ? *)")
    assert (result.cycles, result.wake_executions, result.hibernate_executions) == (23, 23, 31)
    assert result.billed_hours == pytest.approx(23 * 3.8333333)
    assert result.warnings == []


@pytest.mark.parametrize(
    ("zone", "month", "wake", "hibernate", "hours_in_month", "billed_hours", "executions"),
    [
        # 02:00 -> 03:00 on the 28th: 01:30 CET to 04:30 CEST is 2 h; 30 other days x 3 h. 90 + 2 = 92.
        pytest.param(
            "Europe/Madrid",
            (2027, 3),
            "cron(30 1 * * ? *)",
            "cron(30 4 * * ? *)",
            743,
            92,
            (31, 31),
            id="madrid-spring-forward-short-night",
        ),
        # 02:30 does not exist on the 28th: that wake is skipped and the 05:30 hibernate finds nothing. 30 x 3 h.
        pytest.param(
            "Europe/Madrid",
            (2027, 3),
            "cron(30 2 * * ? *)",
            "cron(30 5 * * ? *)",
            743,
            90,
            (30, 31),
            id="madrid-spring-forward-skipped-wake",
        ),
        # 03:00 -> 02:00 on the 25th: 01:30 CEST to 04:30 CET is 4 h; 30 x 3 + 4 = 94.
        pytest.param(
            "Europe/Madrid",
            (2026, 10),
            "cron(30 1 * * ? *)",
            "cron(30 4 * * ? *)",
            745,
            94,
            (31, 31),
            id="madrid-fall-back-long-night",
        ),
        # 02:30 happens twice on the 25th; the wake runs once, at the first (00:30 UTC), until 04:00 CET (03:00
        # UTC): 2.5 h instead of 1.5 h. 30 x 1.5 + 2.5 = 47.5.
        pytest.param(
            "Europe/Madrid",
            (2026, 10),
            "cron(30 2 * * ? *)",
            "cron(0 4 * * ? *)",
            745,
            47.5,
            (31, 31),
            id="madrid-fall-back-repeated-wake-runs-once",
        ),
        # 02:30 does not exist on the 14th: 30 x 3.5 h.
        pytest.param(
            "America/New_York",
            (2027, 3),
            "cron(30 2 * * ? *)",
            "cron(0 6 * * ? *)",
            743,
            105,
            (30, 31),
            id="new-york-spring-forward-skipped-wake",
        ),
        # 01:30 EDT (first occurrence) to 03:00 EST on the 1st is 2.5 h; 29 x 1.5 + 2.5 = 46.
        pytest.param(
            "America/New_York",
            (2026, 11),
            "cron(30 1 * * ? *)",
            "cron(0 3 * * ? *)",
            721,
            46,
            (30, 30),
            id="new-york-fall-back-long-night",
        ),
    ],
)
def test_daylight_saving_changes_count_the_real_hours(
    zone: str,
    month: tuple[int, int],
    wake: str,
    hibernate: str,
    hours_in_month: float,
    billed_hours: float,
    executions: tuple[int, int],
) -> None:
    result = estimate(timezone=zone, month=month, wake=wake, hibernate=hibernate, create_minutes=0, delete_minutes=0)
    assert result.hours_in_month == hours_in_month
    assert result.billed_hours == pytest.approx(billed_hours)
    assert (result.wake_executions, result.hibernate_executions) == executions
    assert result.always_on.environment == pytest.approx(hours_in_month * 0.49)


def test_a_night_schedule_carries_its_state_across_the_month_boundary() -> None:
    """Awake 22:00-02:00: December starts awake (woken on 30 November) and ends awake.

    2 h on the 1st before the 02:00 hibernate, 30 full nights of 4 h, and 22:00-24:00 on the 31st: 2 + 120 + 2.
    """
    result = estimate(wake="cron(0 22 * * ? *)", hibernate="cron(0 2 * * ? *)", create_minutes=0, delete_minutes=0)
    assert result.billed_hours == pytest.approx(124)
    assert (result.cycles, result.hibernations) == (31, 31)


def test_a_deletion_that_ends_after_the_month_is_billed_in_both_months() -> None:
    """One cycle on 31 December 2026 from 23:00, hibernated at 23:50 with 20 minutes of deletion: it exists from
    23:00 to 00:10, so 60 minutes in December and 10 in January."""
    once = {"wake": "cron(0 23 31 12 ? 2026)", "hibernate": "cron(50 23 31 12 ? 2026)", "create_minutes": 0}
    assert estimate(**once).billed_hours == pytest.approx(1.0)
    january = estimate(**once, month=(2027, 1))
    assert january.billed_hours == pytest.approx(10 / 60)
    assert january.warnings == ["neither schedule fires in this month"]


def test_a_hibernate_during_creation_is_refused_and_the_estimate_says_so() -> None:
    """Wake 09:00 and hibernate 09:10 with 30 minutes to create: the hibernate finds the environment CREATING and
    the state machine refuses it; the next day's wake is a no-op and that day's hibernate succeeds. So the
    environment lives 24.5 h every other day.

    December: the 30 November wake lasts until 1 December 09:30 (9.5 h); cycles start on the 2nd, 4th, ... 30th
    (15 x 24.5 h = 367.5 h); 9.5 + 367.5 = 377 h. The 15 refused hibernates are each reported.
    """
    result = estimate(wake="cron(0 9 * * ? *)", hibernate="cron(10 9 * * ? *)")
    assert result.billed_hours == pytest.approx(377)
    assert len(result.warnings) == 15
    assert result.warnings[0] == (
        "the hibernate at 2026-12-02T09:10:00+00:00 would be refused: the environment is still being created; "
        "move the schedules apart"
    )


def test_extra_components_are_billed_only_while_the_environment_exists() -> None:
    """mw1.medium with 2 extra workers, 1 extra scheduler and 1 extra web server: 0.74 + 0.22 + 0.11 + 0.055 =
    $1.125 an hour."""
    medium = table_prices(environment_class="mw1.medium", region="us-east-1")
    result = estimate(prices=medium, extra_workers=2, extra_schedulers=1, extra_webservers=1)
    assert result.hourly_rate == pytest.approx(1.125)
    assert result.always_on.extra_workers == pytest.approx(744 * 0.22)
    assert result.hibernated.extra_webservers == pytest.approx(118.8333333 * 0.055)


def test_the_default_month_is_the_next_full_one() -> None:
    assert next_full_month(today=date(2026, 12, 15)) == (2027, 1)
    assert estimate(month=None, today=date(2026, 11, 24)).month == "2026-12"


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        pytest.param({"timezone": "Europe/Madird"}, InvalidEstimateInput, "not an IANA time zone", id="timezone"),
        pytest.param({"timezone": "../etc"}, InvalidEstimateInput, "not an IANA time zone", id="timezone-path"),
        pytest.param({"wake": "cron(0 9 * * MON *)"}, InvalidSchedule, "--wake: .* exactly one of", id="wake-days"),
        pytest.param({"hibernate": "cron(0 25 * * ? *)"}, InvalidSchedule, "--hibernate: .* 0-23", id="hour"),
        pytest.param({"hibernate": SEED_WAKE}, InvalidSchedule, "both fire at 2026-11-30T08:30", id="same-time"),
        pytest.param({"month": (2026, 13)}, InvalidEstimateInput, "does not exist", id="month"),
        pytest.param({"storage_gb": -1}, InvalidEstimateInput, "storage-gb must not be negative", id="negative"),
    ],
)
def test_inputs_that_make_no_sense_are_refused(overrides: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        estimate(**overrides)


def test_extras_without_a_verified_price_are_refused() -> None:
    xlarge = resolve_prices(environment_class="mw1.xlarge", region="us-east-1", price_per_hour=2.0)
    assert estimate(prices=xlarge).always_on.environment == pytest.approx(744 * 2.0)
    with pytest.raises(PriceUnavailable, match=r"no verified extra worker price for mw1\.xlarge .* --live"):
        estimate(prices=xlarge, extra_workers=1)


# --- the command ---------------------------------------------------------------------------------------------------

SEED_ARGS = ["estimate", "--environment-class", "mw1.small", "--wake", SEED_WAKE, "--hibernate", SEED_HIBERNATE]


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def test_cli_json_carries_the_same_figures_as_the_library() -> None:
    result = run(
        *SEED_ARGS, "--timezone", "UTC", "--month", "2026-12", "--storage-gb", "10", "--snapshot-gb", "0.5", "--json"
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    expected = estimate(storage_gb=10, snapshot_gb=0.5)
    assert data["savings_percent"] == pytest.approx(expected.savings_percent)
    assert data["naive_savings_percent"] == pytest.approx(87.5)
    assert data["billed_hours"] == pytest.approx(118.8333333)
    assert data["hibernated"]["lambda"] == pytest.approx(expected.hibernated.lambda_)
    assert data["month"] == "2026-12"


def test_cli_table_for_people() -> None:
    result = run(*SEED_ARGS, "--timezone", "Europe/Madrid", "--month", "2027-03", "--environment-class", "mw1.medium")
    assert result.exit_code == 0, result.output
    assert "Monthly cost (USD)" in result.stdout
    assert "Hours in the month" in result.stdout and "743.00" in result.stdout
    assert "naive hours-only figure: 87.5%" in result.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param(("--environment-class", "mw1.xlarge"), "pass --live", id="unverified-class"),
        pytest.param(("--environment-class", "mw1.mega"), "not an MWAA environment class", id="unknown-class"),
        pytest.param(("--region", "eu-west-1"), "no verified price for mw1.small in eu-west-1", id="region"),
        pytest.param(("--month", "March"), "must be YYYY-MM", id="month-format"),
        pytest.param(("--timezone", "Madrid"), "not an IANA time zone", id="timezone"),
        pytest.param(("--wake", "cron(0 9 * *)"), "--wake: 'cron(0 9 * *)' has 4 fields", id="cron"),
    ],
)
def test_cli_errors_are_one_sentence_and_exit_2(args: tuple[str, ...], message: str) -> None:
    result = run(*SEED_ARGS, *args)
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_cli_live_asks_the_price_list_api(monkeypatch: pytest.MonkeyPatch) -> None:
    client = boto3.client("pricing", region_name="us-east-1")
    item = json.dumps(
        {
            "product": {"attributes": {"size": "Small", "type": "Environment", "usagetype": "EUC1-Airflow-Small"}},
            "terms": {"OnDemand": {"a": {"priceDimensions": {"b": {"pricePerUnit": {"USD": "0.5700000000"}}}}}},
        }
    )
    monkeypatch.setattr(pricing, "_default_client", lambda: client)
    request = {
        "ServiceCode": "AmazonMWAA",
        "Filters": [{"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-central-1"}],
        "FormatVersion": "aws_v1",
    }
    with Stubber(client) as stubber:
        stubber.add_response("get_products", {"PriceList": [item]}, request)
        result = run(*SEED_ARGS, "--region", "eu-central-1", "--month", "2026-12", "--live", "--json")
        stubber.assert_no_pending_responses()
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["always_on"]["environment"] == pytest.approx(744 * 0.57)
    assert data["price_source"].startswith("AWS Price List API (AmazonMWAA, eu-central-1)")
    assert "table value $0.1/GB-month used" in data["price_source"]
