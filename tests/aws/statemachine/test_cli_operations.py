"""`mwaa-hibernate status`, `wake` and `hibernate` on the stack deployed in moto, with real executions.

The CLI finds the stack through moto's CloudFormation (the sandbox registers it), reads the MWAA double,
the schedules, the executions and the bucket, and starts and follows executions of the real state machines.
"""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
from mwaa_hibernate_cli import app
from mwaa_hibernate_cli.exits import (
    EXIT_ALREADY_RUNNING,
    EXIT_AWS_ACCESS,
    EXIT_EXECUTION_FAILED,
    EXIT_INTERRUPTED,
    EXIT_NOT_FOUND,
    EXIT_OK,
)
from typer.testing import CliRunner, Result
from world import ENVIRONMENT, EXPORT_DAG, IMPORT_DAG, World

# Executions take well under a second in moto: read them often.
FAST = ("--poll-seconds", "0.05")
# A wide terminal, so Rich keeps each row of the status on one line.
WIDE = {"COLUMNS": "200"}


def cli(world: World, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--stack", world.stack.stack_name, "--region", world.region], env=WIDE)


def document(stdout: str) -> Any:
    """The CLI's JSON document: the last one on stdout (the in-process Lambda handlers print metrics there too)."""
    start = 0 if stdout.startswith("{\n") else stdout.rindex("\n{\n") + 1
    return json.loads(stdout[start:])


def status_json(world: World) -> dict[str, Any]:
    result = cli(world, "status", "--json")
    assert result.exit_code == EXIT_OK, result.output
    return document(result.stdout)


def hibernated(world: World) -> str:
    outcome = world.run("hibernate")
    assert outcome.status == "SUCCEEDED", outcome
    return outcome.arn


def test_status_of_an_awake_environment_before_any_cycle(world: World) -> None:
    result = cli(world, "status")

    assert result.exit_code == EXIT_OK, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"{ENVIRONMENT}  (stack {world.stack.stack_name}, {world.region})")
    assert any(line.startswith("Environment") and "AVAILABLE" in line for line in lines)
    # The template's default schedules, in its default time zone (UTC): weekdays at 20:00 and 07:00.
    next_hibernate = next(line for line in lines if line.startswith("Next hibernate"))
    assert "20:00 UTC" in next_hibernate and "cron(0 20 ? * MON-FRI *) UTC, ENABLED" in next_hibernate
    assert "07:00 UTC" in next(line for line in lines if line.startswith("Next wake"))
    assert "none yet (the first hibernation makes one)" in result.stdout


def test_status_of_a_hibernated_environment_shows_the_snapshot_and_the_run(world: World) -> None:
    hibernated(world)
    latest = world.latest()
    assert latest is not None

    result = cli(world, "status")

    assert result.exit_code == EXIT_OK, result.output
    assert "hibernated (no environment); recorded HIBERNATED" in result.stdout
    snapshot_line = next(line for line in result.stdout.splitlines() if line.startswith("Latest snapshot"))
    assert latest["snapshot_id"] in snapshot_line and " rows, " in snapshot_line and "Airflow" in snapshot_line
    run_line = next(line for line in result.stdout.splitlines() if "hibernate" in line and "SUCCEEDED" in line)
    assert " s " in run_line or run_line.rstrip().endswith(" s")


def test_status_json_shape(world: World) -> None:
    arn = hibernated(world)
    report = status_json(world)

    assert set(report) == {
        "deployment", "environment", "state", "schedules", "executions", "latest_snapshot", "schedule"
    }  # fmt: skip
    assert report["deployment"]["stack_name"] == world.stack.stack_name
    assert report["environment"] == {"name": ENVIRONMENT, "status": "ABSENT", "hibernated": True, "error": None}
    assert report["state"]["phase"] == "HIBERNATED"
    assert report["schedules"]["wake"]["state"] == "ENABLED"
    assert report["schedules"]["wake"]["next_run"].endswith("07:00:00+00:00")
    run = report["executions"]["hibernate"][0]  # newest first
    assert run["arn"] == arn
    assert run["status"] == "SUCCEEDED" and run["failure"] is None and run["seconds"] >= 0
    assert run["console_url"].endswith(arn)
    snapshot = report["latest_snapshot"]
    assert snapshot["snapshot_id"] == world.latest()["snapshot_id"]
    assert snapshot["rows"] > 0 and snapshot["bytes"] > 0 and snapshot["tables"] > 0
    assert snapshot["uri"].startswith(f"s3://{world.stack.bucket}/{ENVIRONMENT}/snapshots/")


def test_status_after_a_failed_cycle_names_the_failed_step(world: World) -> None:
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("fail"))
    outcome = world.run("hibernate")
    assert outcome.status == "FAILED"

    report = status_json(world)
    run = report["executions"]["hibernate"][0]
    assert run["arn"] == outcome.arn
    assert run["status"] == "FAILED"
    assert run["failure"]["step"] == "Run the export DAG and wait for its callback"
    assert run["failure"]["error"] == "ExportFailed"

    text = cli(world, "status").stdout
    assert "FAILED" in text and "Run the export DAG and wait for its callback (ExportFailed)" in text
    assert "AVAILABLE" in text  # the environment was kept


