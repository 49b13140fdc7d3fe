"""Demo DAG: a small ETL whose tasks pass data through XComs and use a custom pool."""

from __future__ import annotations

import pendulum

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

DAG_ID = "demo_sales_etl"


@dag(dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["demo"])
def demo_sales_etl():
    @task
    def extract() -> list[dict]:
        return [
            {"region": "EMEA", "amount": 120.5},
            {"region": "AMER", "amount": 99.0},
            {"region": "APAC", "amount": 0},
        ]

    @task(pool="demo_reporting")
    def transform(rows: list[dict]) -> dict:
        return {row["region"]: row["amount"] * 1.21 for row in rows}

    @task
    def load(totals: dict) -> str:
        return f"loaded {len(totals)} regions, note: 'quoted', \"double\", comma, and a\nnewline"

    load(transform(extract()))


demo_sales_etl()
