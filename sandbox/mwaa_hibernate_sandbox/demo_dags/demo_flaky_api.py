"""Demo DAG: a task that fails on its first try and succeeds on the retry (try_number 2 in the history)."""

from __future__ import annotations

import pendulum

try:  # Airflow 3
    from airflow.sdk import dag, get_current_context, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.operators.python import get_current_context

DAG_ID = "demo_flaky_api"


@dag(dag_id=DAG_ID, schedule=None, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["demo"])
def demo_flaky_api():
    @task(retries=1, retry_delay=pendulum.duration(seconds=1))
    def call_api() -> dict:
        if get_current_context()["ti"].try_number < 2:
            raise ConnectionError("upstream API timed out (this demo task always fails its first try)")
        return {"status": 200, "items": list(range(5))}

    @task
    def fan_out(response: dict) -> list[int]:
        return response["items"]

    @task
    def process(item: int) -> int:
        return item * item

    process.expand(item=fan_out(call_api()))


demo_flaky_api()
