"""Demo DAG: a run that fails, so the history the restore must reproduce includes failures."""

from __future__ import annotations

import pendulum

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

DAG_ID = "demo_broken_export"


@dag(dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["demo"])
def demo_broken_export():
    @task
    def prepare() -> str:
        return "s3://nowhere/export.csv"

    @task
    def export(path: str) -> None:
        raise PermissionError(f"access denied writing {path} (this demo task always fails)")

    export(prepare())


demo_broken_export()
