"""Trimming history with Airflow's own db_cleanup, run the way a task runs it (Airflow configured, its session)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
import sqlalchemy as sa
from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID

from .hibernation_support import add_dag, add_run, add_ti

NOW = dt.datetime.now(dt.UTC)


def _days_ago(days: int) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


@pytest.fixture
def history(db_engine, airflow_bin, tmp_path):
    with db_engine.begin() as conn:
        add_dag(conn, "etl", paused=False)
        add_dag(conn, EXPORT_DAG_ID, paused=False)
        runs = {
            "scheduled__oldest": (_days_ago(90), "scheduled"),
            "scheduled__last": (_days_ago(60), "scheduled"),  # the DAG's latest scheduled run: always kept
            "manual__old": (_days_ago(45), "manual"),
            "manual__recent": (_days_ago(2), "manual"),
        }
        for run_id, (start, run_type) in runs.items():
            add_run(conn, "etl", run_id, start=start, run_type=run_type)
            add_ti(conn, "etl", run_id, "load", state="success", start=start)
        # The export's own in-flight run, started moments ago.
        add_run(conn, EXPORT_DAG_ID, "manual__now", start=NOW, state="running")
        add_ti(conn, EXPORT_DAG_ID, "manual__now", "trim_history", state="running", start=NOW)
        for days in (100, 40, 1):
            conn.execute(
                sa.text("INSERT INTO log (dttm, dag_id, event, owner) VALUES (:t, 'etl', 'cli_test', 'me')"),
                {"t": _days_ago(days)},
            )
    url = db_engine.url.render_as_string(hide_password=False)
    return db_engine, AirflowInstance(home=tmp_path / "home", db_url=url, dags_folder=tmp_path, bin_dir=airflow_bin)


def _trim(instance: AirflowInstance, retention_days: int) -> dict:
    out = instance.python(
        "import json; from airflow import settings; from mwaa_hibernate_runtime.backend import SqlBackend; "
        f"r = SqlBackend(settings.engine, None).trim_history({retention_days}); "
        "print('REPORT' + json.dumps({'cutoff': r.cutoff and r.cutoff.isoformat(), 'deleted': r.deleted}))"
    )
    line = next(x for x in out.stdout.splitlines() if x.startswith("REPORT"))
    return json.loads(line[len("REPORT") :])


def _runs(engine) -> set[tuple[str, str]]:
    with engine.connect() as conn:
        return set(conn.execute(sa.text("SELECT dag_id, run_id FROM dag_run")).all())


def test_history_older_than_the_window_goes_and_everything_else_stays(history):
    engine, instance = history

    report = _trim(instance, retention_days=30)

    assert _runs(engine) == {
        ("etl", "scheduled__last"),
        ("etl", "manual__recent"),
        (EXPORT_DAG_ID, "manual__now"),
    }
    with engine.connect() as conn:
        tis = set(conn.execute(sa.text("SELECT dag_id, run_id, state FROM task_instance")).all())
        logs = conn.execute(sa.text("SELECT count(*) FROM log WHERE event = 'cli_test'")).scalar()
        archives = sa.inspect(conn).get_table_names()
    # Task instances older than the window go with their runs; the export's running task stays.
    assert tis == {("etl", "manual__recent", "success"), (EXPORT_DAG_ID, "manual__now", "running")}
    assert logs == 1
    assert not [t for t in archives if t.startswith("_airflow_deleted__")], "archive tables would break the export"
    assert report["deleted"]["dag_run"] == 2
    assert dt.datetime.fromisoformat(report["cutoff"]) < NOW - dt.timedelta(days=29)


def test_a_retention_of_zero_keeps_everything(history):
    engine, instance = history
    before = _runs(engine)

    report = _trim(instance, retention_days=0)

    assert report == {"cutoff": None, "deleted": {}}
    assert _runs(engine) == before
