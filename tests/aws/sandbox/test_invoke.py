"""`make invoke`: one handler, run in its own process, with the template's environment variables for it,
against a running sandbox, fed the repository's own sample events.

The sandbox here is moto's server with the template deployed (as `make demo` deploys it) and, for MWAA,
a stub that answers GetEnvironment for one AVAILABLE environment (the real stand-in needs a real Airflow;
tests/e2e runs it). The published file is written with the same code the demo uses.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import boto3
import pytest
from moto.server import ThreadedMotoServer
from mwaa_hibernate_sandbox import invoke
from mwaa_hibernate_sandbox.moto_patches import LambdaRouter
from mwaa_hibernate_sandbox.moto_stack import deploy_stack
from mwaa_hibernate_sandbox.postgres import free_port
from mwaa_hibernate_sandbox.template import project_root

ROOT = project_root()
ENVIRONMENT = "invoke-sandbox-env"
REGION = "us-east-1"
# A fresh interpreter imports boto3, Powertools and the layer: slow on a busy 2-core machine.
RUN_TIMEOUT_SECONDS = 180


class _GetEnvironment(BaseHTTPRequestHandler):
    """MWAA's GetEnvironment (REST-JSON) for one AVAILABLE environment; 404 for any other."""

    def do_GET(self) -> None:
        if self.path.rstrip("/") == f"/environments/{ENVIRONMENT}":
            status, body = (
                200,
                {"Environment": {"Name": ENVIRONMENT, "Status": "AVAILABLE", "AirflowVersion": "2.10.3"}},
            )
            headers = {}
        else:
            status, body = 404, {"message": f"Environment {self.path} not found"}
            headers = {"x-amzn-ErrorType": "ResourceNotFoundException"}
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimpleNamespace]:
    port = free_port()
    moto_url = f"http://127.0.0.1:{port}"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    mwaa = ThreadingHTTPServer(("127.0.0.1", 0), _GetEnvironment)
    threading.Thread(target=mwaa.serve_forever, daemon=True).start()
    try:

        def clients(service: str) -> object:
            return boto3.client(
                service, region_name=REGION, endpoint_url=moto_url, aws_access_key_id="t", aws_secret_access_key="t"
            )

        stack = deploy_stack(
            parameter_overrides={"EnvironmentName": ENVIRONMENT},
            region=REGION,
            endpoint_url=moto_url,
            clients=clients,
            router=LambdaRouter(),  # not the process-wide one: nothing here runs through moto's Lambda
        )
        path = tmp_path_factory.mktemp("sandbox") / invoke.RUNNING_FILE_NAME
        running = invoke.RunningSandbox.of_stack(
            stack, moto_url=moto_url, mwaa_url=f"http://127.0.0.1:{mwaa.server_port}"
        )
        running.write(path)
        yield SimpleNamespace(path=path, stack=stack, s3=clients("s3"))
    finally:
        mwaa.shutdown()
        server.stop()


def _invoke_in_a_fresh_process(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """`make invoke` without make: the module in a fresh interpreter, from the checkout, with no AWS variables."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
    return subprocess.run(
        [sys.executable, "-m", "mwaa_hibernate_sandbox.invoke", *map(str, args)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
        check=False,
    )


def _invoke(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """The same entry point in this process (quicker; the handler's variables are set and put back around it)."""
    capsys.readouterr()
    code = invoke.main([str(arg) for arg in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_preflight_decides_on_the_sandbox_environment_with_its_sample_event(sandbox: SimpleNamespace) -> None:
    """The example the README and docs/development.md give, run as `make invoke` runs it."""
    run = _invoke_in_a_fresh_process(
        "--sandbox-file", sandbox.path, "--function", "PreflightFunction", "events/preflight.hibernate.json"
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout)
    # GetEnvironment reached the MWAA endpoint, ListExecutions and S3 reached moto, SNAPSHOT_BUCKET came from the
    # template resolved against the deployment, and the event's environment was the stack's.
    assert result["action"] == "HIBERNATE" and result["environment_status"] == "AVAILABLE"
    assert result["snapshot_uri"] == f"s3://{sandbox.stack.bucket}/{ENVIRONMENT}/snapshots/20261124T190000Z/"
    assert f"-> '{ENVIRONMENT}'" in run.stderr


def test_function_by_handler_name_writes_into_the_sandbox(
    sandbox: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _invoke(
        capsys, "--sandbox-file", sandbox.path, "--function", "record_state", "events/record_state.hibernated.json"
    )
    assert code == 0, err[-3000:]
    assert json.loads(out)["phase"] == "HIBERNATED"
    state = sandbox.s3.get_object(Bucket=sandbox.stack.bucket, Key=f"{ENVIRONMENT}/state.json")
    assert json.loads(state["Body"].read())["phase"] == "HIBERNATED"


def test_the_function_follows_from_the_event_file_name_and_set_changes_a_field(
    sandbox: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _invoke(
        capsys,
        "--sandbox-file",
        sandbox.path,
        "events/notify.hibernate-succeeded.json",
        "--set",
        "kind=warning",
        "--as-is",
    )
    assert code == 0, err[-3000:]
    result = json.loads(out)
    # A warning is always published (to moto's SNS topic, from ALERT_TOPIC_ARN); --as-is kept the sample's name.
    assert result["published"] is True and "my-mwaa-environment" in result["subject"]


def test_a_handler_that_raises_prints_lambdas_error_payload_and_exits_1(
    sandbox: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _invoke(capsys, "--sandbox-file", sandbox.path, "events/verify_snapshot.json")
    assert code == 1, err[-3000:]
    error = json.loads(out)
    assert error["errorType"] == "SnapshotVerificationFailed" and "20261124T190000Z" in error["errorMessage"]


def test_an_unknown_function_lists_the_template_functions(
    sandbox: SimpleNamespace, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _invoke(
        capsys, "--sandbox-file", sandbox.path, "--function", "NoSuchFunction", "events/verify_snapshot.json"
    )
    assert code == 2 and not out and "PreflightFunction (preflight)" in err


def test_without_a_running_sandbox_it_says_how_to_start_one(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / invoke.RUNNING_FILE_NAME
    code, out, err = _invoke(capsys, "--sandbox-file", missing, "events/preflight.hibernate.json")
    assert code == 2 and not out and "No sandbox is running" in err and "make demo DEMO_ARGS=--keep" in err
    invoke.RunningSandbox.from_json({**_published_example(), "pid": 2**30}).write(missing)
    with pytest.raises(invoke.NoSandbox, match=r"has stopped: start one .*make demo DEMO_ARGS=--keep"):
        invoke.find_running(missing)


def test_the_demo_withdraws_only_its_own_file(tmp_path: Path) -> None:
    path = tmp_path / invoke.RUNNING_FILE_NAME
    invoke.RunningSandbox.from_json({**_published_example(), "pid": 2**30}).write(path)
    invoke.withdraw(path)
    assert path.exists()
    invoke.withdraw(path, pid=2**30)
    assert not path.exists()


def _published_example() -> dict[str, object]:
    return {
        "pid": os.getpid(),
        "moto_url": "http://127.0.0.1:9",
        "mwaa_url": None,
        "region": REGION,
        "stack_name": "mwaa-hibernate",
        "parameters": {"EnvironmentName": ENVIRONMENT},
        "physical": {},
        "functions": {},
    }
