"""Where no PostgreSQL server can be started, environments run on SQLite files: still a real Airflow.

The module also checks that an environment whose web server port is taken moves to another port.
"""

from __future__ import annotations

import socket
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from mwaa_hibernate_sandbox.airflow_instance import wait_until
from mwaa_hibernate_sandbox.mwaa_standin import MwaaStandIn, environment_details, mwaa_client
from standin_support import PROBE_DAG, PROBE_DAG_ID, airflow_bin_dir, create_request, wait_for_status, wait_until_gone


@pytest.fixture(scope="module")
def sqlite_standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MwaaStandIn]:
    extra = tmp_path_factory.mktemp("sqlite-extra-dags")
    (extra / f"{PROBE_DAG_ID}.py").write_text(PROBE_DAG)
    with MwaaStandIn(
        airflow_bin=airflow_bin_dir(),
        state_dir=tmp_path_factory.mktemp("sqlite-standin"),
        dags_folder=extra,  # only the probe DAG: this module is about the database, not the repository's DAGs
        database="sqlite",
    ) as running:
        yield running


def test_sqlite_environment_is_created_used_and_deleted(sqlite_standin: MwaaStandIn) -> None:
    mwaa: Any = mwaa_client(sqlite_standin.endpoint_url)
    mwaa.create_environment(Name="on-sqlite", **create_request())
    # Another process takes the web server's port before Airflow binds it (it happens on a shared machine).
    planned = urllib.parse.urlsplit(mwaa.get_environment(Name="on-sqlite")["Environment"]["WebserverUrl"]).port
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", planned))
        squatter.listen()
        environment = wait_for_status(mwaa, "on-sqlite", leaving="CREATING")
    assert environment["Status"] == "AVAILABLE", environment["LastUpdate"]
    assert urllib.parse.urlsplit(environment["WebserverUrl"]).port != planned

    details = environment_details(sqlite_standin.endpoint_url, "on-sqlite")
    assert details["DatabaseKind"] == "sqlite" and details["DatabaseUrl"].startswith("sqlite:///")
    database_file = Path(details["DatabaseUrl"].removeprefix("sqlite:///"))
    assert database_file.stat().st_size > 0

    def listed() -> bool:
        dags = mwaa.invoke_rest_api(Name="on-sqlite", Path="/dags", Method="GET")["RestApiResponse"]["dags"]
        return [dag["dag_id"] for dag in dags] == [PROBE_DAG_ID]

    wait_until(listed, timeout=90, what="the probe DAG to be parsed")

    mwaa.delete_environment(Name="on-sqlite")
    wait_until_gone(mwaa, "on-sqlite")
    assert not database_file.exists()
