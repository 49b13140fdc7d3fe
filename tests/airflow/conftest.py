"""Shared fixtures for everything under tests/airflow (runs once per Airflow venv: 2.10.5, 2.11.2, 3.0.6, 3.2.1,
3.3.1; the Makefile picks which files run on which version, and files written for one major are not collected
on the other: `collect_ignore_glob` below).

Real PostgreSQL, real Airflow, no mocks. What is here, for the engine and the DAG tests alike:

- `pg_cluster` (session): one throwaway PostgreSQL 15 cluster for the whole run.
- `make_airflow` (session): a factory, `make_airflow("name", dags={...}, fernet_key=None, sqlite=False)`,
  returning a `mwaa_hibernate_sandbox.airflow_instance.AirflowInstance` whose database is a copy of one
  migrated by `airflow db migrate` of the venv running pytest (once per session: `CREATE DATABASE ...
  TEMPLATE`), or, with `sqlite=True`, a SQLite file in its home: a copy of one migrated on first use. On Airflow 3 the
  database is prepared as MWAA prepares it (owned by `adminuser`, used by the non-superuser `airflow_user`)
  and already has the Admin user the REST API is called as. `dags` maps file names to DAG
  source (written into the instance's own DAG folder); `SEED_DAGS` below are the standard ones. Each
  instance gets its own Fernet key unless one is given. Instances are stopped at the end of the run.
- `seed_history(instance, hostile=[...])` (Airflow 2; Airflow 3's history comes from a running environment,
  `airflow3_history.make_history`): fills an instance through real Airflow: parses the DAG
  folder (`airflow dags reserialize`), runs the seed DAGs with `airflow dags test` (successes, a
  failure, a retry, mapped tasks, XComs in JSON and pickled), creates users with `airflow users create`,
  then one ORM script adds variables, connections (passwords, extras), pools, run and task notes by
  users, a trigger, a job, audit-log lines, XComs and dag_run conf holding the `hostile` strings, and
  sets paused states. Returns a `Seeded` record of what it wrote (to assert on after a restore).
- `hostile_strings(n)`: hand-picked nasty values plus `n` drawn by hypothesis (newlines, quotes, commas,
  pipes, tabs, backslashes, non-ASCII, very long, empty next to NULL, nested JSON).
- `table_rows(url, table)` / `all_table_rows(url)`: every row as PostgreSQL's own row text (SQLite: the
  stored values' repr), for exact comparisons between databases of one dialect. `query(url, sql)` runs
  on either (psycopg2 placeholders).

Seeding a module's source takes ~20 s: scope the fixtures that use it to the module.
"""

from __future__ import annotations

import collections
import json
import shutil
import sys
import uuid
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pytest
from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance
from mwaa_hibernate_sandbox.postgres import PostgresCluster

pytestmark = pytest.mark.airflow

AIRFLOW_VERSION = metadata.version("apache-airflow")
AIRFLOW_MAJOR = int(AIRFLOW_VERSION.split(".")[0])
# Test files written for one major version's history are not collected on the other (the Makefile runs the
# right ones per version anyway): Airflow 2's are made with `airflow dags test`, Airflow 3's by a running
# environment.
ONLY_ON = {
    2: ("engine/test_round_trip.py", "engine/test_sqlite.py"),
    3: ("engine/test_round_trip_airflow3.py", "engine/test_upgraded_target_airflow3.py"),
}
collect_ignore_glob = [path for major, paths in ONLY_ON.items() if major != AIRFLOW_MAJOR for path in paths]

# A fixed start date in the past, so `airflow dags test <logical date>` never waits for anything.
_START = 'pendulum.datetime(2026, 1, 1, tz="UTC")'

