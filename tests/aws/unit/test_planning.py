"""The adaptive schedule's rules (mwaa_hibernate.planning), on hand-computed cases.

Every expected instant below is worked out by hand in the comments: the rules are the product, so the
tests do not ask the code what the answer is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from mwaa_hibernate import dagschedule, estimate, planning
from mwaa_hibernate.dagschedule import DagFacts, classify
from mwaa_hibernate.planning import Activity, LeadTime, Override, WakeRecord

BERLIN = ZoneInfo("Europe/Berlin")
LEAD_45 = LeadTime(timedelta(minutes=45), "default", 0)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def dag(dag_id: str, schedule: object, next_run: str | None, *, paused: bool = False) -> DagFacts:
    return classify(dag_id, paused=paused, schedule=schedule, next_run=at(next_run) if next_run else None)


# --- schedule facts --------------------------------------------------------------------------------------


def test_the_schedule_column_is_read_as_airflow_writes_it() -> None:
    assert dagschedule.schedule_from_column('"0 9 * * *"') == "0 9 * * *"
    assert dagschedule.schedule_from_column('{"type": "timedelta", "attrs": {"days": 0, "seconds": 3600}}') == (
        timedelta(hours=1)
    )
    assert dagschedule.schedule_from_column("null") is None
    assert dagschedule.schedule_from_rest({"__type": "CronExpression", "value": "@daily"}) == "@daily"
    assert dagschedule.schedule_from_rest({"__type": "TimeDelta", "days": 1, "seconds": 0}) == timedelta(days=1)
    assert dagschedule.parse_timestamp("2026-11-24 09:00:00+00") == at("2026-11-24T09:00:00")
    assert dagschedule.parse_timestamp("2026-11-24T10:00:00+01:00") == at("2026-11-24T09:00:00")


@pytest.mark.parametrize(
    ("schedule", "kind"),
    [
        ("0 9 * * *", dagschedule.CRON),
        ("@daily", dagschedule.CRON),
        (timedelta(hours=2), dagschedule.INTERVAL),
        ("@once", dagschedule.ONCE),
        ("@continuous", dagschedule.CONTINUOUS),
        ("Dataset", dagschedule.EVENT),
        ("Asset", dagschedule.EVENT),
        (None, dagschedule.MANUAL),
        ("MyWorkdayTimetable", dagschedule.CUSTOM),
    ],
)
def test_each_kind_of_schedule_is_recognised(schedule: object, kind: str) -> None:
    assert classify("d", paused=False, schedule=schedule, next_run=None).kind == kind


def test_dataset_or_time_schedules_are_predictable_and_marked_event_triggered() -> None:
    facts = classify("d", paused=False, schedule="Dataset or 0 9 * * *", next_run=at("2026-11-24T09:00:00"))
    assert facts.kind == dagschedule.CRON and facts.event_triggered and facts.expression == "0 9 * * *"


def test_a_daily_dag_across_the_spring_daylight_saving_change() -> None:
    # 09:00 in Berlin: 08:00 UTC under CET (UTC+1), 07:00 UTC from Sunday 2027-03-28 under CEST (UTC+2).
    daily = dag("report", "0 9 * * *", "2027-03-26T08:00:00")
    runs = list(
        dagschedule.runs_between(
            daily, start=at("2027-03-26T00:00:00"), end=at("2027-03-30T00:00:00"), tz_name="Europe/Berlin"
        )
    )
    assert runs == [
        at("2027-03-26T08:00:00"),
        at("2027-03-27T08:00:00"),
        at("2027-03-28T07:00:00"),
        at("2027-03-29T07:00:00"),
    ]


def test_a_dag_in_another_zone_than_assumed_keeps_its_recorded_offset() -> None:
    # Recorded next run 14:00 UTC for "0 9 * * *": not a fire in UTC; 09:00 at UTC-5 fits, and stays fitted.
    daily = dag("ny", "0 9 * * *", "2026-11-24T14:00:00")
    assert not dagschedule.time_zone_fits(daily, "UTC")
    runs = list(dagschedule.runs_between(daily, start=at("2026-11-24T00:00:00"), end=at("2026-11-26T00:00:00")))
    assert runs == [at("2026-11-24T14:00:00"), at("2026-11-25T14:00:00")]


def test_interval_dags_repeat_from_their_recorded_next_run() -> None:
    every_90 = dag("sync", timedelta(minutes=90), "2026-11-24T10:15:00")
    runs = list(dagschedule.runs_between(every_90, start=at("2026-11-24T10:00:00"), end=at("2026-11-24T14:00:00")))
    # 10:15, 11:45, 13:15 (14:45 is past the end)
    assert runs == [at("2026-11-24T10:15:00"), at("2026-11-24T11:45:00"), at("2026-11-24T13:15:00")]


# --- the lead time ---------------------------------------------------------------------------------------


def wake(minutes_long: float, day: int, *, late_minutes: float = 0) -> WakeRecord:
    started = at(f"2026-11-{day:02d}T07:00:00")
    awake = started + timedelta(minutes=minutes_long)
    due = awake - timedelta(minutes=late_minutes) if late_minutes else awake + timedelta(minutes=5)
    return WakeRecord(started_at=started, awake_at=awake, due_at=due, trigger="adaptive")


def test_the_default_lead_holds_until_three_wakes_are_measured() -> None:
    lead = planning.lead_time([wake(20, 1), wake(22, 2)], default=timedelta(minutes=45))
    assert lead.value == timedelta(minutes=45) and lead.measured == 2


def test_the_lead_is_the_90th_percentile_of_recent_wakes_plus_ten_percent() -> None:
    # durations 30, 32, 35, 31, 50 min: nearest rank ceil(0.9 * 5) = 5th smallest = 50 min; + 10 % = 55 min.
    history = [wake(m, d) for d, m in enumerate((30, 32, 35, 31, 50), start=1)]
    assert planning.lead_time(history, default=timedelta(minutes=45)).value == timedelta(minutes=55)
    # ten wakes of 30 min and one of 50: the 90th percentile (10th of 11) is 30 min; + 10 % = 33 min.
    history = [wake(30, d) for d in range(1, 11)] + [wake(50, 11)]
    assert planning.lead_time(history, default=timedelta(minutes=45)).value == timedelta(minutes=33)


def test_a_late_wake_lengthens_the_lead() -> None:
    # Same ten 30-minute wakes, but the 50-minute one finished 12 minutes after its run: its duration becomes
    # the floor, 50 min + 10 % = 55 min, instead of 33.
    history = [wake(30, d) for d in range(1, 11)] + [wake(50, 11, late_minutes=12)]
    lead = planning.lead_time(history, default=timedelta(minutes=45))
    assert lead.value == timedelta(minutes=55)
    assert "late wake" in lead.reason


# --- planning the wake -----------------------------------------------------------------------------------


def test_the_wake_starts_the_lead_time_before_the_first_unpaused_run() -> None:
    dags = [
        dag("hourly_sync", "0 * * * *", "2026-11-24T10:00:00"),
        dag("daily_report", "30 6 * * *", "2026-11-25T06:30:00"),
        dag("old_backfill", "0 5 * * *", "2026-11-24T05:00:00", paused=True),  # earlier, but paused: ignored
        dag("on_upload", "Dataset", None),
    ]
    decision = planning.plan_wake(dags, now=at("2026-11-24T04:00:00"), lead=LEAD_45)
    # hourly_sync at 10:00 is first (the paused 05:00 DAG does not count): wake at 09:15.
    assert decision.kind == planning.WAKE_AT
    assert decision.at == at("2026-11-24T09:15:00") and decision.due_at == at("2026-11-24T10:00:00")
    assert decision.dag_id == "hourly_sync"
    assert decision.details["unpredictable"] == ["on_upload"]
    assert decision.details["paused_ignored"] == ["old_backfill"]


def test_overdue_runs_wake_the_environment_now() -> None:
    dags = [dag("hourly_sync", "0 * * * *", "2026-11-24T10:00:00")]
    decision = planning.plan_wake(dags, now=at("2026-11-24T10:20:00"), lead=LEAD_45)
    assert decision.at == at("2026-11-24T10:20:00") and decision.due_at == at("2026-11-24T10:20:00")


def test_only_event_triggered_and_manual_dags_mean_no_planned_wake() -> None:
    dags = [dag("on_upload", "Dataset", None), dag("adhoc", None, None)]
    decision = planning.plan_wake(dags, now=at("2026-11-24T04:00:00"), lead=LEAD_45)
    assert decision.kind == planning.NO_WAKE
    assert decision.details["unpredictable"] == ["on_upload", "adhoc"]


def test_a_keep_awake_window_wakes_before_it_opens_in_local_time_across_dst() -> None:
    windows = planning.parse_windows("MON-FRI 08:00-12:00")
    # Monday 2027-03-29 08:00 CEST = 06:00 UTC (the Friday before, 08:00 CET, was 07:00 UTC). From Saturday
    # 2027-03-27 the next opening is Monday's: wake at 05:15 UTC.
    decision = planning.plan_wake([], now=at("2027-03-27T12:00:00"), lead=LEAD_45, windows=windows, tz=BERLIN)
    assert decision.at == at("2027-03-29T05:15:00") and decision.details["window"] == "MON-FRI 08:00-12:00"


def test_a_sleep_override_delays_the_wake_and_names_the_runs_it_skips() -> None:
    dags = [dag("hourly_sync", "0 * * * *", "2026-11-24T10:00:00")]
    asleep = Override(planning.ASLEEP, until=at("2026-11-24T14:00:00"), set_at=at("2026-11-24T04:00:00"))
    decision = planning.plan_wake(dags, now=at("2026-11-24T04:00:00"), lead=LEAD_45, override=asleep)
    assert decision.at == at("2026-11-24T14:00:00")
    assert decision.details["skipped_by_override"] == ["hourly_sync"]


# --- sleeping when done ----------------------------------------------------------------------------------


def test_break_even_is_deletion_plus_lead_plus_the_machinery() -> None:
    assert estimate.break_even(lead=timedelta(minutes=45), delete=timedelta(minutes=20)) == timedelta(minutes=65)
    priced = estimate.break_even(lead=timedelta(minutes=45), delete=timedelta(minutes=20), hourly_rate=0.49)
    # One cycle's machinery costs under a cent; at $0.49 an hour that is under a minute of environment time.
    assert timedelta(minutes=65) < priced < timedelta(minutes=66)


@pytest.mark.parametrize(
    ("next_run", "kind"),
    [
        ("2026-11-24T13:00:00", planning.STAY_AWAKE),  # 60 min away: within 65
        ("2026-11-24T13:10:00", planning.HIBERNATE),  # 70 min away: beyond 65
    ],
)
def test_an_idle_environment_sleeps_only_beyond_break_even(next_run: str, kind: str) -> None:
    dags = [dag("daily_report", "0 13 * * *", next_run)]
    decision = planning.check_idle(
        dags, now=at("2026-11-24T12:00:00"), activity=Activity(), break_even=timedelta(minutes=65)
    )
    assert decision.kind == kind, decision.reason


def test_running_work_is_never_interrupted_even_when_asked_to_sleep() -> None:
    asleep = Override(planning.ASLEEP, until=at("2026-11-25T09:00:00"), set_at=at("2026-11-24T11:00:00"))
    decision = planning.check_idle(
        [],
        now=at("2026-11-24T12:00:00"),
        activity=Activity(running=1, running_dags=("long_etl",)),
        break_even=timedelta(minutes=65),
        override=asleep,
    )
    assert decision.kind == planning.STAY_AWAKE and decision.dag_id == "long_etl"
    idle = planning.check_idle(
        [], now=at("2026-11-24T12:00:00"), activity=Activity(), break_even=timedelta(0), override=asleep
    )
    assert idle.kind == planning.HIBERNATE


def test_an_awake_override_and_an_open_window_keep_it_awake() -> None:
    awake = Override(planning.AWAKE, until=at("2026-11-24T18:00:00"), set_at=at("2026-11-24T11:00:00"))
    common = {"now": at("2026-11-24T12:00:00"), "activity": Activity(), "break_even": timedelta(minutes=65)}
    assert planning.check_idle([], override=awake, **common).kind == planning.STAY_AWAKE
    windows = planning.parse_windows("TUE 11:30-12:30")  # 2026-11-24 is a Tuesday
    assert planning.check_idle([], windows=windows, **common).kind == planning.STAY_AWAKE
    assert planning.check_idle([], **common).kind == planning.HIBERNATE


def test_a_continuous_dag_keeps_it_awake() -> None:
    dags = [dag("stream", "@continuous", None)]
    decision = planning.check_idle(dags, now=at("2026-11-24T12:00:00"), activity=Activity(), break_even=timedelta(0))
    assert decision.kind == planning.STAY_AWAKE and decision.dag_id == "stream"


# --- overrides and lateness ------------------------------------------------------------------------------


def test_the_gate_skips_scheduled_runs_an_override_contradicts_never_a_persons() -> None:
    now = at("2026-11-24T20:00:00")
    awake = Override(planning.AWAKE, until=at("2026-11-24T22:00:00"), set_at=at("2026-11-24T19:00:00"))
    assert planning.gate(flow="hibernate", trigger="schedule", now=now, override=awake).kind == planning.SKIP
    assert planning.gate(flow="hibernate", trigger="manual", now=now, override=awake).kind == planning.PROCEED
    assert planning.gate(flow="wake", trigger="schedule", now=now, override=awake).kind == planning.PROCEED
    expired = at("2026-11-24T22:00:01")
    assert planning.gate(flow="hibernate", trigger="schedule", now=expired, override=awake).kind == planning.PROCEED


def test_a_late_wake_reports_its_delay_and_the_runs_due_before_it_finished() -> None:
    runs = [planning.Run("a", at("2026-11-24T09:00:00")), planning.Run("b", at("2026-11-24T09:30:00"))]
    late, affected = planning.lateness(due_at=at("2026-11-24T09:00:00"), awake_at=at("2026-11-24T09:12:00"), runs=runs)
    assert late == timedelta(minutes=12) and [run.dag_id for run in affected] == ["a"]
    assert planning.lateness(due_at=at("2026-11-24T09:00:00"), awake_at=at("2026-11-24T08:50:00"))[0] == timedelta(0)


@pytest.mark.parametrize("text", ["MON-FRI 9-17", "XYZ 08:00-09:00", "MON 08:00-08:00", "MON 25:00-26:00"])
def test_malformed_windows_are_refused_with_the_reason(text: str) -> None:
    with pytest.raises(planning.PlanningError, match="keep-awake window"):
        planning.parse_windows(text)
