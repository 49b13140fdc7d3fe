"""Fixtures for the MWAA stand-in tests: one stand-in per session, on the newest Airflow 2 venv.

These tests run in the dev venv and spawn real Airflow from an Airflow venv: its bin folder comes
from MWAA_HIBERNATE_AIRFLOW_BIN, or is the newest `.venvs/airflow-2.*/bin` of this repository. What the
stand-in does on Airflow 3 is tested in test_mwaa_standin_airflow3.py, on the newest Airflow 3.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from mwaa_hibernate_sandbox.mwaa_standin import MwaaStandIn, mwaa_client
from standin_support import AIRFLOW_ENV, PROBE_DAG, PROBE_DAG_ID, airflow_bin_dir


@pytest.fixture(scope="session")
def standin(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MwaaStandIn]:
    extra = tmp_path_factory.mktemp("extra-dags")
    (extra / f"{PROBE_DAG_ID}.py").write_text(PROBE_DAG)
    with MwaaStandIn(
        airflow_bin=airflow_bin_dir(),
        state_dir=tmp_path_factory.mktemp("standin"),
        extra_dags=(extra,),
        airflow_env=AIRFLOW_ENV,
    ) as running:
        yield running


@pytest.fixture(scope="session")
def mwaa(standin: MwaaStandIn) -> Any:
    return mwaa_client(standin.endpoint_url)
