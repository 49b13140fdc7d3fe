"""Decide whether a hibernation or a wake may start, before anything is touched.

Hibernate proceeds only from AVAILABLE; absent means already hibernated if this stack ever hibernated it,
and a wrong name otherwise (a nightly "success" on nothing would hide the typo). Wake proceeds only from
absent, or from AVAILABLE while state.json still says HIBERNATED (a restore is owed). Either refuses while another
hibernate or wake execution of this stack is running, and an execution that will change anything first takes
the environment's lock (`mwaa_hibernate.lock`, a conditional write), so two cannot both proceed even when the
listing misses one (docs/design.md, invariant 5).
"""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate import layout, lock, snapshots
from mwaa_hibernate.aws import client, error_code, raise_if_transient
from mwaa_hibernate.environment import ABSENT, AVAILABLE, environment_status
from mwaa_hibernate.exceptions import (
    ConfigurationError,
    EnvironmentNotAvailable,
    EnvironmentNotFound,
    OverlappingExecution,
    RestoreOwed,
    SnapshotNotFound,
)

logger = logging.getLogger(__name__)

HIBERNATE = "HIBERNATE"
ALREADY_HIBERNATED = "ALREADY_HIBERNATED"
CREATE = "CREATE"
RESTORE = "RESTORE"
ALREADY_AWAKE = "ALREADY_AWAKE"


def running_executions(*, state_machine_arns: list[str], own_execution_arn: str, sfn: Any = None) -> list[str]:
    """ARNs of RUNNING executions of these state machines, other than the caller's own."""
    sfn = client("stepfunctions", sfn)
    running = []
    for arn in state_machine_arns:
        try:
            page = sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING", maxResults=100)
        except ClientError as exc:
            if error_code(exc) == "StateMachineDoesNotExist":
                logger.warning("State machine %s does not exist; it has nothing running", arn)
                continue
            raise_if_transient(exc, "ListExecutions")
            raise
        running += [e["executionArn"] for e in page.get("executions", []) if e["executionArn"] != own_execution_arn]
    return running


def _refuse_overlap(environment: str, flow: str, running: list[str]) -> None:
    if running:
        raise OverlappingExecution(
            f"Refusing to {flow} {environment}: another execution is still running ({', '.join(running)}). "
            "Nothing was touched. Wait for it to finish (or stop it in the Step Functions console), then run again."
        )


def _answer(action: str, status: str, snapshot_id: str | None, bucket: str, environment: str) -> dict[str, Any]:
    uri = layout.snapshot_uri(bucket, environment, snapshot_id) if snapshot_id else None
    return {"action": action, "environment_status": status, "snapshot_id": snapshot_id, "snapshot_uri": uri}


def check_timeouts(settings: dict[str, Any]) -> None:
    """The stack's timeouts must fit together (CloudFormation rules cannot compare numbers, so the first step of
    every execution does, before anything is touched): the export's timeout covers the drain, and a heartbeat
    timeout longer than a step's timeout would never fire."""
    problems = []
    export, drain = settings.get("export_timeout_seconds"), settings.get("drain_timeout_minutes")
    if export is not None and drain is not None and export <= drain * 60:
        problems.append(
            f"ExportTimeoutSeconds ({export}) must be above DrainTimeoutMinutes x 60 ({drain * 60}): the export would "
            "time out while it still waits for running tasks"
        )
    heartbeat = settings.get("callback_heartbeat_seconds")
    for name, key in (
        ("ExportTimeoutSeconds", "export_timeout_seconds"),
        ("ImportTimeoutSeconds", "import_timeout_seconds"),
    ):
        limit = settings.get(key)
        if heartbeat is not None and limit is not None and heartbeat > limit:
            problems.append(f"CallbackHeartbeatSeconds ({heartbeat}) must not be above {name} ({limit})")
    if problems:
        raise ConfigurationError(
            "The stack's timeouts do not fit together: " + "; ".join(problems) + ". Nothing was touched. Update the "
            "stack's parameters, then run again."
        )


