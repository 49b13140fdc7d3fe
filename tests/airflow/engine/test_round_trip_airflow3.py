"""Round trip on Airflow 3: history made by a running environment, restored into new environments.

The source runs as MWAA runs Airflow 3 (`airflow3_history.make_history`: a real scheduler, triggerer, DAG
processor and API server, REST calls, a non-superuser database role). Before the export its REST API is
read in full (`api_view`). The snapshot is then restored twice, each time with another Fernet key:

- into a quiet, freshly migrated database: every copied table must come back exactly (even the ids);
- into a live one: a new environment running the same DAG files, whose DAG processor has parsed them
  (its own dag_bundle, dag_version, serialized_dag and dag_code rows), which has run its own import DAG
  and keeps running while the restore commits. Every source row must be in it, every reference intact,
  the paused states exact; its REST API must answer as the source's did (apart from documented
  exceptions); and its scheduler must then run a new DAG run to success on the DAG's latest version.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid

import pytest
from airflow3_history import Api, hibernation_rows_airflow3, make_history, wait_parsed
from conftest import hostile_strings, paused_states, query, table_rows
from mwaa_hibernate_sandbox.api_view import ApiClient, compare_views, read_api_view
from mwaa_hibernate_snapshot import load_manifest, open_store, verify_snapshot
from restore_checks import assert_copied_tables_identical, assert_merged_tables, capture, schema_of
from snapshot_fixtures import (
    FINISHED_RUN_ID,
    INFLIGHT_RUN_ID,
    export,
    new_key_file,
    pause_all_like_the_export_dag,
    read_secrets,
    restore,
)

pytestmark = pytest.mark.airflow

SNAPSHOT_ID = "20261124T190000Z"
_INFLIGHT = f"WHERE NOT (t.run_id = '{INFLIGHT_RUN_ID}')"
# Rows the export leaves out: the export DAG's own in-flight run and what hangs off it.
EXCLUDED = {"dag_run": _INFLIGHT, "task_instance": _INFLIGHT, "xcom": _INFLIGHT}


def excluded(url: str) -> dict[str, str]:
    """EXCLUDED, and triggers no task instance or callback points at (asset watchers' are the new environment's)."""
    holders = ["task_instance", "task_instance_history"]
    holders += [t for (t,) in query(url, "SELECT tablename FROM pg_tables WHERE tablename = 'callback'")]
    return EXCLUDED | {"trigger": f"WHERE t.id IN ({' UNION '.join(f'SELECT trigger_id FROM {h}' for h in holders)})"}


@pytest.fixture(scope="module")
def source(make_airflow):
    """A source with history, its REST API read while it still runs, then stopped as the export finds it."""
    instance = make_airflow("af3source")
    history = make_history(instance, hostile=hostile_strings(10))
    view = read_api_view(ApiClient(instance.api_base, instance.api_headers()))
    instance.stop()
    hibernation_rows_airflow3(instance.db_url, INFLIGHT_RUN_ID, FINISHED_RUN_ID)
    return instance, history, view


@pytest.fixture(scope="module")
def snapshot(source, tmp_path_factory):
    instance, _, _ = source
    folder = tmp_path_factory.mktemp("snapshots")
    uri = str(folder / SNAPSHOT_ID)
    paused_before = pause_all_like_the_export_dag(instance.db_url, uri)
    cipher = new_key_file(folder)
    manifest = export(instance.db_url, uri, cipher=cipher, fernet_key=instance.fernet_key)
    return uri, cipher, manifest, paused_before


@pytest.fixture(scope="module")
def quiet_target(make_airflow, snapshot):
    uri, cipher, _, _ = snapshot
    target = make_airflow("af3quiet")
    before = capture(target.db_url, schema_of(target.db_url))
    result = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    return target, before, result


@pytest.fixture(scope="module")
def live_target(make_airflow, source, snapshot):
    """A new environment with the same DAG files, running, that has parsed them and run its import DAG."""
    instance, history, _ = source
    uri, cipher, _, _ = snapshot
    target = make_airflow("af3live")
    shutil.copytree(instance.dags_folder, target.dags_folder, dirs_exist_ok=True)
    # The new environment exists since its database was made (the template's audit lines are its own).
    ((first_line,),) = query(target.db_url, "SELECT COALESCE(min(dttm), now()) FROM log")
    cycle_started = min(first_line, dt.datetime.now(dt.UTC))
    target.start_all()
    wait_parsed(target, history.dag_ids)
    api = Api(target)
    api.call("PATCH", "/dags/mwaa_hibernate_import", {"is_paused": False})
    api.trigger("mwaa_hibernate_import", "manual__import")
    assert api.wait_finished("mwaa_hibernate_import", "manual__import") == "success"
    own_versions = query(target.db_url, "SELECT id::text, dag_id, version_number FROM dag_version")
    result = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    return target, result, own_versions, cycle_started


def test_export_writes_a_verifiable_manifest_last(snapshot):
    uri, _, manifest, _ = snapshot
    store = open_store(uri)
    assert verify_snapshot(store) == manifest == load_manifest(store)
    assert manifest.airflow_version and manifest.airflow_version.startswith("3.")
    tables = {f.table for f in manifest.files}
    assert {"dag_version", "serialized_dag", "dag_code", "backfill", "asset_event", "task_instance_history"} <= tables
    assert "dag_tag" in tables  # a DAG not parsed yet keeps its tags
    assert not tables & {"asset_active", "session", "ab_permission", "alembic_version_fab"}


def test_quiet_restore_is_identical_to_the_source(source, snapshot, quiet_target):
    instance, _, _ = source
    target, before, result = quiet_target
    schema = schema_of(target.db_url)
    assert not result.already_restored and result.rows == snapshot[2].rows
    assert_copied_tables_identical(instance.db_url, target.db_url, before, schema, excluded(instance.db_url))
    assert_merged_tables(instance.db_url, target.db_url, before, schema)
    # Nothing was shifted in an empty target: the ids are the source's, version numbers too.
    for table in ("dag_run", "job", "task_instance", "task_instance_history", "dag_version", "backfill", "xcom"):
        src, dst = table_rows(instance.db_url, table), table_rows(target.db_url, table)
        if table in ("dag_run", "task_instance", "xcom"):
            src = +type(src)({k: v for k, v in src.items() if INFLIGHT_RUN_ID not in k})
        assert dst == src, table


def test_history_is_what_the_scenario_made(source):
    """The source holds the history the issue names: retries, mapping, deferral, assets, backfill, notes..."""
    instance, history, _ = source
    url = instance.db_url
    assert set(history.runs.values()) == {"success"}, history.runs
    tries = query(url, "SELECT count(*) FROM task_instance_history WHERE task_id = 'flaky'")
    assert tries == [(4,)]  # two failed tries of each of the two runs of hist_main
    assert query(url, "SELECT count(*) FROM task_instance WHERE task_id = 'square' AND map_index >= 0") == [(6,)]
    assert query(url, "SELECT count(*) FROM task_instance WHERE task_id = 'wait_deferred' AND state = 'success'") == [
        (2,)
    ]
    assert query(url, "SELECT count(*) FROM asset_event") != [(0,)]
    assert query(url, "SELECT count(*) FROM dagrun_asset_event") != [(0,)]
    assert query(url, "SELECT count(*) FROM backfill_dag_run") == [(3,)]
    assert query(url, "SELECT max(version_number) FROM dag_version WHERE dag_id = 'hist_main'") == [(2,)]
    assert query(url, "SELECT count(*) FROM dag_run_note") == [(2,)]
    assert query(url, "SELECT count(*) FROM task_instance_note") == [(2,)]
    if history.hitl:
        assert query(url, "SELECT chosen_options::text FROM hitl_detail") == [('["yes"]',)]
    if history.deadlines:  # a missed deadline stays (met ones are deleted), with its callback
        assert query(url, "SELECT missed FROM deadline") == [(True,)]
        assert query(url, "SELECT count(*) FROM callback") == [(1,)]


def test_live_restore_brings_every_source_row(source, snapshot, live_target):
    instance, _, _ = source
    target, result, _, _ = live_target
    schema = schema_of(target.db_url)
    assert not result.already_restored
    assert_copied_tables_identical(instance.db_url, target.db_url, {}, schema, excluded(instance.db_url), contains=True)
    assert_merged_tables(instance.db_url, target.db_url, capture(target.db_url, schema), schema)


@pytest.mark.parametrize("target_fixture", ["quiet_target", "live_target"])
def test_task_instance_ids_are_kept_exactly(request, source, target_fixture):
    instance, _, _ = source
    target = request.getfixturevalue(target_fixture)[0]
    sql = "SELECT id::text FROM task_instance WHERE run_id <> %s"
    restored = {r[0] for r in query(target.db_url, "SELECT id::text FROM task_instance")}
    assert {r[0] for r in query(instance.db_url, sql, (INFLIGHT_RUN_ID,))} <= restored
    history = "SELECT task_instance_id::text FROM task_instance_history"
    assert {r[0] for r in query(instance.db_url, history)} <= {r[0] for r in query(target.db_url, history)}


def test_old_runs_show_the_version_they_ran_with(source, live_target):
    """Runs and task instances keep their dag_version; the target's own versions now come after the snapshot's."""
    instance, _, _ = source
    target, _, own_versions, _ = live_target
    runs = (
        "SELECT r.run_id, v.version_number, v.id::text FROM dag_run r JOIN dag_version v "
        "ON v.id = r.created_dag_version_id WHERE r.dag_id = 'hist_main'"
    )
    restored = {r[0]: r[1:] for r in query(target.db_url, runs)}
    assert {r[0]: r[1:] for r in query(instance.db_url, runs)}.items() <= restored.items()
    source_versions = {
        r[0]: r[1:] for r in query(instance.db_url, "SELECT id::text, dag_id, version_number FROM dag_version")
    }
    after = {r[0]: r[1:] for r in query(target.db_url, "SELECT id::text, dag_id, version_number FROM dag_version")}
    for version_id, numbered in source_versions.items():
        assert after[version_id] == numbered, "a snapshot version lost its number"
    for version_id, dag_id, number in own_versions:
        top = max((n for i, (d, n) in source_versions.items() if d == dag_id), default=0)
        assert after[version_id] == (dag_id, number + top), "the target's own version is not after the snapshot's"
    # The latest version is the target's own, however an Airflow version picks it (3.0/3.2: creation time, 3.3:
    # number; the id is a time-ordered UUID).
    latest = "SELECT DISTINCT ON (dag_id) dag_id, id::text FROM dag_version ORDER BY dag_id, {} DESC"
    by_number = query(target.db_url, latest.format("version_number"))
    assert by_number == query(target.db_url, latest.format("created_at")) == query(target.db_url, latest.format("id"))
    own = {version_id for version_id, _, _ in own_versions}
    assert {dag_id for dag_id, version_id in by_number if version_id in own} == {v[1] for v in own_versions}


@pytest.mark.parametrize("target_fixture", ["quiet_target", "live_target"])
def test_paused_states_are_exactly_as_before_the_export(request, snapshot, target_fixture):
    _, _, _, paused_before = snapshot
    target = request.getfixturevalue(target_fixture)[0]
    after = paused_states(target.db_url)
    assert {dag_id: after[dag_id] for dag_id in paused_before} == paused_before


@pytest.mark.parametrize("target_fixture", ["quiet_target", "live_target"])
def test_secrets_read_back_with_the_new_fernet_key(request, source, target_fixture):
    instance, history, _ = source
    target = request.getfixturevalue(target_fixture)[0]
    assert target.fernet_key != instance.fernet_key
    expected = read_secrets(instance, history.variables, connections=tuple(history.connections))
    assert expected["vars"] == history.variables
    assert read_secrets(target, history.variables, connections=tuple(history.connections)) == expected


def test_users_of_notes_are_the_restored_users(source, live_target):
    instance, _, _ = source
    target, _, _, _ = live_target
    sql = "SELECT n.content, u.username FROM {} n JOIN ab_user u ON CAST(u.id AS TEXT) = n.user_id ORDER BY 1"
    for table in ("dag_run_note", "task_instance_note"):
        assert query(target.db_url, sql.format(table)) == query(instance.db_url, sql.format(table)) != []


def test_the_rest_api_answers_as_before(source, live_target):
    """What users see: every GET endpoint of the REST API v2, before the export and after the restore."""
    _, _, before = source
    target, _, _, cycle_started = live_target
    after = read_api_view(ApiClient(target.api_base, target.api_headers()))
    differences = compare_views(before, after, cycle_started=cycle_started)
    assert not differences, "\n".join(map(str, differences))


def test_airflow_and_the_restore_run_as_a_role_that_is_not_a_superuser(live_target):
    """As on MWAA: every component, and the restore, connect as airflow_user, which owns nothing itself."""
    target, _, _, _ = live_target
    sessions = query(
        target.db_url,
        "SELECT DISTINCT a.usename, r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename "
        "WHERE a.datname = current_database()",
    )
    assert sessions == [("airflow_user", False)]


def test_a_new_run_succeeds_on_the_restored_database(live_target):
    target, _, _, _ = live_target
    api = Api(target)
    run_id = f"after_restore_{uuid.uuid4().hex[:6]}"
    api.trigger("hist_daily", run_id)
    api.call("PATCH", "/dags/hist_daily", {"is_paused": False})
    assert api.wait_finished("hist_daily", run_id) == "success"
    latest = query(
        target.db_url,
        "SELECT v.version_number = (SELECT max(version_number) FROM dag_version WHERE dag_id = 'hist_daily') "
        "FROM dag_run r JOIN dag_version v ON v.id = r.created_dag_version_id WHERE r.run_id = %s",
        (run_id,),
    )
    assert latest == [(True,)]


def test_restoring_twice_changes_nothing(snapshot, quiet_target):
    uri, cipher, _, _ = snapshot
    target, _, _ = quiet_target
    schema = schema_of(target.db_url)
    before = {t: table_rows(target.db_url, t) for t in schema.tables}
    again = restore(target.db_url, uri, cipher=cipher, fernet_key=target.fernet_key)
    assert again.already_restored
    assert {t: table_rows(target.db_url, t) for t in schema.tables} == before


def test_fab_sequences_continue_after_the_restored_users(live_target):
    """FAB's ids have no column default on 3.2+: the restore moves their sequences all the same."""
    target, _, _, _ = live_target
    for table in ("ab_user", "ab_user_role", "log", "dag_run", "job"):
        ((max_id,),) = query(target.db_url, f'SELECT max(id) FROM "{table}"')
        ((next_id,),) = query(target.db_url, f"SELECT nextval('{table}_id_seq')")
        assert next_id > max_id, table


