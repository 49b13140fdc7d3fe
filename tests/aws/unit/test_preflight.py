"""Preflight decisions: hibernate only from AVAILABLE, wake only when needed, never two cycles at once."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from unittest import mock

import boto3
import pytest
from mwaa_hibernate import lock, preflight, snapshots
from mwaa_hibernate.exceptions import (
    EnvironmentNotAvailable,
    EnvironmentNotFound,
    OverlappingExecution,
    RestoreOwed,
    SnapshotNotFound,
    SnapshotVerificationFailed,
)

from .conftest import (
    ENVIRONMENT,
    HIBERNATE_SM,
    REGION,
    SNAPSHOT_ID,
    STACK,
    WAKE_SM,
    commit,
    saved_environment,
    write_snapshot,
)

OWN = f"arn:aws:states:{REGION}:123456789012:execution:{STACK}-hibernate:own"


@pytest.fixture
def state_machines(aws):
    """The stack's two state machines in moto; an execution stays RUNNING for an hour whichever way moto
    runs executions (its static backend never ends them, its interpreter really waits)."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    role = "arn:aws:iam::123456789012:role/sfn"
    definition = json.dumps({"StartAt": "Busy", "States": {"Busy": {"Type": "Wait", "Seconds": 3600, "End": True}}})
    for arn in (HIBERNATE_SM, WAKE_SM):
        sfn.create_state_machine(name=arn.rsplit(":", 1)[1], definition=definition, roleArn=role)
    return sfn


def hibernate(aws, **kw):
    return preflight.check_hibernate(
        environment=ENVIRONMENT,
        execution_arn=OWN,
        started_at="2026-11-24T19:00:00.5Z",
        bucket=aws.bucket,
        state_machine_arns=[HIBERNATE_SM, WAKE_SM],
        **kw,
    )


def wake(aws):
    return preflight.check_wake(
        environment=ENVIRONMENT, execution_arn=OWN, bucket=aws.bucket, state_machine_arns=[HIBERNATE_SM, WAKE_SM]
    )


def test_an_available_environment_may_hibernate_into_a_snapshot_named_by_the_start_time(aws, state_machines) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()

    assert hibernate(aws) == {
        "action": "HIBERNATE",
        "environment_status": "AVAILABLE",
        "snapshot_id": SNAPSHOT_ID,
        "snapshot_uri": f"s3://{aws.bucket}/{ENVIRONMENT}/snapshots/{SNAPSHOT_ID}/",
    }


def test_an_absent_environment_is_already_hibernated(aws, state_machines) -> None:
    write_snapshot(aws, "20261123T190000Z")
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id="20261123T190000Z", bucket=aws.bucket)

    answer = hibernate(aws)

    assert (answer["action"], answer["environment_status"], answer["snapshot_id"]) == (
        "ALREADY_HIBERNATED",
        "ABSENT",
        "20261123T190000Z",
    )


def test_an_absent_environment_this_stack_never_hibernated_is_a_wrong_name(aws, state_machines) -> None:
    with pytest.raises(EnvironmentNotFound, match="Check the stack's EnvironmentName parameter"):
        hibernate(aws)

    assert boto3.client("s3", region_name=REGION).list_objects_v2(Bucket=aws.bucket)["KeyCount"] == 0


@pytest.mark.parametrize("status", ["CREATING", "UPDATING", "UPDATE_FAILED", "MAINTENANCE", "DELETING"])
def test_hibernate_refuses_any_other_status_and_touches_nothing(aws, state_machines, status: str) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(Status=status)

    with pytest.raises(EnvironmentNotAvailable, match=f"is {status}; hibernation starts only from AVAILABLE"):
        hibernate(aws)
    assert [op for op, _ in aws.mwaa.calls] == ["GetEnvironment"]
    assert "Contents" not in aws.s3.list_objects_v2(Bucket=aws.bucket)


@pytest.mark.parametrize("other", [HIBERNATE_SM, WAKE_SM], ids=["hibernate-running", "wake-running"])
def test_a_running_execution_of_either_state_machine_blocks_both_flows(aws, state_machines, other: str) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    running = state_machines.start_execution(stateMachineArn=other, name="other", input="{}")["executionArn"]

    with pytest.raises(OverlappingExecution, match=running):
        hibernate(aws)
    with pytest.raises(OverlappingExecution, match="Nothing was touched"):
        wake(aws)
    assert not [op for op, _ in aws.mwaa.calls]


def test_the_callers_own_execution_is_not_an_overlap(aws, state_machines) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    own = state_machines.start_execution(stateMachineArn=HIBERNATE_SM, name="own", input="{}")["executionArn"]

    answer = preflight.check_hibernate(
        environment=ENVIRONMENT,
        execution_arn=own,
        started_at="2026-11-24T19:00:00Z",
        bucket=aws.bucket,
        state_machine_arns=[HIBERNATE_SM, WAKE_SM],
    )
    assert answer["action"] == "HIBERNATE"


def test_wake_recreates_an_absent_environment_from_the_latest_verified_snapshot(aws, state_machines) -> None:
    write_snapshot(aws)
    commit(aws)

    assert wake(aws)["action"] == "CREATE"
    assert wake(aws)["snapshot_id"] == SNAPSHOT_ID


