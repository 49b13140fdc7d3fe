"""The DAG files as this Airflow version parses them: ids, contract settings, wiring, nothing done at parse time."""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import boto3
import pytest
import sqlalchemy
from airflow.models import Variable
from airflow.models.dagbag import DagBag
from mwaa_hibernate_runtime import tasks
from mwaa_hibernate_snapshot.carrier import PROBE_DAG_ID, PROBE_OUTCOMES, PROBE_TASK_ID
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID, HIBERNATION_DAG_IDS, IMPORT_DAG_ID

REPO_DAGS = Path(__file__).resolve().parents[3] / "dags"


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    """Parsed with AWS clients, database engines and Variable reads all forbidden: parsing must need none."""

    def forbidden(*args, **kwargs):
        raise AssertionError("the DAG files must not do work at parse time")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(boto3, "client", forbidden)
        mp.setattr(sqlalchemy, "create_engine", forbidden)
        mp.setattr(Variable, "get", forbidden)
        options = {"include_examples": False} if "include_examples" in inspect.signature(DagBag).parameters else {}
        bag = DagBag(dag_folder=str(REPO_DAGS), safe_mode=True, **options)  # Airflow 3 has no examples option
    return bag


def test_every_dag_file_parses_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == set(HIBERNATION_DAG_IDS)


def test_the_probe_branches_to_one_task_per_outcome(dagbag):
    dag = dagbag.dags[PROBE_DAG_ID]
    assert dag.get_task(PROBE_TASK_ID).downstream_task_ids == set(PROBE_OUTCOMES)
    assert {t.task_id for t in dag.tasks} == {PROBE_TASK_ID, *PROBE_OUTCOMES}


@pytest.mark.parametrize("dag_id", HIBERNATION_DAG_IDS)
def test_the_dags_follow_the_contract_settings(dagbag, dag_id):
    dag = dagbag.dags[dag_id]

    assert type(dag.timetable).__name__ == "NullTimetable", "triggered by the state machines only"
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert all(task.retries == 0 for task in dag.tasks)


@pytest.mark.parametrize(
    ("dag_id", "steps", "handler"),
    [
        pytest.param(EXPORT_DAG_ID, tasks.EXPORT_STEPS, tasks.RESTORE_AFTER_FAILURE, id="export"),
        pytest.param(IMPORT_DAG_ID, tasks.IMPORT_STEPS, tasks.REPORT_FAILURE, id="import"),
    ],
)
def test_steps_run_in_order_and_any_failure_reaches_the_handler(dagbag, dag_id, steps, handler):
    dag = dagbag.dags[dag_id]

    for upstream, downstream in itertools.pairwise(steps):
        assert dag.get_task(downstream).upstream_task_ids == {upstream}
    for guard in (handler, tasks.FAIL_RUN):
        task = dag.get_task(guard)
        assert task.trigger_rule == "one_failed"
        assert task.upstream_task_ids == set(steps), f"{guard} must see a failure of any step"
    assert {t.task_id for t in dag.tasks} == {*steps, handler, tasks.FAIL_RUN}
