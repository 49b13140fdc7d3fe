"""After a failed hibernation, DAGs that were active are unpaused again; the others stay paused."""

from __future__ import annotations

import pytest
from mwaa_hibernate import paused_dags
from mwaa_hibernate.exceptions import PausedStateRestoreFailed

from .conftest import ENVIRONMENT, SNAPSHOT_ID, saved_environment, write_snapshot

BEFORE = {"etl_daily": False, "etl_hourly": False, "old_backfill": True, "reports": False, "scratch": True}


@pytest.fixture(autouse=True)
def environment(aws):
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()


def restore(aws):
    return paused_dags.restore_paused_states(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)


def test_only_the_dags_active_before_the_export_are_unpaused(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)

    result = restore(aws)

    assert aws.mwaa.rest_calls() == [
        ("PATCH", f"/dags/{d}", {"is_paused": False}) for d in ("etl_daily", "etl_hourly", "reports")
    ]
    assert result == {
        "restored": 3,
        "unpaused": ["etl_daily", "etl_hourly", "reports"],
        "kept_paused": 2,
        "note": "Unpaused 3 DAG(s); 2 were paused before and stay paused.",
    }


def test_no_recorded_state_means_nothing_was_paused_and_nothing_is_touched(aws) -> None:
    write_snapshot(aws, complete=False)

    result = restore(aws)

    assert result["restored"] == 0 and "paused nothing" in result["note"]
    assert aws.mwaa.rest_calls() == []


def test_a_dag_deleted_since_is_reported_not_fatal(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)
    aws.mwaa.rest_answers[("PATCH", "/dags/reports")] = (404, {"title": "DAG not found"})

    result = restore(aws)

    assert result["unpaused"] == ["etl_daily", "etl_hourly"]
    assert "Not found any more (deleted from the DAG folder?): reports." in result["note"]


def test_every_dag_is_tried_and_the_ones_left_paused_are_named(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)
    aws.mwaa.rest_answers[("PATCH", "/dags/etl_daily")] = (500, {"detail": "boom"})

    with pytest.raises(
        PausedStateRestoreFailed, match=r"1 DAG\(s\) of my-mwaa-environment are still paused.*etl_daily"
    ):
        restore(aws)
    assert [p for _, p, _ in aws.mwaa.rest_calls()] == ["/dags/etl_daily", "/dags/etl_hourly", "/dags/reports"]


def test_an_environment_already_gone_has_nothing_left_paused(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)
    del aws.mwaa.environments[ENVIRONMENT]

    result = restore(aws)

    assert result["restored"] == 0 and "no longer exists" in result["note"]
    assert aws.mwaa.rest_calls() == []


def test_an_environment_in_the_middle_of_a_change_gets_the_list_to_unpause_later(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)
    aws.mwaa.environments[ENVIRONMENT]["Status"] = "DELETING"

    with pytest.raises(PausedStateRestoreFailed, match=r"is DELETING.*etl_daily, etl_hourly, reports"):
        restore(aws)
    assert aws.mwaa.rest_calls() == []
