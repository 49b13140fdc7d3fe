"""End to end: the hibernation DAGs under a real scheduler, answering Step Functions executions that wait.

A real scheduler with LocalExecutor on PostgreSQL runs the DAGs (not `airflow dags test`, which runs
tasks in-process and proves less). moto serves S3, KMS, SQS and Step Functions with its ASL interpreter
on; a one-state machine waits for a task token the way the hibernate and wake machines do, and hands
the token over through SQS. The test plays the trigger Lambda: it encrypts the token with KMS under the
contract's encryption context and triggers the DAG with `airflow dags trigger --conf`.

One module, one story, in fixture order: a source environment with history exports (successfully,
then with a forced failure), then a fresh environment refuses a half-written snapshot and restores
the good one.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from mwaa_hibernate_sandbox.airflow_instance import AirflowInstance, wait_until
from mwaa_hibernate_snapshot import open_store, verify_snapshot
from mwaa_hibernate_snapshot.runconf import EXPORT_DAG_ID, HIBERNATION_DAG_IDS, IMPORT_DAG_ID, token_encryption_context

from .hibernation_support import Moto, add_run, clone_migrated, paused_states, wait_for_execution

pytestmark = pytest.mark.e2e

REPO_DAGS = Path(__file__).resolve().parents[3] / "dags"
ENVIRONMENT = "e2e-env"
BUCKET = "e2e-hibernate-snapshots"
GOOD_SNAPSHOT = f"s3://{BUCKET}/{ENVIRONMENT}/snapshots/20261124T190000Z/"
FAILED_SNAPSHOT = f"s3://{BUCKET}/{ENVIRONMENT}/snapshots/20261124T191500Z/"
# Generous for two shared cores; every wait returns as soon as its condition holds.
RUN_TIMEOUT = 240

# The user's DAGs: three active (one sorts first, the one the start-stop sample lost), two paused.
ORIGINAL = {
    "e2e_a_first": False,
    "e2e_etl": False,
    "e2e_slow": False,
    "e2e_paused_report": True,
    "e2e_paused_legacy": True,
}
USER_DAG_SOURCE = """
from __future__ import annotations

import os
import time

import pendulum
from airflow.decorators import dag, task


def _make(dag_id, schedule=None):
    @dag(dag_id=dag_id, schedule=schedule, start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False)
    def user_dag():
        @task
        def extract(**context) -> dict:
            release = (context["dag_run"].conf or {}).get("release")
            while release and not os.path.exists(release):  # a long task: runs until the test releases it
                time.sleep(0.2)
            return {"rows": 3, "note": "a, \\"quoted\\"\\nvalue"}

        @task
        def load(payload: dict) -> int:
            return payload["rows"]

        load(extract())

    return user_dag()


for _dag_id in ("e2e_a_first", "e2e_etl", "e2e_slow", "e2e_paused_legacy"):
    globals()[_dag_id] = _make(_dag_id)
