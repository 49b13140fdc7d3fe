"""Alerts read by a person: which environment, which step, its status now, the snapshot, what to do."""

from __future__ import annotations

import json

import pytest
from mwaa_hibernate import notify

from .conftest import ENVIRONMENT, SNAPSHOT_ID, load_event, saved_environment


def test_a_failed_export_alert_says_what_happened_and_what_was_compensated() -> None:
    alert = notify.from_state_machine(load_event("notify.hibernate-failed"), status_now="AVAILABLE")

    assert alert.subject == f"mwaa-hibernate: Hibernation of {ENVIRONMENT} FAILED while running the export DAG"
    lines = dict(line.split(": ", 1) for line in alert.message.splitlines())
    assert lines["Environment"] == ENVIRONMENT
    assert lines["Error"].startswith("DrainTimeout: 3 task instances were still running")
    assert lines["Status now"] == "AVAILABLE"
    assert lines["Snapshot"] == SNAPSHOT_ID
    assert lines["Done to compensate"] == "Unpaused 4 DAG(s); 2 were paused before and stay paused."
    assert "DrainTimeoutMinutes" in lines["What to do"] and "NOT deleted" in lines["What to do"]
    assert lines["Execution"].startswith("https://eu-west-1.console.aws.amazon.com/states/")


def test_mwaa_s_own_error_is_dug_out_of_the_child_execution_and_the_lambda_payload() -> None:
    alert = notify.from_state_machine(load_event("notify.wake-failed"), status_now="CREATE_FAILED")

    error = next(line for line in alert.message.splitlines() if line.startswith("Error: "))
    assert error.startswith("Error: EnvironmentFailed: Environment my-mwaa-environment is CREATE_FAILED")
    assert "INCORRECT_CONFIGURATION: You may need to check the execution role" in error
    assert "delete the failed environment" in alert.message


def test_a_failed_restore_of_paused_states_is_called_out() -> None:
    payload = load_event("notify.hibernate-failed")
    payload["compensation"] = {
        "Error": "PausedStateRestoreFailed",
        "Cause": json.dumps(
            {"errorType": "PausedStateRestoreFailed", "errorMessage": "1 DAG(s) are still paused: etl_daily."}
        ),
    }

    alert = notify.from_state_machine(payload, status_now="AVAILABLE")

    assert "restoring the DAGs' paused states FAILED (PausedStateRestoreFailed: 1 DAG(s) are still paused" in (
        alert.message
    )


def test_a_refusal_without_snapshot_or_compensation_still_reads_well() -> None:
    alert = notify.from_state_machine(load_event("notify.hibernate-refused"), status_now="UPDATING")

    assert "while checking that it may start" in alert.subject
    assert "EnvironmentNotAvailable: Environment my-mwaa-environment is UPDATING" in alert.message
    assert "Snapshot:" not in alert.message


def test_success_reports_the_figures() -> None:
    alert = notify.from_state_machine(load_event("notify.hibernate-succeeded"), status_now="does not exist")
    assert alert.subject == f"mwaa-hibernate: Hibernation of {ENVIRONMENT} succeeded"
    assert "Figures: tables 23, rows 1843220, bytes 48211903, seconds 212.4" in alert.message


def test_subjects_fit_sns_limits() -> None:
    payload = load_event("notify.hibernate-failed") | {"environment_name": "e" * 80}
    subject = notify.from_state_machine(payload, status_now="AVAILABLE").subject
    assert len(subject) <= 100 and "\n" not in subject


def test_an_execution_that_already_alerted_is_not_alerted_twice() -> None:
    event = load_event("notify.execution-failed-alerted")
    assert notify.from_event(event, environment=ENVIRONMENT, status_now="AVAILABLE", step=None) is None


def test_a_stopped_hibernation_names_the_last_step_and_its_snapshot() -> None:
    event = load_event("notify.execution-aborted")

    alert = notify.from_event(
        event, environment=ENVIRONMENT, status_now="AVAILABLE", step="Run the export DAG and wait for its callback"
    )

    assert alert.subject == f"mwaa-hibernate: Hibernation of {ENVIRONMENT} ABORTED"
    assert "Last step: Run the export DAG and wait for its callback" in alert.message
    assert f"Snapshot: {SNAPSHOT_ID}" in alert.message  # the execution's start time, as layout names it
    assert "DAGs may still be paused" in alert.message


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        (None, "does not exist"),
        (saved_environment(Status="UPDATING"), "UPDATING"),
        (
            saved_environment(
                Status="CREATE_FAILED",
                LastUpdate={
                    "Status": "FAILED",
                    "Error": {"ErrorCode": "INCORRECT_CONFIGURATION", "ErrorMessage": "Check the network."},
                },
            ),
            "CREATE_FAILED (MWAA's last error: INCORRECT_CONFIGURATION: Check the network.)",
        ),
    ],
    ids=["absent", "updating", "failed-with-mwaa-text"],
)
def test_environment_now_reads_the_status_at_alert_time(aws, environment, expected: str) -> None:
    if environment is not None:
        aws.mwaa.environments[ENVIRONMENT] = environment
    assert notify.environment_now(ENVIRONMENT) == expected


def test_an_unreadable_status_does_not_stop_the_alert(aws) -> None:
    aws.mwaa.errors["GetEnvironment"] = RuntimeError("network down")
    assert notify.environment_now(ENVIRONMENT) == "unknown (reading it failed: network down)"


def test_a_failure_outside_the_catch_paths_is_alerted_with_its_error() -> None:
    event = load_event("notify.execution-failed-alerted")
    event["detail"] |= {"error": "States.Runtime", "cause": "An error occurred while executing the state 'X'."}

    alert = notify.from_event(event, environment=ENVIRONMENT, status_now="CREATING", step="Create the environment")

    assert alert.subject == f"mwaa-hibernate: Wake of {ENVIRONMENT} FAILED"
    assert "could not report it" in alert.message and "Error: States.Runtime: An error occurred" in alert.message
    assert "Status now: CREATING" in alert.message
