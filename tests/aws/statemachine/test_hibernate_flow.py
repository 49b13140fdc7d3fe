"""The hibernate state machine, executed in moto: the real ASL, the real handlers, an MWAA double.

Each test names the invariant it protects (docs/design.md) and asserts on what a user relies on: the
objects in S3, the latest pointer, the alert a person receives, and which MWAA calls were (not) made.
"""

from __future__ import annotations

import base64
import json

import pytest
from dag_simulation import write_snapshot
from mwaa_double import OUTPUT_ONLY_FIELDS
from mwaa_hibernate_snapshot import open_store, write_paused_state
from mwaa_hibernate_snapshot.manifest import REQUIRED_TABLES, table_path
from world import ENVIRONMENT, EXPORT_DAG, USER_DAGS, World

REFUSED = "Alert that hibernation was refused"
FAILED = "Alert that hibernation failed"
COMPENSATE = "Restore the DAGs' paused states"
DELETE = "Delete the environment"


def snapshot_prefix(world: World, snapshot_id: str) -> str:
    return f"{ENVIRONMENT}/snapshots/{snapshot_id}/"


def only_alert(world: World) -> dict[str, str]:
    alerts = world.alerts()
    assert len(alerts) == 1, f"expected exactly one alert, got {alerts}"
    return alerts[0]


def assert_environment_kept_with_dags_as_before(world: World) -> None:
    """Invariants 1 and 2: not deleted, and every DAG's paused state as the users left it."""
    assert not world.mwaa.calls_of("DeleteEnvironment")
    assert world.mwaa.environments[ENVIRONMENT].current()[0] == "AVAILABLE"
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS


def test_hibernation_saves_config_exports_verifies_commits_then_deletes(world: World) -> None:
    outcome = world.run("hibernate")

    assert outcome.status == "SUCCEEDED", outcome
    snapshot_id = outcome.output["preflight"]["snapshot_id"]
    prefix = snapshot_prefix(world, snapshot_id)
    assert set(world.keys(prefix)) == {
        f"{prefix}environment.json",
        f"{prefix}dag_paused_state.json",
        f"{prefix}manifest.json",
        *(f"{prefix}{table_path(table)}" for table in REQUIRED_TABLES[2]),
    }
    saved = world.read_json(f"{prefix}environment.json")
    assert json.dumps(saved).count(ENVIRONMENT) >= 1 and "ExecutionRoleArn" in json.dumps(saved)
    assert world.read_json(f"{prefix}dag_paused_state.json")["dags"] == USER_DAGS
    assert world.latest()["snapshot_id"] == snapshot_id
    assert world.state_file()["phase"] == "HIBERNATED" and world.state_file()["snapshot_id"] == snapshot_id
    # The environment is gone, deleted once, and only after the snapshot was verified and committed.
    assert ENVIRONMENT not in world.mwaa.environments or world.mwaa.environments[ENVIRONMENT].current()[0] != (
        "AVAILABLE"
    )
    assert len(world.mwaa.calls_of("DeleteEnvironment")) == 1
    order = outcome.states
    assert order.index("Verify the snapshot") < order.index("Mark the snapshot as the latest") < order.index(DELETE)
    assert not outcome.visited(COMPENSATE)
    # Success is silent unless NotifyOnSuccess is true.
    assert world.alerts() == []


def test_export_dag_is_unpaused_before_its_run_and_the_token_is_never_in_plaintext(world: World) -> None:
    outcome = world.run("hibernate")

    assert outcome.status == "SUCCEEDED", outcome
    patch, post = world.mwaa.rest_calls(path_pattern=f"/dags/{EXPORT_DAG}.*")
    assert (patch["Method"], patch["Body"]) == ("PATCH", {"is_paused": False})
    assert post["Method"] == "POST" and post["Path"] == f"/dags/{EXPORT_DAG}/dagRuns"
    ((dag_id, conf),) = world.dags.confs
    assert dag_id == EXPORT_DAG
    assert conf["snapshot_uri"] == outcome.output["preflight"]["snapshot_uri"]
    assert conf["kms_key_id"] == world.stack.kms_key_arn
    assert (conf["retention_days"], conf["drain_timeout_minutes"]) == (30, 30)
    # The ciphertext decrypts only under this environment's encryption context (the DAG did so to call back).
    kms = world.client("kms")
    blob = base64.b64decode(conf["callback"]["token_ciphertext"])
    with pytest.raises(kms.exceptions.InvalidCiphertextException):
        kms.decrypt(CiphertextBlob=blob, EncryptionContext={"mwaa-hibernate:environment": "another"})
    # Nothing a user or a log can see holds a plaintext task token: not the conf, not the bucket.
    history = world.client("stepfunctions").get_execution_history(executionArn=outcome.arn)["events"]
    tokens = {
        json.loads(e["taskScheduledEventDetails"]["parameters"])["Payload"]["task_token"]
        for e in history
        if "taskScheduledEventDetails" in e and "task_token" in e["taskScheduledEventDetails"]["parameters"]
    }
    assert tokens
    objects = b"".join(
        world.client("s3").get_object(Bucket=world.stack.bucket, Key=key)["Body"].read()
        for key in world.keys()  # noqa: SIM118 - World.keys lists S3 keys
    )
    for token in tokens:
        assert token not in json.dumps(conf) and token.encode() not in objects


