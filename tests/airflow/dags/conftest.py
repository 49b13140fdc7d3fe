"""Fixtures for the hibernation DAG tests: migrated Airflow databases and a moto server.

The PostgreSQL cluster is the shared `pg_cluster` of tests/airflow/conftest.py. Migrating takes
seconds, cloning a migrated database a fraction of one: the schema is migrated once per session by
this venv's Airflow into a template, and each test (or emulated environment) gets a fresh copy.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import tempfile
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa
from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance
from mwaa_hibernate_sandbox.moto_patches import patched_step_functions
from mwaa_hibernate_sandbox.postgres import PostgresCluster

from .hibernation_support import AWS_TEST_ENV, Moto, clone_migrated

TEMPLATE_DB = "hibernation_dags_template"
# test_hibernation_tasks runs the task callables in this process, which imports Airflow: give it a
# throwaway home and database so it never reads or writes a developer's ~/airflow.
_HOME = tempfile.mkdtemp(prefix="hibernation-dags-airflow-home-")
os.environ["AIRFLOW_HOME"] = _HOME
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{_HOME}/airflow.db"
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    """This venv's bin folder: the Airflow the tests run under is the one whose pytest runs them."""
    return Path(sys.executable).parent


@pytest.fixture(scope="session")
def migrated_template(pg_cluster: PostgresCluster, airflow_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database migrated by this venv's Airflow, used only as a template for `db_engine` and the e2e environments."""
    url = pg_cluster.create_database(TEMPLATE_DB)
    home = tmp_path_factory.mktemp("template-home")
    AirflowInstance(home=home, db_url=url, dags_folder=home / "dags", bin_dir=airflow_bin).migrate()
    return TEMPLATE_DB


@pytest.fixture
def db_engine(pg_cluster: PostgresCluster, migrated_template: str) -> Iterator[sa.engine.Engine]:
    """A fresh, migrated, empty Airflow metadata database."""
    engine = sa.create_engine(clone_migrated(pg_cluster, migrated_template))
    try:
        yield engine
    finally:
        engine.dispose()


# --- moto, as a server: the Airflow processes reach it over HTTP --------------------------------------------


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    """A moto server with Step Functions executing state machines for real (its ASL interpreter on), with the
    sandbox's interpreter fixes (a stopped execution's waiting task ends at once, as on AWS)."""
    from moto.server import ThreadedMotoServer

    port = _free_port()
    with pytest.MonkeyPatch.context() as mp, patched_step_functions():
        for name, value in AWS_TEST_ENV.items():
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        # The interpreter's own service calls (SQS for the task token) go to localhost:$MOTO_PORT.
        mp.setenv("MOTO_PORT", str(port))
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        endpoint = f"http://127.0.0.1:{port}"
        request = urllib.request.Request(
            f"{endpoint}/moto-api/config",
            data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=10):
            pass
        try:
            yield Moto(endpoint=endpoint)
        finally:
            server.stop()
