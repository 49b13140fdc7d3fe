"""The export and import task callables composed the way the DAGs run them, for the failure paths.

The end-to-end module runs the DAGs under a real scheduler; here the same callables run in this
process against a real migrated database, moto's S3, KMS and Step Functions, with a small stand-in
for the task instance (XCom in a dict, as PythonOperator would push return values). That makes the
rarer failure paths cheap to cover: a success callback the state machine no longer accepts, a drain
timeout, a step killed without a word, a conf nobody can answer.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import uuid
from dataclasses import dataclass, field
from typing import Any

import airflow.utils.log.secrets_masker  # noqa: F401 - see below
import pytest
import sqlalchemy as sa
from mwaa_hibernate_runtime import tasks
from mwaa_hibernate_runtime.errors import CallbackRejected, DrainTimeout
from mwaa_hibernate_snapshot.errors import SnapshotInvalid
from mwaa_hibernate_snapshot.manifest import Manifest
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID, IMPORT_DAG_ID, token_encryption_context

from .hibernation_support import EPOCH, add_dag, add_run, add_ti, clone_migrated, paused_states, wait_for_execution

# The callables import Airflow lazily, and Airflow configures logging on import, replacing the root
# logger's handlers. Imported at collection (above), before pytest installs its log capture.
ENVIRONMENT = "tasks-env"
BUCKET = "tasks-snapshots"
_snapshot_numbers = itertools.count(190000)
ORIGINAL = {"etl": False, "reports": True, "a_first": False, EXPORT_DAG_ID: False, IMPORT_DAG_ID: False}


@dataclass
class FakeTaskInstance:
    """The part of Airflow's TaskInstance the callables use: XCom push and pull, JSON-serialized."""

    task_id: str
    xcoms: dict[tuple[str, str], Any]

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcoms[(self.task_id, key)] = json.loads(json.dumps(value))

    def xcom_pull(self, task_ids: str, key: str = "return_value") -> Any:
        return self.xcoms.get((task_ids, key))


@dataclass
class FakeDagRun:
    conf: dict[str, Any]
    failed: list[str] = field(default_factory=list)

    def get_task_instances(self, state: list[str]) -> list[Any]:
        assert state == ["failed"]
        return [FakeTaskInstance(task_id=t, xcoms={}) for t in self.failed]


@dataclass
class Run:
    """One DAG run: call its steps in order as the scheduler would, keeping XCom and failed task ids."""

    conf: dict[str, Any]
    xcoms: dict[tuple[str, str], Any] = field(default_factory=dict)
    dag_run: FakeDagRun = field(init=False)

    def __post_init__(self) -> None:
        self.dag_run = FakeDagRun(conf=self.conf)

    def step(self, task_id: str, func) -> Any:
        ti = FakeTaskInstance(task_id=task_id, xcoms=self.xcoms)
        try:
            result = func(ti=ti, dag_run=self.dag_run)
        except Exception:
            self.dag_run.failed.append(task_id)
            raise
        if result is not None:
            ti.xcom_push("return_value", result)
        return result


@pytest.fixture(scope="module")
def aws(moto):
    kms, sqs, sfn, s3 = (moto.client(s) for s in ("kms", "sqs", "stepfunctions", "s3"))
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key = kms.create_key()["KeyMetadata"]["Arn"]
    queue = sqs.create_queue(QueueName=f"tasks-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    definition = {
        "StartAt": "Wait",
        "States": {
            "Wait": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": 120,
                # moto answers heartbeats with InvalidToken unless the state declares HeartbeatSeconds.
                "HeartbeatSeconds": 60,
                "End": True,
            }
        },
    }
    machine = sfn.create_state_machine(
        name=f"tasks-{uuid.uuid4().hex[:6]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/x",
    )["stateMachineArn"]
    return {"kms": kms, "sqs": sqs, "sfn": sfn, "s3": s3, "key": key, "queue": queue, "machine": machine}


@pytest.fixture
def environment(db_engine, moto, monkeypatch):
    """The callables' database is the test's; boto3 clients they build reach moto."""
    with db_engine.begin() as conn:
        for dag_id, paused in ORIGINAL.items():
            add_dag(conn, dag_id, paused=paused)
    monkeypatch.setattr(tasks, "_metadata_engine", lambda: db_engine)
    for name, value in moto.env.items():
        monkeypatch.setenv(name, value)
    return db_engine


