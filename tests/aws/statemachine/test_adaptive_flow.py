"""The adaptive schedule in the real state machines, executed in moto with the real handlers.

After a hibernation the plan step schedules a one-time wake (EventBridge Scheduler ``at()``, in the stack's
group) the lead time before the first unpaused DAG's next run, read from the snapshot's ``dag`` table; a person's
override skips the scheduled executions it contradicts; a wake that ends after the run it was for alerts; the idle
check hibernates only an idle environment whose next run is beyond break-even.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from mwaa_hibernate import layout
from world import ENVIRONMENT, World

ADAPTIVE = {"ScheduleMode": "ADAPTIVE", "WakeLeadMinutes": 30}
GROUP_OUTPUT = "ScheduleGroupName"


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def dag_table(rows: list[tuple[str, str, Any, datetime | None]]) -> bytes:
    """The snapshot's `dag` table as Airflow 2's export writes it (schedule_interval is JSON text)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["dag_id", "is_paused", "is_active", "schedule_interval", "next_dagrun_create_after"])
    for dag_id, paused, schedule, next_run in rows:
        when = next_run.strftime("%Y-%m-%d %H:%M:%S+00") if next_run else ""
        writer.writerow([dag_id, paused, "t", json.dumps(schedule), when])
    return out.getvalue().encode()


def group(world: World) -> str:
    return world.stack.outputs[GROUP_OUTPUT]


def one_time(world: World, name: str) -> dict[str, Any] | None:
    scheduler = world.client("scheduler")
    try:
        return scheduler.get_schedule(Name=name, GroupName=group(world))
    except scheduler.exceptions.ResourceNotFoundException:
        return None


def decisions(world: World) -> list[dict[str, Any]]:
    return world.read_json(layout.decisions_key(ENVIRONMENT))["decisions"]


@pytest.fixture
def adaptive(make_world) -> World:
    return make_world(**ADAPTIVE)


def test_after_a_hibernation_the_wake_is_scheduled_the_lead_before_the_first_unpaused_run(adaptive: World) -> None:
    start = now()
    first = start + timedelta(hours=3)
    adaptive.dags.extra_tables = {
        "dag": dag_table(
            [
                ("sales_etl", "t", "0 * * * *", first),  # paused in the table (the export paused it) but active before
                (
                    "marketing_sync",
                    "t",
                    {"type": "timedelta", "attrs": {"days": 1, "seconds": 0}},
                    first + timedelta(hours=5),
                ),
                ("legacy_backfill", "t", "@daily", start + timedelta(hours=1)),  # paused on purpose: ignored
            ]
        )
    }

    outcome = adaptive.run("hibernate")

    assert outcome.status == "SUCCEEDED" and outcome.visited("Plan the next wake"), outcome
    schedule = one_time(adaptive, "adaptive-wake")
    assert schedule is not None
    wake_at = first - timedelta(minutes=30)
    assert schedule["ScheduleExpression"] == f"at({wake_at:%Y-%m-%dT%H:%M}:00)"
    assert schedule["ScheduleExpressionTimezone"] == "UTC" and schedule["ActionAfterCompletion"] == "DELETE"
    assert schedule["Target"]["Arn"] == adaptive.stack.state_machine_arn("wake")
    payload = json.loads(schedule["Target"]["Input"])
    assert payload["trigger"] == "adaptive" and payload["dag_id"] == "sales_etl"
    assert datetime.fromisoformat(payload["due_at"]) == first
    planned = decisions(adaptive)[-1]
    assert planned["kind"] == "WAKE_AT" and planned["dag_id"] == "sales_etl"
    assert planned["details"]["paused_ignored"] == ["legacy_backfill"]
    history = adaptive.read_json(layout.history_key(ENVIRONMENT))
    assert len(history["hibernations"]) == 1


def test_in_fixed_mode_nothing_is_scheduled_but_the_hibernation_is_measured(world: World) -> None:
    outcome = world.run("hibernate")

    assert outcome.status == "SUCCEEDED" and outcome.visited("Plan the next wake")
    assert one_time(world, "adaptive-wake") is None
    assert world.read_json(layout.history_key(ENVIRONMENT))["hibernations"]


def test_an_override_spanning_a_scheduled_hibernation_skips_it_and_ends_on_the_fixed_schedule(make_world) -> None:
    # The fixed schedule says "asleep" at any time (it hibernates every minute, never wakes again).
    world = make_world(HibernateSchedule="cron(* * * * ? *)", WakeSchedule="cron(0 0 1 1 ? 2020)")
    until = now() + timedelta(hours=2)
    override = {"kind": "AWAKE", "until": until.isoformat(), "set_at": now().isoformat(), "by": "test"}
    world.client("s3").put_object(
        Bucket=world.stack.bucket, Key=layout.overrides_key(ENVIRONMENT), Body=json.dumps(override).encode()
    )

    outcome = world.run("hibernate", {"trigger": "schedule"})

    assert outcome.status == "SUCCEEDED" and outcome.visited("Skipped by an override"), outcome.states
    assert not outcome.visited("Check the environment can hibernate")
    assert world.mwaa.mutating_calls() == [] and world.mwaa.environments[ENVIRONMENT].current()[0] == "AVAILABLE"
    assert decisions(world)[-1]["kind"] == "SKIP"
    end = one_time(world, "override-end")
    assert end is not None and end["ScheduleExpression"] == f"at({until:%Y-%m-%dT%H:%M}:00)"
    assert end["Target"]["Arn"] == world.stack.state_machine_arn("hibernate")
    # A person's own start is never skipped.
    assert world.run("hibernate", {"trigger": "manual"}).status == "SUCCEEDED"
    assert ENVIRONMENT not in world.mwaa.environments


