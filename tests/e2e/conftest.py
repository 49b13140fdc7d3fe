"""One sandbox per test module: moto with the template deployed, the MWAA stand-in on real Airflow, seeded.

Run in the dev venv; the Airflow comes from MWAA_HIBERNATE_AIRFLOW_BIN (an Airflow venv's bin folder),
else the newest `.venvs/airflow-*`. Nothing of the application is replaced: the state machines run in
moto, the handlers in-process, the DAGs on the environment's scheduler. Only AWS is emulated.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from mwaa_hibernate_sandbox import seed
from mwaa_hibernate_sandbox.demo import DemoError, airflow_bin_for
from mwaa_hibernate_sandbox.sandbox import Sandbox


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    try:
        return airflow_bin_for(None)
    except DemoError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def sandbox(airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # moto's server logs every request at INFO
    with Sandbox(airflow_bin=airflow_bin, state_dir=tmp_path_factory.mktemp("sandbox")) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(sandbox: Sandbox) -> seed.SeedReport:
    """The environment, created through MWAA and filled through Airflow's REST API."""
    seed.create_environment(sandbox.client("mwaa"), sandbox.environment_name)
    return seed.seed_history(sandbox.client("mwaa"), sandbox.environment_name)