def _waiting_run(aws, **conf_fields) -> tuple[str, str, dict[str, Any]]:
    """An execution waiting for its token, and the conf the trigger Lambda would send for it."""
    arn = aws["sfn"].start_execution(stateMachineArn=aws["machine"], name=uuid.uuid4().hex, input="{}")["executionArn"]
    while not (messages := aws["sqs"].receive_message(QueueUrl=aws["queue"], WaitTimeSeconds=1).get("Messages")):
        pass
    aws["sqs"].delete_message(QueueUrl=aws["queue"], ReceiptHandle=messages[0]["ReceiptHandle"])
    token = json.loads(messages[0]["Body"])["token"]
    blob = aws["kms"].encrypt(
        KeyId=aws["key"], Plaintext=token.encode(), EncryptionContext=token_encryption_context(ENVIRONMENT)
    )["CiphertextBlob"]
    snapshot = f"s3://{BUCKET}/{ENVIRONMENT}/snapshots/20261124T{next(_snapshot_numbers):06d}Z/"
    conf = {
        "snapshot_uri": snapshot,
        "kms_key_id": aws["key"],
        "callback": {"token_ciphertext": base64.b64encode(blob).decode(), "region": "eu-west-1"},
        "retention_days": 0,
        "drain_timeout_minutes": 0,
        **conf_fields,
    }
    return arn, token, conf


def test_a_success_callback_the_state_machine_refuses_restores_every_paused_state(environment, aws, caplog):
    """The execution gave up (timeout, stop): the environment will not be deleted, so DAGs must run again."""
    arn, _, conf = _waiting_run(aws)
    run = Run(conf)
    run.step(tasks.RECORD_PAUSED_STATES, tasks.record_paused_states)
    run.step(tasks.PAUSE_DAGS, tasks.pause_dags)
    run.step(tasks.DRAIN_RUNNING_WORK, tasks.drain_running_work)
    run.step(tasks.TRIM_HISTORY, tasks.trim_history)
    run.xcoms[(tasks.EXPORT_SNAPSHOT, "return_value")] = {"snapshot_id": "x", "tables": 1, "rows": 1, "bytes": 1}
    assert all(p for d, p in paused_states(environment).items() if d not in (EXPORT_DAG_ID, IMPORT_DAG_ID))
    aws["sfn"].stop_execution(executionArn=arn, error="Timeout", cause="the test gave up")
    # moto stops the execution on its worker thread (and reports it FAILED, where AWS says ABORTED); until
    # then the token is still valid, which made this test fail under load.
    assert wait_for_execution(aws["sfn"], arn)["status"] in ("ABORTED", "FAILED")

    with pytest.raises(CallbackRejected):
        run.step(tasks.REPORT_SUCCESS, tasks.report_export_success)
    with caplog.at_level(logging.INFO, logger="mwaa_hibernate_runtime"):
        run.step(tasks.RESTORE_AFTER_FAILURE, tasks.restore_paused_states_and_report_failure)

    assert paused_states(environment) == ORIGINAL
    # The step's first heartbeat or its send_task_success, whichever reaches Step Functions first, is refused.
    assert "failed in step report_success: Step Functions refused send_task_" in caplog.text
    assert "restored as recorded before the export (2 DAG(s) unpaused again)" in caplog.text


def test_a_drain_timeout_is_reported_as_drain_timeout_after_restoring(environment, aws):
    with environment.begin() as conn:
        add_run(conn, "etl", "run_1", start=EPOCH, state="running")
        add_ti(conn, "etl", "run_1", "load", state="running")
    arn, _, conf = _waiting_run(aws, drain_timeout_minutes=0)
    run = Run(conf)
    run.step(tasks.RECORD_PAUSED_STATES, tasks.record_paused_states)
    run.step(tasks.PAUSE_DAGS, tasks.pause_dags)

    with pytest.raises(DrainTimeout):
        run.step(tasks.DRAIN_RUNNING_WORK, tasks.drain_running_work)
    run.step(tasks.RESTORE_AFTER_FAILURE, tasks.restore_paused_states_and_report_failure)

    execution = wait_for_execution(aws["sfn"], arn)
    assert (execution["status"], execution.get("error")) == ("FAILED", "DrainTimeout")
    assert paused_states(environment) == ORIGINAL
    failure = run.xcoms[(tasks.DRAIN_RUNNING_WORK, tasks.FAILURE_XCOM_KEY)]
    assert failure["error"] == "DrainTimeout" and "etl.load (running, run run_1)" in failure["reason"]


