"""moto's Step Functions interpreter, in server mode, reaches the stand-in through the forwarding hook.

This is how the sandbox runs the app's state machines: moto builds its SDK-integration clients
against its own endpoint, which has no MWAA, and with parameter validation off, so the hook and the
stand-in's own validation are what make `aws-sdk:mwaa:*` tasks behave as on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
import requests
from moto.server import ThreadedMotoServer
from mwaa_hibernate_sandbox.airflow_instance import wait_until
from mwaa_hibernate_sandbox.mwaa_standin import add_fault, install_forwarding
from mwaa_hibernate_sandbox.postgres import _free_port
from standin_support import create_request, wait_for_status, wait_until_gone

ROLE = "arn:aws:iam::123456789012:role/sfn"


def task(action: str, parameters: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"Type": "Task", "Resource": f"arn:aws:states:::aws-sdk:mwaa:{action}", "Parameters": parameters, **extra}


@pytest.fixture(scope="module")
def stepfunctions(standin: Any) -> Iterator[Any]:
    port = _free_port()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MOTO_PORT", str(port))  # the interpreter's clients go to localhost:$MOTO_PORT
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        uninstall = install_forwarding(standin.endpoint_url)
        try:
            endpoint = f"http://127.0.0.1:{port}"
            requests.post(f"{endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}})
            yield boto3.client(
                "stepfunctions", endpoint_url=endpoint, region_name="us-east-1",
                aws_access_key_id="test", aws_secret_access_key="test",
            )  # fmt: skip
        finally:
            uninstall()
            server.stop()


def run(stepfunctions: Any, name: str, states: dict[str, Any]) -> dict[str, Any]:
    definition = {"StartAt": next(iter(states)), "States": states}
    machine = stepfunctions.create_state_machine(name=name, definition=json.dumps(definition), roleArn=ROLE)
    execution = stepfunctions.start_execution(stateMachineArn=machine["stateMachineArn"], name=f"{name}-1")

    def finished() -> dict[str, Any] | None:
        described = stepfunctions.describe_execution(executionArn=execution["executionArn"])
        return None if described["status"] == "RUNNING" else described

    return wait_until(finished, timeout=60, what=f"execution of {name}")


def test_state_machine_reads_an_environment_from_the_standin(stepfunctions: Any, mwaa: Any) -> None:
    add_fault(mwaa.meta.endpoint_url, kind="create_failed", environment="sfn-env", message="no NAT gateway")
    mwaa.create_environment(Name="sfn-env", **create_request())
    wait_for_status(mwaa, "sfn-env", leaving="CREATING")
    selector = {"Status.$": "$.Environment.Status", "Error.$": "$.Environment.LastUpdate.Error.ErrorMessage"}
    result = run(stepfunctions, "read-env", {"Get": task("getEnvironment", {"Name": "sfn-env"},
                                                          ResultSelector=selector, End=True)})  # fmt: skip
    assert result["status"] == "SUCCEEDED", result
    assert json.loads(result["output"]) == {"Status": "CREATE_FAILED", "Error": "no NAT gateway"}
    mwaa.delete_environment(Name="sfn-env")
    wait_until_gone(mwaa, "sfn-env")


def test_state_machine_sees_mwaa_errors(stepfunctions: Any) -> None:
    states = {
        "Get": task("getEnvironment", {"Name": "never-created"}, End=True,
                    Catch=[{"ErrorEquals": ["States.TaskFailed"], "ResultPath": "$.error", "Next": "Absent"}]),
        "Absent": {"Type": "Pass", "End": True},
    }  # fmt: skip
    result = run(stepfunctions, "missing-env", states)
    assert result["status"] == "SUCCEEDED", result
    error = json.loads(result["output"])["error"]
    assert error["Error"].endswith("ResourceNotFoundException"), error
