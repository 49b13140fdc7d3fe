"""Round trip on databases filled by real Airflow: export, then restore into a new, migrated database.

Two targets: a fresh one (nothing but what `airflow db migrate` creates), and a busy one that already
has what a new MWAA environment has when the import DAG runs (parsed DAGs, its own run, its own pool,
its own log lines, a different Fernet key).
"""

from __future__ import annotations

import pytest
from conftest import SEED_DAGS, SEED_UNPAUSED, hostile_strings, paused_states, query, table_rows
from mwaa_hibernate_snapshot import load_manifest, open_store, verify_snapshot
from restore_checks import assert_copied_tables_identical, assert_merged_tables, capture, schema_of
from snapshot_fixtures import (
    FINISHED_RUN_ID,
    INFLIGHT_RUN_ID,
    add_hibernation_runs,
    export,
    new_key_file,
    pause_all_like_the_export_dag,
    read_secrets,
    recording_staged_tables,
    restore,
)

pytestmark = pytest.mark.airflow

SNAPSHOT_ID = "20261124T190000Z"
_INFLIGHT = f"WHERE NOT (t.run_id = '{INFLIGHT_RUN_ID}')"
# Source rows that must not come back: the export DAG's own in-flight run and what hangs off it.
EXCLUDED = {"dag_run": _INFLIGHT, "task_instance": _INFLIGHT, "xcom": _INFLIGHT}
# target fixture -> the tables its restore loaded through a staging table (the rest went straight in)
STAGED: dict[str, list[str]] = {}


@pytest.fixture(scope="module")
def source(make_airflow, seed):
    instance = make_airflow("source", dags=SEED_DAGS)
    seeded = seed(instance, hostile=hostile_strings())
    add_hibernation_runs(instance.db_url)
    return instance, seeded


@pytest.fixture(scope="module")
def snapshot(source, tmp_path_factory):
    instance, _ = source
    folder = tmp_path_factory.mktemp("snapshots")
    uri = str(folder / SNAPSHOT_ID)
    paused_before = pause_all_like_the_export_dag(instance.db_url, uri)
    cipher = new_key_file(folder)
    manifest = export(instance.db_url, uri, cipher=cipher, fernet_key=instance.fernet_key)
    return uri, cipher, manifest, paused_before


@pytest.fixture(scope="module")
def fresh_target(make_airflow, snapshot):
    uri, cipher, _, _ = snapshot
    target = make_airflow("fresh")
    before = capture(target.db_url, schema_of(target.db_url))
    with recording_staged_tables() as STAGED["fresh_target"]:
        result = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    return target, before, result


@pytest.fixture(scope="module")
def busy_target(make_airflow, snapshot):
    uri, cipher, _, _ = snapshot
    target = make_airflow("busy", dags=SEED_DAGS)
    # What the new environment does on its own before the import DAG restores: parse, run, configure.
    target.python(
        "from airflow.models import DagBag, Pool\n"
        "import pendulum\n"
        "bag = DagBag(include_examples=False); bag.sync_to_db()\n"
        "Pool.create_or_update_pool('target_only_pool', 2, 'made by the new environment', include_deferred=False)\n"
        "bag.get_dag('seed_etl').test(execution_date=pendulum.parse('2026-06-01'))\n"
    )
    # Users sign in to the new environment before the wake's import: one of its own, then the source's admin
    # again, so the admin who created the snapshot's other users has another id here.
    target.python(
        "from airflow.providers.fab.auth_manager.models import User\n"
        "from airflow.utils.session import create_session\n"
        "with create_session() as session:\n"
        "    for name in ('operator', 'admin'):\n"
        "        session.add(User(first_name=name, last_name='Target', username=name, email=name + '@t.example'))\n"
        "        session.flush()\n"
    )
    before = capture(target.db_url, schema_of(target.db_url))
    with recording_staged_tables() as STAGED["busy_target"]:
        result = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    return target, before, result


