"""Benchmark of the snapshot engine against PostgreSQL's own COPY (not a test; figures go into docs/performance.md).

Fills a database migrated by real Airflow with N task instances (with their DAG runs, XComs and audit
log lines), then measures rows per second and peak memory (RSS) of:

1. raw `COPY (SELECT ...) TO STDOUT` of the same tables into a counting sink: the limit for export;
2. our export (`export_snapshot`) into a local folder: gzip, checksums, secrets, manifest;
3. plain `COPY ... FROM STDIN` of the same files into the live, indexed tables of a fresh migrated
   database: what a naive restore does;
4. our restore (`restore_snapshot`) into a fresh migrated database (staging, key shifts, one transaction),
   where nothing needs shifting, so history goes straight into the live tables;
5. our restore into a database holding what a new MWAA environment holds when the import DAG runs (its
   scheduler's job, the import run, a log line): every key shifts, as on a real wake.

Each measured step runs in a forked child so its peak RSS is its own. Run it from an Airflow venv (`make
bench` uses the newest in AIRFLOW_VERSIONS, or BENCH_AIRFLOW):

    .venvs/airflow-2.11.2/bin/python bench/snapshot_bench.py --task-instances 200000

On Airflow 3 the history has the same shape in Airflow 3's schema: task instances with UUID keys pointing at
their DAG's version, JSON XComs and run conf; each DAG has one version (`dag_version`, which the restore
renumbers around the wake target's own) and its bundle.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Shape of the generated history: runs are spread over DAGS DAGs, each run has TASKS_PER_RUN task
# instances; every run gets XCOMS_PER_RUN XComs; one audit-log line per two task instances.
DAGS = 20
TASKS_PER_RUN = 10
XCOMS_PER_RUN = 5

FILL_SQL = """
INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, fileloc, has_import_errors, max_active_tasks,
                 max_active_runs, has_task_concurrency_limits, max_consecutive_failed_dag_runs)
SELECT 'bench_dag_' || d, false, true, false, '/dags/bench_' || d || '.py', false, 16, 16, false, 0
FROM generate_series(1, {dags}) d;

INSERT INTO dag_run (dag_id, run_id, state, execution_date, start_date, end_date, run_type, external_trigger,
                     clear_number, log_template_id, data_interval_start, data_interval_end, queued_at, updated_at)
SELECT 'bench_dag_' || (r % {dags} + 1), 'scheduled__' || r, 'success',
       timestamptz '2025-01-01' + r * interval '1 minute', timestamptz '2025-01-01' + r * interval '1 minute',
       timestamptz '2025-01-01' + r * interval '1 minute' + interval '42 seconds', 'scheduled', false, 0,
       (SELECT max(id) FROM log_template), timestamptz '2024-12-31' + r * interval '1 minute',
       timestamptz '2025-01-01' + r * interval '1 minute', timestamptz '2025-01-01' + r * interval '1 minute',
       timestamptz '2025-01-01' + r * interval '1 minute' + interval '42 seconds'
FROM generate_series(1, {runs}) r;

INSERT INTO task_instance (task_id, dag_id, run_id, map_index, start_date, end_date, duration, state, try_number,
                           max_tries, hostname, unixname, pool, pool_slots, queue, priority_weight, operator,
                           queued_dttm, pid, executor, executor_config, updated_at, custom_operator_name)
SELECT 'task_' || t, dr.dag_id, dr.run_id, -1, dr.start_date + t * interval '1 second', dr.end_date,
       1.5 + t, CASE WHEN t = 7 AND dr.id % 13 = 0 THEN 'failed' ELSE 'success' END, 1, 1,
       'ip-10-0-1-' || (dr.id % 200) || '.ec2.internal', 'airflow', 'default_pool', 1, 'default', t,
       'PythonOperator', dr.start_date, 10000 + t, 'CeleryExecutor', '\\x80047d942e'::bytea, dr.end_date, '@task'
FROM dag_run dr, generate_series(1, {tasks}) t;

INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)
SELECT dr.id, 'task_' || t, -1, 'return_value', dr.dag_id, dr.run_id,
       convert_to('{{"rows": ' || (dr.id * t) || ', "path": "s3://bucket/part-' || t || '.parquet"}}', 'UTF8'),
       dr.end_date
