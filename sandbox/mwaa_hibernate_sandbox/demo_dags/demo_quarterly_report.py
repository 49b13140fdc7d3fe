"""Demo DAG: kept paused by its owners; the restore must bring it back paused."""

from __future__ import annotations

import pendulum

try:  # Airflow 3
    from airflow.sdk import dag, task
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task

DAG_ID = "demo_quarterly_report"


@dag(
    dag_id=DAG_ID,
    # "@quarterly" written out: Airflow 3.2.1's DAG parser refuses that preset (AirflowTimetableInvalid: "Exactly 5, 6
    # or 7 columns has to be specified"), so the DAG never appeared on 3.2.1.
    schedule="0 0 1 */3 *",
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    tags=["demo"],
)
def demo_quarterly_report():
    @task
    def build_report() -> str:
        return "report built"

    build_report()


demo_quarterly_report()
