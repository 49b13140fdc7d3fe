"""The version table and guard, and the REST dialect each Airflow major gets (docs/contracts.md, "Carriers")."""

from __future__ import annotations

import pytest
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate_snapshot import versions

from .conftest import ENVIRONMENT


@pytest.mark.parametrize(
    ("version", "supported"),
    [
        ("2.7.2", True),
        ("2.10.3", True),
        ("2.11.2", True),
        ("2.6.3", False),
        ("3.0.6", True),
        ("3.2.1", True),
        ("3.3.1", True),
        ("3.1.6", False),  # never on MWAA, never tested
        ("3.3.2", False),  # a patch release the app has not been tested on is refused, not attempted
        ("", False),
        ("banana", False),
    ],
)
def test_the_version_table(version, supported) -> None:
    assert versions.supported(version) is supported
    assert (versions.refusal(version, "env") is None) is supported


def test_a_snapshot_restores_only_into_its_own_version() -> None:
    assert versions.mismatch("3.2.1", "3.2.1", "env") is None
    assert versions.mismatch(None, "3.2.1", "env") is None  # an older snapshot: the engine's revision check decides
    refused = versions.mismatch("3.2.1", "3.3.1", "env")
    assert "taken on Airflow 3.2.1" in refused and "runs Airflow 3.3.1" in refused and "Nothing was imported" in refused


@pytest.mark.parametrize(("version", "logical_date"), [("2.11.2", False), ("3.0.6", True), ("3.3.1", True)])
def test_a_trigger_carries_logical_date_only_on_airflow_3(aws, version, logical_date) -> None:
    aws.mwaa.rest_answers[("POST", "/dags/d/dagRuns")] = (200, {"dag_run_id": "r", "state": "queued"})
    AirflowApi(ENVIRONMENT, version, mwaa=aws.mwaa).trigger("d", {"k": 1})
    (_, _, body) = aws.mwaa.rest_calls()[-1]
    assert body["conf"] == {"k": 1}
    assert ("logical_date" in body) is logical_date and body.get("logical_date") is None


def test_v2_dags_say_stale_where_v1_said_active(aws) -> None:
    aws.mwaa.rest_answers[("GET", "/dags/a")] = (200, {"dag_id": "a", "is_paused": True, "is_stale": True})
    assert AirflowApi(ENVIRONMENT, "3.2.1", mwaa=aws.mwaa).get_dag("a").active is False
    aws.mwaa.rest_answers[("GET", "/dags/a")] = (200, {"dag_id": "a", "is_paused": False, "is_active": True})
    assert AirflowApi(ENVIRONMENT, "2.10.3", mwaa=aws.mwaa).get_dag("a").active is True
