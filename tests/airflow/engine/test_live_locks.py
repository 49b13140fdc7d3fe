"""What a live environment's readers see while a restore runs in it (the import DAG restores under a running scheduler).

The bulk path drops a large table's indexes and keys and rebuilds them, holding ACCESS EXCLUSIVE locks
until commit: the scheduler and the import task's own heartbeat (`LocalTaskJob` re-reads its
task_instance row) wait for the commit. With a lock budget the restore keeps indexes in place unless it is
predicted to fit, so readers are never blocked. Each case reads task_instance from another connection
while the restore's transaction is still open (from its progress callback) with a short lock_timeout.
"""

from __future__ import annotations

import uuid

import psycopg2
import psycopg2.errors
import pytest
from airflow3_history import insert_row
from conftest import AIRFLOW_MAJOR, query
from mwaa_hibernate_engine import restore as restore_module
from mwaa_hibernate_engine.restore import PREDICTED_ROWS_PER_SECOND, bulk_fits
from snapshot_fixtures import export, new_key_file, restore

pytestmark = pytest.mark.airflow

TASKS = 30
_HISTORY = f"""
INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, fileloc, has_import_errors, max_active_tasks,
                 max_active_runs, has_task_concurrency_limits, max_consecutive_failed_dag_runs)
VALUES ('busy', false, true, false, '/dags/busy.py', false, 16, 16, false, 0);
INSERT INTO dag_run (dag_id, run_id, state, execution_date, run_type, external_trigger, clear_number, log_template_id)
VALUES ('busy', 'scheduled__1', 'success', '2026-01-01 00:00:00+00', 'scheduled', false, 0,
        (SELECT max(id) FROM log_template));
INSERT INTO task_instance (dag_id, task_id, run_id, map_index, state, try_number, max_tries, pool, pool_slots,
                           queue, priority_weight)
SELECT 'busy', 'task_' || t, 'scheduled__1', -1, 'success', 1, 0, 'default_pool', 1, 'default', 1
FROM generate_series(1, {TASKS}) t;
"""


@pytest.fixture(scope="module")
def template(make_airflow) -> str:
    """A database migrated by this venv's Airflow, only ever cloned (one migration for the whole module)."""
    return make_airflow("locks_template").db_url.rsplit("/", 1)[1]


def _clone(pg_cluster, template: str, name: str) -> str:
    if AIRFLOW_MAJOR >= 3:  # as MWAA: used by the non-superuser role Airflow runs as
        return pg_cluster.create_mwaa_database(name, template=template).url
    return pg_cluster.clone_database(template, name)


def _history_airflow3(url: str) -> None:
    insert_row(url, "dag_bundle", {"name": "'dags-folder'"}, conflict="ON CONFLICT DO NOTHING")
    insert_row(url, "dag", {"dag_id": "'busy'", "is_paused": "false", "bundle_name": "'dags-folder'"})
    insert_row(
        url,
        "dag_run",
        {"dag_id": "'busy'", "run_id": "'scheduled__1'", "state": "'success'", "run_after": "now()",
         "run_type": "'scheduled'", "log_template_id": "(SELECT max(id) FROM log_template)"},
    )  # fmt: skip
    for t in range(1, TASKS + 1):
        insert_row(
            url,
            "task_instance",
            {"id": "gen_random_uuid()", "dag_id": "'busy'", "task_id": f"'task_{t}'", "run_id": "'scheduled__1'",
             "map_index": "-1", "state": "'success'", "try_number": "1", "pool": "'default_pool'",
             "pool_slots": "1", "queue": "'default'", "priority_weight": "1"},
        )  # fmt: skip


@pytest.fixture(scope="module")
def snapshot(pg_cluster, template, tmp_path_factory):
    source = _clone(pg_cluster, template, f"locks_source_{uuid.uuid4().hex[:8]}")
    if AIRFLOW_MAJOR >= 3:
        _history_airflow3(source)
    else:
        conn = psycopg2.connect(source.replace("postgresql+psycopg2://", "postgresql://"))
        with conn, conn.cursor() as cur:
            cur.execute(_HISTORY)
        conn.close()
    folder = tmp_path_factory.mktemp("locks")
    cipher = new_key_file(folder)
    export(source, str(folder / "snapshot"), cipher=cipher, fernet_key=None)
    return str(folder / "snapshot"), cipher


@pytest.fixture
def target(pg_cluster, template):
    """A fresh migrated database per case, cloned from a migrated template (a file copy, not a migration)."""
    name = f"locks_target_{uuid.uuid4().hex[:8]}"
    yield _clone(pg_cluster, template, name)
    pg_cluster.drop_database(name)


def _read_while_restoring(url: str, snapshot, monkeypatch, **restore_kwargs) -> list[str]:
    """Restore with every table on the bulk path's size; what a reader of task_instance got mid-restore."""
    uri, cipher = snapshot
    monkeypatch.setattr(restore_module, "BULK_ROWS", 1)
    seen: list[str] = []

    def reader(step: str, table: str, rows: int) -> None:
        if (step, table) != ("insert", "task_instance"):
            return
        conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
        try:
            with conn, conn.cursor() as cur:
                cur.execute("SET lock_timeout = '300ms'")
                cur.execute("SELECT count(*) FROM task_instance WHERE dag_id = 'busy'")
                seen.append(f"read {cur.fetchone()[0]} rows")
        except psycopg2.errors.LockNotAvailable:
            seen.append("blocked")
        finally:
            conn.close()

    restore(url, uri, cipher=cipher, fernet_key=None, progress=reader, **restore_kwargs)
    return seen


def test_offline_bulk_restore_locks_task_instance_until_commit(target, snapshot, monkeypatch) -> None:
    assert _read_while_restoring(target, snapshot, monkeypatch) == ["blocked"]
    assert query(target, "SELECT count(*) FROM task_instance WHERE dag_id = 'busy'") == [(TASKS,)]


def test_with_a_lock_budget_too_short_readers_are_never_blocked(target, snapshot, monkeypatch) -> None:
    # Uncommitted rows are invisible to the reader: it sees the table as it was, without waiting.
    seen = _read_while_restoring(target, snapshot, monkeypatch, lock_budget_seconds=0.0001)

    assert seen == ["read 0 rows"]
    assert query(target, "SELECT count(*) FROM task_instance WHERE dag_id = 'busy'") == [(TASKS,)]


def test_the_budget_admits_the_bulk_path_only_for_restores_predicted_to_fit() -> None:
    assert bulk_fits(10_000_000, None)
    assert bulk_fits(PREDICTED_ROWS_PER_SECOND * 150, 150.0)
    assert not bulk_fits(PREDICTED_ROWS_PER_SECOND * 150 + 1, 150.0)