def test_a_wake_that_ends_after_its_run_alerts_with_the_delay_and_the_dags(adaptive: World) -> None:
    assert adaptive.run("hibernate").status == "SUCCEEDED"
    due = now() - timedelta(minutes=7)
    runs = [{"dag_id": "sales_etl", "due_at": due.isoformat()}]

    outcome = adaptive.run(
        "wake", {"trigger": "adaptive", "due_at": due.isoformat(), "dag_id": "sales_etl", "runs": runs}
    )

    assert outcome.status == "SUCCEEDED" and outcome.visited("Measure the wake"), outcome
    late = [alert for alert in adaptive.alerts() if "late" in alert["subject"]]
    assert late, adaptive.alerts()
    assert "sales_etl" in late[0]["message"] and "lead time" in late[0]["message"]
    wake = adaptive.read_json(layout.history_key(ENVIRONMENT))["wakes"][-1]
    assert wake["late_seconds"] >= 7 * 60 and wake["trigger"] == "adaptive"
    assert decisions(adaptive)[-1]["kind"] == "LATE"


def test_a_sleep_override_skips_the_planned_wake_and_plans_the_next_after_it(adaptive: World) -> None:
    first = now() + timedelta(hours=3)
    adaptive.dags.extra_tables = {"dag": dag_table([("sales_etl", "f", "0 * * * *", first)])}
    assert adaptive.run("hibernate").status == "SUCCEEDED"
    until = now() + timedelta(hours=10)
    override = {"kind": "ASLEEP", "until": until.isoformat(), "set_at": now().isoformat(), "by": "test"}
    adaptive.client("s3").put_object(
        Bucket=adaptive.stack.bucket, Key=layout.overrides_key(ENVIRONMENT), Body=json.dumps(override).encode()
    )

    outcome = adaptive.run("wake", {"trigger": "adaptive", "due_at": first.isoformat()})

    assert outcome.visited("Skipped by an override") and ENVIRONMENT not in adaptive.mwaa.environments
    schedule = one_time(adaptive, "adaptive-wake")
    assert schedule["ScheduleExpression"] == f"at({until:%Y-%m-%dT%H:%M}:00)"


def _rest(world: World, *, running: list[str], next_run: datetime) -> None:
    dags = [
        {
            "dag_id": "sales_etl",
            "is_paused": False,
            "schedule_interval": {"__type": "CronExpression", "value": "0 6 * * *"},
            "next_dagrun_create_after": next_run.isoformat(),
        },
        {"dag_id": "on_upload", "is_paused": False, "schedule_interval": "Dataset", "next_dagrun_create_after": None},
    ]
    world.mwaa.rest_overrides[("GET", "/dags")] = (200, {"dags": dags, "total_entries": len(dags)})
    page = {"dag_runs": [{"dag_id": d, "state": "running"} for d in running], "total_entries": len(running)}
    world.mwaa.rest_overrides[("GET", "/dags/~/dagRuns")] = (200, page)


def idle_check(world: World) -> dict[str, Any]:
    answer = world.client("lambda").invoke(FunctionName=world.stack.function_name("IdleCheckFunction"))
    return json.loads(answer["Payload"].read())


def test_the_idle_check_never_interrupts_a_run_and_hibernates_once_it_is_done(adaptive: World) -> None:
    adaptive.client("s3").put_object(
        Bucket=adaptive.stack.bucket, Key=layout.state_key(ENVIRONMENT), Body=b'{"phase": "AWAKE"}'
    )
    _rest(adaptive, running=["long_etl"], next_run=now() + timedelta(hours=12))

    busy = idle_check(adaptive)

    assert busy["decision"] == "STAY_AWAKE" and "never interrupted" in busy["reason"], busy
    _rest(adaptive, running=[], next_run=now() + timedelta(minutes=40))
    soon = idle_check(adaptive)
    assert soon["decision"] == "STAY_AWAKE" and "break-even" in soon["reason"], soon  # 40 min < 30 + 20 min
    _rest(adaptive, running=[], next_run=now() + timedelta(hours=12))

    done = idle_check(adaptive)

    assert done["decision"] == "HIBERNATE", done
    outcome = adaptive.wait(done["execution_arn"])
    adaptive.dags.join()
    assert outcome.status == "SUCCEEDED" and ENVIRONMENT not in adaptive.mwaa.environments
    assert (
        json.loads(adaptive.client("stepfunctions").describe_execution(executionArn=done["execution_arn"])["input"])[
            "trigger"
        ]
        == "idle"
    )
    stored = adaptive.read_json(layout.decisions_key(ENVIRONMENT))
    assert stored["decisions"][0]["source"] == "idle check" and stored["decisions"][0]["kind"] == "HIBERNATE"
