"""Property: whatever text, JSON or bytes a user stored, export then restore gives back exactly the same values.

Hypothesis draws the values (newlines, quotes, commas, pipes, tabs, backslashes, `\\N`, non-ASCII, long
strings, empty strings next to NULLs, nested JSON, arbitrary bytes) and each example writes them into a
database migrated by real Airflow, in the columns where the public samples lost them: plain text
(`log.extra`, `slot_pool.description`), Fernet-encrypted secrets (`variable.val`, `connection.password` and
`extra`, sealed again in the snapshot), JSON in bytea (`xcom.value`) and pickles (`dag_run.conf`). On
Airflow 3 XComs and run conf are JSON (`jsonb`), bytes travel inside it as base64, and a deferred task's
trigger arguments are stored as plain JSON text (`trigger.kwargs`, re-encrypted by the restore). The
snapshot is restored into a fresh database with a different Fernet key and every value is read back.

Each example clones two databases from one migrated template (`CREATE DATABASE ... TEMPLATE`, a file copy),
so an example costs about a second instead of an `airflow db migrate`.
"""

from __future__ import annotations

import base64
import json
import pickle
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import psycopg2
import pytest
from airflow3_history import insert_row
from conftest import AIRFLOW_MAJOR, AIRFLOW_VERSION, query
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from snapshot_fixtures import export, new_key_file, restore

pytestmark = pytest.mark.airflow

