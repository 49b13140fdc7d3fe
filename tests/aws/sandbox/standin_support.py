"""Helpers shared by the MWAA stand-in tests (a module of its own so tests can import it by a unique name)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import pytest
from mwaa_hibernate_sandbox.airflow_instance import wait_until

REPOSITORY = Path(__file__).resolve().parents[3]
PROBE_DAG_ID = "standin_probe"
# A DAG with one real task, so a triggered run goes through the scheduler and an executor process.
PROBE_DAG = f'''
import pendulum
from airflow import DAG
from airflow.operators.bash import BashOperator

with DAG("{PROBE_DAG_ID}", schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False):
    BashOperator(task_id="echo", bash_command="echo endpoint=$AWS_ENDPOINT_URL name=$AIRFLOW__WEBSERVER__INSTANCE_NAME")
'''
# What the stand-in hands to Airflow processes (the sandbox gives moto's endpoint); the probe DAG echoes it.
AIRFLOW_ENV = {
    "AWS_ENDPOINT_URL": "http://127.0.0.1:9/moto-stand-in",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
}
# Creating an environment takes about 20 s here (migrate, admin user, web server); allow for a busy machine.
AVAILABLE_TIMEOUT = 240


def airflow_bin_dir() -> Path:
    """The newest Airflow 2 venv (MWAA_HIBERNATE_AIRFLOW_BIN overrides): the stand-in's general behaviour is
    tested there, where an environment starts in seconds; Airflow 3's own in test_mwaa_standin_airflow3.py."""
    configured = os.environ.get("MWAA_HIBERNATE_AIRFLOW_BIN")
    if configured:
        return Path(configured)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    found = sorted((REPOSITORY / ".venvs").glob("airflow-2.*/bin"), key=version)
    if not found:
        pytest.fail(
            "no Airflow venv: run `make env`, or set MWAA_HIBERNATE_AIRFLOW_BIN to an Airflow venv's bin folder"
        )
    return found[-1]


def airflow3_bin_dir() -> Path:
    """The newest Airflow 3 venv (MWAA_HIBERNATE_AIRFLOW3_BIN overrides); the test is skipped without one."""
    configured = os.environ.get("MWAA_HIBERNATE_AIRFLOW3_BIN")
    if configured:
        return Path(configured)

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name))

    found = sorted((REPOSITORY / ".venvs").glob("airflow-3.*/bin"), key=version)
    if not found:
        pytest.skip("no Airflow 3 venv: `make env` builds them")
    return found[-1]


def create_request(**overrides: Any) -> dict[str, Any]:
    """A CreateEnvironment request as the app would send it (every field valid for MWAA)."""
    request: dict[str, Any] = {
        "ExecutionRoleArn": "arn:aws:iam::123456789012:role/mwaa-execution",
        "SourceBucketArn": "arn:aws:s3:::mwaa-dags",
        "DagS3Path": "dags",
        "NetworkConfiguration": {"SubnetIds": ["subnet-0a", "subnet-0b"], "SecurityGroupIds": ["sg-01"]},
    }
    request.update(overrides)
    return request


def wait_for_status(client: Any, name: str, *, leaving: str, timeout: float = AVAILABLE_TIMEOUT) -> dict[str, Any]:
    """Poll GetEnvironment until the status is no longer `leaving`; return the environment."""

    def settled() -> dict[str, Any] | None:
        environment = client.get_environment(Name=name)["Environment"]
        return None if environment["Status"] == leaving else environment

    return wait_until(settled, timeout=timeout, interval=0.5, what=f"{name} to leave {leaving}")


def wait_until_gone(client: Any, name: str, *, timeout: float = 60) -> None:
    def gone() -> bool:
        try:
            client.get_environment(Name=name)
        except client.exceptions.ResourceNotFoundException:
            return True
        return False

    wait_until(gone, timeout=timeout, what=f"{name} to be deleted")
