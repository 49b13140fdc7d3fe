"""History made by a real Airflow 3 environment, for the engine tests on Airflow 3.

`make_history(instance, hostile=...)` runs the instance as MWAA runs it (API server, scheduler, DAG
processor, triggerer; LocalExecutor; FAB auth manager; a non-superuser database role) and makes history
the way people and the scheduler make it, never with `airflow dags test` (which skips Airflow 3's
database guard): through the REST API it unpauses DAGs, triggers runs (one with hostile values in its
conf), answers a human-in-the-loop request (3.1+), writes notes, variables, connections and a pool, and
creates a backfill; the scheduler runs a task that fails twice before it succeeds (three task instance
ids), mapped tasks, a task deferred to the triggerer, a producer of an asset whose event triggers another
DAG, runs with deadlines (3.2+). A DAG file is then edited, so the processor writes a second version and a
second run runs on it. Users are added by the admin as people do (with the FAB models, in a process of
their own, like `airflow users create`), and notes get written by them. The instance keeps running, so
the caller can read it through the REST API; `stop()` it before exporting.

`insert_row(url, table, values)` writes one row into whatever schema the database has, filling the
NOT NULL columns `values` does not name with a plain value of their type: tests that need a few rows of
a given shape (the hibernation DAGs' runs, locks, the benchmark) write them the same way on every version.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance, wait_until

_START = "datetime(2026, 1, 1, tzinfo=timezone.utc)"
ASSET = ("hist_asset", "s3://hist-bucket/sales/data.csv")

# A deferral shorter than ~5 s races its own executor event on 3.0 and 3.2 (the task instance is failed);
# 20 s never did in the research runs.
DEFER_SECONDS = 20

HISTORY_DAGS: dict[str, str] = {
    "hist_main.py": f"""
from __future__ import annotations
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path
from airflow.providers.standard.sensors.date_time import DateTimeSensorAsync
from airflow.sdk import Asset, dag, task

ASSET = Asset(name="{ASSET[0]}", uri="{ASSET[1]}")


@dag(schedule=None, start_date={_START}, catchup=False, tags=["hist"])
def hist_main():
    @task(retries=2, retry_delay=timedelta(seconds=1))
    def flaky(ti=None):
        if ti.try_number < 3:
            raise ConnectionError(f"try {{ti.try_number}} fails on purpose")
        return {{"rows": [1, 2, 3], "text": 'comma, "quote", pipe | tab \\t newline \\n é 漢 🙂', "none": None}}

    @task
    def make_list():
        return [1, 2, 3]

    @task
    def square(x):
        return x * x

    @task
    def hostile_values():
        return json.loads((Path(__file__).parent / "hostile.json").read_text(encoding="utf-8"))

    wait = DateTimeSensorAsync(
        task_id="wait_deferred",
        target_time="{{{{ (macros.datetime.utcnow() + macros.timedelta(seconds={DEFER_SECONDS})).isoformat() }}}}",
    )

    @task(outlets=[ASSET])
    def produce():
        return "produced"

    square.expand(x=make_list())
    hostile_values()
    flaky() >> wait >> produce()


hist_main()
""",
    "hist_consumer.py": f"""
from __future__ import annotations
from datetime import datetime, timezone
from airflow.sdk import Asset, dag, task

ASSET = Asset(name="{ASSET[0]}", uri="{ASSET[1]}")


@dag(schedule=[ASSET], start_date={_START}, catchup=False, tags=["hist"])
def hist_consumer():
    @task
    def consume(triggering_asset_events=None):
        return {{str(k): len(v) for k, v in (triggering_asset_events or {{}}).items()}}

    consume()


hist_consumer()
""",
    # What stands in for the import DAG: the new environment runs it before the restore (its own run).
    "mwaa_hibernate_import.py": f"""
from __future__ import annotations
from datetime import datetime, timezone
from airflow.sdk import dag, task


@dag(dag_id="mwaa_hibernate_import", schedule=None, start_date={_START}, catchup=False)
def stand_in():
    @task
    def restore():
        return "restored"

    restore()