e2e_paused_report = _make("e2e_paused_report", schedule="@daily")
"""


@dataclass
class Aws:
    moto: Moto
    key_arn: str
    queue_url: str
    machine_arn: str

    def client(self, service: str) -> Any:
        return self.moto.client(service)


@pytest.fixture(scope="module")
def aws(moto: Moto) -> Aws:
    s3, kms, sqs, sfn = (moto.client(s) for s in ("s3", "kms", "sqs", "stepfunctions"))
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    key_arn = kms.create_key(Description="mwaa-hibernate e2e stack key")["KeyMetadata"]["Arn"]
    queue_url = sqs.create_queue(QueueName=f"e2e-task-tokens-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    definition = {
        "StartAt": "Run the DAG and wait for its callback",
        "States": {
            "Run the DAG and wait for its callback": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"token.$": "$$.Task.Token"}},
                "TimeoutSeconds": RUN_TIMEOUT,
                "HeartbeatSeconds": 120,
                "End": True,
            }
        },
    }
    machine_arn = sfn.create_state_machine(
        name=f"e2e-dag-callback-{uuid.uuid4().hex[:6]}",
        definition=json.dumps(definition),
        roleArn="arn:aws:iam::123456789012:role/e2e",
    )["stateMachineArn"]
    return Aws(moto=moto, key_arn=key_arn, queue_url=queue_url, machine_arn=machine_arn)


@dataclass
class Environment:
    """One emulated MWAA environment: a real Airflow with its own database and scheduler."""

    instance: AirflowInstance
    engine: sa.engine.Engine
    dags_folder: Path
    release: Path | None = None  # e2e_slow's task runs until this file exists

    def dag_states(self) -> dict[str, bool]:
        return {d: p for d, p in paused_states(self.engine).items() if d not in HIBERNATION_DAG_IDS}

    def run_state(self, dag_id: str, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT state FROM dag_run WHERE dag_id = :d AND run_id = :r"), {"d": dag_id, "r": run_id}
            ).scalar()

    def ti_state(self, dag_id: str, task_id: str, run_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(
                sa.text("SELECT state FROM task_instance WHERE dag_id = :d AND task_id = :t AND run_id = :r"),
                {"d": dag_id, "t": task_id, "r": run_id},
            ).scalar()

    def runs(self, dag_id: str) -> set[str]:
        with self.engine.connect() as conn:
            return set(conn.execute(sa.text("SELECT run_id FROM dag_run WHERE dag_id = :d"), {"d": dag_id}).scalars())

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        args = ["dags", "trigger", dag_id, "--run-id", run_id]
        self.instance.cli(*args, *(["--conf", json.dumps(conf)] if conf else []))

    def trigger_many(self, runs: list[tuple[str, str, dict[str, Any] | None]]) -> None:
        """Several user runs through Airflow's own trigger API, in one process (one Airflow start-up)."""
        self.instance.python(
            "import json, sys\nfrom airflow.api.common.trigger_dag import trigger_dag\n"
            f"for dag_id, run_id, conf in json.loads({json.dumps(json.dumps(runs))}):\n"
            "    trigger_dag(dag_id, run_id=run_id, conf=conf)\n"
        )

    def wait_for_run(self, dag_id: str, run_id: str) -> str:
        return wait_until(
            lambda: (state := self.run_state(dag_id, run_id)) in ("success", "failed") and state,
            timeout=RUN_TIMEOUT,
            what=f"{dag_id} run {run_id} to finish",
        )


def _dags_folder(root: Path) -> Path:
    folder = root / "dags"
    folder.mkdir()
    for dag_id in HIBERNATION_DAG_IDS:
        (folder / f"{dag_id}.py").symlink_to(REPO_DAGS / f"{dag_id}.py")
    (folder / "e2e_user_dags.py").write_text(USER_DAG_SOURCE)
    return folder


def _environment(pg_cluster, migrated_template, airflow_bin, moto, root: Path, name: str) -> Environment:
    """A fresh environment whose scheduler is running and has parsed every DAG (as MWAA's does at start)."""
    url = clone_migrated(pg_cluster, migrated_template, name)
    instance = AirflowInstance(
        home=root / "home", db_url=url, dags_folder=_dags_folder(root), bin_dir=airflow_bin, extra_env=moto.env
    )
    env = Environment(instance=instance, engine=sa.create_engine(url), dags_folder=instance.dags_folder)
    instance.start_scheduler()
    expected = {*ORIGINAL, *HIBERNATION_DAG_IDS}

    def parsed() -> bool:
        # Both rows: the processor writes the serialized DAG and the `dag` row in separate steps, and an
        # unpause that lands in between is lost (the row is then created paused).
        query = "SELECT d.dag_id FROM dag d JOIN serialized_dag s ON s.dag_id = d.dag_id"
        with env.engine.connect() as conn:
            return expected <= set(conn.execute(sa.text(query)).scalars())

    try:
        wait_until(parsed, timeout=RUN_TIMEOUT, what=f"the {name} scheduler to parse every DAG")
    except BaseException:
        instance.stop()
        raise
    # What the trigger Lambda does before each trigger: a run triggered on a paused DAG would wait forever.
    # Applied until it sticks, in case the DAG processor was still creating the rows.
    unpaused = dict.fromkeys(HIBERNATION_DAG_IDS, False)

    def hibernation_dags_unpaused() -> bool:
        _set_states(env, unpaused)
        return all(paused_states(env.engine).get(d) is False for d in HIBERNATION_DAG_IDS)

    wait_until(hibernation_dags_unpaused, timeout=30, what="the hibernation DAGs to be unpaused")
    return env