def test_the_command_line_round_trips_exactly(source, make_airflow, tmp_path):
    """`mwaa-hibernate snapshot export / verify / restore` on Airflow 3 databases, secrets under a key file."""
    import json

    from mwaa_hibernate_cli import app
    from typer.testing import CliRunner

    instance, history, _ = source
    target = make_airflow("af3cli")
    before = capture(target.db_url, schema_of(target.db_url))
    runner, folder, key = CliRunner(), str(tmp_path / "cli"), str(tmp_path / "snapshot.key")
    steps = [
        (["snapshot", "new-key", key], None),
        (["snapshot", "export", "--sql-alchemy-conn", instance.db_url, "--to", folder, "--key-file", key], instance),
        (["snapshot", "verify", "--from", folder], None),
        (["snapshot", "restore", "--sql-alchemy-conn", target.db_url, "--from", folder, "--key-file", key], target),
    ]
    for argv, fernet_of in steps:
        env = {"AIRFLOW__CORE__FERNET_KEY": fernet_of.fernet_key} if fernet_of else {}
        out = runner.invoke(app, [*argv, "--json"] if argv[1] != "new-key" else argv, env=env)
        assert out.exit_code == 0, out.output
    assert not json.loads(out.stdout.strip().splitlines()[-1])["already_restored"]
    schema = schema_of(target.db_url)
    assert_copied_tables_identical(instance.db_url, target.db_url, before, schema, excluded(instance.db_url))
    assert_merged_tables(instance.db_url, target.db_url, before, schema)
    secrets = read_secrets(target, history.variables, connections=tuple(history.connections))
    assert secrets == read_secrets(instance, history.variables, connections=tuple(history.connections))
