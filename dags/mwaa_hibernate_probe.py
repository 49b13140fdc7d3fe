"""Probe: can a task of this environment reach the metadata database itself (the task carrier)?

Triggered by mwaa-hibernate (`install-dags`, and the state machines before each hibernation and wake),
never on a schedule. Its first task opens a connection of its own from the database credentials MWAA's
containers carry, logs what it found (never a credential) and branches to the one task named after the
outcome; mwaa-hibernate reads which one ran. On Airflow 3 the answer decides between the task carrier and
the API-server plugin (docs/contracts.md, "Carriers").
"""

from __future__ import annotations

import pendulum
from mwaa_hibernate_runtime import compat, tasks
from mwaa_hibernate_snapshot.carrier import PROBE_DAG_ID, PROBE_OUTCOMES, PROBE_TASK_ID

DAG, chain, PythonOperator, TriggerRule = compat.dag_building_blocks()
BranchPythonOperator, EmptyOperator = compat.probe_building_blocks()

with DAG(
    dag_id=PROBE_DAG_ID,
    description="mwaa-hibernate: check that a task can reach the metadata database (the task carrier)",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["mwaa-hibernate"],
    doc_md=__doc__,
) as dag:
    probe = BranchPythonOperator(task_id=PROBE_TASK_ID, python_callable=tasks.probe_database_access)
    for outcome in PROBE_OUTCOMES:
        probe >> EmptyOperator(task_id=outcome)
