"""The stand-in's API contract without a running Airflow: validation, errors, faults, client helpers.

Environments here fail on purpose (an injected CREATE_FAILED ends before any Airflow work), so the
module is fast; the real-Airflow behaviour is in test_mwaa_standin_lifecycle.py.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ParamValidationError
from mwaa_hibernate_sandbox.airflow_instance import wait_until
from mwaa_hibernate_sandbox.mwaa_standin import add_fault, clear_faults, client_environment, install_forwarding
from standin_support import airflow_bin_dir, create_request, wait_for_status, wait_until_gone


def raw_call(endpoint: str, method: str, path: str, body: Any = None) -> tuple[int, dict[str, str], Any]:
    """An HTTP call without boto3, as a caller that skips client-side validation would make it."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(endpoint + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), json.load(error)


def failed_environment(mwaa: Any, name: str, message: str = "injected") -> dict[str, Any]:
    add_fault(mwaa.meta.endpoint_url, kind="create_failed", environment=name, message=message)
    mwaa.create_environment(Name=name, **create_request())
    return wait_for_status(mwaa, name, leaving="CREATING")


@pytest.fixture(autouse=True)
def no_faults_left(mwaa: Any):
    yield
    clear_faults(mwaa.meta.endpoint_url)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (create_request(NetworkConfiguration={"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]}), "at least 2"),
        (create_request(NetworkConfiguration={"SubnetIds": ["subnet-1", "subnet-2", "subnet-3"],
                                              "SecurityGroupIds": ["sg-1"]}), "at most 2"),
        (create_request(Status="AVAILABLE"), "unknown or read-only field(s) Status"),
        (create_request(LoggingConfiguration={"TaskLogs": {"Enabled": True, "LogLevel": "INFO",
            "CloudWatchLogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:x"}}), "CloudWatchLogGroupArn"),
        (create_request(Tags={"aws:cloudformation:stack-name": "s"}), "starting with aws:"),
        ({k: v for k, v in create_request().items() if k != "DagS3Path"}, "missing required field(s) DagS3Path"),
        (create_request(EnvironmentClass="mw1.small", Schedulers=9), "Schedulers must be at most 5"),
        (create_request(WebserverAccessMode="EVERYONE"), "must be one of"),
    ],
    ids=["one-subnet", "three-subnets", "output-only", "output-only-log-arn", "aws-tag", "missing", "range", "enum"],
)  # fmt: skip
def test_create_is_validated_like_mwaa(standin: Any, mwaa: Any, body: dict[str, Any], message: str) -> None:
    status, headers, answer = raw_call(standin.endpoint_url, "PUT", "/environments/refused", body)
    assert (status, headers["x-amzn-ErrorType"]) == (400, "ValidationException")
    assert message in answer["message"]
    with pytest.raises(mwaa.exceptions.ResourceNotFoundException):
        mwaa.get_environment(Name="refused")


def test_boto3_sees_validation_errors_as_modelled_exceptions(mwaa: Any) -> None:
    with pytest.raises(mwaa.exceptions.ValidationException, match="starting with aws:"):
        mwaa.create_environment(Name="tagged", **create_request(Tags={"aws:cloudformation:stack-id": "x"}))
    with pytest.raises(mwaa.exceptions.ValidationException, match="this MWAA stand-in runs Airflow"):
        mwaa.create_environment(Name="old", **create_request(AirflowVersion="1.10.12"))
    with pytest.raises(ParamValidationError):  # boto3 checks the minimum itself, before any request
        mwaa.create_environment(Name="x", **create_request(NetworkConfiguration={"SubnetIds": ["subnet-1"]}))


def test_missing_environment_is_resource_not_found_everywhere(mwaa: Any) -> None:
    for call in (
        lambda: mwaa.get_environment(Name="absent"),
        lambda: mwaa.delete_environment(Name="absent"),
        lambda: mwaa.update_environment(Name="absent", MaxWorkers=2),
        lambda: mwaa.invoke_rest_api(Name="absent", Path="/dags", Method="GET"),
        lambda: mwaa.create_cli_token(Name="absent"),
    ):
        with pytest.raises(mwaa.exceptions.ResourceNotFoundException, match="absent"):
            call()


def test_injected_create_failure_reports_mwaa_error_and_can_be_deleted(standin: Any, mwaa: Any) -> None:
    failed = failed_environment(mwaa, "broken", "Subnets have no route to S3")
    assert failed["Status"] == "CREATE_FAILED"
    assert failed["LastUpdate"]["Status"] == "FAILED"
    assert failed["LastUpdate"]["Error"] == {
        "ErrorCode": "INCORRECT_CONFIGURATION",
        "ErrorMessage": "Subnets have no route to S3",
    }
    with pytest.raises(mwaa.exceptions.ValidationException, match="already exists"):
        mwaa.create_environment(Name="broken", **create_request())
    with pytest.raises(mwaa.exceptions.ValidationException, match="CREATE_FAILED"):
        mwaa.invoke_rest_api(Name="broken", Path="/dags", Method="GET")
    mwaa.delete_environment(Name="broken")
    wait_until_gone(mwaa, "broken")


def test_airflow_failure_ends_in_create_failed_with_airflows_own_error(mwaa: Any) -> None:
    options = {"logging.logging_level": "LOUD"}  # Airflow refuses to start with it, as MWAA's would
    mwaa.create_environment(Name="bad-option", **create_request(AirflowConfigurationOptions=options))
    failed = wait_for_status(mwaa, "bad-option", leaving="CREATING")
    assert failed["Status"] == "CREATE_FAILED"
    assert failed["LastUpdate"]["Error"]["ErrorCode"] == "INTERNAL_ERROR"
    assert "`[logging] logging_level` should not be 'LOUD'" in failed["LastUpdate"]["Error"]["ErrorMessage"]
    mwaa.delete_environment(Name="bad-option")
    wait_until_gone(mwaa, "bad-option")


def test_injected_delete_rejection_leaves_the_environment(mwaa: Any) -> None:
    failed_environment(mwaa, "undeletable")
    add_fault(mwaa.meta.endpoint_url, kind="delete_rejected", environment="undeletable", message="try later")
    with pytest.raises(mwaa.exceptions.ValidationException, match="try later"):
        mwaa.delete_environment(Name="undeletable")
    add_fault(mwaa.meta.endpoint_url, kind="delete_rejected", error_code="InternalServerException", message="oops")
    with pytest.raises(mwaa.exceptions.InternalServerException, match="oops"):
        mwaa.delete_environment(Name="undeletable")
    assert mwaa.get_environment(Name="undeletable")["Environment"]["Status"] == "CREATE_FAILED"
    mwaa.delete_environment(Name="undeletable")  # the fault fired once
    wait_until_gone(mwaa, "undeletable")


def test_fault_specs_are_checked(standin: Any) -> None:
    for spec, message in (
        ({"kind": "explode"}, "fault kind must be one of"),
        ({"kind": "rest_api", "status": 503}, "needs the 'path'"),
        ({"kind": "rest_api", "path": "/dags", "status": 200}, "must be 4xx or 5xx"),
        ({"kind": "create_failed", "when": "now"}, "unknown fault field(s) when"),
    ):
        status, _, answer = raw_call(standin.endpoint_url, "POST", "/_standin/faults", spec)
        assert status == 400 and message in answer["message"]
    assert raw_call(standin.endpoint_url, "GET", "/_standin/faults")[2] == {"Faults": []}


def test_list_environments_pages(mwaa: Any) -> None:
    for name in ("page-a", "page-b", "page-c"):
        failed_environment(mwaa, name)
    names = [name for page in mwaa.get_paginator("list_environments").paginate(PaginationConfig={"PageSize": 2})
             for name in page["Environments"]]  # fmt: skip
    assert [n for n in names if n.startswith("page-")] == ["page-a", "page-b", "page-c"]
    with pytest.raises(mwaa.exceptions.ValidationException, match="MaxResults must be from 1 to 25"):
        mwaa.list_environments(MaxResults=26)
    for name in ("page-a", "page-b", "page-c"):
        mwaa.delete_environment(Name=name)
        wait_until_gone(mwaa, name)


def test_forwarding_sends_mwaa_calls_from_any_endpoint_to_the_standin(mwaa: Any) -> None:
    failed_environment(mwaa, "forwarded")
    uninstall = install_forwarding(mwaa.meta.endpoint_url)
    try:
        # Where moto's Step Functions interpreter would send it: moto's own endpoint, which has no MWAA.
        elsewhere = boto3.client(
            "mwaa", endpoint_url="http://localhost:9", region_name="us-east-1",
            aws_access_key_id="test", aws_secret_access_key="test", config=Config(retries={"total_max_attempts": 1}),
        )  # fmt: skip
        assert elsewhere.get_environment(Name="forwarded")["Environment"]["Status"] == "CREATE_FAILED"
    finally:
        uninstall()
    mwaa.delete_environment(Name="forwarded")
    wait_until_gone(mwaa, "forwarded")


def test_client_environment_points_a_child_process_at_the_standin(mwaa: Any) -> None:
    failed_environment(mwaa, "from-child")
    code = "import boto3; print(boto3.client('mwaa').get_environment(Name='from-child')['Environment']['Status'])"
    env = {**os.environ, **client_environment(mwaa.meta.endpoint_url), "AWS_DEFAULT_REGION": "us-east-1",
           "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}  # fmt: skip
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "CREATE_FAILED"
    mwaa.delete_environment(Name="from-child")
    wait_until_gone(mwaa, "from-child")


def test_runs_as_a_process_until_sigterm(tmp_path: Any) -> None:
    command = [sys.executable, "-m", "mwaa_hibernate_sandbox.mwaa_standin", "--airflow-bin", str(airflow_bin_dir()),
               "--state-dir", str(tmp_path), "--database", "sqlite"]  # fmt: skip
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    try:
        line = wait_until(lambda: "listening on" in (out := process.stderr.readline()) and out, timeout=60,
                          what="the stand-in to listen")  # fmt: skip
        endpoint = line.rsplit(" ", 1)[1].strip()
        assert raw_call(endpoint, "GET", "/environments")[2] == {"Environments": []}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
