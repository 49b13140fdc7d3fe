"""Recording, pausing and restoring paused states on a real migrated Airflow database."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mwaa_hibernate_runtime.pausing import apply_paused_states, pause_all_dags, record_paused_states
from mwaa_hibernate_snapshot import open_store, read_paused_state
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID, IMPORT_DAG_ID

from .hibernation_support import add_dag, backend, paused_states

ORIGINAL = {
    "etl_daily": False,
    "etl_hourly": False,
    "quarterly_report": True,
    "legacy_import": True,
    # The first active DAG in sorted order: the one the start-stop sample lost every cycle.
    "a_first_active": False,
    EXPORT_DAG_ID: False,
    IMPORT_DAG_ID: True,
}


@pytest.fixture
def seeded(db_engine):
    with db_engine.begin() as conn:
        for dag_id, paused in ORIGINAL.items():
            add_dag(conn, dag_id, paused=paused)
    return db_engine


def test_record_writes_every_dags_paused_state_before_anything_changes(seeded, tmp_path):
    store = open_store(tmp_path / "snap")

    recorded = record_paused_states(backend=backend(seeded), store=store)

    assert recorded == ORIGINAL
    assert read_paused_state(store) == ORIGINAL
    assert json.loads((tmp_path / "snap" / "dag_paused_state.json").read_bytes())["dags"] == ORIGINAL
    assert paused_states(seeded) == ORIGINAL


def test_pause_pauses_every_active_dag_except_the_hibernation_dags(seeded):
    paused_now = pause_all_dags(backend=backend(seeded))

    assert paused_now == ["a_first_active", "etl_daily", "etl_hourly"]
    after = paused_states(seeded)
    assert after[EXPORT_DAG_ID] is False, "the running export DAG must stay unpaused or its run stops"
    assert after[IMPORT_DAG_ID] is True
    assert all(after[d] for d in ORIGINAL if d not in (EXPORT_DAG_ID, IMPORT_DAG_ID))


def test_record_pause_restore_brings_back_every_state_exactly(seeded, tmp_path):
    store = open_store(tmp_path / "snap")
    record_paused_states(backend=backend(seeded), store=store)
    pause_all_dags(backend=backend(seeded))

    changes = apply_paused_states(backend=backend(seeded), record=read_paused_state(store))

    assert paused_states(seeded) == ORIGINAL
    assert changes.unpaused == ["a_first_active", "etl_daily", "etl_hourly"]
    assert changes.paused == [] and changes.missing == []


def test_a_second_record_for_the_same_snapshot_keeps_the_first_one(seeded, tmp_path):
    """A rerun after a crash must not record the paused states the first attempt left behind."""
    store = open_store(tmp_path / "snap")
    record_paused_states(backend=backend(seeded), store=store)
    pause_all_dags(backend=backend(seeded))

    again = record_paused_states(backend=backend(seeded), store=store)

    assert again == ORIGINAL
    assert read_paused_state(store) == ORIGINAL


def test_restore_never_touches_the_hibernation_dags_and_reports_dags_that_are_gone(seeded):
    record = {**ORIGINAL, EXPORT_DAG_ID: True, IMPORT_DAG_ID: False, "deleted_since": False}

    changes = apply_paused_states(backend=backend(seeded), record=record)

    after = paused_states(seeded)
    assert (after[EXPORT_DAG_ID], after[IMPORT_DAG_ID]) == (False, True)
    assert changes.missing == ["deleted_since"]
    assert "deleted_since" not in after


def test_dags_that_appeared_after_the_record_keep_their_state(seeded):
    with seeded.begin() as conn:
        add_dag(conn, "new_since_record", paused=True)

    apply_paused_states(backend=backend(seeded), record=ORIGINAL)

    assert paused_states(seeded)["new_since_record"] is True


dag_ids = st.from_regex(r"[a-z][a-z0-9_.-]{0,40}", fullmatch=True).filter(
    lambda d: d not in (EXPORT_DAG_ID, IMPORT_DAG_ID)
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(original=st.dictionaries(dag_ids, st.booleans(), min_size=1, max_size=40))
def test_any_mix_of_paused_and_active_dags_round_trips_exactly(db_engine, original):
    with db_engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM dag")
        for dag_id, paused in original.items():
            add_dag(conn, dag_id, paused=paused)
    recorded = backend(db_engine).dag_paused_states()

    pause_all_dags(backend=backend(db_engine))
    assert all(paused_states(db_engine).values())
    apply_paused_states(backend=backend(db_engine), record=json.loads(json.dumps(recorded)))

    assert paused_states(db_engine) == original