SEED_DAGS: dict[str, str] = {
    "seed_etl.py": f"""
from __future__ import annotations
import pendulum
from airflow.datasets import Dataset
from airflow.decorators import dag, task

@dag(dag_id="seed_etl", schedule="@daily", start_date={_START}, catchup=False, tags=["seed"])
def seed_etl():
    @task
    def extract() -> dict:
        return {{"rows": [1, 2, 3], "text": 'comma, "quote", pipe | tab \\t newline \\n é 漢 🙂', "none": None}}

    @task(pool="seed_pool")
    def transform(data: dict) -> list[int]:
        return [x * 2 for x in data["rows"]]

    @task(outlets=[Dataset("s3://seed-bucket/sales/")])
    def load(rows: list[int]) -> str:
        return f"loaded {{len(rows)}} rows"

    load(transform(extract()))

seed_etl()
""",
    "seed_flaky.py": f"""
from __future__ import annotations
import pendulum
from airflow.decorators import dag, task
from airflow.operators.python import get_current_context

@dag(dag_id="seed_flaky", schedule=None, start_date={_START}, catchup=False, tags=["seed"])
def seed_flaky():
    @task(retries=1, retry_delay=pendulum.duration(seconds=0))
    def call_api() -> list[int]:
        if get_current_context()["ti"].try_number < 2:
            raise ConnectionError("first try always fails")
        return [1, 2, 3]

    @task
    def square(item: int) -> int:
        return item * item

    square.expand(item=call_api())

seed_flaky()
""",
    "seed_broken.py": f"""
from __future__ import annotations
import pendulum
from airflow.decorators import dag, task

@dag(dag_id="seed_broken", schedule=None, start_date={_START}, catchup=False, tags=["seed"])
def seed_broken():
    @task
    def fail() -> None:
        raise PermissionError("this task always fails")

    fail()

seed_broken()
""",
    "seed_binary.py": f"""
from __future__ import annotations
import pendulum
from airflow.decorators import dag, task

@dag(dag_id="seed_binary", schedule=None, start_date={_START}, catchup=False)
def seed_binary():
    @task
    def blob() -> bytes:
        return bytes(range(256)) + b"\\\\N,\\"\\n"

    @task
    def keep(data: bytes) -> frozenset:
        return frozenset({{len(data), "set"}})

    keep(blob())

seed_binary()
""",
    "seed_quarterly.py": f"""
from __future__ import annotations
import pendulum
from airflow.decorators import dag, task

@dag(dag_id="seed_quarterly", schedule="0 0 1 */3 *", start_date={_START}, catchup=True)  # 3.2.1 refuses "@quarterly"
def seed_quarterly():
    @task
    def report() -> str:
        return "report"

    report()

seed_quarterly()
""",
}
# What seed_history leaves unpaused; every other seeded DAG stays paused (paused at creation).
SEED_UNPAUSED = ("seed_etl", "seed_flaky", "seed_binary")

# Hand-picked values that broke CSV exports of earlier tools (docs/design.md, "What earlier tools taught").
FIXED_HOSTILE = (
    "",
    " ",
    "a,b",
    'say "hi"',
    "line\nbreak\r\nwindows",
    "tab\tpipe|bar",
    "back\\slash \\N \\.",
    "NULL",
    "\\N",
    "é漢字🙂 Ω",
    '{"nested": {"a": [1, {"b": null}], "c": "x,y"}}',
    "x" * 100_000,
)


def hostile_strings(n: int = 30) -> list[str]:
    """FIXED_HOSTILE plus `n` strings drawn by hypothesis (no NUL: PostgreSQL text cannot hold it)."""
    from hypothesis import strategies as st
    from hypothesis.errors import NonInteractiveExampleWarning

    alphabet = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00")
    strategy = st.one_of(
        st.text(alphabet=alphabet, max_size=300),
        st.text(alphabet=st.sampled_from(",\"\n\r\t|\\' ;{}[]:N."), min_size=1, max_size=40),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NonInteractiveExampleWarning)
        drawn = [strategy.example() for _ in range(n)]
    return [*FIXED_HOSTILE, *drawn]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PostgresCluster]:
    cluster = PostgresCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@dataclass(frozen=True)
class MigratedTemplate:
    """A database migrated once per session; every PostgreSQL instance starts as a copy of it."""

    name: str
    api_password: str | None  # Airflow 3: the Admin user the REST API is called as exists already


