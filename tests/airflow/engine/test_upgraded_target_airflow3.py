"""A database upgraded in place from Airflow 2.11 is not the schema a new Airflow 3 environment migrates.

Upgraded, a few JSON columns stay `json` where a new database has `jsonb` (task_instance.next_kwargs,
task_instance_history.next_kwargs, task_map.keys), column order differs, FAB's tables keep Airflow 2's
defaults and may lack the groups tables until FAB first starts, and the asset tables keep the dataset
sequences' names. The restore reads the target's schema and never assumes one: a snapshot of a new
database restores into an upgraded one and the other way round, every value equal (JSON compared as JSON:
jsonb normalises spacing and key order).

The upgraded database is made as MWAA would: `airflow db migrate` of Airflow 2.11 (MWAA_HIBERNATE_AIRFLOW2_BIN,
by default the repository's .venvs/airflow-2.11.2), then of this venv's Airflow, both as the database owner.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from pathlib import Path

import pytest
from airflow3_history import insert_row
from conftest import query
from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance
from restore_checks import assert_copied_tables_identical, assert_merged_tables, capture, schema_of
from snapshot_fixtures import export, new_key_file, restore

pytestmark = pytest.mark.airflow

DRIFTING = (("task_instance", "next_kwargs"), ("task_instance_history", "next_kwargs"), ("task_map", "keys"))
# JSON as people and Airflow write it: spacing and key order that jsonb does not keep.
LOOSE_JSON = '{"z": 1,   "a": [1, 2, {"deep": "x,\\"y\\""}],  "u": "é漢 🙂"}'


def airflow2_bin() -> Path:
    given = os.environ.get("MWAA_HIBERNATE_AIRFLOW2_BIN")
    path = Path(given) if given else Path(sys.prefix).parent / "airflow-2.11.2" / "bin"
    if not (path / "airflow").exists():
        raise FileNotFoundError(f"no Airflow 2 at {path}: run `make .venvs/airflow-2.11.2/.done`")
    return path


@pytest.fixture(scope="module")
def upgraded(pg_cluster, tmp_path_factory) -> str:
    """A database migrated by Airflow 2.11, then upgraded by this venv's Airflow 3, as a template."""
    name = f"upgraded_{uuid.uuid4().hex[:8]}"
    db = pg_cluster.create_mwaa_database(name)
    home = tmp_path_factory.mktemp(name)
    for bin_dir in (airflow2_bin(), Path(sys.executable).parent):
        AirflowInstance(
            home=home / bin_dir.parent.name, db_url=db.url, migrate_url=db.owner_url, dags_folder=home / "dags",
            bin_dir=bin_dir,
        ).migrate()  # fmt: skip
    return name


def _clone(pg_cluster, template: str, prefix: str) -> str:
    return pg_cluster.create_mwaa_database(f"{prefix}_{uuid.uuid4().hex[:8]}", template=template).url


def _history(url: str) -> None:
    """A run with a deferred task, an earlier try and a mapped task, each with JSON in the drifting columns."""
    loose = "'" + LOOSE_JSON.replace("'", "''") + "'"
    insert_row(url, "dag_bundle", {"name": "'dags-folder'"}, conflict="ON CONFLICT DO NOTHING")
    insert_row(url, "dag", {"dag_id": "'drift'", "is_paused": "false", "bundle_name": "'dags-folder'"})
    insert_row(
        url,
        "dag_version",
        {"id": "gen_random_uuid()", "dag_id": "'drift'", "version_number": "1", "bundle_name": "'dags-folder'",
         "version_data": loose},
    )  # fmt: skip
    insert_row(
        url,
        "dag_run",
        {"dag_id": "'drift'", "run_id": "'manual__drift'", "state": "'success'", "run_after": "now()",
         "run_type": "'manual'", "conf": loose, "log_template_id": "(SELECT max(id) FROM log_template)"},
    )  # fmt: skip
    for task_id, map_index in (("deferred", -1), ("mapped", 0), ("mapped", 1)):
        insert_row(
            url,
            "task_instance",
            {"id": "gen_random_uuid()", "dag_id": "'drift'", "task_id": f"'{task_id}'", "run_id": "'manual__drift'",
             "map_index": str(map_index), "state": "'success'", "try_number": "2", "pool": "'default_pool'",
             "pool_slots": "1", "queue": "'default'", "priority_weight": "1", "next_method": "'execute_complete'",
             "next_kwargs": loose, "dag_version_id": "(SELECT id FROM dag_version WHERE dag_id = 'drift')"},
        )  # fmt: skip
    insert_row(
        url,
        "task_instance_history",
        {"task_instance_id": "gen_random_uuid()", "dag_id": "'drift'", "task_id": "'deferred'",
         "run_id": "'manual__drift'", "map_index": "-1", "try_number": "1", "state": "'failed'",
         "pool": "'default_pool'", "pool_slots": "1", "next_kwargs": loose},
    )  # fmt: skip
    insert_row(
        url,
        "task_map",
        {"dag_id": "'drift'", "task_id": "'deferred'", "run_id": "'manual__drift'", "map_index": "-1",
         "length": "2", "keys": "'[\"b\",  \"a\"]'"},
    )  # fmt: skip
    query(url, "INSERT INTO variable (key, val, is_encrypted) VALUES ('drift', %s, false)", (LOOSE_JSON,))


def _types(url: str) -> dict[tuple[str, str], str]:
    sql = "SELECT data_type FROM information_schema.columns WHERE table_name = %s AND column_name = %s"
    return {(t, c): query(url, sql, (t, c))[0][0] for t, c in DRIFTING}


def _round_trip(source: str, target: str, folder: Path) -> None:
    cipher = new_key_file(folder)
    export(source, str(folder / "snapshot"), cipher=cipher, fernet_key=None)
    before = capture(target, schema_of(target))
    restore(target, str(folder / "snapshot"), cipher=cipher, fernet_key=None)
    schema = schema_of(target)
    assert_copied_tables_identical(source, target, before, schema, {})
    assert_merged_tables(source, target, before, schema)
    rows = "SELECT task_id, map_index, next_kwargs::text FROM task_instance WHERE dag_id = 'drift' ORDER BY 1, 2"
    assert [(t, m, json.loads(k)) for t, m, k in query(target, rows)] == [
        (t, m, json.loads(LOOSE_JSON)) for t, m in (("deferred", -1), ("mapped", 0), ("mapped", 1))
    ]


def test_the_schemas_really_differ(make_airflow, upgraded, pg_cluster):
    fresh = make_airflow("driftfresh").db_url
    assert set(_types(fresh).values()) == {"jsonb"}
    assert set(_types(_clone(pg_cluster, upgraded, "driftprobe")).values()) == {"json"}


def test_a_new_database_restores_into_an_upgraded_one(make_airflow, upgraded, pg_cluster, tmp_path):
    source = make_airflow("driftsource").db_url
    _history(source)
    _round_trip(source, _clone(pg_cluster, upgraded, "drifttarget"), tmp_path)


def test_an_upgraded_database_restores_into_a_new_one(make_airflow, upgraded, pg_cluster, tmp_path):
    source = _clone(pg_cluster, upgraded, "driftupsource")
    _history(source)
    _round_trip(source, make_airflow("driftnew").db_url, tmp_path)
