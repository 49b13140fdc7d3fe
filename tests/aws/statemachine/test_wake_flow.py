"""The wake state machine, executed in moto after a real hibernation of the same stack.

The environment is recreated from the configuration the hibernation saved, the import DAG restores
the snapshot the latest pointer names, and every DAG's paused state comes back exactly.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from mwaa_double import OUTPUT_ONLY_FIELDS
from world import ENVIRONMENT, HIBERNATION_DAGS, IMPORT_DAG, USER_DAGS, World

REFUSED = "Alert that waking was refused"
FAILED = "Alert that waking failed"
CREATE = "Create the environment"
IMPORT = "Run the import DAG and wait for its callback"


def hibernate_first(world: World) -> str:
    """Run a real hibernation so S3 holds a verified snapshot, the pointer and state.json; return its id."""
    outcome = world.run("hibernate")
    assert outcome.status == "SUCCEEDED", outcome
    assert ENVIRONMENT not in world.mwaa.environments or world.mwaa.environments[ENVIRONMENT].current()[0] != (
        "AVAILABLE"
    )
    world.mwaa.calls.clear()
    world.dags.confs.clear()
    return outcome.output["preflight"]["snapshot_id"]


@pytest.fixture
def hibernated(world: World) -> tuple[World, str]:
    return world, hibernate_first(world)


def only_alert(world: World) -> dict[str, str]:
    alerts = world.alerts()
    assert len(alerts) == 1, f"expected exactly one alert, got {alerts}"
    return alerts[0]


def test_wake_recreates_the_environment_and_restores_every_dags_paused_state(hibernated) -> None:
    world, snapshot_id = hibernated

    outcome = world.run("wake")

    assert outcome.status == "SUCCEEDED", outcome
    assert outcome.states.index(CREATE) < outcome.states.index("Wait until the environment is available")
    assert outcome.states.index("Wait until the environment is available") < outcome.states.index(IMPORT)
    (create,) = world.mwaa.calls_of("CreateEnvironment")
    # What the environment had before the hibernation (its network ids are the ones moto assigned).
    original = world.read_json(f"{ENVIRONMENT}/snapshots/{snapshot_id}/environment.json")
    for field in ("ExecutionRoleArn", "SourceBucketArn", "DagS3Path", "NetworkConfiguration", "EnvironmentClass"):
        assert create.body[field] == original[field], field
    assert not set(create.body) & set(OUTPUT_ONLY_FIELDS), "read-only fields sent to CreateEnvironment"
    assert create.body["Tags"] == {"team": "data"}, "aws: tags must be dropped, the others kept"
    assert "CloudWatchLogGroupArn" not in json.dumps(create.body["LoggingConfiguration"])
    # The import restored the paused state each DAG had before the hibernation: nothing more, nothing less.
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS
    ((dag_id, conf),) = world.dags.confs
    assert dag_id == IMPORT_DAG and conf["snapshot_uri"].endswith(f"/{snapshot_id}/")
    assert conf["kms_key_id"] == world.stack.kms_key_arn and "task_token" not in json.dumps(conf)
    assert world.state_file()["phase"] == "AWAKE"
    assert world.latest()["snapshot_id"] == snapshot_id
    assert not world.mwaa.calls_of("DeleteEnvironment") and not world.mwaa.calls_of("UpdateEnvironment")
    assert world.alerts() == []


def test_environment_overrides_are_applied_to_the_recreated_environment(make_world: Callable[..., World]) -> None:
    world = make_world(EnvironmentOverrides='{"EnvironmentClass": "mw1.medium", "MaxWorkers": 5}')
    hibernate_first(world)

    outcome = world.run("wake")

    assert outcome.status == "SUCCEEDED", outcome
    (create,) = world.mwaa.calls_of("CreateEnvironment")
    assert (create.body["EnvironmentClass"], create.body["MaxWorkers"]) == ("mw1.medium", 5)


def test_create_failed_fails_fast_with_mwaas_own_message(hibernated) -> None:
    world, _ = hibernated
    message = "The subnets subnet-0a and subnet-0b are not in the same VPC."
    world.mwaa.create_timeline = ["CREATING", ("CREATE_FAILED", message)]

    outcome = world.run("wake")

    assert outcome.status == "FAILED" and outcome.visited(FAILED)
    assert not outcome.visited(IMPORT) and not world.mwaa.calls_of("InvokeRestApi")
    # After the create: two polls (CREATING, CREATE_FAILED), the explanation and the alert's status check.
    # It failed at the first CREATE_FAILED instead of polling until the create timeout.
    calls = [call.operation for call in world.mwaa.calls]
    assert calls[calls.index("CreateEnvironment") + 1 :].count("GetEnvironment") == 4
    alert = only_alert(world)
    assert message in alert["message"] and "CREATE_FAILED" in alert["message"]
    assert world.state_file()["phase"] == "HIBERNATED", "a failed wake must leave the hibernated record"


def test_import_failure_keeps_the_environment_with_dags_paused_and_alerts(hibernated) -> None:
    world, snapshot_id = hibernated
    world.mwaa.on_trigger(IMPORT_DAG, world.dags.import_("fail"))

    outcome = world.run("wake")

    assert outcome.status == "FAILED" and outcome.visited(IMPORT) and outcome.visited(FAILED)
    assert world.mwaa.environments[ENVIRONMENT].current()[0] == "AVAILABLE"
    assert not world.mwaa.calls_of("DeleteEnvironment")
    # Nothing was imported, so no DAG may run against an empty history: all of the users' DAGs stay paused.
    assert all(world.dag_states()[dag] for dag in USER_DAGS)
    assert world.state_file()["phase"] == "HIBERNATED"
    alert = only_alert(world)
    assert "ImportFailed" in alert["message"] and snapshot_id in alert["message"]


def test_waking_an_awake_environment_succeeds_touching_nothing(world: World) -> None:
    outcome = world.run("wake")

    assert outcome.status == "SUCCEEDED" and outcome.visited("Already awake")
    assert world.mwaa.mutating_calls() == []
    assert world.alerts() == [] and world.keys() == []


def test_wake_restores_into_an_environment_created_by_hand_when_a_restore_is_owed(hibernated) -> None:
    world, snapshot_id = hibernated
    world.mwaa.add_environment(ENVIRONMENT, dags={**dict.fromkeys(USER_DAGS, True), **HIBERNATION_DAGS})

    outcome = world.run("wake")

    assert outcome.status == "SUCCEEDED", outcome
    assert not world.mwaa.calls_of("CreateEnvironment") and outcome.visited(IMPORT)
    assert {dag: world.dag_states()[dag] for dag in USER_DAGS} == USER_DAGS
    assert world.state_file() == {**world.state_file(), "phase": "AWAKE", "snapshot_id": snapshot_id}


def test_wake_without_any_snapshot_is_refused(world: World) -> None:
    del world.mwaa.environments[ENVIRONMENT]

    outcome = world.run("wake")

    assert outcome.status == "FAILED" and outcome.visited(REFUSED)
    assert world.mwaa.mutating_calls() == []
    assert "no verified snapshot" in only_alert(world)["message"]


def test_update_after_restore_updates_once_and_waits_for_it(make_world: Callable[..., World]) -> None:
    world = make_world(UpdateAfterRestore="true")
    hibernate_first(world)

    outcome = world.run("wake")

    assert outcome.status == "SUCCEEDED", outcome
    (update,) = world.mwaa.calls_of("UpdateEnvironment")
    assert update.name == ENVIRONMENT
    assert outcome.states.index(IMPORT) < outcome.states.index("Update the environment so plugins reload")
    assert world.mwaa.environments[ENVIRONMENT].current()[0] == "AVAILABLE"


def test_an_import_that_reports_success_without_restoring_is_not_recorded_awake(hibernated) -> None:
    """Issue 11: the wake checks the restore from outside (REST API counts and paused states) before AWAKE."""
    world, _ = hibernated
    world.mwaa.on_trigger(IMPORT_DAG, world.dags.import_("hollow"))

    outcome = world.run("wake")

    assert outcome.status == "FAILED" and outcome.visited("Check the restore from outside")
    assert not outcome.visited("Record the environment as awake")
    assert world.state_file()["phase"] == "HIBERNATED", "the next wake must restore again"
    message = only_alert(world)["message"]
    assert "RestoreNotConfirmed" in message and "DAGs not paused as recorded: marketing_sync, sales_etl" in message