def test_a_step_killed_without_a_word_still_gets_its_dags_restored_and_reported(environment, aws, caplog):
    arn, _, conf = _waiting_run(aws)
    run = Run(conf)
    run.step(tasks.RECORD_PAUSED_STATES, tasks.record_paused_states)
    run.step(tasks.PAUSE_DAGS, tasks.pause_dags)
    run.dag_run.failed.append(tasks.DRAIN_RUNNING_WORK)  # its worker died: no XCom, just a failed state

    with caplog.at_level(logging.INFO, logger="mwaa_hibernate_runtime"):
        run.step(tasks.RESTORE_AFTER_FAILURE, tasks.restore_paused_states_and_report_failure)

    execution = wait_for_execution(aws["sfn"], arn)
    assert (execution["status"], execution.get("error")) == ("FAILED", "ExportFailed")
    assert paused_states(environment) == ORIGINAL
    assert "failed in step drain_running_work: the task ended without recording a reason" in caplog.text


def test_an_invalid_conf_fails_before_touching_anything_and_the_handler_copes(environment, caplog):
    run = Run({"snapshot_uri": "s3://nowhere/"})

    with pytest.raises(Exception, match="missing kms_key_id"):
        run.step(tasks.RECORD_PAUSED_STATES, tasks.record_paused_states)
    with caplog.at_level(logging.INFO, logger="mwaa_hibernate_runtime"):
        run.step(tasks.RESTORE_AFTER_FAILURE, tasks.restore_paused_states_and_report_failure)

    assert paused_states(environment) == ORIGINAL
    assert "No DAG had been paused yet" in caplog.text
    assert "could not report ExportFailed to the state machine: mwaa_hibernate_export run conf is missing" in (
        caplog.text
    )


def test_an_import_of_a_missing_snapshot_is_rejected_and_leaves_the_dags_paused(environment, aws, caplog):
    arn, _, conf = _waiting_run(aws)
    run = Run({"snapshot_uri": conf["snapshot_uri"], "kms_key_id": conf["kms_key_id"], "callback": conf["callback"]})
    run.step(tasks.PAUSE_DAGS, tasks.pause_dags_before_restore)

    with pytest.raises(Exception, match="manifest"):
        run.step(tasks.RESTORE_SNAPSHOT, tasks.restore_snapshot)
    with caplog.at_level(logging.INFO, logger="mwaa_hibernate_runtime"):
        run.step(tasks.REPORT_FAILURE, tasks.report_import_failure)

    execution = wait_for_execution(aws["sfn"], arn)
    assert (execution["status"], execution.get("error")) == ("FAILED", "SnapshotRejected")
    assert all(p for d, p in paused_states(environment).items() if d not in (EXPORT_DAG_ID, IMPORT_DAG_ID))
    assert "Nothing was imported" in caplog.text


def test_an_import_of_a_folder_holding_another_snapshots_manifest_is_rejected(environment, aws):
    """Issue 11: the import checks the snapshot id against what the state machine asked for."""
    arn, _, conf = _waiting_run(aws)
    bucket, prefix = conf["snapshot_uri"][len("s3://") :].split("/", 1)
    other = Manifest(
        snapshot_id="20200101T000000Z", created_at="2020-01-01T00:00:00Z", dialect="postgresql",
        alembic_revision="x", airflow_version="2.10.5", encryption={"scheme": "none"}, files=(),
    )  # fmt: skip
    aws["s3"].put_object(Bucket=bucket, Key=prefix + "manifest.json", Body=other.dumps())
    run = Run({k: conf[k] for k in ("snapshot_uri", "kms_key_id", "callback")})

    with pytest.raises(SnapshotInvalid, match="not of 20261124T"):
        run.step(tasks.RESTORE_SNAPSHOT, tasks.restore_snapshot)
    run.step(tasks.REPORT_FAILURE, tasks.report_import_failure)
    assert wait_for_execution(aws["sfn"], arn).get("error") == "SnapshotRejected"


def _steps(run: Run, steps: list[tuple[str, Any]]) -> None:
    for task_id, func in steps:
        run.step(task_id, func)