@pytest.fixture(scope="module")
def bulk_target(make_airflow, snapshot):
    """A busy target restored through the bulk path (keys and indexes dropped and rebuilt) for every table."""
    from mwaa_hibernate_engine import restore as restore_module

    uri, cipher, _, _ = snapshot
    target = make_airflow("bulk", dags=SEED_DAGS)
    target.python(
        "import pendulum\nfrom airflow.models import DagBag\n"
        "bag = DagBag(include_examples=False); bag.sync_to_db()\n"
        "bag.get_dag('seed_flaky').test(execution_date=pendulum.parse('2026-06-02'))\n"
    )
    ddl_before = schema_ddl(target.db_url)
    before = capture(target.db_url, schema_of(target.db_url))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(restore_module, "BULK_ROWS", 1)
        result = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    return target, before, result, ddl_before


def schema_ddl(url: str) -> list[tuple]:
    """Every index and constraint definition: the restore must leave the schema exactly as migrated."""
    return sorted(
        query(
            url,
            "SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' UNION ALL "
            "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE connamespace = 'public'::regnamespace",
        )
    )


def test_bulk_path_restores_the_same_rows_and_the_same_schema(source, bulk_target):
    instance, _ = source
    target, before, _, ddl_before = bulk_target
    schema = schema_of(target.db_url)
    assert_copied_tables_identical(instance.db_url, target.db_url, before, schema, EXCLUDED)
    assert_merged_tables(instance.db_url, target.db_url, before, schema)
    assert schema_ddl(target.db_url) == ddl_before


def test_export_writes_a_verifiable_manifest_last(snapshot):
    uri, _, manifest, _ = snapshot
    store = open_store(uri)
    assert verify_snapshot(store) == manifest == load_manifest(store)
    assert manifest.alembic_revision and manifest.airflow_version
    assert manifest.encryption["scheme"] == "key-file" and "encrypted_data_key" in manifest.encryption
    assert manifest.paused_state is not None
    tables = {f.table for f in manifest.files}
    assert {"dag_run", "task_instance", "xcom", "variable", "connection", "dag", "job", "log"} <= tables
    assert not tables & {"serialized_dag", "dag_code", "session", "ab_permission", "alembic_version"}


def test_no_plaintext_secret_in_the_snapshot(source, snapshot):
    _, seeded = source
    uri, *_ = snapshot
    import gzip
    from pathlib import Path

    blobs = {p.name: gzip.decompress(p.read_bytes()) for p in Path(uri, "tables").glob("*.csv.gz")}
    password = seeded.connections["seed_pg"]["password"]
    for name in ("variable.csv.gz", "connection.csv.gz", "trigger.csv.gz"):
        assert b"mwh2:" in blobs[name]
    assert str(password).split("\n")[0].encode() not in blobs["connection.csv.gz"]
    assert seeded.variables["hostile_3"].encode() not in blobs["variable.csv.gz"]


def test_fresh_restore_is_identical_to_the_source(source, snapshot, fresh_target):
    instance, _ = source
    target, before, result = fresh_target
    schema = schema_of(target.db_url)
    assert not result.already_restored and result.rows == snapshot[2].rows
    assert_copied_tables_identical(instance.db_url, target.db_url, before, schema, EXCLUDED)
    assert_merged_tables(instance.db_url, target.db_url, before, schema)
    # Nothing was shifted in an empty target: even the ids are the source's.
    for table in ("dag_run", "job", "ab_user", "task_instance", "xcom", "dag_run_note", "task_instance_note"):
        src = table_rows(instance.db_url, table)
        dst = table_rows(target.db_url, table)
        if table in EXCLUDED:
            src = +collections_without(src, INFLIGHT_RUN_ID)
        assert dst == src, table


