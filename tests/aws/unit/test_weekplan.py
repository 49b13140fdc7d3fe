"""`mwaa-hibernate plan`'s comparison (mwaa_hibernate.weekplan), on a week worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from mwaa_hibernate import planning, weekplan
from mwaa_hibernate.dagschedule import classify

MONDAY = datetime(2026, 11, 23, tzinfo=UTC)
LEAD = planning.LeadTime(timedelta(minutes=30), "test", 5)


def build(fixed: tuple[str, str]) -> weekplan.WeekPlan:
    dags = [
        classify("extract", paused=False, schedule="0 9 * * *", next_run=MONDAY + timedelta(hours=9)),
        classify("report", paused=False, schedule="30 9 * * *", next_run=MONDAY + timedelta(hours=9, minutes=30)),
        classify("old", paused=True, schedule="0 3 * * *", next_run=MONDAY + timedelta(hours=3)),
        classify("on_upload", paused=False, schedule="Dataset", next_run=None),
    ]
    return weekplan.build(
        dags,
        start=MONDAY,
        days=7,
        dag_timezone="UTC",
        durations={"extract": timedelta(minutes=20), "report": timedelta(minutes=30)},
        lead=LEAD,
        delete=timedelta(minutes=20),
        idle_check=timedelta(minutes=15),
        hourly_rate=None,
        fixed=fixed,
    )


def test_the_adaptive_week_wakes_before_the_first_run_and_sleeps_after_the_last() -> None:
    plan = build(("cron(0 8 ? * * *)", "cron(0 10 ? * * *)"))
    # Break-even 30 + 20 = 50 min. Each day: extract 09:00-09:20, report 09:30-10:00. The check at 09:35 sees
    # report due in under 50 min, so one stretch: wake 08:30, idle at 10:00, seen at 10:15, deleted 10:35.
    adaptive = plan.policies["adaptive"]
    assert len(adaptive.segments) == 7
    monday = adaptive.segments[0]
    assert (monday.wake_at, monday.hibernate_at, monday.deleted_at) == (
        MONDAY + timedelta(hours=8, minutes=30),
        MONDAY + timedelta(hours=10, minutes=15),
        MONDAY + timedelta(hours=10, minutes=35),
    )
    assert (monday.woke_for, monday.slept_after) == ("extract", "report")
    assert adaptive.billed_hours == pytest.approx(7 * (2 + 5 / 60))  # 2 h 05 min a day
    assert plan.policies["always on"].billed_hours == 168
    assert plan.unpredictable == ["on_upload"]
    assert {run.dag_id for run in plan.runs} == {"extract", "report"}  # the paused DAG is not planned


def test_the_fixed_schedule_is_billed_and_its_drained_runs_listed() -> None:
    # Wake 08:00 (30 min to create, AVAILABLE 08:30), hibernate 09:45 (deleted 10:05): 2 h 05 min a day, and
    # report (09:30-10:00) is still running at 09:45 every day.
    plan = build(("cron(0 8 ? * * *)", "cron(45 9 ? * * *)"))
    fixed = plan.policies["fixed"]
    assert fixed.billed_hours == pytest.approx(7 * (2 + 5 / 60))
    assert [(i.dag_id, i.issue) for i in fixed.issues] == [("report", "drained")] * 7


def test_runs_before_a_fixed_wake_start_late() -> None:
    plan = build(("cron(15 9 ? * * *)", "cron(0 11 ? * * *)"))  # AVAILABLE 09:45: both runs are late
    assert {(i.dag_id, i.issue) for i in plan.policies["fixed"].issues} == {("extract", "late"), ("report", "late")}


def test_the_best_fixed_pair_covers_every_run_with_the_least_billed_time() -> None:
    plan = build(("cron(0 8 ? * * *)", "cron(0 10 ? * * *)"))
    best = plan.policies["best fixed pair"]
    # first run 09:00 - 30 min creation = 08:30; last run ends 10:00; every day has runs.
    assert best.schedule["wake"] == "cron(30 8 ? * * *)" and best.schedule["hibernate"] == "cron(0 10 ? * * *)"
    assert best.issues == []
    assert best.billed_hours == pytest.approx(7 * (1 + 50 / 60))  # 08:30 to 10:20


def test_weekday_names_in_the_best_pair() -> None:
    assert weekplan._days_text([0, 1, 2, 3, 4]) == "MON-FRI"
    # AWS counts SUN (1) to SAT (7) and refuses backwards ranges such as SAT-SUN.
    assert weekplan._days_text([0, 2, 5, 6]) == "SUN-MON,WED,SAT"
    assert weekplan._days_text([5, 6]) == "SUN,SAT"