stand_in()
""",
    "hist_daily.py": f"""
from __future__ import annotations
from datetime import datetime, timezone
from airflow.sdk import dag, task


@dag(schedule="@daily", start_date={_START}, catchup=False, tags=["hist"])
def hist_daily():
    @task
    def day(ds=None):
        return ds

    day()


hist_daily()
""",
}
# Human-in-the-loop (Airflow 3.1+): a request answered through the REST API.
HITL_DAG = f"""
from __future__ import annotations
from datetime import datetime, timezone
from airflow.providers.standard.operators.hitl import HITLOperator
from airflow.sdk import dag


@dag(schedule=None, start_date={_START}, catchup=False, tags=["hist"])
def hist_hitl():
    HITLOperator(task_id="approve", subject="Ship it?", body="**numbers** look fine", options=["yes", "no"])


hist_hitl()
"""
# Deadlines (the 3.2+ form): the run outlasts its deadline, which is then missed and its callback queued (a
# deadline met is deleted when the run ends: only missed ones are history).
DEADLINE_DAG = f"""
from __future__ import annotations
import time
from datetime import datetime, timedelta, timezone
from airflow.sdk import dag, task
from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference


async def remind(**kwargs):
    return None


@dag(
    schedule=None,
    start_date={_START},
    catchup=False,
    deadline=DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=timedelta(seconds=1),
        callback=AsyncCallback("hist_deadline.remind", kwargs={{"to": "team@example.com"}}),
    ),
)
def hist_deadline():
    @task
    def work():
        time.sleep(10)  # the work outlasts the deadline
        return "done"

    work()


hist_deadline()
"""
# The edit that makes hist_main's second version (a task added).
EDIT = (
    "    square.expand(x=make_list())\n",
    "    square.expand(x=make_list())\n    make_list.override(task_id='added_in_v2')()\n",
)

USERS = {"admin": "Admin", "analyst": "Viewer", "operator": "Op"}

_USERS_AND_EXTRAS = r"""
import datetime, json
from sqlalchemy import text
from werkzeug.security import generate_password_hash
from airflow.models import Log
from airflow.providers.fab.auth_manager.models import Role, User
from airflow.utils.session import create_session

data = json.loads(open(DATA_FILE, encoding="utf-8").read())
now = datetime.datetime(2026, 1, 1, 12, 0, 0, tzinfo=datetime.timezone.utc)
with create_session() as session:
    admin = session.query(User).filter_by(username="admin").one()
    ids = {"admin": admin.id}
    for name, role_name in data["users"].items():  # the admin adds the others, as people do
        if name == "admin":
            continue
        role = session.query(Role).filter_by(name=role_name).one()
        user = User(
            first_name=name.title(), last_name="Hist", username=name, email=f"{name}@example.com", active=True,
            password=generate_password_hash("pw"), roles=[role], created_on=now, changed_on=now,
            created_by=admin, changed_by=admin,
        )
        session.add(user)
        session.flush()
        ids[name] = user.id
    for i, value in enumerate(data["hostile"]):
        session.add(Log(event="hist-hostile", extra=value, dag_id="hist_main", owner="analyst"))
    # Notes written by someone else than the admin who wrote the rest through the REST API.
    first = "(SELECT min(dag_run_id) FROM dag_run_note)"
    analyst = {"u": str(ids["analyst"])}
    session.execute(text(f"UPDATE dag_run_note SET user_id = :u WHERE dag_run_id = {first}"), analyst)