@pytest.fixture(scope="session")
def migrated_template(pg_cluster: PostgresCluster, tmp_path_factory: pytest.TempPathFactory) -> MigratedTemplate:
    name = f"airflow_template_{uuid.uuid4().hex[:8]}"
    home = tmp_path_factory.mktemp(name)
    if AIRFLOW_MAJOR >= 3:
        db = pg_cluster.create_mwaa_database(name)
        instance = AirflowInstance(
            home=home, db_url=db.url, migrate_url=db.owner_url, dags_folder=home / "dags",
            bin_dir=Path(sys.executable).parent,
        )  # fmt: skip
        instance.migrate()
        instance.create_api_user()
        return MigratedTemplate(name, instance.api_password)
    url = pg_cluster.create_database(name)
    instance = AirflowInstance(home=home, db_url=url, dags_folder=home / "dags", bin_dir=Path(sys.executable).parent)
    instance.migrate()
    return MigratedTemplate(name, None)


@pytest.fixture(scope="session")
def make_airflow(
    pg_cluster: PostgresCluster, migrated_template: MigratedTemplate, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., AirflowInstance]]:
    instances: list[AirflowInstance] = []
    sqlite_template: list[Path] = []  # a SQLite file migrated once, on first use; each SQLite instance gets a copy

    def migrated_sqlite(path: Path) -> None:
        if not sqlite_template:
            home = tmp_path_factory.mktemp("sqlite_template")
            url, bin_dir = f"sqlite:///{home}/airflow.db", Path(sys.executable).parent
            AirflowInstance(home=home, db_url=url, dags_folder=home, bin_dir=bin_dir).migrate()
            sqlite_template.append(home / "airflow.db")
        shutil.copyfile(sqlite_template[0], path)

    def make(
        name: str, *, dags: dict[str, str] | None = None, fernet_key: str | None = None, sqlite: bool = False
    ) -> AirflowInstance:
        db = f"{name}_{uuid.uuid4().hex[:8]}"
        home = tmp_path_factory.mktemp(db)
        dags_folder = home / "dags"
        dags_folder.mkdir()
        for file_name, source in (dags or {}).items():
            (dags_folder / file_name).write_text(source)
        kwargs: dict[str, str] = {"fernet_key": fernet_key} if fernet_key is not None else {}
        if sqlite:
            migrated_sqlite(home / "airflow.db")
            url = f"sqlite:///{home}/airflow.db"
        elif AIRFLOW_MAJOR >= 3:
            mwaa = pg_cluster.create_mwaa_database(db, template=migrated_template.name)
            url, kwargs["migrate_url"] = mwaa.url, mwaa.owner_url
            kwargs["api_password"] = str(migrated_template.api_password)
        else:
            url = pg_cluster.clone_database(migrated_template.name, db)
        if AIRFLOW_MAJOR < 3:
            # No CLI ran in this home yet, so Airflow 2 has not written its default airflow.cfg, and a snippet's
            # `conf.set("core", ...)` finds no section: an airflow.cfg with the section (the rest defaults).
            (home / "airflow.cfg").write_text("[core]\n")
        instance = AirflowInstance(
            home=home, db_url=url, dags_folder=dags_folder, bin_dir=Path(sys.executable).parent, **kwargs
        )
        instances.append(instance)
        return instance

    yield make
    for instance in instances:
        instance.stop()


@dataclass
class Seeded:
    """What seed_history wrote, for assertions after a restore."""

    variables: dict[str, str] = field(default_factory=dict)
    connections: dict[str, dict[str, object]] = field(default_factory=dict)
    paused: dict[str, bool] = field(default_factory=dict)
    users: tuple[str, ...] = ()
    trigger_kwargs: dict[str, object] = field(default_factory=dict)


