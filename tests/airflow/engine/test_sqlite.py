"""SQLite metadata databases (local development): the same engine, the same file format.

Real Airflow migrates real SQLite files and fills them through its ORM (`seed_history`). Proven here:
a SQLite -> SQLite round trip is exact (fresh and busy targets, paused states, secrets, references);
a PostgreSQL snapshot restores into SQLite and a SQLite snapshot into PostgreSQL, equal row for row;
the files hold the same text whichever database wrote them; refused snapshots import nothing.
"""

from __future__ import annotations

import collections
import datetime as dt
import gzip
import io
import json
import shutil
from pathlib import Path

import mwaa_hibernate_engine as api
import mwaa_hibernate_snapshot as snapshot_api
import psycopg2
import pytest
from conftest import SEED_DAGS, SEED_UNPAUSED, all_table_rows, hostile_strings, paused_states, query, table_rows
from mwaa_hibernate_engine import RestoreConflict, RevisionMismatch, UnclassifiedTable
from mwaa_hibernate_engine.classification import Kind
from mwaa_hibernate_engine.csvcodec import decode_rows
from mwaa_hibernate_engine.dialects.base import CANONICAL_SETTINGS
from mwaa_hibernate_engine.pgtext import converters, render_datetime, render_float, store_datetime
from mwaa_hibernate_snapshot import ChecksumMismatch, NoEncryption, load_manifest, open_store
from restore_checks import assert_copied_tables_identical, assert_merged_tables, capture, schema_of
from snapshot_fixtures import (
    INFLIGHT_RUN_ID,
    add_hibernation_runs,
    export,
    new_key_file,
    pause_all_like_the_export_dag,
    read_secrets,
    restore,
)
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.airflow

SNAPSHOT_ID = "20261124T190000Z"
_INFLIGHT = f"WHERE NOT (t.run_id = '{INFLIGHT_RUN_ID}')"
EXCLUDED = {"dag_run": _INFLIGHT, "task_instance": _INFLIGHT, "xcom": _INFLIGHT}


def _source(make_airflow, seed, name: str, *, sqlite: bool):
    instance = make_airflow(name, dags=SEED_DAGS, sqlite=sqlite)
    seeded = seed(instance, hostile=hostile_strings(10))
    add_hibernation_runs(instance.db_url)
    return instance, seeded


def _snapshot(instance, folder: Path):
    uri = str(folder / SNAPSHOT_ID)
    paused_before = pause_all_like_the_export_dag(instance.db_url, uri)
    cipher = new_key_file(folder)
    manifest = export(instance.db_url, uri, cipher=cipher, fernet_key=instance.fernet_key)
    return uri, cipher, manifest, paused_before


def _restored(target, snapshot):
    uri, cipher, _, _ = snapshot
    before = capture(target.db_url, schema_of(target.db_url))
    result = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    return target, before, result


@pytest.fixture(scope="module")
def lite_source(make_airflow, seed):
    return _source(make_airflow, seed, "litesource", sqlite=True)


@pytest.fixture(scope="module")
def pg_source(make_airflow, seed):
    return _source(make_airflow, seed, "pgsource", sqlite=False)


@pytest.fixture(scope="module")
def lite_snapshot(lite_source, tmp_path_factory):
    return _snapshot(lite_source[0], tmp_path_factory.mktemp("lite"))


@pytest.fixture(scope="module")
def pg_snapshot(pg_source, tmp_path_factory):
    return _snapshot(pg_source[0], tmp_path_factory.mktemp("pg"))


@pytest.fixture(scope="module")
def lite_fresh(make_airflow, lite_snapshot):
    return _restored(make_airflow("litefresh", sqlite=True), lite_snapshot)


@pytest.fixture(scope="module")
def lite_busy(make_airflow, lite_snapshot):
    target = make_airflow("litebusy", dags=SEED_DAGS, sqlite=True)
    target.python(
        "from airflow.models import DagBag, Pool\n"
        "import pendulum\n"
        "bag = DagBag(include_examples=False); bag.sync_to_db()\n"
        "Pool.create_or_update_pool('target_only_pool', 2, 'made by the new environment', include_deferred=False)\n"
        "bag.get_dag('seed_etl').test(execution_date=pendulum.parse('2026-06-01'))\n"
    )
    return _restored(target, lite_snapshot)


@pytest.fixture(scope="module")
def pg_into_lite(make_airflow, pg_snapshot):
    return _restored(make_airflow("pgintolite", sqlite=True), pg_snapshot)


@pytest.fixture(scope="module")
def lite_into_pg(make_airflow, lite_snapshot):
    return _restored(make_airflow("liteintopg"), lite_snapshot)


# --- the text form of values, checked against PostgreSQL itself -------------------------------