print(json.dumps(ids))
"""


@dataclass
class History:
    """What make_history wrote, for assertions after a restore."""

    runs: dict[str, str] = field(default_factory=dict)  # run_id -> final state
    variables: dict[str, str] = field(default_factory=dict)
    connections: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, int] = field(default_factory=dict)
    dag_ids: tuple[str, ...] = ()
    hitl: bool = False
    deadlines: bool = False


class Api:
    """The instance's REST API v2, as the admin user."""

    def __init__(self, instance: AirflowInstance) -> None:
        self.instance = instance

    def call(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        url = self.instance.api_base + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(
            url,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={**self.instance.api_headers(), "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            raise AssertionError(f"{method} {path} answered {error.code}: {error.read()[:2000]!r}") from None

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{urllib.parse.quote(run_id, safe='')}")["state"]

    def trigger(self, dag_id: str, run_id: str, conf: dict | None = None) -> None:
        body: dict[str, Any] = {"dag_run_id": run_id, "logical_date": datetime.now(UTC).isoformat()}
        if conf is not None:
            body["conf"] = conf
        self.call("POST", f"/dags/{dag_id}/dagRuns", body)

    def wait_finished(self, dag_id: str, run_id: str, timeout: float = 300) -> str:
        state = wait_until(
            lambda: (s := self.run_state(dag_id, run_id)) in ("success", "failed") and s,
            timeout=timeout,
            interval=1,
            what=f"run {run_id} of {dag_id} to finish",
        )
        return str(state)


def minor_version(instance: AirflowInstance) -> tuple[int, int]:
    major, minor = instance.airflow_version.split(".")[:2]
    return int(major), int(minor)


def history_dags(instance: AirflowInstance) -> dict[str, str]:
    """The DAG files of the history, as this Airflow version can parse them."""
    dags = dict(HISTORY_DAGS)
    if minor_version(instance) >= (3, 1):
        dags["hist_hitl.py"] = HITL_DAG
    if minor_version(instance) >= (3, 2):
        dags["hist_deadline.py"] = DEADLINE_DAG
    return dags


def write_dags(instance: AirflowInstance, hostile: list[str]) -> None:
    instance.dags_folder.mkdir(parents=True, exist_ok=True)
    for name, source in history_dags(instance).items():
        (instance.dags_folder / name).write_text(source, encoding="utf-8")
    (instance.dags_folder / "hostile.json").write_text(json.dumps(hostile[:12]), encoding="utf-8")
    (instance.dags_folder / ".airflowignore").write_text("hostile.json\n", encoding="utf-8")


def wait_parsed(instance: AirflowInstance, dag_ids: tuple[str, ...], timeout: float = 240) -> None:
    """Until the DAG processor has written every DAG (so the API lists it)."""
    api = Api(instance)

    def parsed() -> bool:
        listed = {d["dag_id"] for d in api.call("GET", "/dags", limit=100)["dags"]}
        return set(dag_ids) <= listed

    wait_until(parsed, timeout=timeout, interval=1, what=f"the DAG processor to parse {sorted(dag_ids)}")


def make_history(instance: AirflowInstance, *, hostile: list[str]) -> History:
    """Run `instance` and make its history (module docstring); the instance is left running."""
    write_dags(instance, hostile)
    dag_ids = tuple(sorted(name.removesuffix(".py") for name in history_dags(instance)))
    history = History(dag_ids=dag_ids)
    instance.start_all()
    api = Api(instance)
    wait_parsed(instance, dag_ids)
    for dag_id in dag_ids:
        if not dag_id.startswith("mwaa_hibernate"):
            api.call("PATCH", f"/dags/{dag_id}", {"is_paused": False})
    conf = {"hostile": hostile[:8], "nested": {"list": [1, 2, {"deep": 'x,"y"'}]}}
    api.trigger("hist_main", "manual_v1", conf)
    api.trigger("hist_daily", "manual_daily")
    if "hist_deadline" in dag_ids:
        api.trigger("hist_deadline", "manual_deadline")
        history.deadlines = True
    if "hist_hitl" in dag_ids:
        api.trigger("hist_hitl", "manual_hitl")
        _answer_hitl(api)
        history.hitl = True
    backfill = api.call(
        "POST",
        "/backfills",
        {"dag_id": "hist_daily", "from_date": "2026-01-01T00:00:00Z", "to_date": "2026-01-03T00:00:00Z",
         "max_active_runs": 2, "reprocess_behavior": "none"},
    )  # fmt: skip
    for dag_id, run_id in [("hist_main", "manual_v1"), ("hist_daily", "manual_daily")]:
        history.runs[run_id] = api.wait_finished(dag_id, run_id)
    wait_until(
        lambda: api.call("GET", f"/backfills/{backfill['id']}").get("completed_at"),
        timeout=300,
        interval=1,
        what="the backfill to complete",
    )
    consumer = wait_until(
        lambda: api.call("GET", "/dags/hist_consumer/dagRuns")["dag_runs"], timeout=180, what="the asset-triggered run"
    )
    history.runs[consumer[0]["dag_run_id"]] = api.wait_finished("hist_consumer", consumer[0]["dag_run_id"])
    for dag_id, run_id in [("hist_deadline", "manual_deadline"), ("hist_hitl", "manual_hitl")]:
        if dag_id in dag_ids:
            history.runs[run_id] = api.wait_finished(dag_id, run_id)
    # The DAG changes: the processor writes version 2 and the next run runs on it.
    main = instance.dags_folder / "hist_main.py"
    main.write_text(main.read_text(encoding="utf-8").replace(*EDIT), encoding="utf-8")
    wait_until(
        lambda: len(api.call("GET", "/dags/hist_main/dagVersions")["dag_versions"]) >= 2,
        timeout=180,
        interval=1,
        what="hist_main's second version",
    )
    api.trigger("hist_main", "manual_v2")
    history.runs["manual_v2"] = api.wait_finished("hist_main", "manual_v2")
    _configure(api, history, hostile)
    _notes(api)
    data = instance.home / "history-data.json"
    data.write_text(json.dumps({"users": USERS, "hostile": hostile}), encoding="utf-8")
    out = instance.python(f"DATA_FILE = {str(data)!r}\n{_USERS_AND_EXTRAS}")
    history.users = json.loads(out.stdout.strip().splitlines()[-1])
    # Paused states as people leave them: one DAG paused again, the others running.
    api.call("PATCH", "/dags/hist_daily", {"is_paused": True})
    return history


def _answer_hitl(api: Api) -> None:
    path = "/dags/hist_hitl/dagRuns/manual_hitl/taskInstances/approve/-1/hitlDetails"

    def waiting() -> bool:
        try:
            return bool(api.call("GET", path))
        except AssertionError:  # 404 until the task asked
            return False

    wait_until(waiting, timeout=180, interval=1, what="the human-in-the-loop request")
    # Answering before the scheduler has seen the deferring task's process exit fails the task instance (the
    # executor's "success" event then finds it queued again): wait for that event first.
    event = "Received executor event with state success for task instance TaskInstanceKey(dag_id='hist_hitl'"
    log = api.instance.home / "scheduler.out"
    wait_until(lambda: event in log.read_text(errors="replace"), timeout=120, what="the deferral's executor event")
    api.call("PATCH", path, {"chosen_options": ["yes"], "params_input": {}})


def _configure(api: Api, history: History, hostile: list[str]) -> None:
    history.variables = {f"hostile_{i}": value for i, value in enumerate(hostile[:20])} | {"empty_var": ""}
    for key, value in history.variables.items():
        api.call("POST", "/variables", {"key": key, "value": value, "description": f"seeded: {key}"})
    history.connections = {
        "hist_pg": {"connection_id": "hist_pg", "conn_type": "postgres", "host": "db.example.com", "login": "etl",
                    "port": 5432, "schema": "analytics", "password": 'p@ss,w"ord\n' + hostile[-1][:200],
                    "extra": json.dumps({"sslmode": "require", "nested": {"k": [1, "a|b"]}})},
        "hist_http": {"connection_id": "hist_http", "conn_type": "http", "host": "api.example.com"},
    }  # fmt: skip
    for spec in history.connections.values():
        api.call("POST", "/connections", spec)
    api.call("POST", "/pools", {"name": "hist_pool", "slots": 3, "description": "pool made by a person"})
    api.call("PATCH", "/pools/default_pool", {"slots": 64}, update_mask="slots")


def _notes(api: Api) -> None:
    api.call("PATCH", "/dags/hist_main/dagRuns/manual_v1", {"note": "run note: first version"}, update_mask="note")
    api.call("PATCH", "/dags/hist_main/dagRuns/manual_v2", {"note": "run note: second version"}, update_mask="note")
    api.call("PATCH", "/dags/hist_main/dagRuns/manual_v1/taskInstances/flaky", {"note": "failed twice, then ok"})
    api.call("PATCH", "/dags/hist_main/dagRuns/manual_v1/taskInstances/square/1", {"note": "mapped, index 1"})


# --- rows of any schema ------------------------------------------------------------------------------------------

_PLAIN = {
    "boolean": "false",
    "json": "'{}'",
    "jsonb": "'{}'",
    "uuid": "gen_random_uuid()",
    "bytea": "'\\x'",
}


def insert_row(url: str, table: str, values: dict[str, Any], *, conflict: str = "") -> None:
    """INSERT one row into `table` (PostgreSQL): `values` (SQL expressions as str) plus a plain value for every
    NOT NULL column without a default that `values` leaves out. `conflict`: e.g. "ON CONFLICT DO NOTHING"."""
    from conftest import query

    columns = query(
        url,
        "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
        "LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum "
        "WHERE a.attrelid = %s::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attnotnull AND d.adbin IS NULL",
        (f'"{table}"',),
    )
    row = dict(values)
    for name, type_name in columns:
        if name in row:
            continue
        if type_name in _PLAIN:
            row[name] = _PLAIN[type_name]
        elif type_name.startswith("timestamp"):
            row[name] = "now()"
        elif type_name in ("integer", "bigint", "smallint", "double precision"):
            row[name] = "0"
        else:
            row[name] = "''"
    cols = ", ".join(f'"{c}"' for c in row)
    query(url, f'INSERT INTO "{table}" ({cols}) VALUES ({", ".join(map(str, row.values()))}) {conflict}')


def hibernation_rows_airflow3(url: str, inflight: str, finished: str) -> None:
    """The export DAG's own runs in an Airflow 3 schema: one in flight, one finished, with a task and an XCom."""
    insert_row(url, "dag_bundle", {"name": "'dags-folder'", "active": "true"}, conflict="ON CONFLICT DO NOTHING")
    insert_row(
        url,
        "dag",
        {"dag_id": "'mwaa_hibernate_export'", "is_paused": "false", "bundle_name": "'dags-folder'",
         "max_active_tasks": "16", "max_active_runs": "1"},
    )  # fmt: skip
    for run_id, state, day in ((inflight, "running", 24), (finished, "success", 23)):
        insert_row(
            url,
            "dag_run",
            {"dag_id": "'mwaa_hibernate_export'", "run_id": f"'{run_id}'", "state": f"'{state}'",
             "logical_date": f"'2026-11-{day} 19:00:00+00'", "run_after": f"'2026-11-{day} 19:00:00+00'",
             "run_type": "'manual'", "log_template_id": "(SELECT max(id) FROM log_template)"},
        )  # fmt: skip
        insert_row(
            url,
            "task_instance",
            {"id": "gen_random_uuid()", "dag_id": "'mwaa_hibernate_export'", "task_id": "'export'",
             "run_id": f"'{run_id}'", "map_index": "-1", "state": f"'{state}'", "try_number": "1", "max_tries": "0",
             "pool": "'default_pool'", "pool_slots": "1", "queue": "'default'", "priority_weight": "1"},
        )  # fmt: skip
        insert_row(
            url,
            "xcom",
            {"dag_run_id": f"(SELECT id FROM dag_run WHERE run_id = '{run_id}')", "task_id": "'export'",
             "map_index": "-1", "key": "'progress'", "dag_id": "'mwaa_hibernate_export'", "run_id": f"'{run_id}'",
             "value": "'{}'", "timestamp": "now()"},
        )  # fmt: skip