def test_export_then_import_twice_restores_history_and_paused_states_the_second_run_changing_nothing(
    environment, aws, pg_cluster, migrated_template, monkeypatch
):
    with environment.begin() as conn:
        add_run(conn, "etl", "manual__history", start=EPOCH)
        add_ti(conn, "etl", "manual__history", "load", state="success")
    arn, _, conf = _waiting_run(aws)
    export = Run(conf)
    _steps(
        export,
        [
            (tasks.RECORD_PAUSED_STATES, tasks.record_paused_states),
            (tasks.PAUSE_DAGS, tasks.pause_dags),
            (tasks.DRAIN_RUNNING_WORK, tasks.drain_running_work),
            (tasks.TRIM_HISTORY, tasks.trim_history),
            (tasks.EXPORT_SNAPSHOT, tasks.export_snapshot),
            (tasks.REPORT_SUCCESS, tasks.report_export_success),
        ],
    )
    assert wait_for_execution(aws["sfn"], arn)["status"] == "SUCCEEDED"

    # The recreated environment: its processor created every DAG paused; the trigger unpaused the import DAG.
    target = sa.create_engine(clone_migrated(pg_cluster, migrated_template))
    with target.begin() as conn:
        for dag_id in ORIGINAL:
            add_dag(conn, dag_id, paused=dag_id != IMPORT_DAG_ID)
    monkeypatch.setattr(tasks, "_metadata_engine", lambda: target)
    outputs = []
    for attempt in range(2):
        if attempt:
            # Between the two wakes people changed their minds: the second wake (its restore already committed)
            # must neither pause every DAG again nor put the snapshot's older paused states back (issue 11).
            with target.begin() as conn:
                conn.execute(sa.text("UPDATE dag SET is_paused = NOT is_paused WHERE dag_id IN ('etl', 'reports')"))
        arn, _, fresh = _waiting_run(aws)
        wake = Run(
            {"snapshot_uri": conf["snapshot_uri"], "kms_key_id": conf["kms_key_id"], "callback": fresh["callback"]}
        )
        _steps(
            wake,
            [
                (tasks.PAUSE_DAGS, tasks.pause_dags_before_restore),
                (tasks.RESTORE_SNAPSHOT, tasks.restore_snapshot),
                (tasks.APPLY_PAUSED_STATES, tasks.apply_paused_states),
                (tasks.REPORT_SUCCESS, tasks.report_import_success),
            ],
        )
        execution = wait_for_execution(aws["sfn"], arn)
        assert execution["status"] == "SUCCEEDED"
        outputs.append(json.loads(execution["output"]))
        # Each DAG exactly as before hibernation (the hibernation DAGs keep this environment's own state), then as
        # people set them after the first wake.
        expected = {**ORIGINAL, EXPORT_DAG_ID: True, IMPORT_DAG_ID: False}
        if attempt:
            expected.update(etl=True, reports=False)
        assert paused_states(target) == expected
        with target.connect() as conn:
            runs = conn.execute(sa.text("SELECT dag_id, run_id FROM dag_run")).all()
        assert runs == [("etl", "manual__history")]
    target.dispose()

    assert [o["dags_unpaused"] for o in outputs] == [2, 0]
    assert [o["already_restored"] for o in outputs] == [False, True]
    assert outputs[0]["snapshot_id"] == outputs[1]["snapshot_id"] == conf["snapshot_uri"].rstrip("/").rsplit("/", 1)[1]


def test_a_lost_success_reply_leaves_the_dags_paused_while_the_state_machine_goes_on(environment, aws, monkeypatch):
    """Issue 11: Step Functions accepted the success but its reply was lost: the export DAG must not unpause DAGs
    in an environment the state machine is about to delete."""
    from mwaa_hibernate_runtime.callback import TaskTokenCallback
    from mwaa_hibernate_runtime.errors import CallbackError

    arn, _, conf = _waiting_run(aws)
    run = Run(conf)
    for task_id, func in (
        (tasks.RECORD_PAUSED_STATES, tasks.record_paused_states),
        (tasks.PAUSE_DAGS, tasks.pause_dags),
        (tasks.DRAIN_RUNNING_WORK, tasks.drain_running_work),
        (tasks.TRIM_HISTORY, tasks.trim_history),
    ):
        run.step(task_id, func)
    run.xcoms[(tasks.EXPORT_SNAPSHOT, "return_value")] = {"snapshot_id": "x", "tables": 1, "rows": 1, "bytes": 1}
    real_succeed = TaskTokenCallback.succeed

    def accepted_then_lost(self, output):
        real_succeed(self, output)
        raise CallbackError("send_task_success could not reach Step Functions (ReadTimeoutError)")

    monkeypatch.setattr(TaskTokenCallback, "succeed", accepted_then_lost)
    with pytest.raises(CallbackError):
        run.step(tasks.REPORT_SUCCESS, tasks.report_export_success)
    run.step(tasks.RESTORE_AFTER_FAILURE, tasks.restore_paused_states_and_report_failure)

    assert wait_for_execution(aws["sfn"], arn)["status"] == "SUCCEEDED"  # the hibernation goes on to delete
    assert all(p for d, p in paused_states(environment).items() if d not in (EXPORT_DAG_ID, IMPORT_DAG_ID))