def _pg_text(pg_cluster, sql: str, params) -> list[str]:
    conn = psycopg2.connect(pg_cluster.dsn())
    try:
        with conn, conn.cursor() as cur:
            for name, value in CANONICAL_SETTINGS.items():
                cur.execute("SELECT set_config(%s, %s, false)", (name, value))
            cur.execute(sql, params)
            return [r[0] for r in cur.fetchall()]
    finally:
        conn.close()


def test_floats_are_written_as_postgresql_writes_them(pg_cluster):
    import warnings

    from hypothesis import strategies as st
    from hypothesis.errors import NonInteractiveExampleWarning

    fixed = [0.0, -0.0, 1.0, -7.0, 0.1, 1 / 3, 123.456, 0.0001, 0.00001, 1.5e-5, 1e14, 999999999999999.9, 1e15]
    fixed += [1234567890123456.5, 1e16, 2.0**53, -2.5e300, 5e-324, 1.7976931348623157e308]
    fixed += [float("inf"), float("-inf"), float("nan")]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        drawn = [st.floats(allow_nan=False).example() for _ in range(200)]
    values = fixed + drawn
    # Sent as Python's exact text: a float literal in SQL is numeric first, which has no -0.
    pg = _pg_text(pg_cluster, "SELECT unnest(%s::text[])::float8::text", ([repr(v) for v in values],))
    assert [render_float(v) for v in values] == pg


def test_timestamps_and_binary_are_written_as_postgresql_writes_them(pg_cluster):
    moments = [
        dt.datetime(2026, 1, 1),
        dt.datetime(2026, 1, 1, 12, 0, 0, 500000),
        dt.datetime(2025, 12, 31, 23, 59, 59, 123456),
        dt.datetime(1970, 1, 1, 0, 0, 0, 1),
        dt.datetime(9999, 12, 31, 23, 59, 59, 999999),
    ]
    zoned = [m.replace(tzinfo=dt.UTC) for m in moments]
    pg_zoned = _pg_text(pg_cluster, "SELECT unnest(%s::timestamptz[])::text", (zoned,))
    assert [render_datetime(m, with_zone=True) for m in moments] == pg_zoned
    pg_naive = _pg_text(pg_cluster, "SELECT unnest(%s::timestamp[])::text", (moments,))
    assert [render_datetime(m, with_zone=False) for m in moments] == pg_naive
    # Read back, each is stored exactly as SQLAlchemy itself stores that datetime on SQLite.
    import sqlalchemy as sa
    from sqlalchemy.dialects import sqlite

    bind = sqlite.DATETIME().bind_processor(sqlite.dialect())
    _, parse = converters(sa.TIMESTAMP())
    assert [parse(t) for t in pg_zoned] == [bind(m) for m in moments] == [store_datetime(m) for m in moments]
    blob = bytes(range(256)) + b'\\N,"\n'
    render, parse = converters(sa.LargeBinary())
    assert render(blob) == _pg_text(pg_cluster, "SELECT %s::bytea::text", (psycopg2.Binary(blob),))[0]
    assert parse(render(blob)) == blob


def test_sqlite_describes_the_same_schema_as_postgresql(pg_source, lite_source):
    pg, lite = schema_of(pg_source[0].db_url), schema_of(lite_source[0].db_url)
    assert list(pg.tables) == list(lite.tables)  # same tables, same parents-first order
    for name, table in pg.tables.items():
        other = lite.tables[name]
        assert set(table.columns) == set(other.columns), name
        assert (table.primary_key, table.integer_columns, table.generated_columns, table.policy) == (
            other.primary_key,
            other.integer_columns,
            other.generated_columns,
            other.policy,
        ), name
        assert set(table.references) == set(other.references), name
        assert table.surrogate_key == other.surrogate_key, name


# --- SQLite -> SQLite ------------------------------------------------------------------------


def test_sqlite_export_writes_a_complete_manifest(lite_snapshot):
    uri, _, manifest, _ = lite_snapshot
    assert snapshot_api.verify_snapshot(open_store(uri)) == manifest == load_manifest(open_store(uri))
    assert manifest.dialect == "sqlite" and manifest.alembic_revision and manifest.paused_state
    tables = {f.table for f in manifest.files}
    assert {"dag_run", "task_instance", "xcom", "variable", "connection", "dag", "job", "log"} <= tables
    assert not tables & {"serialized_dag", "session", "alembic_version", "sqlite_sequence"}


