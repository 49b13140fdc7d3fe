"""Wake import: restore the snapshot into this new environment, then each DAG's paused state, call back.

Triggered by the wake state machine (never on a schedule) with the run conf described in
docs/contracts.md. The work lives in `mwaa_hibernate_runtime.tasks`; this file only wires it.
The restore is one transaction: if it fails nothing is imported and every DAG stays paused. Running
the DAG again for the same snapshot is safe.
"""

from __future__ import annotations

import pendulum
from mwaa_hibernate_runtime import compat, tasks
from mwaa_hibernate_snapshot.runconf import IMPORT_DAG_ID

# The same file on Airflow 2 and 3: the building blocks come from where each major keeps them.
DAG, chain, PythonOperator, TriggerRule = compat.dag_building_blocks()

with DAG(
    dag_id=IMPORT_DAG_ID,
    description="mwaa-hibernate: restore the metadata database snapshot into a recreated environment",
    schedule=None,
    start_date=pendulum.datetime(2024, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    default_args=tasks.DEFAULT_ARGS,
    tags=["mwaa-hibernate"],
    doc_md=__doc__,
) as dag:
    steps = [
        PythonOperator(task_id=tasks.PAUSE_DAGS, python_callable=tasks.pause_dags_before_restore),
        PythonOperator(task_id=tasks.RESTORE_SNAPSHOT, python_callable=tasks.restore_snapshot),
        PythonOperator(task_id=tasks.APPLY_PAUSED_STATES, python_callable=tasks.apply_paused_states),
        PythonOperator(task_id=tasks.REPORT_SUCCESS, python_callable=tasks.report_import_success),
    ]
    on_failure = PythonOperator(
        task_id=tasks.REPORT_FAILURE, python_callable=tasks.report_import_failure, trigger_rule=TriggerRule.ONE_FAILED
    )
    fail_run = PythonOperator(
        task_id=tasks.FAIL_RUN, python_callable=tasks.fail_run, trigger_rule=TriggerRule.ONE_FAILED
    )
    chain(*steps)
    chain(steps, on_failure)
    chain(steps, fail_run)