def test_wake_owes_a_restore_to_an_available_environment_still_marked_hibernated(aws, state_machines) -> None:
    write_snapshot(aws)
    commit(aws)
    snapshots.record_state(environment=ENVIRONMENT, phase="HIBERNATED", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()

    assert wake(aws)["action"] == "RESTORE"

    snapshots.record_state(environment=ENVIRONMENT, phase="AWAKE", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    assert wake(aws) | {"snapshot_uri": None} == {
        "action": "ALREADY_AWAKE",
        "environment_status": "AVAILABLE",
        "snapshot_id": SNAPSHOT_ID,
        "snapshot_uri": None,
    }


def test_wake_of_an_environment_never_hibernated_is_already_awake(aws, state_machines) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    assert wake(aws)["action"] == "ALREADY_AWAKE"


def test_wake_without_any_snapshot_says_so(aws, state_machines) -> None:
    with pytest.raises(SnapshotNotFound, match="no verified snapshot"):
        wake(aws)


def test_wake_refuses_a_latest_snapshot_that_no_longer_verifies(aws, state_machines) -> None:
    files = write_snapshot(aws)
    commit(aws)
    table = next(iter(files))
    aws.s3.put_object(Bucket=aws.bucket, Key=f"{ENVIRONMENT}/snapshots/{SNAPSHOT_ID}/{table}", Body=b"tampered")

    with pytest.raises(SnapshotVerificationFailed, match="not usable"):
        wake(aws)


@pytest.mark.parametrize("status", ["CREATING", "CREATE_FAILED", "DELETING", "UPDATING"])
def test_wake_refuses_an_environment_in_the_middle_of_something(aws, state_machines, status: str) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment(Status=status)
    with pytest.raises(EnvironmentNotAvailable, match=f"is {status}"):
        wake(aws)


def test_hibernate_refuses_an_environment_whose_restore_never_completed(aws, state_machines) -> None:
    """A failed import leaves an AVAILABLE environment with a partial database: never snapshot that."""
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    snapshots.record_state(environment=ENVIRONMENT, phase="HIBERNATED", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)

    with pytest.raises(RestoreOwed, match=f"restore of snapshot {SNAPSHOT_ID} never completed"):
        hibernate(aws)

    snapshots.record_state(environment=ENVIRONMENT, phase="AWAKE", snapshot_id=SNAPSHOT_ID, bucket=aws.bucket)
    assert hibernate(aws)["action"] == "HIBERNATE"


def test_two_starts_at_once_cannot_both_proceed_even_when_listing_misses_them(aws, state_machines) -> None:
    """Invariant 5: ListExecutions is eventually consistent; the lock (a conditional write) is not."""
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    first = state_machines.start_execution(stateMachineArn=HIBERNATE_SM, name="first")["executionArn"]
    with mock.patch.object(preflight, "running_executions", return_value=[]):  # neither sees the other listed
        preflight.check_hibernate(
            environment=ENVIRONMENT,
            execution_arn=first,
            started_at="2026-11-24T19:00:00Z",
            bucket=aws.bucket,
            state_machine_arns=[HIBERNATE_SM, WAKE_SM],
        )
        with pytest.raises(OverlappingExecution, match=r"holds the lock"):
            hibernate(aws)


def test_the_lock_of_an_execution_that_ended_is_taken_over(aws, state_machines) -> None:
    aws.mwaa.environments[ENVIRONMENT] = saved_environment()
    ended = state_machines.start_execution(stateMachineArn=HIBERNATE_SM, name="ended")["executionArn"]
    lock.acquire(environment=ENVIRONMENT, bucket=aws.bucket, execution_arn=ended, flow="hibernate")
    state_machines.stop_execution(executionArn=ended)
    _wait_until_stopped(state_machines, ended)  # moto's interpreter stops it on its own thread

    assert hibernate(aws)["action"] == "HIBERNATE"
    assert (
        json.loads(aws.s3.get_object(Bucket=aws.bucket, Key=f"{ENVIRONMENT}/lock.json")["Body"].read())["execution_arn"]
        == OWN
    )


def test_an_expired_lock_is_taken_over_and_a_retry_keeps_its_own(aws, state_machines) -> None:
    running = state_machines.start_execution(stateMachineArn=WAKE_SM, name="stuck")["executionArn"]
    past = datetime.now(UTC) - lock.EXPIRY - timedelta(minutes=1)
    lock.acquire(environment=ENVIRONMENT, bucket=aws.bucket, execution_arn=running, flow="wake", now=past)

    taken = lock.acquire(environment=ENVIRONMENT, bucket=aws.bucket, execution_arn=OWN, flow="hibernate")
    again = lock.acquire(environment=ENVIRONMENT, bucket=aws.bucket, execution_arn=OWN, flow="hibernate")

    assert taken["execution_arn"] == again["execution_arn"] == OWN


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"export_timeout_seconds": 1800, "drain_timeout_minutes": 30}, r"ExportTimeoutSeconds \(1800\) must be above"),
        ({"export_timeout_seconds": 600, "callback_heartbeat_seconds": 900}, r"CallbackHeartbeatSeconds \(900\)"),
        ({"import_timeout_seconds": 300, "callback_heartbeat_seconds": 301}, r"not be above ImportTimeoutSeconds"),
    ],
)
def test_inconsistent_timeouts_are_refused_before_anything_is_touched(settings, message) -> None:
    """Issue 11: CloudFormation rules cannot compare numbers; the first step of each execution does."""
    from mwaa_hibernate.exceptions import ConfigurationError

    with pytest.raises(ConfigurationError, match=message):
        preflight.check_timeouts(settings)
    preflight.check_timeouts(
        {"export_timeout_seconds": 5400, "drain_timeout_minutes": 30, "callback_heartbeat_seconds": 900}
    )


def _wait_until_stopped(sfn, arn: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
        assert time.monotonic() < deadline, f"{arn} still RUNNING after stop_execution"
        time.sleep(0.05)
