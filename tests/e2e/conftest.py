"""One sandbox per test module: moto with the template deployed, the MWAA stand-in on real Airflow, seeded.

Run in the dev venv; the Airflow comes from MWAA_HIBERNATE_AIRFLOW_BIN (an Airflow venv's bin folder),
else the newest `.venvs/airflow-*`. Nothing of the application is replaced: the state machines run in
moto, the handlers in-process, the DAGs on the environment's scheduler. Only AWS is emulated.

On Airflow 3, MWAA_HIBERNATE_CARRIER chooses what the suite proves: `task` (the default: the workers carry
the database credentials, the probe picks the task carrier) or `api-server` (the stand-in strips the
credentials from workers, as AWS may; `install-dags` then finds the task carrier unusable, installs the
plugin into plugins.zip and updates the environment, and the probe picks the plugin). Either way the
environment is set up with `mwaa-hibernate install-dags`, as a user would.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from mwaa_hibernate_cli import app
from mwaa_hibernate_sandbox import seed
from mwaa_hibernate_sandbox.demo import DemoError, airflow_bin_for
from mwaa_hibernate_sandbox.sandbox import Sandbox
from mwaa_hibernate_snapshot.carrier import API_SERVER, IN_PROCESS, TASK
from typer.testing import CliRunner

CARRIER_VARIABLE = "MWAA_HIBERNATE_CARRIER"


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    try:
        return airflow_bin_for(None)
    except DemoError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="session")
def carrier(airflow_bin: Path) -> str:
    """The carrier this run proves: in-process on Airflow 2; task or api-server on Airflow 3."""
    version = airflow_bin.parent.name.removeprefix("airflow-")
    wanted = os.environ.get(CARRIER_VARIABLE) or TASK
    if not version.startswith("3."):
        return IN_PROCESS
    if wanted not in (TASK, API_SERVER):
        pytest.fail(f"{CARRIER_VARIABLE} must be {TASK} or {API_SERVER}, not {wanted!r}")
    return wanted


@pytest.fixture(scope="module")
def sandbox(airflow_bin: Path, carrier: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
    with Sandbox(
        airflow_bin=airflow_bin,
        state_dir=tmp_path_factory.mktemp("sandbox"),
        strip_worker_credentials=carrier == API_SERVER,
        keep_deleted_homes=True,  # every log of every environment stays readable (the secret searches)
    ) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox, carrier: str) -> seed.SeedReport:
    """The environment, created through MWAA, set up with install-dags, filled through Airflow's REST API."""
    seed.create_environment(sandbox.client("mwaa"), sandbox.environment_name, s3=sandbox.client("s3"))
    if carrier != IN_PROCESS:
        installed = install_dags(sandbox)
        assert installed["carrier"] == carrier, installed
    return seed.seed_history(sandbox.client("mwaa"), sandbox.environment_name)


def install_dags(sandbox: Sandbox) -> dict:
    """`mwaa-hibernate install-dags --environment <env> --json` against the sandbox; its JSON document."""
    result = CliRunner().invoke(
        app, ["install-dags", "--environment", sandbox.environment_name, "--region", sandbox.region, "--json"]
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)
