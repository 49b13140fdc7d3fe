"""Hibernate export: record and pause every DAG, drain, trim, snapshot the metadata database, call back.

Triggered by the hibernate state machine (never on a schedule) with the run conf described in
docs/contracts.md. The work lives in `mwaa_hibernate_runtime.tasks`; this file only wires it.
If any step fails, the handler restores every DAG's paused state exactly as recorded and reports the
failure to the state machine; `fail_run` then marks the run failed.
"""

from __future__ import annotations

import pendulum
from mwaa_hibernate_runtime import compat, tasks
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID

# The same file on Airflow 2 and 3: the building blocks come from where each major keeps them.
DAG, chain, PythonOperator, TriggerRule = compat.dag_building_blocks()

with DAG(
    dag_id=EXPORT_DAG_ID,
    description="mwaa-hibernate: snapshot the metadata database before the environment is deleted",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["mwaa-hibernate"],
    doc_md=__doc__,
) as dag:
    steps = [
        PythonOperator(task_id=tasks.RECORD_PAUSED_STATES, python_callable=tasks.record_paused_states),
        PythonOperator(task_id=tasks.PAUSE_DAGS, python_callable=tasks.pause_dags),
        PythonOperator(task_id=tasks.DRAIN_RUNNING_WORK, python_callable=tasks.drain_running_work),
        PythonOperator(task_id=tasks.TRIM_HISTORY, python_callable=tasks.trim_history),
        PythonOperator(task_id=tasks.EXPORT_SNAPSHOT, python_callable=tasks.export_snapshot),
        PythonOperator(task_id=tasks.REPORT_SUCCESS, python_callable=tasks.report_export_success),
    ]
    on_failure = PythonOperator(
        task_id=tasks.RESTORE_AFTER_FAILURE,
        python_callable=tasks.restore_paused_states_and_report_failure,
        trigger_rule=TriggerRule.ONE_FAILED,
    )
    fail_run = PythonOperator(
        task_id=tasks.FAIL_RUN, python_callable=tasks.fail_run, trigger_rule=TriggerRule.ONE_FAILED
    )
    chain(*steps)
    chain(steps, on_failure)
    chain(steps, fail_run)