@pytest.mark.parametrize("target_fixture", ["lite_fresh", "lite_busy"])
def test_sqlite_round_trip_is_exact(request, lite_source, lite_snapshot, target_fixture):
    source, seeded = lite_source
    target, before, result = request.getfixturevalue(target_fixture)
    schema = schema_of(target.db_url)
    assert not result.already_restored and result.rows == lite_snapshot[2].rows
    assert_copied_tables_identical(source.db_url, target.db_url, before, schema, EXCLUDED)
    assert_merged_tables(source.db_url, target.db_url, before, schema)
    paused = paused_states(target.db_url)
    assert {dag_id: paused[dag_id] for dag_id in lite_snapshot[3]} == lite_snapshot[3]
    assert set(result.dags_unpaused) == set(SEED_UNPAUSED)
    expected = read_secrets(source, seeded.variables)
    assert expected["vars"] == seeded.variables
    assert read_secrets(target, seeded.variables) == expected
    assert query(target.db_url, "SELECT count(*) FROM dag_run WHERE run_id = %s", (INFLIGHT_RUN_ID,)) == [(0,)]


def test_sqlite_fresh_target_gets_the_source_ids(lite_source, lite_fresh):
    source, _ = lite_source
    target, _, _ = lite_fresh
    for table in ("dag_run", "job", "ab_user", "task_instance", "xcom", "dag_run_note", "dataset_event"):
        src = table_rows(source.db_url, table)
        if table in EXCLUDED:
            src = collections.Counter({k: v for k, v in src.items() if INFLIGHT_RUN_ID not in k})
        assert table_rows(target.db_url, table) == src, table


def test_sqlite_busy_target_keeps_its_own_rows(lite_busy):
    target, _, _ = lite_busy
    run = "manual__2026-06-01T00:00:00+00:00"
    assert query(target.db_url, "SELECT count(*) FROM dag_run WHERE run_id = %s", (run,)) == [(1,)]
    assert query(target.db_url, "SELECT slots FROM slot_pool WHERE pool = 'target_only_pool'") == [(2,)]
    assert query(target.db_url, "SELECT slots FROM slot_pool WHERE pool = 'default_pool'") == [(64,)]


def test_sqlite_restoring_twice_changes_nothing(lite_snapshot, lite_busy):
    uri, cipher, _, _ = lite_snapshot
    target, _, _ = lite_busy
    before = all_table_rows(target.db_url)
    assert restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key).already_restored
    assert all_table_rows(target.db_url) == before


def test_sqlite_ids_continue_after_the_restored_ones(lite_busy):
    target, _, _ = lite_busy
    counters = dict(query(target.db_url, "SELECT name, seq FROM sqlite_sequence"))
    assert {"dataset", "dataset_event"} <= counters.keys()  # the AUTOINCREMENT tables the seed fills
    for table, seq in counters.items():
        ((max_id,),) = query(target.db_url, f'SELECT max(id) FROM "{table}"')
        assert seq >= (max_id or 0), table
    with create_engine(target.db_url).begin() as conn:
        new_id = conn.execute(text("INSERT INTO log (event, dttm) VALUES ('after', '2026-11-25 00:00:00.000000')"))
        assert new_id.lastrowid > max(r[0] for r in conn.execute(text("SELECT id FROM log WHERE event <> 'after'")))


# --- across dialects -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source_fixture", "target_fixture"), [("pg_source", "pg_into_lite"), ("lite_source", "lite_into_pg")]
)
def test_a_snapshot_restores_into_the_other_dialect_row_for_row(request, source_fixture, target_fixture):
    source, seeded = request.getfixturevalue(source_fixture)
    target, before, result = request.getfixturevalue(target_fixture)
    schema = schema_of(target.db_url)
    assert not result.already_restored
    assert_copied_tables_identical(source.db_url, target.db_url, before, schema, EXCLUDED)
    assert_merged_tables(source.db_url, target.db_url, before, schema)
    assert read_secrets(target, seeded.variables) == read_secrets(source, seeded.variables)
    assert set(result.dags_unpaused) == set(SEED_UNPAUSED)


def _records(folder: str, entry) -> collections.Counter[tuple]:
    """The file's records with their values in column-name order (column order may differ by dialect)."""
    order = sorted(range(len(entry.columns)), key=lambda i: entry.columns[i])
    with open(Path(folder, entry.path), "rb") as raw:
        records = decode_rows(io.BytesIO(gzip.decompress(raw.read())))
        assert next(records) == list(entry.columns)
        return collections.Counter(tuple(r[i] for i in order) for r in records)