def test_environment_not_available_is_refused_touching_nothing(world: World) -> None:
    world.mwaa.environments[ENVIRONMENT].timeline = ["UPDATING"]

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.error == "HibernationFailed"
    assert outcome.visited(REFUSED) and not outcome.visited("Save the environment configuration")
    assert world.mwaa.mutating_calls() == []
    assert world.keys() == []
    alert = only_alert(world)
    assert ENVIRONMENT in alert["subject"] and "UPDATING" in alert["message"]
    assert "Nothing was touched" in alert["message"]


def test_a_second_execution_is_refused_while_one_is_running(world: World) -> None:
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("silent"))
    first = world.start("hibernate")
    world.wait_until(lambda: world.dags.confs, "the first execution's export DAG run")
    calls_before = list(world.mwaa.mutating_calls())

    second = world.wait(world.start("wake"))

    assert second.status == "FAILED" and second.visited("Alert that waking was refused")
    assert world.mwaa.mutating_calls() == calls_before, "the refused execution touched the environment"
    alert = only_alert(world)
    assert "another execution is still running" in alert["message"] and first in alert["message"]
    sfn = world.client("stepfunctions")
    assert sfn.describe_execution(executionArn=first)["status"] == "RUNNING"


def test_missing_export_dag_fails_before_anything_is_paused_or_deleted(world: World) -> None:
    del world.mwaa.environments[ENVIRONMENT].dags[EXPORT_DAG]

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited(COMPENSATE)
    assert_environment_kept_with_dags_as_before(world)
    assert world.latest() is None
    alert = only_alert(world)
    assert EXPORT_DAG in alert["message"] and "DAG folder" in alert["message"]
    assert "NOT deleted" in alert["message"]


def test_export_failure_restores_paused_states_keeps_the_environment_and_alerts(world: World) -> None:
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("fail"))

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited(COMPENSATE)
    assert_environment_kept_with_dags_as_before(world)
    unpatched = [c["Path"] for c in world.mwaa.rest_calls("PATCH") if c["Body"] == {"is_paused": False}]
    assert "/dags/legacy_backfill" not in unpatched, "a DAG the team had paused was unpaused"
    assert world.latest() is None and world.state_file() is None
    alert = only_alert(world)
    assert "ExportFailed" in alert["message"] and "NOT deleted" in alert["message"]
    assert "Unpaused 2 DAG(s)" in alert["message"]


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        # Consistent timeouts (the preflight refuses others): no drain time, the heartbeat not above the timeout.
        pytest.param(
            {"ExportTimeoutSeconds": "1", "CallbackHeartbeatSeconds": "1", "DrainTimeoutMinutes": "0"},
            "States.Timeout",
            id="export-timeout",
        ),
        pytest.param({"CallbackHeartbeatSeconds": "1"}, "States.Timeout", id="no-heartbeat"),
    ],
)
def test_callback_timeout_restores_paused_states_and_keeps_the_environment(make_world, overrides, error) -> None:
    # Time compressed: the template's minimums are minutes; the ASL reads the same parameters.
    world = make_world(**overrides)
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export("silent"))

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited(COMPENSATE)
    assert_environment_kept_with_dags_as_before(world)
    assert world.latest() is None
    # moto reports a missed heartbeat as States.Timeout; AWS may name it States.HeartbeatTimeout.
    assert error in only_alert(world)["message"]


@pytest.mark.parametrize(
    ("damage", "reported"),
    [
        ("truncated", "bytes, the manifest says"),
        ("tampered", "sha256"),
        # Invariant 9: a task rewrote the configuration the next wake would recreate the environment from.
        ("reconfigured", "not the one this stack saved"),
    ],
)
def test_verification_failure_unpauses_dags_and_never_deletes(world: World, damage: str, reported: str) -> None:
    world.mwaa.on_trigger(EXPORT_DAG, world.dags.export(damage))

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED"
    assert outcome.visited("Verify the snapshot") and outcome.visited(COMPENSATE)
    assert not outcome.visited("Mark the snapshot as the latest") and not outcome.visited(DELETE)
    assert_environment_kept_with_dags_as_before(world)
    assert world.latest() is None, "the latest pointer moved to a snapshot that failed verification"
    alert = only_alert(world)
    assert "verifying the snapshot" in alert["subject"] + alert["message"]
    assert reported in alert["message"] and "NOT deleted" in alert["message"]


def test_delete_failure_keeps_the_environment_running_with_its_dags(world: World) -> None:
    world.mwaa.fail("DeleteEnvironment", "ValidationException", "Environment is being updated")

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited(DELETE) and outcome.visited(COMPENSATE)
    assert world.mwaa.environments[ENVIRONMENT].current()[0] == "AVAILABLE"
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS
    # The snapshot itself is good: verified, and the pointer moved to it before the delete was tried.
    (snapshot_id,) = world.snapshot_ids()
    assert world.latest()["snapshot_id"] == snapshot_id
    assert world.state_file() is None, "recorded as hibernated although the environment still exists"
    alert = only_alert(world)
    assert "deleting the environment" in alert["subject"] + alert["message"]
    assert "Environment is being updated" in alert["message"]


