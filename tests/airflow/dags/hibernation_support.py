"""Helpers shared by the hibernation DAG tests: seeding rows with plain SQL, moto clients."""

from __future__ import annotations

import datetime as dt
import itertools
import time
from dataclasses import dataclass
from typing import Any

import boto3
import sqlalchemy as sa
from mwaa_hibernate_runtime.backend import SqlBackend
from mwaa_hibernate_sandbox.postgres import PostgresCluster

REGION = "eu-west-1"
AWS_TEST_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_REGION": REGION,
}
_db_numbers = itertools.count(1)


@dataclass(frozen=True)
class Moto:
    endpoint: str

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)

    @property
    def env(self) -> dict[str, str]:
        """What a child process needs to talk to this moto and nothing else."""
        return {**AWS_TEST_ENV, "AWS_ENDPOINT_URL": self.endpoint}


# --- seeding with plain SQL: the unit tests need rows, not a scheduler ------------------------------------

EPOCH = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def add_dag(conn: sa.engine.Connection, dag_id: str, *, paused: bool) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, max_active_tasks, "
            "max_consecutive_failed_dag_runs, has_task_concurrency_limits, fileloc) "
            "VALUES (:d, :p, true, false, 16, 0, false, :f)"
        ),
        {"d": dag_id, "p": paused, "f": f"/dags/{dag_id}.py"},
    )


def add_run(
    conn: sa.engine.Connection,
    dag_id: str,
    run_id: str,
    *,
    start: dt.datetime,
    state: str = "success",
    run_type: str = "manual",
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO dag_run (dag_id, run_id, execution_date, start_date, end_date, state, run_type, "
            "external_trigger, clear_number) VALUES (:d, :r, :s, :s, :s, :st, :rt, :ext, 0)"
        ),
        {"d": dag_id, "r": run_id, "s": start, "st": state, "rt": run_type, "ext": run_type == "manual"},
    )


def add_ti(
    conn: sa.engine.Connection,
    dag_id: str,
    run_id: str,
    task_id: str,
    *,
    state: str,
    start: dt.datetime = EPOCH,
    map_index: int = -1,
) -> None:
    conn.execute(
        sa.text(
            "INSERT INTO task_instance (dag_id, run_id, task_id, map_index, state, start_date, pool, pool_slots, "
            "try_number, max_tries) VALUES (:d, :r, :t, :m, :s, :sd, 'default_pool', 1, 1, 0)"
        ),
        {"d": dag_id, "r": run_id, "t": task_id, "m": map_index, "s": state, "sd": start},
    )


def paused_states(engine: sa.engine.Engine) -> dict[str, bool]:
    with engine.connect() as conn:
        return dict(conn.execute(sa.text("SELECT dag_id, is_paused FROM dag")).all())


def wait_for_execution(sfn: Any, arn: str, *, timeout: float = 60) -> dict[str, Any]:
    """Poll DescribeExecution until the execution leaves RUNNING; return the description."""
    deadline = time.monotonic() + timeout
    while True:
        described = sfn.describe_execution(executionArn=arn)
        if described["status"] != "RUNNING":
            return described
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution {arn} still RUNNING after {timeout:.0f}s")
        time.sleep(0.2)


def clone_migrated(cluster: PostgresCluster, template: str, name: str | None = None) -> str:
    """A new database identical to the migrated template; returns its SQLAlchemy URL."""
    return cluster.clone_database(template, name or f"hibernation_dags_{next(_db_numbers)}")


def backend(engine: sa.engine.Engine) -> SqlBackend:
    """The steps' database interface on a test database (no Fernet key: these tests hold no secrets)."""
    return SqlBackend(engine, None)
