"""Draining: wait for other DAGs' running and queued task instances, give up after the limit, on real PostgreSQL."""

from __future__ import annotations

import threading

import pytest
from mwaa_hibernate_runtime.draining import wait_for_drain
from mwaa_hibernate_runtime.errors import DrainTimeout
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID

from .hibernation_support import EPOCH, add_dag, add_run, add_ti, backend


@pytest.fixture
def busy(db_engine):
    """etl has one running and one queued task; the export DAG's own task runs; other states are idle."""
    with db_engine.begin() as conn:
        for dag_id in ("etl", "reports", EXPORT_DAG_ID):
            add_dag(conn, dag_id, paused=dag_id != EXPORT_DAG_ID)
            add_run(conn, dag_id, "run_1", start=EPOCH, state="running")
        add_ti(conn, "etl", "run_1", "load", state="running")
        add_ti(conn, "etl", "run_1", "fan_out", state="queued", map_index=3)
        add_ti(conn, EXPORT_DAG_ID, "run_1", "drain_running_work", state="running")
        for i, idle in enumerate(("scheduled", "up_for_retry", "up_for_reschedule", "deferred", "success", "failed")):
            add_ti(conn, "reports", "run_1", f"task_{i}", state=idle)
    return db_engine


def test_only_other_dags_running_or_queued_task_instances_count_as_busy(busy):
    found = backend(busy).busy_task_instances()

    assert [(b.dag_id, b.task_id, b.map_index, b.state) for b in found] == [
        ("etl", "fan_out", 3, "queued"),
        ("etl", "load", -1, "running"),
    ]


def test_drain_returns_once_the_busy_task_instances_finish(busy):
    finished = threading.Event()

    def finish_them() -> None:
        with busy.begin() as conn:
            conn.exec_driver_sql("UPDATE task_instance SET state = 'success' WHERE dag_id = 'etl'")
        finished.set()

    polls = []

    def sleep(seconds: float) -> None:
        polls.append(seconds)
        if len(polls) == 2:  # the work finishes while the drain is waiting
            threading.Thread(target=finish_them).start()
            finished.wait(10)

    report = wait_for_drain(backend=backend(busy), timeout_seconds=60, poll_seconds=0.01, sleep=sleep)

    assert report.initially_busy == 2
    assert len(polls) == 2
    assert backend(busy).busy_task_instances() == []


def test_drain_fails_safe_with_drain_timeout_naming_what_still_runs(busy):
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(DrainTimeout) as caught:
        wait_for_drain(backend=backend(busy), timeout_seconds=120, poll_seconds=30, clock=lambda: now[0], sleep=sleep)

    message = str(caught.value)
    assert "2 task instance(s)" in message and "2.0 minutes" in message
    assert "etl.load (running, run run_1)" in message and "etl.fan_out[3] (queued, run run_1)" in message
    assert now[0] == 120


def test_a_zero_timeout_only_checks_and_an_idle_database_passes_at_once(db_engine):
    report = wait_for_drain(backend=backend(db_engine), timeout_seconds=0)

    assert report.initially_busy == 0


def test_a_zero_timeout_with_busy_work_fails_without_waiting(busy):
    slept = []

    with pytest.raises(DrainTimeout):
        wait_for_drain(backend=backend(busy), timeout_seconds=0, sleep=slept.append)

    assert slept == []
