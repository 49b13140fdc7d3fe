"""One real environment through its whole life: create, use through InvokeRestApi, update, delete.

The tests run in file order and share the environment, as one MWAA environment lives through a
hibernation cycle; each names what it relies on from the ones before.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from mwaa_hibernate_sandbox.airflow_instance import wait_until
from mwaa_hibernate_sandbox.mwaa_standin import add_fault, environment_details
from mwaa_hibernate_sandbox.mwaa_standin.validation import service_model
from standin_support import AIRFLOW_ENV, PROBE_DAG_ID, REPOSITORY, create_request, wait_for_status, wait_until_gone

NAME = "lifecycle-env"
REQUEST = create_request(
    AirflowConfigurationOptions={"core.default_task_retries": "0", "webserver.instance_name": "standin"},
    LoggingConfiguration={"TaskLogs": {"Enabled": True, "LogLevel": "INFO"}},
    EnvironmentClass="mw1.medium",
    Tags={"team": "data", "cost-center": "42"},
    MinWorkers=1,
    MaxWorkers=3,
)
# The hibernation DAGs the repository ships (docs/contracts.md), by file: expected once the file exists.
REPOSITORY_DAGS = {
    "mwaa_hibernate_export.py": "mwaa_hibernate_export",
    "mwaa_hibernate_import.py": "mwaa_hibernate_import",
}


def output_only_fields() -> set[str]:
    model = service_model()
    output = set(model.shape_for("Environment").members)
    create_input = set(model.operation_model("CreateEnvironment").input_shape.members)
    return output - create_input


def rest(mwaa: Any, path: str, method: str = "GET", **kwargs: Any) -> Any:
    return mwaa.invoke_rest_api(Name=NAME, Path=path, Method=method, **kwargs)["RestApiResponse"]


@pytest.fixture(scope="module")
def environment(mwaa: Any) -> dict[str, Any]:
    mwaa.create_environment(Name=NAME, **REQUEST)
    first = mwaa.get_environment(Name=NAME)["Environment"]
    assert first["Status"] == "CREATING"
    available = wait_for_status(mwaa, NAME, leaving="CREATING")
    assert available["Status"] == "AVAILABLE", available["LastUpdate"]
    return available


def test_create_reaches_available_with_the_request_round_tripped(environment: dict[str, Any], standin: Any) -> None:
    for field, value in REQUEST.items():
        if field != "LoggingConfiguration":
            assert environment[field] == value, field
    task_logs = environment["LoggingConfiguration"]["TaskLogs"]
    assert task_logs["Enabled"] is True and task_logs["LogLevel"] == "INFO"
    assert task_logs["CloudWatchLogGroupArn"].endswith(f":log-group:airflow-{NAME}-Task")
    assert environment["Arn"] == f"arn:aws:airflow:us-east-1:123456789012:environment/{NAME}"
    assert environment["AirflowVersion"] == standin.service.settings.airflow_version
    assert environment["LastUpdate"]["Status"] == "SUCCESS"
    assert {"ServiceRoleArn", "CeleryExecutorQueue", "WebserverUrl", "CreatedAt"} <= set(environment)


def test_saved_output_minus_output_only_fields_is_accepted_by_create(mwaa: Any, environment: dict[str, Any]) -> None:
    saved = {k: v for k, v in environment.items() if k not in output_only_fields() | {"Name"}}
    saved["LoggingConfiguration"] = {
        module: {k: v for k, v in settings.items() if k != "CloudWatchLogGroupArn"}
        for module, settings in saved["LoggingConfiguration"].items()
    }
    # The copy only proves the request is accepted; make it fail fast instead of starting a second Airflow.
    add_fault(mwaa.meta.endpoint_url, kind="create_failed", environment="lifecycle-copy", message="copy not needed")
    mwaa.create_environment(Name="lifecycle-copy", **saved)
    failed = wait_for_status(mwaa, "lifecycle-copy", leaving="CREATING")
    assert failed["Status"] == "CREATE_FAILED"
    assert failed["LastUpdate"]["Error"]["ErrorMessage"] == "copy not needed"
    copied = {k: v for k, v in failed.items() if k not in output_only_fields() | {"Name"}}
    assert copied["LoggingConfiguration"].keys() == saved["LoggingConfiguration"].keys()
    assert {k: v for k, v in copied.items() if k != "LoggingConfiguration"} == {
        k: v for k, v in saved.items() if k != "LoggingConfiguration"
    }
    mwaa.delete_environment(Name="lifecycle-copy")
    wait_until_gone(mwaa, "lifecycle-copy")


def test_rest_api_lists_the_dag_folder(mwaa: Any, environment: dict[str, Any]) -> None:
    shipped = {dag_id for file, dag_id in REPOSITORY_DAGS.items() if (REPOSITORY / "dags" / file).exists()}
    expected = {PROBE_DAG_ID} | shipped

    def listed() -> set[str] | None:
        dag_ids = {dag["dag_id"] for dag in rest(mwaa, "/dags")["dags"]}
        return dag_ids if expected <= dag_ids else None

    assert expected <= wait_until(listed, timeout=90, what=f"the scheduler to parse {sorted(expected)}")
    # The folder an environment gets (repository DAGs, the engine package beside them, extra DAGs) parses cleanly.
    assert rest(mwaa, "/importErrors")["import_errors"] == []


def test_triggered_run_is_executed_by_the_real_scheduler(mwaa: Any, environment: dict[str, Any]) -> None:
    unpaused = rest(
        mwaa, f"/dags/{PROBE_DAG_ID}", "PATCH", QueryParameters={"update_mask": "is_paused"}, Body={"is_paused": False}
    )
    assert unpaused["is_paused"] is False
    run = rest(mwaa, f"/dags/{PROBE_DAG_ID}/dagRuns", "POST", Body={"dag_run_id": "r1", "conf": {"from": "test"}})
    assert run["state"] == "queued" and run["conf"] == {"from": "test"}

    def finished() -> str | None:
        state = rest(mwaa, f"/dags/{PROBE_DAG_ID}/dagRuns/r1")["state"]
        return state if state in ("success", "failed") else None

    assert wait_until(finished, timeout=120, what="the triggered run to finish") == "success"
    instances = rest(mwaa, f"/dags/{PROBE_DAG_ID}/dagRuns/r1/taskInstances")["task_instances"]
    assert [(ti["task_id"], ti["state"]) for ti in instances] == [("echo", "success")]
    # The task ran with the stand-in's AWS environment and the environment's AirflowConfigurationOptions.
    log = str(rest(mwaa, f"/dags/{PROBE_DAG_ID}/dagRuns/r1/taskInstances/echo/logs/1"))
    assert f"endpoint={AIRFLOW_ENV['AWS_ENDPOINT_URL']} name=standin" in log


def test_airflow_errors_come_back_as_rest_api_exceptions(mwaa: Any, environment: dict[str, Any]) -> None:
    with pytest.raises(mwaa.exceptions.RestApiClientException) as missing:
        rest(mwaa, "/dags/no_such_dag")
    assert missing.value.response["RestApiStatusCode"] == 404
    assert missing.value.response["RestApiResponse"]["title"] == "DAG not found"

    with pytest.raises(mwaa.exceptions.ValidationException, match="at most 64"):
        rest(mwaa, "/dags/" + "d" * 59)


def test_injected_rest_api_failure_answers_once_then_airflow_again(mwaa: Any, environment: dict[str, Any]) -> None:
    add_fault(mwaa.meta.endpoint_url, kind="rest_api", environment=NAME, path="/dags", method="GET", status=503)
    with pytest.raises(mwaa.exceptions.RestApiServerException) as injected:
        rest(mwaa, "/dags")
    assert injected.value.response["RestApiStatusCode"] == 503
    assert rest(mwaa, "/dags")["total_entries"] >= 1


def test_update_failure_is_reported_and_a_retry_restarts_airflow(mwaa: Any, environment: dict[str, Any]) -> None:
    add_fault(mwaa.meta.endpoint_url, kind="update_failed", environment=NAME, message="plugins.zip is corrupt")
    mwaa.update_environment(Name=NAME, MaxWorkers=4)
    failed = wait_for_status(mwaa, NAME, leaving="UPDATING")
    assert failed["Status"] == "UPDATE_FAILED"
    assert failed["LastUpdate"]["Error"]["ErrorMessage"] == "plugins.zip is corrupt"

    mwaa.update_environment(Name=NAME, MaxWorkers=5, AirflowConfigurationOptions={"core.default_task_retries": "1"})
    assert mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "UPDATING"
    updated = wait_for_status(mwaa, NAME, leaving="UPDATING")
    assert updated["Status"] == "AVAILABLE", updated["LastUpdate"]
    assert updated["MaxWorkers"] == 5
    assert updated["AirflowConfigurationOptions"] == {"core.default_task_retries": "1"}
    # Same metadata database after the restart: the run from before is still there.
    assert rest(mwaa, f"/dags/{PROBE_DAG_ID}/dagRuns/r1")["state"] == "success"


def test_delete_stops_airflow_and_drops_the_database(mwaa: Any, standin: Any, environment: dict[str, Any]) -> None:
    details = environment_details(mwaa.meta.endpoint_url, NAME)
    instance = standin.service._environments[NAME].instance
    pids = [proc.pid for proc in instance._procs.values()]
    assert pids and standin.service.databases.exists(details["DatabaseName"])

    mwaa.delete_environment(Name=NAME)
    assert mwaa.get_environment(Name=NAME)["Environment"]["Status"] == "DELETING"
    wait_until_gone(mwaa, NAME)

    assert not standin.service.databases.exists(details["DatabaseName"])
    assert not os.path.exists(details["AirflowHome"])
    # Killed processes may linger a moment, and orphaned zombies stay until init reaps them: wait for no LIVE member.
    wait_until(lambda: not any(_live_group_members(pid) for pid in pids), timeout=30, what="Airflow's processes to end")
    assert NAME not in mwaa.list_environments()["Environments"]


def _live_group_members(pgid: int) -> list[int]:
    """Processes of process group `pgid` that are not zombies, read from /proc."""
    members = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state != "Z":
            members.append(int(stat.parent.name))
    return members
