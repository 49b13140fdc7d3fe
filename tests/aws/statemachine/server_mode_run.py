"""Run by test_moto_server_mode.py in a fresh interpreter: the harness against a moto server, as the sandbox uses it.

Starts a ThreadedMotoServer in this process, deploys the template into it over HTTP, and runs the
wait-for-environment state machine plus a direct invocation of the preflight function; prints the
results as one JSON line. No mock_aws anywhere: every call goes through the server.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time

import boto3
import requests
from moto.server import ThreadedMotoServer
from mwaa_double import MwaaDouble
from mwaa_hibernate_sandbox.moto_patches import patched_moto
from mwaa_hibernate_sandbox.moto_stack import deploy_stack
from mwaa_hibernate_sandbox.template import SamTemplate

ENVIRONMENT = "analytics"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def main() -> None:
    region = os.environ["AWS_DEFAULT_REGION"]
    port = free_port()
    os.environ["MOTO_PORT"] = str(port)  # moto's interpreter sends service integrations here
    endpoint = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        config = requests.post(f"{endpoint}/moto-api/config", json={"stepfunctions": {"execute_state_machine": True}})
        config.raise_for_status()
        double = MwaaDouble()
        with double.installed(), patched_moto():
            double.add_environment(ENVIRONMENT, status=["CREATING", "AVAILABLE"], region=region)
            stack = deploy_stack(
                template=SamTemplate.load(),
                parameter_overrides={"EnvironmentName": ENVIRONMENT},
                region=region,
                endpoint_url=endpoint,
            )
            sfn = boto3.client("stepfunctions", region_name=region, endpoint_url=endpoint)
            arn = sfn.start_execution(
                stateMachineArn=stack.state_machine_arn("wait-for-environment"),
                input=json.dumps(
                    {"environment_name": ENVIRONMENT, "target": "AVAILABLE", "poll_seconds": 60, "timeout_seconds": 600}
                ),
            )["executionArn"]
            deadline = time.monotonic() + 60
            while (described := sfn.describe_execution(executionArn=arn))["status"] == "RUNNING":
                assert time.monotonic() < deadline, "execution still running after 60 s"
                time.sleep(0.05)
            invoked = boto3.client("lambda", region_name=region, endpoint_url=endpoint).invoke(
                FunctionName=stack.function_name("PreflightFunction"),
                Payload=json.dumps(
                    {
                        "flow": "hibernate",
                        "environment_name": ENVIRONMENT,
                        "execution_arn": arn,
                        "started_at": "2026-11-24T19:00:00Z",
                    }
                ),
            )
            print(
                json.dumps(
                    {
                        "status": described["status"],
                        "output": json.loads(described.get("output") or "null"),
                        "preflight": json.loads(invoked["Payload"].read()),
                        "function_error": invoked.get("FunctionError"),
                        "bucket": stack.bucket,
                    }
                )
            )
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