def test_the_files_hold_the_same_text_whichever_database_wrote_them(pg_snapshot, pg_into_lite, tmp_path):
    """PostgreSQL's snapshot, restored into an empty SQLite and exported again, gives the same records."""
    target, _, _ = pg_into_lite
    again = export(target.db_url, str(tmp_path / "again"), cipher=NoEncryption(), fernet_key=target.fernet_key)
    compared = set()
    for entry in load_manifest(open_store(pg_snapshot[0])).files:
        # log gets the restore marker; trigger's secrets are sealed with another data key
        if entry.kind != Kind.COPIED.value or entry.table in ("log", "trigger"):
            continue
        mine = _records(str(tmp_path / "again"), again.file_for(entry.table))
        assert mine == _records(pg_snapshot[0], entry), entry.table
        if entry.rows:
            compared.add(entry.table)
    assert {"dag_run", "task_instance", "xcom", "job", "dag_run_note", "task_instance_note"} <= compared


# --- refused snapshots and failures import nothing on SQLite ---------------------------------


@pytest.fixture(scope="module")
def lite_plain(lite_source, tmp_path_factory):
    source, _ = lite_source
    uri = tmp_path_factory.mktemp("plain") / SNAPSHOT_ID
    export(source.db_url, str(uri), cipher=NoEncryption(), fernet_key=source.fernet_key)
    return uri


@pytest.fixture
def lite_copy(lite_plain, tmp_path) -> Path:
    copy = tmp_path / lite_plain.name
    shutil.copytree(lite_plain, copy)
    return copy


@pytest.fixture(scope="module")
def lite_empty(make_airflow):
    return make_airflow("liteempty", sqlite=True)


def test_corrupt_file_imports_nothing_on_sqlite(lite_empty, lite_copy):
    doc = json.loads((lite_copy / "manifest.json").read_text())
    path = lite_copy / next(f for f in doc["files"] if f["table"] == "task_instance")["path"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    before = all_table_rows(lite_empty.db_url)
    with pytest.raises(ChecksumMismatch, match="restore an earlier"):
        restore(lite_empty.db_url, str(lite_copy), cipher=NoEncryption(), fernet_key=lite_empty.fernet_key)
    assert all_table_rows(lite_empty.db_url) == before


def test_other_revision_imports_nothing_on_sqlite(lite_empty, lite_copy):
    doc = json.loads((lite_copy / "manifest.json").read_text())
    doc["alembic_revision"] = "1949afb29106"
    (lite_copy / "manifest.json").write_text(json.dumps(doc))
    before = all_table_rows(lite_empty.db_url)
    with pytest.raises(RevisionMismatch, match="same Airflow version"):
        restore(lite_empty.db_url, str(lite_copy), cipher=NoEncryption(), fernet_key=lite_empty.fernet_key)
    assert all_table_rows(lite_empty.db_url) == before


def test_conflict_with_a_target_row_imports_nothing_on_sqlite(make_airflow, lite_plain):
    busy = make_airflow("liteconflict", sqlite=True)
    add_hibernation_runs(busy.db_url)  # the same run ids as the snapshot's
    before = all_table_rows(busy.db_url)
    with pytest.raises(RestoreConflict, match="UNIQUE constraint failed"):
        restore(busy.db_url, str(lite_plain), cipher=NoEncryption(), fernet_key=busy.fernet_key)
    assert all_table_rows(busy.db_url) == before


def test_unclassified_table_stops_a_sqlite_export(lite_empty, tmp_path):
    engine = create_engine(lite_empty.db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE plugin_state (id INTEGER PRIMARY KEY, value TEXT)"))
    try:
        with pytest.raises(UnclassifiedTable, match="'plugin_state'"):
            api.export_snapshot(
                engine=engine, store=open_store(tmp_path / "x"), cipher=NoEncryption(), source_fernet=None
            )
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE plugin_state"))
        engine.dispose()
    assert not (tmp_path / "x").exists()


def test_cli_exports_and_restores_sqlite(lite_source, make_airflow, tmp_path):
    from mwaa_hibernate_cli import app
    from typer.testing import CliRunner

    source, _ = lite_source
    target = make_airflow("liteclitarget", sqlite=True)
    runner = CliRunner()
    folder = str(tmp_path / "cli")
    out = runner.invoke(
        app,
        ["snapshot", "export", "--sql-alchemy-conn", source.db_url, "--to", folder, "--no-encryption", "--json"],
        env={"AIRFLOW__CORE__FERNET_KEY": source.fernet_key},
    )
    assert out.exit_code == 0, out.output
    exported = json.loads(out.stdout.strip().splitlines()[-1])
    out = runner.invoke(
        app,
        ["snapshot", "restore", "--sql-alchemy-conn", target.db_url, "--from", folder, "--json"],
        env={"AIRFLOW__CORE__FERNET_KEY": target.fernet_key},
    )
    assert out.exit_code == 0, out.output
    restored = json.loads(out.stdout.strip().splitlines()[-1])
    assert restored["rows"] == exported["rows"] > 0 and not restored["already_restored"]
