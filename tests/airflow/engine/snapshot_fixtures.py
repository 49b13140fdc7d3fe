"""Building blocks of the engine tests: simulating the export DAG's steps around the engine."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import mwaa_hibernate_engine as engine_api
from mwaa_hibernate_snapshot import KeyFileCipher, Manifest, open_store, write_paused_state
from sqlalchemy import create_engine

# An unfinished run of the export DAG (the one doing the export) and a finished earlier one.
INFLIGHT_RUN_ID = "manual__inflight_export_run"
FINISHED_RUN_ID = "manual__finished_export_run"

_HIBERNATION_ROWS = f"""
INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, fileloc, has_import_errors, max_active_tasks,
                 max_active_runs, has_task_concurrency_limits, max_consecutive_failed_dag_runs)
VALUES ('mwaa_hibernate_export', false, true, false, '/dags/mwaa_hibernate_export.py', false, 16, 1, false, 0);
INSERT INTO dag_run (dag_id, run_id, state, execution_date, run_type, external_trigger, clear_number, log_template_id)
VALUES ('mwaa_hibernate_export', '{INFLIGHT_RUN_ID}', 'running', '2026-11-24 19:00:00+00', 'manual', true, 0,
        (SELECT max(id) FROM log_template)),
       ('mwaa_hibernate_export', '{FINISHED_RUN_ID}', 'success', '2026-11-23 19:00:00+00', 'manual', true, 0,
        (SELECT max(id) FROM log_template));
INSERT INTO task_instance (dag_id, task_id, run_id, map_index, state, try_number, max_tries, pool, pool_slots,
                           queue, priority_weight)
VALUES ('mwaa_hibernate_export', 'export', '{INFLIGHT_RUN_ID}', -1, 'running', 1, 0, 'default_pool', 1, 'default', 1),
       ('mwaa_hibernate_export', 'export', '{FINISHED_RUN_ID}', -1, 'success', 1, 0, 'default_pool', 1, 'default', 1);
INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
SELECT id, 'export', -1, 'progress', dag_id, run_id, '\\x7b7d', now()
FROM dag_run WHERE dag_id = 'mwaa_hibernate_export';
"""


def add_hibernation_runs(url: str) -> None:
    """What the source has while the export DAG runs: its own in-flight run (and an earlier finished one)."""
    from sqlalchemy import inspect, text

    engine = create_engine(url)
    airflow3 = inspect(engine).has_table("dag_version")
    engine.dispose()
    if airflow3:
        from airflow3_history import hibernation_rows_airflow3

        hibernation_rows_airflow3(url, INFLIGHT_RUN_ID, FINISHED_RUN_ID)
        return
    sql = _HIBERNATION_ROWS
    if url.startswith("sqlite"):  # values as SQLAlchemy stores them there: naive UTC text, blobs
        sql = sql.replace("+00'", ".000000'").replace("'\\x7b7d', now()", "X'7b7d', '2026-11-24 19:00:00.000000'")
    engine = create_engine(url)
    with engine.begin() as conn:
        for statement in filter(str.strip, sql.split(";")):
            conn.execute(text(statement))
    engine.dispose()


def pause_all_like_the_export_dag(url: str, store_uri: str) -> dict[str, bool]:
    """Record every DAG's paused state into the snapshot folder, then pause them all (but the export DAG)."""
    from sqlalchemy import text

    eng = create_engine(url)
    with eng.begin() as conn:
        rows = conn.execute(text("SELECT dag_id, is_paused FROM dag WHERE dag_id NOT LIKE 'mwaa_hibernate_%'"))
        states = {dag_id: paused for dag_id, paused in rows}
        write_paused_state(open_store(store_uri), states)
        conn.execute(text("UPDATE dag SET is_paused = true WHERE dag_id NOT LIKE 'mwaa_hibernate_%'"))
    eng.dispose()
    return states


@contextlib.contextmanager
def recording_staged_tables() -> Iterator[list[str]]:
    """The tables a restore loads through a staging table; the others went straight into the live table."""
    import pytest
    from mwaa_hibernate_engine import restore as restore_module

    staged: list[str] = []
    real = restore_module._stage

    def spy(session, store, entry, table, *args):
        staged.append(table.name)
        return real(session, store, entry, table, *args)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(restore_module, "_stage", spy)
        yield staged


def new_key_file(folder: Path) -> KeyFileCipher:
    return KeyFileCipher(KeyFileCipher.generate(folder / "snapshot.key"))


def export(url: str, store_uri: str, *, cipher, fernet_key: str | None) -> Manifest:
    eng = create_engine(url)
    try:
        return engine_api.export_snapshot(
            engine=eng, store=open_store(store_uri), cipher=cipher, source_fernet=fernet_key
        )
    finally:
        eng.dispose()


def restore(url: str, store_uri: str, *, cipher, fernet_key: str | None, progress=None, **options):
    eng = create_engine(url)
    try:
        kwargs = {"progress": progress} if progress else {}
        return engine_api.restore_snapshot(
            engine=eng, store=open_store(store_uri), cipher=cipher, target_fernet=fernet_key, **kwargs, **options
        )
    finally:
        eng.dispose()


def read_secrets(instance, variable_keys, *, connections=("seed_pg", "seed_http", "seed_nulls")) -> dict:
    """Variables, connections and trigger kwargs as Airflow itself reads them (decrypting with its key)."""
    import json

    out = instance.python(
        "import json\n"
        "from airflow.models import Connection, Trigger, Variable\n"
        "from airflow.utils.session import create_session\n"
        f"keys = {sorted(variable_keys)!r}\n"
        "conns = {}\n"
        f"for cid in {tuple(connections)!r}:\n"
        "    c = Connection.get_connection_from_secrets(cid)\n"
        "    conns[cid] = {'password': c.password, 'extra': c.extra, 'login': c.login, 'description': c.description}\n"
        "with create_session() as s:\n"
        "    kwargs = sorted(json.dumps(t.kwargs, sort_keys=True, default=str) for t in s.query(Trigger))\n"
        "print(json.dumps({'vars': {k: Variable.get(k) for k in keys}, 'conns': conns, 'kwargs': kwargs}))\n"
    )
    return json.loads(out.stdout.strip().splitlines()[-1])