def check_hibernate(
    *,
    environment: str,
    execution_arn: str,
    started_at: str,
    bucket: str,
    state_machine_arns: list[str],
    mwaa: Any = None,
    sfn: Any = None,
    s3: Any = None,
) -> dict[str, Any]:
    _refuse_overlap(
        environment,
        "hibernate",
        running_executions(state_machine_arns=state_machine_arns, own_execution_arn=execution_arn, sfn=sfn),
    )
    status = environment_status(environment, mwaa=mwaa)
    if status == ABSENT:
        latest = snapshots.read_latest(environment=environment, bucket=bucket, s3=s3)
        if latest is None and snapshots.read_state(environment=environment, bucket=bucket, s3=s3) is None:
            raise EnvironmentNotFound(
                f"Environment {environment} does not exist, and this stack has never hibernated it (no "
                f"{layout.state_key(environment)} or {layout.latest_key(environment)} in s3://{bucket}). Nothing was "
                "touched. Check the stack's EnvironmentName parameter (names are case-sensitive) and that the stack "
                "is deployed in the environment's region."
            )
        return _answer(ALREADY_HIBERNATED, ABSENT, latest, bucket, environment)
    if status != AVAILABLE:
        raise EnvironmentNotAvailable(
            f"Environment {environment} is {status}; hibernation starts only from AVAILABLE. Nothing was touched. "
            "Wait until it is AVAILABLE (or fix it in the MWAA console), then run the hibernation again."
        )
    state = snapshots.read_state(environment=environment, bucket=bucket, s3=s3) or {}
    if state.get("phase") == "HIBERNATED":
        raise RestoreOwed(
            f"Environment {environment} is AVAILABLE but its restore of snapshot {state.get('snapshot_id')} never "
            "completed (state.json still says HIBERNATED). Hibernating now would snapshot an incomplete database. "
            "Nothing was touched. Run the wake state machine first: it restores the snapshot into this environment."
        )
    # Only an execution that will change something takes the lock; refusals and no-ops touch nothing.
    lock.acquire(environment=environment, bucket=bucket, execution_arn=execution_arn, flow="hibernate", s3=s3, sfn=sfn)
    return _answer(HIBERNATE, status, layout.snapshot_id_for(started_at), bucket, environment)


def check_wake(
    *,
    environment: str,
    execution_arn: str,
    bucket: str,
    state_machine_arns: list[str],
    mwaa: Any = None,
    sfn: Any = None,
    s3: Any = None,
) -> dict[str, Any]:
    _refuse_overlap(
        environment,
        "wake",
        running_executions(state_machine_arns=state_machine_arns, own_execution_arn=execution_arn, sfn=sfn),
    )
    status = environment_status(environment, mwaa=mwaa)
    if status not in (ABSENT, AVAILABLE):
        raise EnvironmentNotAvailable(
            f"Environment {environment} is {status}; waking starts only when it is absent (or AVAILABLE with a "
            "restore owed). Nothing was touched. Wait for the change in progress to end, or delete a failed "
            "environment in the MWAA console, then run the wake again."
        )
    state = snapshots.read_state(environment=environment, bucket=bucket, s3=s3) or {}
    if status == AVAILABLE and state.get("phase") != "HIBERNATED":
        return _answer(ALREADY_AWAKE, status, state.get("snapshot_id"), bucket, environment)
    pointer = snapshots.read_latest_pointer(environment=environment, bucket=bucket, s3=s3)
    if pointer is None:
        raise SnapshotNotFound(
            f"There is no verified snapshot of {environment} yet (no {layout.latest_key(environment)} in s3://{bucket}),"
            " so there is nothing to wake it from. Create the environment by hand, or run a hibernation first."
        )
    latest = pointer["snapshot_id"]
    snapshots.verify(
        environment=environment,
        snapshot_id=latest,
        bucket=bucket,
        s3=s3,
        configuration_sha256=pointer.get("configuration_sha256") or "",
    )
    lock.acquire(environment=environment, bucket=bucket, execution_arn=execution_arn, flow="wake", s3=s3, sfn=sfn)
    return _answer(RESTORE if status == AVAILABLE else CREATE, status, latest, bucket, environment)