FROM dag_run dr, generate_series(1, {xcoms}) t;

INSERT INTO log (dttm, dag_id, task_id, map_index, event, execution_date, run_id, owner, extra, try_number)
SELECT ti.end_date, ti.dag_id, ti.task_id, -1, 'success', NULL, ti.run_id, 'airflow',
       '{{"host_name": "' || ti.hostname || '"}}', 1
FROM task_instance ti WHERE ti.priority_weight % 2 = 0;

ANALYZE;
"""

# The same history in Airflow 3's schema. Columns a version requires and the history does not set (they differ
# between 3.0, 3.2 and 3.3) get a plain value of their type: `_required` adds them.
FILL_SQL_AIRFLOW3 = (
    ("dag_bundle", {"name": "'dags-folder'", "active": "true"}, "(SELECT 1) x"),
    (
        "dag",
        {"dag_id": "'bench_dag_' || d", "is_paused": "false", "is_stale": "false", "bundle_name": "'dags-folder'",
         "fileloc": "'/dags/bench_' || d || '.py'", "relative_fileloc": "'bench_' || d || '.py'",
         "max_active_tasks": "16", "max_active_runs": "16", "has_task_concurrency_limits": "false",
         "max_consecutive_failed_dag_runs": "0", "timetable_type": "'cron'"},
        "generate_series(1, {dags}) d",
    ),
    (
        "dag_version",
        {"id": "gen_random_uuid()", "version_number": "1", "dag_id": "dag_id", "bundle_name": "'dags-folder'",
         "created_at": "timestamptz '2025-01-01'", "last_updated": "timestamptz '2025-01-01'"},
        "dag",
    ),
    (
        "dag_run",
        {"dag_id": "'bench_dag_' || (r % {dags} + 1)", "run_id": "'scheduled__' || r", "state": "'success'",
         "logical_date": "timestamptz '2025-01-01' + r * interval '1 minute'",
         "run_after": "timestamptz '2025-01-01' + r * interval '1 minute'",
         "start_date": "timestamptz '2025-01-01' + r * interval '1 minute'",
         "end_date": "timestamptz '2025-01-01' + r * interval '1 minute' + interval '42 seconds'",
         "run_type": "'scheduled'", "triggered_by": "'timetable'", "clear_number": "0",
         "log_template_id": "(SELECT max(id) FROM log_template)",
         "data_interval_start": "timestamptz '2024-12-31' + r * interval '1 minute'",
         "data_interval_end": "timestamptz '2025-01-01' + r * interval '1 minute'",
         "queued_at": "timestamptz '2025-01-01' + r * interval '1 minute'",
         "updated_at": "timestamptz '2025-01-01' + r * interval '1 minute' + interval '42 seconds'",
         "created_dag_version_id": "(SELECT id FROM dag_version WHERE dag_id = 'bench_dag_' || (r % {dags} + 1))"},
        "generate_series(1, {runs}) r",
    ),
    (
        "task_instance",
        {"id": "gen_random_uuid()", "task_id": "'task_' || t", "dag_id": "dr.dag_id", "run_id": "dr.run_id",
         "map_index": "-1", "start_date": "dr.start_date + t * interval '1 second'", "end_date": "dr.end_date",
         "duration": "1.5 + t", "state": "CASE WHEN t = 7 AND dr.id % 13 = 0 THEN 'failed' ELSE 'success' END",
         "try_number": "1", "max_tries": "1", "hostname": "'ip-10-0-1-' || (dr.id % 200) || '.ec2.internal'",
         "unixname": "'airflow'", "pool": "'default_pool'", "pool_slots": "1", "queue": "'default'",
         "priority_weight": "t", "operator": "'PythonOperator'", "queued_dttm": "dr.start_date", "pid": "10000 + t",
         "executor": "'CeleryExecutor'", "executor_config": "'\\x80047d942e'::bytea", "updated_at": "dr.end_date",
         "custom_operator_name": "'@task'", "dag_version_id": "dr.created_dag_version_id"},
        "dag_run dr, generate_series(1, {tasks}) t",
    ),
    (
        "xcom",
        {"dag_run_id": "dr.id", "task_id": "'task_' || t", "map_index": "-1", "key": "'return_value'",
         "dag_id": "dr.dag_id", "run_id": "dr.run_id",
         "value": "('{{\"rows\": ' || (dr.id * t) || ', \"path\": \"s3://bucket/part-' || t || '.parquet\"}}')::jsonb",
         "timestamp": "dr.end_date"},
        "dag_run dr, generate_series(1, {xcoms}) t",
    ),
    (
        "log",
        {"dttm": "ti.end_date", "dag_id": "ti.dag_id", "task_id": "ti.task_id", "map_index": "-1", "event": "'success'",
         "run_id": "ti.run_id", "owner": "'airflow'", "extra": "'{{\"host_name\": \"' || ti.hostname || '\"}}'",
         "try_number": "1"},
        "task_instance ti WHERE ti.priority_weight % 2 = 0",
    ),
)  # fmt: skip
# What a new Airflow 3 environment has written by the time its import DAG restores: its scheduler's job, its
# bundle, the import DAG with its version and run, an audit line.
WAKE_TARGET_SQL_AIRFLOW3 = (
    ("job", {"state": "'running'", "job_type": "'SchedulerJob'", "start_date": "now()", "latest_heartbeat": "now()",
             "hostname": "'ip-10-0-2-1.ec2.internal'", "unixname": "'airflow'"}, "(SELECT 1) x"),
    ("dag_bundle", {"name": "'dags-folder'", "active": "true"}, "(SELECT 1) x"),
    ("dag", {"dag_id": "'mwaa_hibernate_import'", "is_paused": "false", "is_stale": "false",
             "bundle_name": "'dags-folder'", "max_active_runs": "1", "max_active_tasks": "16"}, "(SELECT 1) x"),
    ("dag_version", {"id": "gen_random_uuid()", "version_number": "1", "dag_id": "'mwaa_hibernate_import'",
                     "created_at": "now()", "last_updated": "now()"}, "(SELECT 1) x"),
    ("dag_run", {"dag_id": "'mwaa_hibernate_import'", "run_id": "'manual__wake'", "state": "'running'",
                 "run_after": "now()", "run_type": "'manual'", "log_template_id": "(SELECT max(id) FROM log_template)",
                 "created_dag_version_id": "(SELECT id FROM dag_version)"}, "(SELECT 1) x"),
    ("log", {"dttm": "now()", "event": "'trigger'", "owner": "'airflow'"}, "(SELECT 1) x"),
)  # fmt: skip
_PLAIN = {"boolean": "false", "json": "'{{}}'", "jsonb": "'{{}}'", "uuid": "gen_random_uuid()", "bytea": "'\\x'"}


def _required(cur: Any, table: str, values: dict[str, str], source: str) -> str:
    """INSERT ... SELECT `values` FROM `source`, plus a plain value for each NOT NULL column without a default."""
    cur.execute(
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND d.adbin IS NULL",
        (f'"{table}"',),
    )
    row = dict(values)
    for name, type_name in cur.fetchall():
        if name not in row:
            numeric = type_name in ("integer", "bigint", "smallint", "double precision")
            row[name] = _PLAIN.get(type_name) or (
                "now()" if type_name.startswith("timestamp") else "0" if numeric else "''"
            )
    exprs = ", ".join(v for v in row.values())
    return f'INSERT INTO "{table}" ({", ".join(chr(34) + c + chr(34) for c in row)}) SELECT {exprs} FROM {source}'


def fill(dsn: str, sql: str | tuple, **sizes: int) -> None:
    """Run Airflow 2's SQL, or build Airflow 3's statements against the schema the database has."""
    import psycopg2

    conn = psycopg2.connect(dsn)
    with conn, conn.cursor() as cur:
        if isinstance(sql, str):
            cur.execute(sql.format(**sizes))
        else:
            for table, values, source in sql:
                cur.execute(_required(cur, table, values, source).format(**sizes))
            cur.execute("ANALYZE")
    conn.close()


# What a new environment has written by the time its import DAG restores: ids 1 of job, dag_run and log.
WAKE_TARGET_SQL = """
INSERT INTO job (dag_id, state, job_type, start_date, latest_heartbeat, hostname, unixname)
VALUES (NULL, 'running', 'SchedulerJob', now(), now(), 'ip-10-0-2-1.ec2.internal', 'airflow');
INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, fileloc, has_import_errors, max_active_tasks,
                 max_active_runs, has_task_concurrency_limits, max_consecutive_failed_dag_runs)
