"""Unpausing exactly the DAGs that were active before a failed hibernation, in bulk where that is safe.

The fake REST API has each Airflow version's real semantics (tests/aws/unit/airflow_rest_fake.py): substring
patterns with `_` and `%` wildcards, one page per PATCH on 3.0.6 and 3.2.1. Invariant 2 (docs/design.md):
every DAG that was active is active again, and no DAG its team paused is unpaused.
"""

from __future__ import annotations

import pytest
from mwaa_hibernate import bulk_pause
from mwaa_hibernate.airflow_api import AirflowApi
from mwaa_hibernate.restapi import PACER

from .airflow_rest_fake import FakeAirflowDags
from .conftest import ENVIRONMENT


@pytest.fixture(autouse=True)
def _no_pacing(monkeypatch):
    monkeypatch.setattr(PACER, "sleep", lambda seconds: None)


def api_for(aws, fake: FakeAirflowDags) -> AirflowApi:
    aws.mwaa.rest_handler = fake.handle
    return AirflowApi(ENVIRONMENT, fake.version, mwaa=aws.mwaa)


@pytest.mark.parametrize(
    ("pattern", "dag_id", "matched"),
    [
        ("sales_", "sales_etl", True),
        ("sales_", "SALES-etl", True),  # ILIKE is case-insensitive and `_` is any one character
        ("sales_", "presales_x", True),  # a substring, not a prefix
        ("sales_", "sales", False),
        ("a%c", "abbbc", True),
    ],
)
def test_patterns_match_as_airflow_matches_them(pattern, dag_id, matched) -> None:
    assert bulk_pause.matches(pattern, dag_id) is matched


def test_a_pattern_never_covers_a_dag_outside_the_set() -> None:
    todo = ["sales_a", "sales_b", "sales_c", "ops_x", "ops_y", "lone"]
    others = ["old_sales_archive", "ops-z"]  # "sales_" is inside the first; "ops_" matches "ops-z" ("_" wildcard)
    groups, rest = bulk_pause.plan(todo, others)
    for pattern, members in groups:
        assert not any(bulk_pause.matches(pattern, other) for other in others), pattern
        assert all(bulk_pause.matches(pattern, member) for member in members)
    covered = [m for _, members in groups for m in members]
    assert sorted(covered + rest) == sorted(todo)
    assert {"ops_x", "ops_y", "lone"} <= set(rest)


@pytest.mark.parametrize("version", ["3.0.6", "3.2.1", "3.3.1"])
def test_hundreds_of_dags_come_back_in_a_few_calls_and_paused_ones_stay_paused(aws, version) -> None:
    dags = {f"team_etl_{i:03}": True for i in range(240)}  # paused by the export
    dags |= {"team_legacy": True, "archive_team_etl_old": True}  # paused by their team before: stay paused
    fake = FakeAirflowDags(version, dags)
    active = [f"team_etl_{i:03}" for i in range(240)]

    report = bulk_pause.unpause_exactly(api_for(aws, fake), active)

    assert sorted(report.unpaused) == active and not report.failed and not report.missing
    assert fake.dags["team_legacy"] is True and fake.dags["archive_team_etl_old"] is True
    assert all(fake.dags[d] is False for d in active)
    assert report.calls <= 12, report.calls  # one call per DAG would be 240


def test_airflow_2_keeps_one_exact_call_per_dag(aws) -> None:
    aws.mwaa.rest_answers = {}
    api = AirflowApi(ENVIRONMENT, "2.11.2", mwaa=aws.mwaa)

    report = bulk_pause.unpause_exactly(api, ["a_one", "a_two"])

    assert [(m, p, b) for m, p, b in aws.mwaa.rest_calls()] == [
        ("PATCH", "/dags/a_one", {"is_paused": False}),
        ("PATCH", "/dags/a_two", {"is_paused": False}),
    ]
    assert report.unpaused == ["a_one", "a_two"]


def test_missing_stale_and_already_active_dags(aws) -> None:
    fake = FakeAirflowDags("3.3.1", {"etl_a": True, "etl_b": False, "gone_c": True}, stale={"gone_c"})

    report = bulk_pause.unpause_exactly(api_for(aws, fake), ["etl_a", "etl_b", "gone_c", "deleted_d"])

    assert report.missing == ["deleted_d"]
    assert sorted(report.unpaused) == ["etl_a", "etl_b", "gone_c"]
    assert fake.dags == {"etl_a": False, "etl_b": False, "gone_c": False}


def test_a_dag_that_appears_meanwhile_and_is_caught_by_a_pattern_is_paused_again(aws) -> None:
    fake = FakeAirflowDags("3.3.1", {"etl_a": True, "etl_b": True, "etl_c": True})
    original = fake.handle

    def handle(method, path, query, body):
        if method == "PATCH" and path == "/dags" and "etl_new" not in fake.dags:
            fake.dags["etl_new"] = True  # parsed between the listing and the bulk call, paused at creation
        return original(method, path, query, body)

    aws.mwaa.rest_handler = handle
    report = bulk_pause.unpause_exactly(AirflowApi(ENVIRONMENT, "3.3.1", mwaa=aws.mwaa), ["etl_a", "etl_b", "etl_c"])

    assert report.repaused == ["etl_new"] and fake.dags["etl_new"] is True
    assert sorted(report.unpaused) == ["etl_a", "etl_b", "etl_c"]