def _set_states(env: Environment, states: dict[str, bool]) -> None:
    with env.engine.begin() as conn:
        for dag_id, paused in states.items():
            conn.execute(sa.text("UPDATE dag SET is_paused = :p WHERE dag_id = :d"), {"p": paused, "d": dag_id})


@pytest.fixture(scope="module")
def source(pg_cluster, migrated_template, airflow_bin, moto, tmp_path_factory) -> Iterator[Environment]:
    """The environment to hibernate, with real history made by its scheduler and some older than the window."""
    env = _environment(pg_cluster, migrated_template, airflow_bin, moto, tmp_path_factory.mktemp("source"), "e2e_src")
    try:
        _set_states(env, ORIGINAL)
        with env.engine.begin() as conn:  # history older than the 30-day window, for the trim
            add_run(conn, "e2e_etl", "manual__long_ago", start=dt.datetime.now(dt.UTC) - dt.timedelta(days=90))
        env.release = env.dags_folder.parent / "release-e2e-slow"
        env.trigger_many(
            [("e2e_etl", "manual__history", None), ("e2e_slow", "manual__busy", {"release": str(env.release)})]
        )
        assert env.wait_for_run("e2e_etl", "manual__history") == "success"
        yield env
    finally:
        env.instance.stop()
        env.engine.dispose()


@dataclass
class Outcome:
    execution: dict[str, Any]
    token: str
    seen_while_draining: dict[str, bool] | None = None


def _run_with_callback(aws: Aws, env: Environment, dag_id: str, run_id: str, conf: dict[str, Any]) -> tuple[str, str]:
    """Start an execution that waits for a token, and trigger the DAG the way the trigger Lambda does."""
    sfn, sqs = aws.client("stepfunctions"), aws.client("sqs")
    arn = sfn.start_execution(stateMachineArn=aws.machine_arn, name=run_id, input="{}")["executionArn"]

    def token_message() -> dict | None:
        messages = sqs.receive_message(QueueUrl=aws.queue_url, WaitTimeSeconds=1).get("Messages")
        return messages[0] if messages else None

    message = wait_until(token_message, timeout=30, what="the execution's task token in SQS")
    sqs.delete_message(QueueUrl=aws.queue_url, ReceiptHandle=message["ReceiptHandle"])
    token = json.loads(message["Body"])["token"]
    ciphertext = aws.client("kms").encrypt(
        KeyId=aws.key_arn, Plaintext=token.encode(), EncryptionContext=token_encryption_context(ENVIRONMENT)
    )["CiphertextBlob"]
    conf = {**conf, "callback": {"token_ciphertext": base64.b64encode(ciphertext).decode(), "region": "eu-west-1"}}
    env.trigger(dag_id, run_id, conf)
    return arn, token


def _export_conf(aws: Aws, snapshot_uri: str, kms_key_id: str | None = None) -> dict[str, Any]:
    return {
        "snapshot_uri": snapshot_uri,
        "kms_key_id": kms_key_id or aws.key_arn,
        "retention_days": 30,
        "drain_timeout_minutes": 5,
    }


@pytest.fixture(scope="module")
def exported(aws: Aws, source: Environment) -> Outcome:
    """A successful export while another DAG's task is still running: the drain has to wait for it."""
    wait_until(
        lambda: source.ti_state("e2e_slow", "extract", "manual__busy") == "running",
        timeout=RUN_TIMEOUT,
        what="e2e_slow's task to be running",
    )
    arn, token = _run_with_callback(
        aws, source, EXPORT_DAG_ID, "manual__hibernate_ok", _export_conf(aws, GOOD_SNAPSHOT)
    )

    wait_until(
        lambda: source.ti_state(EXPORT_DAG_ID, "drain_running_work", "manual__hibernate_ok") == "running",
        timeout=RUN_TIMEOUT,
        what="the export to be draining",
    )
    seen = source.dag_states()
    source.release.touch()
    execution = wait_for_execution(aws.client("stepfunctions"), arn, timeout=RUN_TIMEOUT)
    source.wait_for_run(EXPORT_DAG_ID, "manual__hibernate_ok")
    return Outcome(execution=execution, token=token, seen_while_draining=seen)


def _s3_store(aws: Aws, uri: str):
    return open_store(uri, s3_client=aws.client("s3"))


