"""After a failed hibernation, DAGs that were active are unpaused again; the others stay paused.

The fake models Airflow 2's /dags endpoints: GET /dags (paged) and the bulk PATCH /dags, whose dag_id_pattern
selects every DAG whose id contains the pattern (SQL ILIKE, `_` a wildcard).
"""

from __future__ import annotations

import pytest
from mwaa_hibernate import paused_dags
from mwaa_hibernate.exceptions import PausedStateRestoreFailed

from .conftest import ENVIRONMENT, SNAPSHOT_ID, saved_environment, write_snapshot

BEFORE = {"etl_daily": False, "etl_hourly": False, "old_backfill": True, "reports": False, "scratch": True}
# After the export paused them all.
PAUSED = dict.fromkeys(BEFORE, True)


@pytest.fixture(autouse=True)
def environment(aws):
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    aws.mwaa.dags = dict(PAUSED)


def restore(aws, **kw):
    return paused_dags.restore_paused_states(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket, **kw)


def patches(aws) -> list[tuple[str, str | None]]:
    return [
        (p["Path"], (p.get("QueryParameters") or {}).get("dag_id_pattern"))
        for op, p in aws.mwaa.calls
        if op == "InvokeRestApi" and p["Method"] == "PATCH"
    ]


def test_only_the_dags_active_before_the_export_are_unpaused_one_exact_call_each_on_airflow_2(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)

    result = restore(aws)

    assert aws.mwaa.dags == BEFORE
    assert patches(aws) == [("/dags/etl_daily", None), ("/dags/etl_hourly", None), ("/dags/reports", None)]
    assert result == {
        "restored": 3,
        "unpaused": ["etl_daily", "etl_hourly", "reports"],
        "kept_paused": 2,
        "note": "Unpaused 3 DAG(s); 2 were paused before and stay paused.",
    }


def test_a_dag_id_longer_than_an_invoke_rest_api_path_allows_is_unpaused(aws) -> None:
    """Issue 11: /dags/<id> over 64 characters cannot be called; the bulk call carries the id in its query."""
    long_id = "team_data_platform_ingestion_of_the_quarterly_finance_reports_v2"
    write_snapshot(aws, paused={**BEFORE, long_id: False}, complete=False)
    aws.mwaa.dags[long_id] = True

    result = restore(aws)

    assert long_id in result["unpaused"] and aws.mwaa.dags[long_id] is False
    assert aws.mwaa.dags["old_backfill"] is True


def test_a_pattern_that_would_also_unpause_a_dag_paused_on_purpose_is_not_used(aws) -> None:
    """`etl_daily` as a pattern also selects `etl_daily_backfill` (paused before): one DAG at a time then."""
    write_snapshot(aws, paused={**BEFORE, "etl_daily_backfill": True}, complete=False)
    aws.mwaa.dags["etl_daily_backfill"] = True

    restore(aws)

    assert ("/dags/etl_daily", None) in patches(aws)
    assert aws.mwaa.dags["etl_daily_backfill"] is True and aws.mwaa.dags["etl_daily"] is False


def test_no_recorded_state_means_nothing_was_paused_and_nothing_is_touched(aws) -> None:
    write_snapshot(aws, complete=False)

    result = restore(aws)

    assert result["restored"] == 0 and "paused nothing" in result["note"]
    assert aws.mwaa.rest_calls() == []


def test_a_dag_deleted_since_is_reported_not_fatal(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)
    del aws.mwaa.dags["reports"]

    result = restore(aws)

    assert result["unpaused"] == ["etl_daily", "etl_hourly"]
    assert "Not found any more (deleted from the DAG folder?): reports." in result["note"]


def test_every_dag_is_tried_and_the_ones_left_paused_are_named(aws, monkeypatch) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)
    real = aws.mwaa._dags_api

    def fail_one(method, path, query, params):
        if method == "PATCH" and path == "/dags/etl_daily":
            return 500, {"detail": "boom"}
        return real(method, path, query, params)

    monkeypatch.setattr(aws.mwaa, "_dags_api", fail_one)

    with pytest.raises(
        PausedStateRestoreFailed, match=r"1 DAG\(s\) of my-mwaa-environment are still paused.*etl_daily"
    ):
        restore(aws)
    assert aws.mwaa.dags["etl_hourly"] is False and aws.mwaa.dags["reports"] is False


def test_a_function_about_to_time_out_names_every_dag_still_paused(aws) -> None:
    write_snapshot(aws, paused=BEFORE, complete=False)

    with pytest.raises(PausedStateRestoreFailed, match=r"3 DAG\(s\).*etl_daily, etl_hourly, reports.*out of time"):
        restore(aws, time_left=lambda: 5.0)


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