# PostgreSQL text cannot hold NUL; surrogates are not encodable as UTF-8. Everything else is fair game.
_ANY_CHAR = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
_CSV_HOSTILE = st.sampled_from([",", '"', "\n", "\r", "\t", "|", "\\", "'", " ", "N", ".", "\\N", "é", "漢", "🙂"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(_ANY_CHAR, max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(_ANY_CHAR, max_size=8), inner, max_size=4),
    max_leaves=12,
)
TEXT = st.one_of(
    st.text(_ANY_CHAR, max_size=200),
    st.lists(_CSV_HOSTILE, min_size=1, max_size=30).map("".join),
    _JSON.map(json.dumps),
    st.just(""),
    st.integers(min_value=10_000, max_value=200_000).map(lambda n: 'x,\n"' * (n // 4)),
)
VALUES = st.lists(st.none() | TEXT, min_size=1, max_size=6)
BLOBS = st.lists(st.binary(max_size=2_000), min_size=1, max_size=4)


# Where `_write` puts each drawn text value (the keys of `_read_back`'s answer).
TEXT_COLUMNS = (
    "variable.val",
    "connection.password",
    "connection.extra",
    "connection.description",
    "slot_pool.description",
    "log.extra",
    "xcom.value (JSON)",
)


VARIABLE_VALUE_REQUIRED = tuple(int(p) for p in AIRFLOW_VERSION.split(".")[:2]) >= (3, 2)


@dataclass(frozen=True)
class Stored:
    """What one example wrote into the source, by the column it went into."""

    values: list[str | None]
    blobs: list[bytes]


@pytest.fixture(scope="module")
def template(make_airflow, pg_cluster) -> str:
    """A database migrated by this venv's Airflow, used only as a template (never connected to again)."""
    instance = make_airflow("hostile_template")
    return instance.db_url.rsplit("/", 1)[1]


@pytest.fixture(scope="module")
def clone(pg_cluster, template) -> Iterator:
    made: list[str] = []

    def make(prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        made.append(name)
        if AIRFLOW_MAJOR >= 3:  # as MWAA: used by the non-superuser role Airflow runs as
            return pg_cluster.create_mwaa_database(name, template=template).url
        return pg_cluster.clone_database(template, name)

    yield make
    for name in made:
        pg_cluster.drop_database(name)


def _write(url: str, stored: Stored, fernet_key: str) -> None:
    if AIRFLOW_MAJOR >= 3:
        _write_runs_airflow3(url, stored)
    fernet = Fernet(fernet_key.encode())

    def seal(value: str | None) -> str | None:
        return None if value is None else fernet.encrypt(value.encode()).decode()

    statements = [] if AIRFLOW_MAJOR >= 3 else _runs_airflow2(stored)
    for i, value in enumerate(stored.values):
        statements += [
            ("INSERT INTO log (dttm, event, extra) VALUES (now(), 'hostile', %s)", (value,)),
            (
                "INSERT INTO variable (key, val, is_encrypted, description) VALUES (%s, %s, %s, %s)",
                (f"hostile_{i}", seal(_variable(value)), _variable(value) is not None, value),
            ),
            (
                "INSERT INTO connection (conn_id, conn_type, password, extra, is_encrypted, is_extra_encrypted,"
                " description) VALUES (%s, 'generic', %s, %s, %s, %s, %s)",
                (f"hostile_{i}", seal(value), seal(value), value is not None, value is not None, value),
            ),
            (
                "INSERT INTO slot_pool (pool, slots, description, include_deferred) VALUES (%s, 1, %s, false)",
                (f"hostile_{i}", value),
            ),
            (
                "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)"
                " SELECT id, 't', -1, %s, dag_id, run_id, %s, now() FROM dag_run WHERE dag_id = 'hostile'",
                (f"json_{i}", json.dumps(value) if AIRFLOW_MAJOR >= 3 else json.dumps(value).encode()),
            ),
        ]
    for i, blob in enumerate(stored.blobs):
        statements.append(
            (
                "INSERT INTO xcom (dag_run_id, task_id, map_index, key, dag_id, run_id, value, timestamp)"
                " SELECT id, 't', -1, %s, dag_id, run_id, %s, now() FROM dag_run WHERE dag_id = 'hostile'",
                (f"blob_{i}", json.dumps(base64.b64encode(blob).decode()) if AIRFLOW_MAJOR >= 3 else blob),
            )
        )
    conn = psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))
    try:
        with conn, conn.cursor() as cur:
            for sql, params in statements:
                cur.execute(sql, params)
    finally:
        conn.close()


def _runs_airflow2(stored: Stored) -> list[tuple[str, tuple]]:
    """The run the values hang off, in Airflow 2's schema: run conf is a pickle."""
    conf = pickle.dumps({"values": stored.values, "blobs": stored.blobs})
    return [
        (
            "INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, fileloc, has_import_errors, max_active_tasks,"
            " max_active_runs, has_task_concurrency_limits, max_consecutive_failed_dag_runs)"
            " VALUES ('hostile', true, true, false, '/dags/hostile.py', false, 16, 16, false, 0)",
            (),
        ),
        (
            "INSERT INTO dag_run (dag_id, run_id, state, execution_date, run_type, external_trigger, clear_number,"
            " log_template_id, conf) VALUES ('hostile', 'manual__h', 'success', '2026-01-01 00:00:00+00', 'manual',"
            " true, 0, (SELECT max(id) FROM log_template), %s)",
            (conf,),
        ),
        (
            "INSERT INTO task_instance (dag_id, task_id, run_id, map_index, state, try_number, max_tries, pool,"
            " pool_slots, queue, priority_weight) VALUES ('hostile', 't', 'manual__h', -1, 'success', 1, 0,"
            " 'default_pool', 1, 'default', 1)",
            (),
        ),
    ]


def _variable(value: str | None) -> str | None:
    """Airflow 3.2+ requires a variable's value: a user stores an empty one where Airflow 2 allowed NULL."""
    return "" if value is None and VARIABLE_VALUE_REQUIRED else value


def _write_runs_airflow3(url: str, stored: Stored) -> None:
    """The run the values hang off, in Airflow 3's schema: run conf is JSON; a task deferred with JSON kwargs."""
    conf = json.dumps({"values": stored.values, "blobs": [base64.b64encode(b).decode() for b in stored.blobs]})
    kwargs = json.dumps({"moment": "2026-01-01T00:00:00+00:00", "values": stored.values})
    insert_row(url, "dag_bundle", {"name": "'dags-folder'"}, conflict="ON CONFLICT DO NOTHING")
    insert_row(url, "dag", {"dag_id": "'hostile'", "is_paused": "true", "bundle_name": "'dags-folder'"})
    insert_row(url, "trigger", {"classpath": "'airflow.triggers.temporal.DateTimeTrigger'", "kwargs": _literal(kwargs)})
    insert_row(
        url,
        "dag_run",
        {"dag_id": "'hostile'", "run_id": "'manual__h'", "state": "'running'", "run_after": "now()",
         "run_type": "'manual'", "log_template_id": "(SELECT max(id) FROM log_template)", "conf": _literal(conf)},
    )  # fmt: skip
    insert_row(
        url,
        "task_instance",
        {"id": "gen_random_uuid()", "dag_id": "'hostile'", "task_id": "'t'", "run_id": "'manual__h'",
         "map_index": "-1", "state": "'deferred'", "try_number": "1", "pool": "'default_pool'", "pool_slots": "1",
         "queue": "'default'", "priority_weight": "1", "trigger_id": "(SELECT max(id) FROM trigger)"},
    )  # fmt: skip


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _read_back(url: str, stored: Stored, fernet_key: str) -> dict[str, list]:
    """Every value the example wrote, read from `url` column by column (secrets decrypted with `fernet_key`)."""
    fernet = Fernet(fernet_key.encode())

    def unseal(value: str | None, encrypted: bool) -> str | None:
        return fernet.decrypt(value.encode()).decode() if encrypted else value

    n = len(stored.values)
    keys = [f"hostile_{i}" for i in range(n)]
    variables = {k: unseal(v, e) for k, v, e in query(url, "SELECT key, val, is_encrypted FROM variable")}
    connections = {
        c: (unseal(p, pe), unseal(x, xe), d)
        for c, p, pe, x, xe, d in query(
            url, "SELECT conn_id, password, is_encrypted, extra, is_extra_encrypted, description FROM connection"
        )
    }
    pools = dict(query(url, "SELECT pool, description FROM slot_pool"))
    if AIRFLOW_MAJOR >= 3:  # jsonb: psycopg2 hands back the parsed value
        xcoms = dict(query(url, "SELECT key, value FROM xcom WHERE dag_id = 'hostile'"))
        (conf,) = query(url, "SELECT conf FROM dag_run WHERE dag_id = 'hostile'")[0]
        ((kwargs,),) = query(url, "SELECT kwargs FROM trigger")
        kwargs = kwargs if kwargs.startswith("{") else fernet.decrypt(kwargs.encode()).decode()
        return {
            **_text_columns(url, keys, variables, connections, pools),
            "xcom.value (JSON)": [xcoms[f"json_{i}"] for i in range(n)],
            "xcom.value (bytes)": [base64.b64decode(xcoms[f"blob_{i}"]) for i in range(len(stored.blobs))],
            "dag_run.conf (pickle)": [{**conf, "blobs": [base64.b64decode(b) for b in conf["blobs"]]}],
            "trigger.kwargs": json.loads(kwargs)["values"],
        }
    xcoms = {k: bytes(v) for k, v in query(url, "SELECT key, value FROM xcom WHERE dag_id = 'hostile'")}
    (conf,) = query(url, "SELECT conf FROM dag_run WHERE dag_id = 'hostile'")[0]
    return {
        **_text_columns(url, keys, variables, connections, pools),
        "xcom.value (JSON)": [json.loads(xcoms[f"json_{i}"]) for i in range(n)],
        "xcom.value (bytes)": [xcoms[f"blob_{i}"] for i in range(len(stored.blobs))],
        "dag_run.conf (pickle)": [pickle.loads(bytes(conf))],
    }


def _text_columns(url: str, keys: list[str], variables: dict, connections: dict, pools: dict) -> dict[str, list]:
    return {
        "variable.val": [variables.get(k) for k in keys],
        "connection.password": [connections[k][0] for k in keys],
        "connection.extra": [connections[k][1] for k in keys],
        "connection.description": [connections[k][2] for k in keys],
        "slot_pool.description": [pools[k] for k in keys],
        "log.extra": [r[0] for r in query(url, "SELECT extra FROM log WHERE event = 'hostile' ORDER BY id")],
    }


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(values=VALUES, blobs=BLOBS)
def test_every_value_comes_back_exactly(values, blobs, clone, tmp_path_factory):
    stored = Stored(values=values, blobs=blobs)
    source_key, target_key = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    source, target = clone("hostile_source"), clone("hostile_target")
    _write(source, stored, source_key)

    folder = tmp_path_factory.mktemp("hostile")
    cipher = new_key_file(folder)
    export(source, str(folder / "snapshot"), cipher=cipher, fernet_key=source_key)
    restore(target, str(folder / "snapshot"), cipher=cipher, fernet_key=target_key)

    expected = {
        **dict.fromkeys(TEXT_COLUMNS, values),
        "variable.val": [_variable(v) for v in values],
        "xcom.value (bytes)": blobs,
        "dag_run.conf (pickle)": [{"values": values, "blobs": blobs}],
    }
    if AIRFLOW_MAJOR >= 3:
        expected["trigger.kwargs"] = values
    assert _read_back(target, stored, target_key) == _read_back(source, stored, source_key) == expected