def test_only_tables_with_something_to_rewrite_go_through_staging(fresh_target, busy_target):
    """The row-for-row checks above cover both paths: history loaded straight into the live tables of the
    fresh target, and loaded through staging tables (keys shifted) in the busy one."""
    always = {"dag", "variable", "connection"}  # merged, or secrets to re-seal
    fresh, busy = set(STAGED["fresh_target"]), set(STAGED["busy_target"])
    assert always <= fresh and always <= busy
    # Nothing to shift in an empty target: run and task history skip the staging table.
    assert not fresh & {"dag_run", "task_instance", "xcom", "job"}
    # The busy target has runs of its own: the snapshot's run ids shift, and so do the XComs pointing at them.
    assert {"dag_run", "xcom"} <= busy


def collections_without(rows, needle):
    import collections

    return collections.Counter({k: v for k, v in rows.items() if needle not in k})


def test_busy_restore_keeps_the_new_environment_rows(source, snapshot, busy_target):
    instance, _ = source
    target, before, _ = busy_target
    schema = schema_of(target.db_url)
    assert_copied_tables_identical(instance.db_url, target.db_url, before, schema, EXCLUDED)
    assert_merged_tables(instance.db_url, target.db_url, before, schema)
    own_runs = query(target.db_url, "SELECT count(*) FROM dag_run WHERE run_id = 'manual__2026-06-01T00:00:00+00:00'")
    assert own_runs == [(1,)]
    assert query(target.db_url, "SELECT slots FROM slot_pool WHERE pool = 'target_only_pool'") == [(2,)]
    assert query(target.db_url, "SELECT slots FROM slot_pool WHERE pool = 'default_pool'") == [(64,)]
    # The target's parser registered the seed's dataset before the restore; it keeps the source's times.
    registered = "SELECT uri, created_at, updated_at FROM dataset ORDER BY uri"
    assert query(target.db_url, registered) == query(instance.db_url, registered) != []


@pytest.mark.parametrize("target_fixture", ["fresh_target", "busy_target"])
def test_paused_states_are_exactly_as_before_the_export(request, snapshot, target_fixture):
    _, _, _, paused_before = snapshot
    target, _, result = request.getfixturevalue(target_fixture)
    after = paused_states(target.db_url)
    assert {dag_id: after[dag_id] for dag_id in paused_before} == paused_before
    assert set(result.dags_unpaused) == set(SEED_UNPAUSED)


@pytest.mark.parametrize("target_fixture", ["fresh_target", "busy_target"])
def test_secrets_read_back_with_the_new_fernet_key(request, source, target_fixture):
    instance, seeded = source
    target, _, _ = request.getfixturevalue(target_fixture)
    assert target.fernet_key != instance.fernet_key
    expected = read_secrets(instance, seeded.variables)
    assert expected["vars"] == seeded.variables
    assert read_secrets(target, seeded.variables) == expected
    encrypted = query(target.db_url, "SELECT bool_and(is_encrypted) FROM variable WHERE key LIKE 'hostile_%%'")
    assert encrypted == [(True,)]


def test_inflight_hibernation_run_is_not_restored(fresh_target):
    target, _, _ = fresh_target
    runs = dict(query(target.db_url, "SELECT run_id, state FROM dag_run WHERE dag_id = 'mwaa_hibernate_export'"))
    assert runs == {FINISHED_RUN_ID: "success"}
    assert query(target.db_url, f"SELECT count(*) FROM task_instance WHERE run_id = '{INFLIGHT_RUN_ID}'") == [(0,)]


def test_restoring_twice_changes_nothing(snapshot, busy_target):
    uri, cipher, _, _ = snapshot
    target, _, _ = busy_target
    schema = schema_of(target.db_url)
    before = {t: table_rows(target.db_url, t) for t in schema.tables}
    again = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    assert again.already_restored
    assert {t: table_rows(target.db_url, t) for t in schema.tables} == before


def test_sequences_continue_after_the_restored_ids(busy_target):
    target, _, _ = busy_target
    for table in ("dag_run", "log", "job", "variable", "connection", "slot_pool", "ab_user"):
        ((max_id,),) = query(target.db_url, f'SELECT max(id) FROM "{table}"')
        ((next_id,),) = query(target.db_url, f"SELECT nextval(pg_get_serial_sequence('\"{table}\"', 'id'))")
        assert next_id > max_id, table
