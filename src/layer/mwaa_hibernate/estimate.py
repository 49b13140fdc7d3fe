"""What hibernating an MWAA environment on a schedule costs, against leaving it on, for one calendar month.

The model walks the real schedule: every wake and hibernate instant of the month in the schedule's time zone (so
a daylight-saving change shortens or lengthens the night it falls in, and a wake at a skipped local time does not
happen), and bills the environment from the moment a wake starts creating it until the deletion that follows a
hibernate has finished. Creation and deletion are billed time: the environment exists, and MWAA bills environment
hours while it exists (whether CREATING and DELETING are billed is not documented; we assume they are, which makes
the saving a lower bound). The metadata database is billed only while the environment exists. The hibernation
machinery itself (Step Functions, Lambda, S3, KMS, EventBridge Scheduler) is added to the hibernated side.

Not counted on either side: the VPC (NAT gateways, interface endpoints), CloudWatch logs and data transfer. They
do not depend on whether the environment sleeps.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from mwaa_hibernate.awscron import CronExpressionError, CronSchedule, parse_cron
from mwaa_hibernate.pricing import (
    ORCHESTRATION_PRICES,
    EnvironmentPrices,
    EstimateError,
    OrchestrationPrices,
    PriceUnavailable,
)

__all__ = [
    "DEFAULT_CREATE_MINUTES",
    "DEFAULT_DELETE_MINUTES",
    "DEFAULT_RETAINED_SNAPSHOTS",
    "InvalidEstimateInput",
    "InvalidSchedule",
    "SavingsEstimate",
    "estimate_savings",
    "next_full_month",
]

# Community-derived planning figures for CreateEnvironment and DeleteEnvironment (20-40 and 15-30 minutes, with
# tails of 1-2 hours; no official figure exists). The delete window starts at the hibernate trigger, so it also
# covers the snapshot export: raise it for large metadata databases.
DEFAULT_CREATE_MINUTES = 30.0
DEFAULT_DELETE_MINUTES = 20.0
# Snapshots kept in S3 after pruning (the stack's retention count); each costs S3 storage all month.
DEFAULT_RETAINED_SNAPSHOTS = 7


@dataclass(frozen=True)
class ExecutionUsage:
    """What one execution of a state machine uses: state transitions (its waiter child included, the waiter's
    polls excluded) and Lambda invocations."""

    transitions: int
    lambda_invocations: int


# Measured on the real state machines and handlers, executed in moto: tests/aws/statemachine/
# test_orchestration_counts.py fails when a state machine changes and these no longer match. A transition is a
# state entered (Step Functions bills every step, the wait-for-environment child's included); retries add more.
# A hibernation: overrides, preflight, choose the carrier, save configuration, check it can be recreated, export
# callback, verify, commit, delete, wait for deletion (child), record state, plan the next wake, prune, report.
HIBERNATE_USAGE = ExecutionUsage(transitions=22, lambda_invocations=12)
# A wake: overrides, preflight, create, wait until available (child), choose the carrier, import callback, check the
# restore, record state, measure, report.
WAKE_USAGE = ExecutionUsage(transitions=18, lambda_invocations=9)
# An execution with nothing to do (already hibernated, already awake); the estimator counts refused ones the same.
NO_OP_USAGE = ExecutionUsage(transitions=6, lambda_invocations=2)
# Waiting for CREATING or DELETING: each poll of GetEnvironment is a read, a choice, a wait and a countdown.
POLL_INTERVAL_MINUTES = 1.0
TRANSITIONS_PER_POLL = 4
# Lambda: 256 MB for about two seconds each (boto3 calls and S3 reads, no heavy work: the snapshot itself runs
# inside Airflow).
LAMBDA_GB_SECONDS_PER_INVOCATION = 0.25 * 2.0
# S3: a snapshot is about 30 table files plus config, paused state, manifest and pointers, some multipart.
S3_PUTS_PER_SNAPSHOT = 60
# Verifying a snapshot reads every object once (hibernate); restoring reads them again (wake).
S3_GETS_PER_SNAPSHOT_READ = 40
# KMS: the task-token encrypt/decrypt and the snapshot data key, per execution.
KMS_REQUESTS_PER_EXECUTION = 4

_WAKE, _HIBERNATE = "wake", "hibernate"


class InvalidSchedule(EstimateError):
    """A hibernate or wake expression, or the pair of them, cannot be used."""


class InvalidEstimateInput(EstimateError):
    """A time zone, month, count or duration that makes no sense."""


@dataclass(frozen=True)
class CostBreakdown:
    """USD for one month, by component."""

    environment: float
    extra_workers: float
    extra_schedulers: float
    extra_webservers: float
    metadata_storage: float
    snapshot_storage: float = 0.0
    step_functions: float = 0.0
    lambda_: float = 0.0
    s3_requests: float = 0.0
    kms: float = 0.0
    scheduler: float = 0.0
    total: float = field(init=False)

    def __post_init__(self) -> None:
        parts = (
            self.environment,
            self.extra_workers,
            self.extra_schedulers,
            self.extra_webservers,
            self.metadata_storage,
            self.snapshot_storage,
            self.step_functions,
            self.lambda_,
            self.s3_requests,
            self.kms,
            self.scheduler,
        )
        object.__setattr__(self, "total", sum(parts))


@dataclass(frozen=True)
class SavingsEstimate:
    """The estimate for one month; ``to_dict()`` is what ``--json`` prints."""

    environment_class: str
    region: str
    timezone: str
    month: str
    hibernate: str
    wake: str
    period_start: str
    period_end: str
    hours_in_month: float
    usable_hours: float
    billed_hours: float
    wake_executions: int
    hibernate_executions: int
    cycles: int
    hibernations: int
    create_minutes: float
    delete_minutes: float
    hourly_rate: float
    always_on: CostBreakdown
    hibernated: CostBreakdown
    savings_usd: float
    savings_percent: float
    naive_savings_percent: float
    price_source: str
    orchestration_price_source: str
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        for side in ("always_on", "hibernated"):
            data[side]["lambda"] = data[side].pop("lambda_")
        return data


@dataclass
class _Walk:
    """What walking the schedule found."""

    intervals: list[tuple[datetime, datetime]]
    usable: list[tuple[datetime, datetime]]
    wake_executions: int = 0
    hibernate_executions: int = 0
    cycles: int = 0
    hibernations: int = 0
    warnings: list[str] = field(default_factory=list)


def next_full_month(*, today: date) -> tuple[int, int]:
    """The first calendar month that starts after ``today``."""
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


def estimate_savings(
    *,
    prices: EnvironmentPrices,
    hibernate: str,
    wake: str,
    timezone: str,
    month: tuple[int, int] | None = None,
    extra_workers: float = 0,
    extra_schedulers: int = 0,
    extra_webservers: int = 0,
    create_minutes: float = DEFAULT_CREATE_MINUTES,
    delete_minutes: float = DEFAULT_DELETE_MINUTES,
    storage_gb: float = 0.0,
    snapshot_gb: float = 0.0,
    retained_snapshots: int = DEFAULT_RETAINED_SNAPSHOTS,
    orchestration: OrchestrationPrices = ORCHESTRATION_PRICES,
    today: date | None = None,
) -> SavingsEstimate:
    """Monthly cost always on versus hibernated on the two schedules, and the saving.

    ``month`` is ``(year, month)`` in the schedule's time zone; by default the next full calendar month after
    ``today`` (default: now, in that time zone). ``extra_workers`` is the average number of workers running above
    the one the environment price includes (it may be fractional, since workers autoscale).
    """
    tz = _zone(timezone)
    hibernate_schedule = _schedule(hibernate, "--hibernate")
    wake_schedule = _schedule(wake, "--wake")
    _check_non_negative(
        extra_workers=extra_workers,
        extra_schedulers=extra_schedulers,
        extra_webservers=extra_webservers,
        create_minutes=create_minutes,
        delete_minutes=delete_minutes,
        storage_gb=storage_gb,
        snapshot_gb=snapshot_gb,
        retained_snapshots=retained_snapshots,
    )
    year, month_number = month or next_full_month(today=today or datetime.now(tz).date())
    if not 1 <= month_number <= 12:
        raise InvalidEstimateInput(f"month {year}-{month_number:02d} does not exist; give it as YYYY-MM")
    start = datetime(year, month_number, 1, tzinfo=tz).astimezone(UTC)
    following = next_full_month(today=date(year, month_number, 1))
    end = datetime(*following, 1, tzinfo=tz).astimezone(UTC)
    hours_in_month = (end - start).total_seconds() / 3600

    walk = _walk(
        wake=wake_schedule,
        hibernate=hibernate_schedule,
        tz=tz,
        start=start,
        end=end,
        create=timedelta(minutes=create_minutes),
        delete=timedelta(minutes=delete_minutes),
    )
    billed_hours = _hours_within(walk.intervals, start, end)
    usable_hours = _hours_within(walk.usable, start, end)

    hourly = _hourly_rates(prices, extra_workers, extra_schedulers, extra_webservers)
    always_on = _environment_costs(hourly, hours_in_month, storage_gb * prices.metadata_storage_per_gb_month)
    # The metadata database exists only while the environment does.
    storage_share = storage_gb * prices.metadata_storage_per_gb_month * billed_hours / hours_in_month
    hibernated = _hibernated_costs(
        hourly=hourly,
        billed_hours=billed_hours,
        metadata_storage=storage_share,
        walk=walk,
        polls_create=math.ceil(create_minutes / POLL_INTERVAL_MINUTES),
        polls_delete=math.ceil(delete_minutes / POLL_INTERVAL_MINUTES),
        snapshot_gb_months=snapshot_gb * retained_snapshots,
        orchestration=orchestration,
    )
    savings = always_on.total - hibernated.total
    return SavingsEstimate(
        environment_class=prices.environment_class,
        region=prices.region,
        timezone=timezone,
        month=f"{year}-{month_number:02d}",
        hibernate=hibernate_schedule.expression,
        wake=wake_schedule.expression,
        period_start=start.astimezone(tz).isoformat(),
        period_end=end.astimezone(tz).isoformat(),
        hours_in_month=hours_in_month,
        usable_hours=usable_hours,
        billed_hours=billed_hours,
        wake_executions=walk.wake_executions,
        hibernate_executions=walk.hibernate_executions,
        cycles=walk.cycles,
        hibernations=walk.hibernations,
        create_minutes=create_minutes,
        delete_minutes=delete_minutes,
        hourly_rate=sum(hourly.values()),
        always_on=always_on,
        hibernated=hibernated,
        savings_usd=savings,
        savings_percent=100 * savings / always_on.total,
        naive_savings_percent=100 * (1 - usable_hours / hours_in_month),
        price_source=prices.source,
        orchestration_price_source=orchestration.source,
        warnings=walk.warnings,
    )


def _zone(timezone: str) -> ZoneInfo:
    try:
        return ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidEstimateInput(
            f"{timezone!r} is not an IANA time zone; use a name like Europe/Madrid, America/New_York or UTC "
            "(the same value as the schedule's ScheduleExpressionTimezone)"
        ) from None


def _schedule(expression: str, flag: str) -> CronSchedule:
    try:
        return parse_cron(expression)
    except CronExpressionError as exc:
        raise InvalidSchedule(f"{flag}: {exc}") from exc


def _check_non_negative(**values: float) -> None:
    for name, value in values.items():
        if value < 0:
            raise InvalidEstimateInput(f"{name.replace('_', '-')} must not be negative (got {value})")


def _walk(
    *,
    wake: CronSchedule,
    hibernate: CronSchedule,
    tz: ZoneInfo,
    start: datetime,
    end: datetime,
    create: timedelta,
    delete: timedelta,
) -> _Walk:
    """Replay the schedule's executions in order, as the state machines would react to them.

    A hibernate finds the environment asleep (nothing to do) or still being created (its preflight refuses
    anything but AVAILABLE); a wake finds it awake (nothing to do) or still being deleted (refused). Both cases
    are reported as warnings, since they mean the schedule does not do what its author meant.
    """
    events = [(t, _WAKE) for t in wake.fires_between(start=start, end=end, tz=tz)]
    events += [(t, _HIBERNATE) for t in hibernate.fires_between(start=start, end=end, tz=tz)]
    in_month = len(events)
    # The state at the start of the month comes from the last executions before it.
    for schedule, kind in ((wake, _WAKE), (hibernate, _HIBERNATE)):
        before = schedule.last_fire_before(start, tz=tz)
        if before is not None:
            events.append((before, kind))
    events.sort()
    clash = next((t for (t, k), (u, m) in itertools.pairwise(events) if t == u and k != m), None)
    if clash is not None:
        raise InvalidSchedule(
            f"--wake and --hibernate both fire at {clash.astimezone(tz).isoformat()}; give them different times"
        )
    walk = _Walk(intervals=[], usable=[])
    if in_month == 0:
        walk.warnings.append("neither schedule fires in this month")
    # Before any execution we know of, assume the environment is in the state the first one changes.
    awake = bool(events) and events[0][1] == _HIBERNATE
    since = start - timedelta(days=400)
    available_at = since
    deleted_at = since
    for instant, kind in events:
        counted = instant >= start
        if kind == _WAKE:
            walk.wake_executions += counted
            if awake:
                continue
            if instant < deleted_at:
                if counted:
                    walk.warnings.append(_refused(instant, tz, "wake", "the environment is still being deleted"))
                continue
            awake, since, available_at = True, instant, instant + create
            walk.cycles += counted
        else:
            walk.hibernate_executions += counted
            if not awake:
                continue
            if instant < available_at:
                if counted:
                    walk.warnings.append(_refused(instant, tz, "hibernate", "the environment is still being created"))
                continue
            awake, deleted_at = False, instant + delete
            walk.hibernations += counted
            walk.intervals.append((since, deleted_at))
            walk.usable.append((available_at, instant))
    if awake:
        walk.intervals.append((since, end))
        walk.usable.append((available_at, end))
    return walk


def _refused(instant: datetime, tz: ZoneInfo, what: str, why: str) -> str:
    return f"the {what} at {instant.astimezone(tz).isoformat()} would be refused: {why}; move the schedules apart"


def _hours_within(intervals: list[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    seconds = sum(max(0.0, (min(b, end) - max(a, start)).total_seconds()) for a, b in intervals)
    return seconds / 3600


def _hourly_rates(
    prices: EnvironmentPrices, extra_workers: float, extra_schedulers: int, extra_webservers: int
) -> dict[str, float]:
    rates = {"environment": prices.environment_per_hour}
    for name, count, price in (
        ("extra_workers", extra_workers, prices.extra_worker_per_hour),
        ("extra_schedulers", extra_schedulers, prices.extra_scheduler_per_hour),
        ("extra_webservers", extra_webservers, prices.extra_webserver_per_hour),
    ):
        if count and price is None:
            raise PriceUnavailable(
                f"no verified {name.replace('_', ' ').removesuffix('s')} price for {prices.environment_class} in "
                f"{prices.region}; pass --live to ask the AWS Price List API, or leave --{name.replace('_', '-')} at 0"
            )
        rates[name] = count * (price or 0.0)
    return rates


def _environment_costs(hourly: dict[str, float], hours: float, metadata_storage: float) -> CostBreakdown:
    return CostBreakdown(
        environment=hourly["environment"] * hours,
        extra_workers=hourly["extra_workers"] * hours,
        extra_schedulers=hourly["extra_schedulers"] * hours,
        extra_webservers=hourly["extra_webservers"] * hours,
        metadata_storage=metadata_storage,
    )


def _hibernated_costs(
    *,
    hourly: dict[str, float],
    billed_hours: float,
    metadata_storage: float,
    walk: _Walk,
    polls_create: int,
    polls_delete: int,
    snapshot_gb_months: float,
    orchestration: OrchestrationPrices,
) -> CostBreakdown:
    executions = walk.wake_executions + walk.hibernate_executions
    effective_hibernates = walk.hibernations
    # Executions that found nothing to do, or were refused, stop after the preflight.
    idle = executions - walk.cycles - effective_hibernates
    runs = ((HIBERNATE_USAGE, effective_hibernates), (WAKE_USAGE, walk.cycles), (NO_OP_USAGE, idle))
    transitions = (
        sum(usage.transitions * count for usage, count in runs)
        + walk.cycles * polls_create * TRANSITIONS_PER_POLL
        + effective_hibernates * polls_delete * TRANSITIONS_PER_POLL
    )
    invocations = sum(usage.lambda_invocations * count for usage, count in runs)
    base = _environment_costs(hourly, billed_hours, metadata_storage)
    return CostBreakdown(
        environment=base.environment,
        extra_workers=base.extra_workers,
        extra_schedulers=base.extra_schedulers,
        extra_webservers=base.extra_webservers,
        metadata_storage=metadata_storage,
        snapshot_storage=snapshot_gb_months * orchestration.s3_standard_per_gb_month,
        step_functions=transitions * orchestration.step_functions_per_transition,
        lambda_=invocations
        * (orchestration.lambda_per_request + LAMBDA_GB_SECONDS_PER_INVOCATION * orchestration.lambda_per_gb_second),
        s3_requests=effective_hibernates * S3_PUTS_PER_SNAPSHOT * orchestration.s3_put_per_request
        + (effective_hibernates + walk.cycles) * S3_GETS_PER_SNAPSHOT_READ * orchestration.s3_get_per_request,
        kms=orchestration.kms_key_per_month + executions * KMS_REQUESTS_PER_EXECUTION * orchestration.kms_per_request,
        scheduler=executions * orchestration.scheduler_per_invocation,
    )


# --- the adaptive schedule's figures (docs/adaptive-schedule.md) -----------------------------------------------


def cycle_overhead_usd(
    *,
    create_minutes: float = DEFAULT_CREATE_MINUTES,
    delete_minutes: float = DEFAULT_DELETE_MINUTES,
    orchestration: OrchestrationPrices = ORCHESTRATION_PRICES,
) -> float:
    """What one hibernate-and-wake cycle of the machinery costs (transitions, Lambda, S3, KMS, Scheduler)."""
    polls = math.ceil(create_minutes / POLL_INTERVAL_MINUTES) + math.ceil(delete_minutes / POLL_INTERVAL_MINUTES)
    transitions = HIBERNATE_USAGE.transitions + WAKE_USAGE.transitions + polls * TRANSITIONS_PER_POLL
    invocations = HIBERNATE_USAGE.lambda_invocations + WAKE_USAGE.lambda_invocations
    return (
        transitions * orchestration.step_functions_per_transition
        + invocations
        * (orchestration.lambda_per_request + LAMBDA_GB_SECONDS_PER_INVOCATION * orchestration.lambda_per_gb_second)
        + S3_PUTS_PER_SNAPSHOT * orchestration.s3_put_per_request
        + 2 * S3_GETS_PER_SNAPSHOT_READ * orchestration.s3_get_per_request
        + 2 * KMS_REQUESTS_PER_EXECUTION * orchestration.kms_per_request
        + 2 * orchestration.scheduler_per_invocation
    )


def break_even(*, lead: timedelta, delete: timedelta, hourly_rate: float | None = None) -> timedelta:
    """The shortest gap between two runs that a hibernation is worth sleeping through.

    Sleeping through a gap of G bills the deletion after the hibernate starts (``delete``, the snapshot export
    included) and the creation before the next run (``lead``), and the cycle's machinery; staying awake bills G.
    So a hibernation saves money only when G exceeds ``delete + lead`` plus the machinery's cost in environment
    time (under a minute at any environment price; left out when the price is unknown).
    """
    overhead = timedelta(0)
    if hourly_rate:
        minutes_ = (
            cycle_overhead_usd(create_minutes=lead.total_seconds() / 60, delete_minutes=delete.total_seconds() / 60)
            / hourly_rate
            * 60
        )
        overhead = timedelta(minutes=minutes_)
    return delete + lead + overhead


def billed_intervals(
    *,
    wake: str,
    hibernate: str,
    timezone: str,
    start: datetime,
    end: datetime,
    create_minutes: float,
    delete_minutes: float,
) -> tuple[list[tuple[datetime, datetime]], list[tuple[datetime, datetime]]]:
    """A fixed schedule pair's billed intervals (wake start to deletion end) and usable intervals (AVAILABLE until
    the hibernate starts) within [start, end), as ``estimate_savings`` walks them."""
    walk = _walk(
        wake=_schedule(wake, "--wake"),
        hibernate=_schedule(hibernate, "--hibernate"),
        tz=_zone(timezone),
        start=start,
        end=end,
        create=timedelta(minutes=create_minutes),
        delete=timedelta(minutes=delete_minutes),
    )
    clip = [(max(a, start), min(b, end)) for a, b in walk.intervals if b > start and a < end]
    usable = [(max(a, start), min(b, end)) for a, b in walk.usable if b > start and a < end]
    return clip, usable