VALUES ('mwaa_hibernate_import', false, true, false, '/dags/mwaa_hibernate_import.py', false, 16, 1, false, 0);
INSERT INTO dag_run (dag_id, run_id, state, execution_date, run_type, external_trigger, clear_number, log_template_id)
VALUES ('mwaa_hibernate_import', 'manual__wake', 'running', now(), 'manual', true, 0,
        (SELECT max(id) FROM log_template));
INSERT INTO log (dttm, event, owner) VALUES (now(), 'trigger', 'airflow');
"""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB


def _in_child(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run `fn` in a forked child; return its result plus the child's own peak RSS."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()

    def target() -> None:
        started = time.monotonic()
        result = fn()
        result["seconds"] = time.monotonic() - started
        result["peak_rss_mb"] = _peak_rss_mb()
        queue.put(result)

    proc = ctx.Process(target=target)
    proc.start()
    result = queue.get()
    proc.join()
    if proc.exitcode:
        raise RuntimeError(f"benchmark step failed (exit {proc.exitcode})")
    return result


class _CountingRaw(io.RawIOBase):
    """Counts bytes and drops them. Wrapped in io.BufferedWriter, like the engine's own sink, so the raw
    baseline pays no Python call per row either: the comparison is COPY alone versus COPY + our work."""

    def __init__(self) -> None:
        self.bytes = 0

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.bytes += len(data)
        return len(data)


def raw_copy_out(dsn: str, tables: list[str]) -> dict[str, Any]:
    import psycopg2

    conn = psycopg2.connect(dsn)
    rows = size = 0
    with conn, conn.cursor() as cur:
        cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        for table in tables:
            counter = _CountingRaw()
            sink = io.BufferedWriter(counter, buffer_size=1024 * 1024)
            cur.copy_expert(f'COPY (SELECT * FROM "{table}") TO STDOUT WITH (FORMAT csv, HEADER)', sink)
            sink.flush()
            rows += cur.rowcount
            size += counter.bytes
    conn.close()
    return {"rows": rows, "bytes": size}


def our_export(url: str, folder: str) -> dict[str, Any]:
    import mwaa_hibernate_engine as api
    import mwaa_hibernate_snapshot as snapshot_api
    from sqlalchemy import create_engine

    engine = create_engine(url)
    manifest = api.export_snapshot(
        engine=engine, store=snapshot_api.open_store(folder), cipher=snapshot_api.NoEncryption(), source_fernet=None
    )
    return {"rows": manifest.rows, "bytes": manifest.bytes}


def plain_copy_in(dsn: str, folder: str, tables: list[str]) -> dict[str, Any]:
    """What a naive restore does: COPY each file straight into the live, indexed table."""
    import psycopg2

    manifest = json.loads(Path(folder, "manifest.json").read_text())
    entries = {f["table"]: f for f in manifest["files"]}
    conn = psycopg2.connect(dsn)
    rows = 0
    with conn, conn.cursor() as cur:
        for table in tables:
            entry = entries[table]
            cols = ", ".join(f'"{c}"' for c in entry["columns"])
            with gzip.open(Path(folder, entry["path"]), "rb") as fh:
                cur.copy_expert(f'COPY "{table}" ({cols}) FROM STDIN WITH (FORMAT csv, HEADER)', fh)
            rows += cur.rowcount
    conn.close()
    return {"rows": rows}


def our_restore(url: str, folder: str) -> dict[str, Any]:
    import mwaa_hibernate_engine as api
    import mwaa_hibernate_snapshot as snapshot_api
    from sqlalchemy import create_engine

    engine = create_engine(url)
    result = api.restore_snapshot(
        engine=engine, store=snapshot_api.open_store(folder), cipher=snapshot_api.NoEncryption(), target_fernet=None
    )
    return {"rows": result.rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task-instances", type=int, default=1_000_000, help="N (default 1,000,000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    # Imported before the timed steps fork, so no step pays for importing SQLAlchemy or the engine.
    import mwaa_hibernate_engine.export
    import mwaa_hibernate_engine.restore  # noqa: F401
    import sqlalchemy.dialects.postgresql.psycopg2  # noqa: F401
    from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance
    from mwaa_hibernate_sandbox.postgres import running_cluster

    runs = max(1, args.task_instances // TASKS_PER_RUN)
    with running_cluster() as cluster, tempfile.TemporaryDirectory(prefix="mwaa-hibernate-bench-") as tmp:
        home = Path(tmp, "home")
        (home / "dags").mkdir(parents=True)
        migrated = AirflowInstance(home=home, db_url=cluster.create_database("migrated"), dags_folder=home / "dags")
        print(f"migrating a database with Airflow from {Path(sys.executable).parent} ...", file=sys.stderr)
        migrated.migrate()
        for name in ("source", "plain_target", "our_target", "wake_target"):
            cluster._admin(f'CREATE DATABASE "{name}" TEMPLATE migrated')
        airflow3 = migrated.airflow3
        fill(cluster.dsn("wake_target"), WAKE_TARGET_SQL_AIRFLOW3 if airflow3 else WAKE_TARGET_SQL)

        print(f"filling: {runs:,} runs, {runs * TASKS_PER_RUN:,} task instances ...", file=sys.stderr)
        started = time.monotonic()
        sizes = {"dags": DAGS, "runs": runs, "tasks": TASKS_PER_RUN, "xcoms": XCOMS_PER_RUN}
        fill(cluster.dsn("source"), FILL_SQL_AIRFLOW3 if airflow3 else FILL_SQL, **sizes)
        print(f"filled in {time.monotonic() - started:.1f}s", file=sys.stderr)

        history = ["dag", "dag_run", "task_instance", "xcom", "log"]
        if airflow3:  # the plain COPY needs the parents of Airflow 3's foreign keys too
            history = ["dag_bundle", "dag", "dag_version", "dag_run", "task_instance", "xcom", "log"]
        folder = str(Path(tmp, "snapshot"))
        steps = {
            "raw COPY TO STDOUT": lambda: raw_copy_out(cluster.dsn("source"), history),
            "our export": lambda: our_export(cluster.url("source"), folder),
            "plain COPY FROM (indexed)": lambda: plain_copy_in(cluster.dsn("plain_target"), folder, history),
            "our restore": lambda: our_restore(cluster.url("our_target"), folder),
            "our restore (wake target)": lambda: our_restore(cluster.url("wake_target"), folder),
        }
        figures = {}
        for name, step in steps.items():
            print(f"{name} ...", file=sys.stderr)
            result = _in_child(step)
            result["rows_per_second"] = result["rows"] / result["seconds"]
            figures[name] = result
    export_ratio = figures["our export"]["rows_per_second"] / figures["raw COPY TO STDOUT"]["rows_per_second"]
    plain = figures["plain COPY FROM (indexed)"]["rows_per_second"]
    restore_ratio = figures["our restore"]["rows_per_second"] / plain
    wake_ratio = figures["our restore (wake target)"]["rows_per_second"] / plain
    summary = {
        "airflow_version": migrated.airflow_version,
        "task_instances": runs * TASKS_PER_RUN,
        "steps": figures,
        "export_vs_raw_copy": export_ratio,
        "restore_vs_plain_copy_from": restore_ratio,
        "wake_restore_vs_plain_copy_from": wake_ratio,
    }
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    shape = f"{runs * TASKS_PER_RUN:,} task instances ({runs:,} runs, {runs * XCOMS_PER_RUN:,} XComs)"
    print(f"\nAirflow {migrated.airflow_version}: N = {shape}")
    print(f"{'step':<30}{'rows':>12}{'seconds':>10}{'rows/s':>12}{'peak RSS MB':>14}")
    for name, f in figures.items():
        print(f"{name:<30}{f['rows']:>12,}{f['seconds']:>10.2f}{f['rows_per_second']:>12,.0f}{f['peak_rss_mb']:>14.0f}")
    print(f"\nexport / raw COPY TO        = {export_ratio:.2f}  (target >= 0.80)")
    print(f"restore / plain COPY FROM   = {restore_ratio:.2f}  (target >= 2.00)")
    print(f"  into a wake target        = {wake_ratio:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