def test_status_finds_the_stack_by_environment(world: World) -> None:
    result = CliRunner().invoke(app, ["status", "--environment", ENVIRONMENT, "--json"])
    assert result.exit_code == EXIT_OK, result.output
    assert document(result.stdout)["deployment"]["stack_name"] == world.stack.stack_name


def test_status_of_an_unknown_stack(world: World) -> None:
    result = CliRunner().invoke(app, ["status", "--stack", "no-such-stack", "--json"])
    assert result.exit_code == EXIT_NOT_FOUND
    assert "No CloudFormation stack named no-such-stack" in result.stderr
    assert document(result.stdout)["exit_code"] == EXIT_NOT_FOUND


def test_hibernate_wait_to_success_then_wake_wait_to_success(world: World) -> None:
    result = cli(world, "hibernate", "--wait", *FAST)

    assert result.exit_code == EXIT_OK, result.output
    assert f"The hibernate of {ENVIRONMENT} succeeded" in result.stderr
    for step in ("Save the environment configuration", "Verify the snapshot", "Delete the environment"):
        assert f"✓ {step}" in result.stderr
    assert "Execution SUCCEEDED" in result.stderr
    world.dags.join()
    assert world.state_file()["phase"] == "HIBERNATED"

    result = cli(world, "wake", "--wait", "--json", *FAST)

    assert result.exit_code == EXIT_OK, result.output
    outcome = document(result.stdout)
    assert outcome["flow"] == "wake" and outcome["status"] == "SUCCEEDED"
    assert outcome["name"].startswith("manual-")
    world.dags.join()
    assert world.state_file()["phase"] == "AWAKE"


def test_a_manual_run_gets_the_schedules_input_marked_manual(world: World) -> None:
    result = cli(world, "hibernate", "--json")

    assert result.exit_code == EXIT_OK, result.output
    arn = document(result.stdout)["execution_arn"]
    sent = world.client("stepfunctions").describe_execution(executionArn=arn)["input"]
    schedule = world.client("scheduler").get_schedule(Name=world.stack.outputs["HibernateScheduleName"])
    # marked as a person's start, so no override skips it
    assert json.loads(sent) == {**json.loads(schedule["Target"]["Input"]), "trigger": "manual"}
    assert "Follow it with `mwaa-hibernate status --stack" in result.stderr
    world.wait(arn)
    world.dags.join()


def test_wake_wait_to_failure_exits_non_zero_with_the_cause(world: World) -> None:
    hibernated(world)
    world.mwaa.on_trigger(IMPORT_DAG, world.dags.import_("fail"))

    result = cli(world, "wake", "--wait", *FAST)

    assert result.exit_code == EXIT_EXECUTION_FAILED, result.output
    assert f"The wake of {ENVIRONMENT} ended FAILED at step 'Run the import DAG and wait for its callback'" in (
        result.stderr
    )
    assert "(ImportFailed)" in result.stderr
    assert "✗ Run the import DAG and wait for its callback" in result.stderr
    world.dags.join()


def test_a_second_run_is_refused_while_one_is_running(world: World) -> None:
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("silent"))
    first = world.start("hibernate")
    world.wait_until(lambda: world.dags.confs, "the export DAG run")
    sfn = world.client("stepfunctions")
    wakes_before = sfn.list_executions(stateMachineArn=world.stack.state_machine_arn("wake"))["executions"]

    result = cli(world, "wake", "--json")

    assert result.exit_code == EXIT_ALREADY_RUNNING, result.output
    assert f"A hibernate of {ENVIRONMENT} is already running" in result.stderr
    assert f"aws stepfunctions describe-execution --execution-arn {first}" in result.stderr
    assert sfn.list_executions(stateMachineArn=world.stack.state_machine_arn("wake"))["executions"] == wakes_before


def test_ctrl_c_while_waiting_leaves_the_execution_running(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    from mwaa_hibernate_cli import run

    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("silent"))
    waits = threading.Event()

    def interrupted(_: float) -> None:
        waits.set()
        raise KeyboardInterrupt

    monkeypatch.setattr(run.time, "sleep", interrupted)
    result = cli(world, "hibernate", "--wait")

    assert waits.is_set()
    assert result.exit_code == EXIT_INTERRUPTED, result.output
    assert "Stopped watching; the hibernate keeps running." in result.stderr
    running = world.client("stepfunctions").list_executions(
        stateMachineArn=world.stack.state_machine_arn("hibernate"), statusFilter="RUNNING"
    )["executions"]
    assert len(running) == 1
    assert f"--execution-arn {running[0]['executionArn']}" in result.stderr


def test_no_credentials_is_a_sentence_not_a_traceback(
    world: World, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")

    result = cli(world, "status")

    assert result.exit_code == EXIT_AWS_ACCESS, result.output
    assert "No AWS credentials found: run `aws configure` or `aws sso login`" in result.stderr
    assert "Traceback" not in result.output