def test_hibernating_an_already_hibernated_environment_succeeds_touching_nothing(world: World) -> None:
    world.run("hibernate")
    keys = world.keys()
    calls = len(world.mwaa.mutating_calls())

    outcome = world.run("hibernate")

    assert outcome.status == "SUCCEEDED" and outcome.visited("Already hibernated")
    assert len(world.mwaa.mutating_calls()) == calls
    assert world.keys() == keys and world.alerts() == []


def test_hibernating_an_environment_that_never_existed_alerts_instead_of_succeeding(world: World) -> None:
    """A typo in EnvironmentName must not turn into a nightly 'success' that hibernates nothing."""
    del world.mwaa.environments[ENVIRONMENT]

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and not outcome.visited("Already hibernated")
    assert world.mwaa.mutating_calls() == []
    assert world.keys() == []
    alert = only_alert(world)
    assert "EnvironmentNotFound" in alert["message"] and "EnvironmentName parameter" in alert["message"]


def test_saved_configuration_is_what_get_environment_returned(world: World) -> None:
    """environment.json is the input of the wake's CreateEnvironment request: keep it complete."""
    outcome = world.run("hibernate")

    saved = world.read_json(f"{snapshot_prefix(world, outcome.output['preflight']['snapshot_id'])}environment.json")
    document = saved.get("Environment", saved)
    for field in ("ExecutionRoleArn", "SourceBucketArn", "NetworkConfiguration", "AirflowVersion", "Tags"):
        assert field in document, f"{field} missing from the saved configuration"
    assert set(OUTPUT_ONLY_FIELDS) & set(document), "GetEnvironment output should be saved as returned"


def test_old_snapshots_beyond_the_count_to_keep_are_pruned_never_the_new_one(make_world) -> None:
    """Invariant 4: each cycle writes a new folder, and only the newest SnapshotsToKeep complete ones stay."""
    world = make_world(SnapshotsToKeep="3")
    s3 = world.client("s3")
    old_ids = [f"2026110{day}T190000Z" for day in range(1, 6)]  # five older cycles, all complete
    for snapshot_id in old_ids:
        store = open_store(f"s3://{world.stack.bucket}/{snapshot_prefix(world, snapshot_id)}", s3_client=s3)
        write_paused_state(store, USER_DAGS)
        write_snapshot(store, snapshot_id=snapshot_id)
    failed_export = f"{snapshot_prefix(world, '20261106T190000Z')}tables/dag_run.csv.gz"  # no manifest
    s3.put_object(Bucket=world.stack.bucket, Key=failed_export, Body=b"partial")
    s3.put_object(
        Bucket=world.stack.bucket, Key=f"{ENVIRONMENT}/latest.json", Body=json.dumps({"snapshot_id": old_ids[-1]})
    )

    outcome = world.run("hibernate")

    assert outcome.status == "SUCCEEDED", outcome
    new_id = outcome.output["preflight"]["snapshot_id"]
    assert world.latest()["snapshot_id"] == new_id
    assert world.snapshot_ids() == [old_ids[-2], old_ids[-1], new_id]
    assert sorted(outcome.output["pruned"]["deleted"]) == [*old_ids[:3], "20261106T190000Z"]


def test_an_environment_a_wake_could_not_recreate_is_never_deleted(world: World) -> None:
    """Invariant 8: the execution role the saved configuration names is gone: refused before any DAG is paused."""
    role = world.mwaa.environments[ENVIRONMENT].config["ExecutionRoleArn"].rsplit("/", 1)[-1]
    world.client("iam").delete_role(RoleName=role)

    outcome = world.run("hibernate")

    assert outcome.status == "FAILED" and outcome.visited("Check the environment can be recreated")
    assert not outcome.visited("Run the export DAG and wait for its callback")
    assert_environment_kept_with_dags_as_before(world)
    assert world.latest() is None
    alert = only_alert(world)
    assert "EnvironmentCannotBeRecreated" in alert["message"] and f"role/{role} does not exist" in alert["message"]
    assert "was NOT deleted" in alert["message"]


def test_an_airflow_version_near_its_end_of_support_warns_and_hibernates(world: World, monkeypatch) -> None:
    from datetime import UTC, datetime, timedelta

    from mwaa_hibernate import airflow_support

    ends = datetime.now(UTC).date() + timedelta(days=30)
    version = world.mwaa.environments[ENVIRONMENT].config["AirflowVersion"]
    monkeypatch.setitem(airflow_support.END_OF_SUPPORT, version, (ends, airflow_support.VERSIONS_PAGE))

    outcome = world.run("hibernate")

    assert outcome.status == "SUCCEEDED" and outcome.visited("Warn that the Airflow version nears its end of support")
    assert world.mwaa.calls_of("DeleteEnvironment")
    alert = only_alert(world)
    assert "warning" in alert["subject"] and ends.isoformat() in alert["message"]