def test_export_succeeds_and_reports_its_summary(exported: Outcome):
    assert exported.execution["status"] == "SUCCEEDED", exported.execution
    output = json.loads(exported.execution["output"])
    assert set(output) == {"snapshot_id", "tables", "rows", "bytes", "seconds"}
    assert output["snapshot_id"] == "20261124T190000Z"
    assert output["tables"] > 10 and output["rows"] > 0 and output["bytes"] > 0


def test_every_dag_was_paused_while_draining_and_the_original_states_were_recorded_first(exported: Outcome, aws: Aws):
    assert exported.seen_while_draining == dict.fromkeys(ORIGINAL, True)
    record = json.loads(_s3_store(aws, GOOD_SNAPSHOT).get_bytes("dag_paused_state.json"))["dags"]
    assert {d: p for d, p in record.items() if d in ORIGINAL} == ORIGINAL
    assert record[EXPORT_DAG_ID] is False


def test_the_drain_waited_for_the_running_task_which_finished_normally(exported: Outcome, source: Environment):
    assert source.ti_state("e2e_slow", "extract", "manual__busy") == "success"


def test_the_snapshot_verifies_and_holds_the_history_but_not_the_exports_own_run(exported: Outcome, aws: Aws):
    store = _s3_store(aws, GOOD_SNAPSHOT)
    manifest = verify_snapshot(store)

    runs_file = manifest.file_for("dag_run")
    with store.reader(runs_file.path) as fh:
        text = gzip.decompress(fh.read()).decode()
    assert "manual__history" in text and "manual__busy" in text
    assert "manual__long_ago" not in text, "history older than retention_days is trimmed before the export"
    assert "manual__hibernate_ok" not in text, "the export's in-flight run is not carried into the snapshot"


def test_dags_stay_paused_after_a_successful_export(exported: Outcome, source: Environment):
    """The environment is deleted next; its DAGs must not start anything meanwhile."""
    assert source.dag_states() == dict.fromkeys(ORIGINAL, True)


def _secret_sightings(env: Environment, aws: Aws, needle: str) -> list[str]:
    """Every place the needle appears: Airflow's log files, any database column, any S3 object."""
    found = [str(p) for p in env.instance.home.rglob("*") if p.is_file() and needle.encode() in p.read_bytes()]
    with env.engine.connect() as conn:
        columns = conn.execute(
            sa.text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns "
                "WHERE table_schema = 'public'"
            )
        ).all()
        for table, column, data_type in columns:
            value = f'"{column}"' if data_type != "bytea" else f"encode(\"{column}\", 'escape')"
            hit = conn.execute(
                sa.text(f'SELECT 1 FROM "{table}" WHERE strpos({value}::text, :n) > 0 LIMIT 1'), {"n": needle}
            ).first()
            if hit:
                found.append(f"{table}.{column}")
    s3 = aws.client("s3")
    for obj in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        body = s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read()
        if needle.encode() in (gzip.decompress(body) if obj["Key"].endswith(".gz") else body):
            found.append(f"s3://{BUCKET}/{obj['Key']}")
    return found


def test_the_task_token_is_nowhere_in_logs_database_or_snapshot(exported: Outcome, source: Environment, aws: Aws):
    assert _secret_sightings(source, aws, exported.token) == []


@pytest.fixture(scope="module")
def failed_export(aws: Aws, source: Environment, exported: Outcome) -> Outcome:
    """An export that fails after every DAG was paused: its data key cannot be made (KMS key missing)."""
    _set_states(source, ORIGINAL)  # as if the environment had been woken since
    conf = _export_conf(aws, FAILED_SNAPSHOT, kms_key_id="alias/mwaa-hibernate-e2e-missing")
    arn, token = _run_with_callback(aws, source, EXPORT_DAG_ID, "manual__hibernate_fails", conf)
    execution = wait_for_execution(aws.client("stepfunctions"), arn, timeout=RUN_TIMEOUT)
    source.wait_for_run(EXPORT_DAG_ID, "manual__hibernate_fails")
    return Outcome(execution=execution, token=token)


def test_a_failed_export_reports_export_failed(failed_export: Outcome, source: Environment):
    assert (failed_export.execution["status"], failed_export.execution.get("error")) == ("FAILED", "ExportFailed")
    assert source.ti_state(EXPORT_DAG_ID, "pause_dags", "manual__hibernate_fails") == "success"
    assert source.ti_state(EXPORT_DAG_ID, "export_snapshot", "manual__hibernate_fails") == "failed"
    assert source.run_state(EXPORT_DAG_ID, "manual__hibernate_fails") == "failed"


