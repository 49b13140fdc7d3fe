"""Where no PostgreSQL server can be started, environments run on SQLite files: still a real Airflow.

The module also checks that an environment whose web server port is taken moves to another port,
and that stopping the stand-in (rather than deleting the environment) leaves nothing behind.
"""

from __future__ import annotations

import os
import socket
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
from mwaa_hibernate_sandbox.airflow_instance import wait_until
from mwaa_hibernate_sandbox.mwaa_standin import MwaaStandIn, environment_details, mwaa_client
from standin_support import PROBE_DAG, PROBE_DAG_ID, airflow_bin_dir, create_request, wait_for_status


def test_sqlite_environment_runs_and_stopping_the_standin_leaves_nothing(tmp_path: Path) -> None:
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / f"{PROBE_DAG_ID}.py").write_text(PROBE_DAG)
    # Only the probe DAG: this module is about the database and the processes, not the repository's DAGs.
    standin = MwaaStandIn(
        airflow_bin=airflow_bin_dir(), state_dir=tmp_path / "state", dags_folder=dags, database="sqlite"
    )
    standin.start()
    try:
        mwaa: Any = mwaa_client(standin.endpoint_url)
        mwaa.create_environment(Name="on-sqlite", **create_request())
        # Another process takes the web server's port before Airflow binds it (it happens on a shared machine).
        planned = urllib.parse.urlsplit(mwaa.get_environment(Name="on-sqlite")["Environment"]["WebserverUrl"]).port
        with socket.socket() as squatter:
            squatter.bind(("127.0.0.1", planned))
            squatter.listen()
            environment = wait_for_status(mwaa, "on-sqlite", leaving="CREATING")
        assert environment["Status"] == "AVAILABLE", environment["LastUpdate"]
        assert urllib.parse.urlsplit(environment["WebserverUrl"]).port != planned

        details = environment_details(standin.endpoint_url, "on-sqlite")
        assert details["DatabaseKind"] == "sqlite" and details["DatabaseUrl"].startswith("sqlite:///")
        database_file = Path(details["DatabaseUrl"].removeprefix("sqlite:///"))
        assert database_file.stat().st_size > 0

        def listed() -> bool:
            dags = mwaa.invoke_rest_api(Name="on-sqlite", Path="/dags", Method="GET")["RestApiResponse"]["dags"]
            return [dag["dag_id"] for dag in dags] == [PROBE_DAG_ID]

        wait_until(listed, timeout=90, what="the probe DAG to be parsed")
        groups = [proc.pid for proc in standin.service._environments["on-sqlite"].instance._procs.values()]
    finally:
        standin.stop()

    assert groups, "the scheduler and the web server were running"
    for group in groups:
        with pytest.raises(ProcessLookupError):
            os.killpg(group, 0)
    assert not database_file.exists()
    assert not Path(details["AirflowHome"]).exists()