_SEED_SCRIPT = r"""
import datetime, json
import pendulum
from werkzeug.security import generate_password_hash
from airflow.configuration import conf
from airflow.jobs.job import Job
from airflow.models import Connection, DagBag, DagModel, DagRun, Log, Pool, TaskInstance, Trigger, Variable, XCom
from airflow.providers.fab.auth_manager.models import Role, User
from airflow.utils.session import create_session

data = json.loads(open(DATA_FILE, encoding="utf-8").read())
Pool.create_or_update_pool("seed_pool", 3, "pool used by seed_etl", include_deferred=False)
dagbag = DagBag(include_examples=False)
dagbag.sync_to_db()  # what `airflow dags reserialize` does
now = datetime.datetime(2026, 1, 1, 12, 0, 0)
with create_session() as session:
    roles = {n: session.query(Role).filter_by(name=n).one_or_none() or Role(name=n) for n in ("Admin", "Analyst")}
    creator = None
    for name, role in data["users"].items():  # the first user (an admin) adds the others, as people do
        user = User(
            first_name=name.title(), last_name="Seed", username=name, email=f"{name}@example.com", active=True,
            password=generate_password_hash("pw"), roles=[roles[role]], created_on=now, changed_on=now,
            created_by=creator, changed_by=creator,
        )
        session.add(user)
        session.flush()
        creator = creator or user
# What `airflow dags test <dag> <date>` runs, in one process instead of five (each CLI start costs seconds).
for dag_id, date, run_conf, pickling in data["runs"]:
    conf.set("core", "enable_xcom_pickling", str(pickling))
    dagbag.get_dag(dag_id).test(execution_date=pendulum.parse(date), run_conf=run_conf)
conf.set("core", "enable_xcom_pickling", "False")
for key, value in data["variables"].items():
    Variable.set(key, value, description="seeded: " + key[:50])
Variable.set("json_var", {"a": [1, {"b": None}], "s": "x,y"}, serialize_json=True)
with create_session() as session:
    for conn_id, spec in data["connections"].items():
        session.add(Connection(conn_id=conn_id, **spec))
    session.flush()
    users = {u.username: u.id for u in session.query(User)}
    job = Job(job_type="LocalTaskJob", hostname="old-worker-1")
    job.state = "success"
    session.add(job)
    trigger = Trigger(classpath="airflow.triggers.temporal.TimeDeltaTrigger", kwargs=data["trigger_kwargs"])
    session.add(trigger)
    session.flush()
    for i, dr in enumerate(session.query(DagRun).order_by(DagRun.id)):
        dr.note = data["hostile"][i % len(data["hostile"])][:1000] or "note"
        dr.dag_run_note.user_id = users["analyst"]
        for ti in dr.get_task_instances(session=session):
            ti.job_id = job.id
            ti.note = "ti note " + data["hostile"][(i + 3) % len(data["hostile"])][:500]
            ti.task_instance_note.user_id = users["admin"]
    last_ti = session.query(TaskInstance).filter(TaskInstance.dag_id == "seed_broken").first()
    last_ti.trigger_id = trigger.id
    dr = session.query(DagRun).filter(DagRun.dag_id == "seed_etl").first()
    for i, value in enumerate(data["hostile"]):
        XCom.set(
            key=f"hostile_{i}", value=value, dag_id=dr.dag_id, task_id="extract", run_id=dr.run_id, session=session
        )
        session.add(Log(event="seed-hostile", extra=value, dag_id=dr.dag_id))
    for dag_id in data["unpaused"]:
        session.query(DagModel).filter(DagModel.dag_id == dag_id).update({"is_paused": False})
    Pool.create_or_update_pool(
        "default_pool", 64, "default pool, resized in the source", include_deferred=False, session=session
    )
"""