def test_a_failed_export_restores_every_dags_paused_state_exactly(failed_export: Outcome, source: Environment):
    assert source.dag_states() == ORIGINAL
    assert source.ti_state(EXPORT_DAG_ID, "restore_paused_states_and_report_failure", "manual__hibernate_fails") == (
        "success"
    )


def test_a_failed_export_leaves_no_manifest(failed_export: Outcome, aws: Aws):
    store = _s3_store(aws, FAILED_SNAPSHOT)
    assert store.exists("dag_paused_state.json") and not store.exists("manifest.json")


@pytest.fixture(scope="module")
def target(
    pg_cluster, migrated_template, airflow_bin, moto, tmp_path_factory, source: Environment, failed_export: Outcome
) -> Iterator[Environment]:
    """A fresh environment (new database, new Fernet key, DAGs paused at creation) to wake into."""
    source.instance.stop()  # hibernated: its scheduler is gone, and two schedulers would share two cores
    env = _environment(pg_cluster, migrated_template, airflow_bin, moto, tmp_path_factory.mktemp("target"), "e2e_dst")
    try:
        yield env
    finally:
        env.instance.stop()
        env.engine.dispose()


@pytest.fixture(scope="module")
def rejected_import(aws: Aws, target: Environment) -> Outcome:
    """Importing the failed export's half-written snapshot (no manifest) must be refused."""
    arn, token = _run_with_callback(
        aws,
        target,
        IMPORT_DAG_ID,
        "manual__wake_rejected",
        {"snapshot_uri": FAILED_SNAPSHOT, "kms_key_id": aws.key_arn},
    )
    execution = wait_for_execution(aws.client("stepfunctions"), arn, timeout=RUN_TIMEOUT)
    target.wait_for_run(IMPORT_DAG_ID, "manual__wake_rejected")
    return Outcome(execution=execution, token=token)


def test_a_half_written_snapshot_is_rejected_and_nothing_is_imported(rejected_import: Outcome, target: Environment):
    assert (rejected_import.execution["status"], rejected_import.execution.get("error")) == (
        "FAILED",
        "SnapshotRejected",
    )
    assert target.runs("e2e_etl") == set()
    assert target.dag_states() == dict.fromkeys(ORIGINAL, True), "the new environment's DAGs stay paused"


@pytest.fixture(scope="module")
def imported(aws: Aws, target: Environment, rejected_import: Outcome) -> Outcome:
    """The wake: the good snapshot into the fresh environment (after the rejected attempt, which changed nothing)."""
    arn, token = _run_with_callback(
        aws, target, IMPORT_DAG_ID, "manual__wake_ok", {"snapshot_uri": GOOD_SNAPSHOT, "kms_key_id": aws.key_arn}
    )
    execution = wait_for_execution(aws.client("stepfunctions"), arn, timeout=RUN_TIMEOUT)
    target.wait_for_run(IMPORT_DAG_ID, "manual__wake_ok")
    return Outcome(execution=execution, token=token)


def test_import_succeeds_and_reports_its_summary(imported: Outcome, exported: Outcome):
    assert imported.execution["status"] == "SUCCEEDED", imported.execution
    output = json.loads(imported.execution["output"])
    assert set(output) == {"snapshot_id", "tables", "rows", "seconds", "dags_unpaused", "already_restored"}
    assert output["already_restored"] is False
    assert output["snapshot_id"] == "20261124T190000Z"
    assert output["dags_unpaused"] == sum(not p for p in ORIGINAL.values())
    assert output["rows"] == json.loads(exported.execution["output"])["rows"]


def test_import_restores_history_and_each_dags_paused_state_exactly(imported: Outcome, target: Environment):
    assert target.dag_states() == ORIGINAL
    assert target.runs("e2e_etl") == {"manual__history"}
    assert target.ti_state("e2e_slow", "extract", "manual__busy") == "success"


def test_the_import_token_is_nowhere_in_logs_or_database(imported: Outcome, target: Environment, aws: Aws):
    assert _secret_sightings(target, aws, imported.token) == []
