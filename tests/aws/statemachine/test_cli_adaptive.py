"""`mwaa-hibernate wake --for/--until`, `hibernate --until`, `resume`, `plan` and the adaptive part of `status`,
on stacks deployed in moto with the real state machines and handlers."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from mwaa_hibernate import layout
from mwaa_hibernate_cli.exits import EXIT_OK, EXIT_USAGE
from test_adaptive_flow import ADAPTIVE, dag_table, decisions, one_time
from test_cli_operations import cli, document
from world import ENVIRONMENT, World


def override(world: World) -> dict | None:
    key = layout.overrides_key(ENVIRONMENT)
    return world.read_json(key) if key in world.keys(key) else None


def test_wake_for_keeps_it_awake_through_a_scheduled_hibernation_until_resume(world: World) -> None:
    started = datetime.now(UTC)
    result = cli(world, "wake", "--for", "2h", "--json")

    assert result.exit_code == EXIT_OK, result.output
    assert world.wait(document(result.stdout)["execution_arn"]).visited("Already awake")
    stored = override(world)
    assert stored["kind"] == "AWAKE"
    until = datetime.fromisoformat(stored["until"])
    assert timedelta(hours=2) <= until - started < timedelta(hours=2, minutes=1)
    assert "Override: awake until" in result.stderr

    skipped = world.run("hibernate", {"trigger": "schedule"})
    assert skipped.visited("Skipped by an override") and ENVIRONMENT in world.mwaa.environments

    status = cli(world, "status")
    assert status.exit_code == EXIT_OK, status.output
    assert "Override" in status.stdout and "awake until" in status.stdout
    assert "Last decisions" in status.stdout and "SKIP" in status.stdout

    resumed = cli(world, "resume")
    assert resumed.exit_code == EXIT_OK and "Removed the override" in resumed.stderr
    assert override(world) is None
    assert world.run("hibernate", {"trigger": "schedule"}).status == "SUCCEEDED"
    assert ENVIRONMENT not in world.mwaa.environments


def test_hibernate_until_skips_scheduled_wakes_and_a_plain_wake_ends_it(world: World) -> None:
    result = cli(world, "hibernate", "--until", "2099-01-01 09:00", "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert world.wait(document(result.stdout)["execution_arn"]).status == "SUCCEEDED"
    world.dags.join()
    assert override(world)["kind"] == "ASLEEP"

    assert world.run("wake", {"trigger": "schedule"}).visited("Skipped by an override")
    assert ENVIRONMENT not in world.mwaa.environments

    woke = cli(world, "wake", "--json")
    assert woke.exit_code == EXIT_OK and "Removed the override" in woke.stderr
    assert world.wait(document(woke.stdout)["execution_arn"]).status == "SUCCEEDED"
    world.dags.join()
    assert override(world) is None and world.state_file()["phase"] == "AWAKE"


def test_for_and_until_together_are_a_usage_error(world: World) -> None:
    result = cli(world, "wake", "--for", "1h", "--until", "18:00")
    assert result.exit_code == EXIT_USAGE and "not both" in result.output


def test_plan_compares_adaptive_fixed_and_always_on_from_the_latest_snapshot(make_world) -> None:
    world = make_world(**ADAPTIVE)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    world.dags.extra_tables = {
        "dag": dag_table(
            [
                ("sales_etl", "t", "0 6 * * *", now + timedelta(hours=2)),
                ("marketing_sync", "t", "Dataset", None),
            ]
        )
    }
    assert world.run("hibernate").status == "SUCCEEDED"
    assert one_time(world, "adaptive-wake") is not None and decisions(world)[-1]["kind"] == "WAKE_AT"

    result = cli(world, "plan", "--json")

    assert result.exit_code == EXIT_OK, result.output
    plan = document(result.stdout)
    policies = plan["policies"]
    assert set(policies) == {"adaptive", "fixed", "best fixed pair", "always on"}
    assert policies["always on"]["billed_hours"] == 168
    assert 0 < policies["adaptive"]["billed_hours"] < policies["fixed"]["billed_hours"]
    assert plan["unpredictable_dags"] == ["marketing_sync"]
    assert plan["source"].startswith("snapshot ")
    assert policies["adaptive"]["segments"][0]["woke_for"] == "sales_etl"

    shown = cli(world, "status")
    assert "replaced by the adaptive schedule" in shown.stdout and "Planned wake" in shown.stdout
    text = cli(world, "plan")
    assert text.exit_code == EXIT_OK, text.output
    assert "█" in text.stdout and "always on" in text.stdout and "best fixed pair" in text.stdout
    status = cli(world, "status", "--json")
    schedule = document(status.stdout)["schedule"]
    assert schedule["mode"] == "ADAPTIVE" and schedule["planned_wake"]["input"]["dag_id"] == "sales_etl"
    assert json.loads(json.dumps(schedule))["decisions"][-1]["source"] == "plan"


def test_plan_live_reads_the_running_environment(world: World) -> None:
    soon = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(hours=1)
    dags = [
        {
            "dag_id": "sales_etl",
            "is_paused": False,
            "schedule_interval": {"__type": "CronExpression", "value": f"{soon.minute} {soon.hour} * * *"},
            "next_dagrun_create_after": soon.isoformat(),
        }
    ]
    world.mwaa.rest_overrides[("GET", "/dags")] = (200, {"dags": dags, "total_entries": 1})

    result = cli(world, "plan", "--live", "--days", "2", "--json")

    assert result.exit_code == EXIT_OK, result.output
    plan = document(result.stdout)
    assert plan["source"] == "the running environment"
    assert [run["dag_id"] for run in plan["runs"]] == ["sales_etl", "sales_etl"]
    assert plan["policies"]["always on"]["billed_hours"] == 48