def seed_history(instance: AirflowInstance, *, hostile: list[str]) -> Seeded:
    """Fill `instance` through real Airflow (see the module docstring). One Airflow process, ~15 s."""
    run_conf = {"hostile": hostile[:8], "nested": {"list": [1, 2, {"deep": 'x,"y"'}]}}
    runs = [  # dag_id, logical date, conf, XCom pickling
        ("seed_etl", "2026-01-01", run_conf, False),
        ("seed_etl", "2026-01-02", None, False),
        ("seed_flaky", "2026-01-03", None, False),  # fails its first try, succeeds on the retry; mapped
        ("seed_broken", "2026-01-04", None, False),  # fails
        ("seed_binary", "2026-01-05", None, True),  # pickled XComs: bytes and a frozenset
    ]
    seeded = Seeded(
        variables={f"hostile_{i}": value for i, value in enumerate(hostile)} | {"empty_var": ""},
        connections={
            "seed_pg": {
                "conn_type": "postgres",
                "host": "db.example.com",
                "login": "etl",
                "port": 5432,
                "schema": "analytics",
                "password": 'p@ss,w"ord\n' + hostile[-1][:200],
                "extra": json.dumps({"sslmode": "require", "nested": {"k": [1, "a|b"]}}),
            },
            "seed_http": {"conn_type": "http", "host": "api.example.com", "password": "", "extra": None},
            "seed_nulls": {"conn_type": "generic", "password": None, "extra": None, "description": ""},
        },
        trigger_kwargs={"moment": "2026-01-01T00:00:00+00:00", "text": hostile[3]},
        users=("admin", "analyst"),
    )
    data = {
        "variables": seeded.variables,
        "connections": seeded.connections,
        "hostile": hostile,
        "unpaused": list(SEED_UNPAUSED),
        "trigger_kwargs": seeded.trigger_kwargs,
        "users": {"admin": "Admin", "analyst": "Analyst"},
        "runs": runs,
    }
    data_file = instance.home / "seed-data.json"  # too big for a command line (the 100 kB value)
    data_file.write_text(json.dumps(data), encoding="utf-8")
    instance.python(f"DATA_FILE = {str(data_file)!r}\n{_SEED_SCRIPT}")
    seeded.paused = paused_states(instance.db_url)
    return seeded


def _connect(url: str):
    import psycopg2

    return psycopg2.connect(url.replace("postgresql+psycopg2://", "postgresql://"))


def _sqlite_path(url: str) -> str | None:
    return url.removeprefix("sqlite:///") if url.startswith("sqlite:") else None


def _sqlite_query(path: str, sql: str, params: object = None) -> list[tuple]:
    import sqlite3

    conn = sqlite3.connect(path)
    try:
        with conn:
            statements = [s for s in sql.split(";") if s.strip() and not s.strip().upper().startswith("SET ")]
            rows: list[tuple] = []
            for statement in statements:
                rows = conn.execute(statement.replace("%s", "?").replace("%%", "%"), params or ()).fetchall()
            return rows
    finally:
        conn.close()


def query(url: str, sql: str, params: object = None) -> list[tuple]:
    if path := _sqlite_path(url):
        return _sqlite_query(path, sql, params)
    conn = _connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute(sql, params)
            return cur.fetchall() if cur.description else []
    finally:
        conn.close()


def paused_states(url: str) -> dict[str, bool]:
    return {dag_id: bool(paused) for dag_id, paused in query(url, "SELECT dag_id, is_paused FROM dag")}


def table_names(url: str) -> list[str]:
    if _sqlite_path(url):
        return [r[0] for r in query(url, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1")]
    return [r[0] for r in query(url, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1")]


def table_rows(url: str, table: str, columns: list[str] | None = None) -> collections.Counter[str]:
    """Every row of `table` as PostgreSQL's row text (of `columns` only, if given), counted."""
    if path := _sqlite_path(url):
        cols = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        return collections.Counter(repr(r) for r in _sqlite_query(path, f'SELECT {cols} FROM "{table}"'))
    cols = ", ".join(f'"{c}"' for c in columns) if columns else f'"{table}".*'
    sql = f'SELECT ROW({cols})::text FROM "{table}"'
    conn = _connect(url)
    try:
        with conn, conn.cursor() as cur:
            cur.execute("SET TimeZone = 'UTC'")
            cur.execute(sql)
            return collections.Counter(r[0] for r in cur.fetchall())
    finally:
        conn.close()


def all_table_rows(url: str) -> dict[str, collections.Counter[str]]:
    return {t: table_rows(url, t) for t in table_names(url)}


@pytest.fixture(scope="session")
def seed() -> Callable[..., Seeded]:
    """`seed(instance, hostile=hostile_strings())`: see seed_history."""
    return seed_history
