"""The hibernate and wake cycle in a running sandbox, failures injected into it, and the invariants to check.

Shared by the demo (which shows it) and the end-to-end tests (which assert on it). Nothing here
replaces a part of the application: the state machines run in moto, the handlers in-process, the DAGs
on the environment's real scheduler. Failures are injected only where AWS would produce them: MWAA
through the stand-in's faults, S3 through the sandbox's S3 fault layer.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any

from mwaa_hibernate import layout
from mwaa_hibernate_snapshot.manifest import Manifest
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

from mwaa_hibernate_sandbox.api_view import ApiClient, ApiView, read_api_view
from mwaa_hibernate_sandbox.compare import DatabaseImage, capture_database
from mwaa_hibernate_sandbox.executions import ExecutionResult, StepListener, run_execution
from mwaa_hibernate_sandbox.mwaa_standin import add_fault, clear_faults, environment_details
from mwaa_hibernate_sandbox.sandbox import AIRFLOW_APP_ID, Alert, Sandbox
from mwaa_hibernate_sandbox.seed import AirflowApi

# Steps a failure can be injected at, in cycle order, and what is done to make each fail.
FAILURE_STEPS: dict[str, str] = {
    "export": "S3 refuses the export DAG's table uploads (AccessDenied on the snapshot prefix)",
    "verify": "one table file is corrupted right after the manifest is written (same size, other bytes)",
    "delete": "MWAA refuses DeleteEnvironment (ValidationException)",
    "create": "the recreated environment ends CREATE_FAILED",
    "import": "S3 refuses the new environment's reads of the snapshot's tables (AccessDenied for its role)",
}
HIBERNATE_FAILURES = ("export", "verify", "delete")
WAKE_FAILURES = ("create", "import")
INJECTED_CREATE_ERROR = "Injected: the environment's subnets have no route to Amazon S3 (sandbox fault)"


class CycleError(RuntimeError):
    """The cycle could not be run as asked (not a failure of the application: say what to fix)."""


def capture(sandbox: Sandbox, environment: str | None = None) -> DatabaseImage:
    """Every row of the environment's metadata database, secrets decrypted with its own Fernet key."""
    name = environment or sandbox.environment_name
    details = environment_details(sandbox.mwaa_url, name)
    return capture_database(url=details["DatabaseUrl"], fernet_key=sandbox.airflow(name).fernet_key)


def api_view(sandbox: Sandbox, environment: str | None = None) -> ApiView:
    """Every GET endpoint of the environment's REST API, read as its Admin API user (see api_view)."""
    name = environment or sandbox.environment_name
    details = environment_details(sandbox.mwaa_url, name)
    return read_api_view(ApiClient(details["AirflowApiUrl"], sandbox.airflow(name).api_headers()))


def airflow_api(sandbox: Sandbox, environment: str | None = None) -> AirflowApi:
    return AirflowApi(sandbox.client("mwaa"), environment or sandbox.environment_name)


def user_paused_states(sandbox: Sandbox, environment: str | None = None) -> dict[str, bool]:
    """Each DAG's paused state through the REST API, the hibernation DAGs left out."""
    states = airflow_api(sandbox, environment).paused_states()
    return {dag_id: paused for dag_id, paused in states.items() if dag_id not in HIBERNATION_DAG_IDS}


def run_hibernate(sandbox: Sandbox, *, on_step: StepListener | None = None) -> ExecutionResult:
    return run_execution(
        sandbox.client("stepfunctions"),
        sandbox.state_machine_arn("hibernate"),
        execution_input={"trigger": "manual"},
        on_step=on_step,
    )


def run_wake(sandbox: Sandbox, *, on_step: StepListener | None = None) -> ExecutionResult:
    return run_execution(
        sandbox.client("stepfunctions"),
        sandbox.state_machine_arn("wake"),
        execution_input={"trigger": "manual"},
        on_step=on_step,
    )


def read_json(sandbox: Sandbox, key: str) -> Any:
    s3 = sandbox.client("s3")
    try:
        return json.loads(s3.get_object(Bucket=sandbox.stack.bucket, Key=key)["Body"].read())
    except s3.exceptions.NoSuchKey:
        return None


def latest_snapshot_id(sandbox: Sandbox) -> str | None:
    pointer = read_json(sandbox, layout.latest_key(sandbox.environment_name))
    return pointer.get("snapshot_id") if isinstance(pointer, dict) else pointer


def recorded_phase(sandbox: Sandbox) -> str | None:
    state = read_json(sandbox, layout.state_key(sandbox.environment_name))
    return state.get("phase") if isinstance(state, dict) else None


@dataclass(frozen=True)
class SnapshotObject:
    key: str
    size: int


@dataclass(frozen=True)
class SnapshotListing:
    snapshot_id: str
    objects: tuple[SnapshotObject, ...]
    manifest: Manifest | None

    @property
    def bytes(self) -> int:
        return sum(item.size for item in self.objects)

    def rows_by_table(self) -> dict[str, int]:
        if self.manifest is None:
            return {}
        return {entry.table: entry.rows or 0 for entry in self.manifest.files if entry.table}


def snapshot_listing(sandbox: Sandbox, snapshot_id: str) -> SnapshotListing:
    """The objects of one snapshot folder in S3 with their sizes, and its manifest."""
    s3 = sandbox.client("s3")
    prefix = layout.snapshot_prefix(sandbox.environment_name, snapshot_id)
    objects: list[SnapshotObject] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=sandbox.stack.bucket, Prefix=prefix):
        objects += [SnapshotObject(item["Key"][len(prefix) :], item["Size"]) for item in page.get("Contents", [])]
    manifest = None
    if any(item.key == layout.MANIFEST_FILE for item in objects):
        body = s3.get_object(Bucket=sandbox.stack.bucket, Key=prefix + layout.MANIFEST_FILE)["Body"].read()
        manifest = Manifest.loads(body)
    return SnapshotListing(
        snapshot_id=snapshot_id, objects=tuple(sorted(objects, key=lambda o: o.key)), manifest=manifest
    )


# ----- failures -----------------------------------------------------------------------------------


def inject_failure(sandbox: Sandbox, step: str) -> str:
    """Arrange for ``step`` to fail the way AWS would make it fail; return what was done, for a person.

    Hibernate steps are armed before the hibernation; ``create`` before the wake; ``import`` needs the
    verified snapshot of a completed hibernation, so it is armed between the two.
    """
    environment = sandbox.environment_name
    snapshots = layout.snapshots_prefix(environment)
    if step == "export":
        sandbox.s3_faults.deny(
            f"{snapshots}*/tables/*",
            reason="Access Denied: the execution role may not s3:PutObject on the snapshot prefix (sandbox fault)",
        )
    elif step == "verify":
        sandbox.s3_faults.corrupt_after_write(trigger=f"{snapshots}*/{layout.MANIFEST_FILE}", target="tables/*")
    elif step == "delete":
        add_fault(
            sandbox.mwaa_url,
            kind="delete_rejected",
            environment=environment,
            error_code="ValidationException",
            message="Injected: the environment cannot be deleted right now (sandbox fault)",
        )
    elif step == "create":
        add_fault(sandbox.mwaa_url, kind="create_failed", environment=environment, message=INJECTED_CREATE_ERROR)
    elif step == "import":
        # Only the environment's reads are refused: the wake's preflight verifies every checksum of the
        # snapshot from outside first (a corrupted file is refused before anything is created), so an
        # import failure is one the snapshot itself cannot explain.
        if latest_snapshot_id(sandbox) is None:
            raise CycleError("an import failure needs a verified snapshot: run a hibernation first")
        sandbox.s3_faults.deny(
            f"{snapshots}*/tables/*",
            methods=("GET", "HEAD"),
            user_agent=AIRFLOW_APP_ID,
            reason="Access Denied: the environment's execution role may not s3:GetObject on the snapshot "
            "(sandbox fault)",
        )
    else:
        raise CycleError(f"no failure can be injected at {step!r}; choose one of {', '.join(FAILURE_STEPS)}")
    return FAILURE_STEPS[step]


def clear_injected_failures(sandbox: Sandbox) -> None:
    sandbox.s3_faults.clear()
    clear_faults(sandbox.mwaa_url)


# ----- invariants ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Invariant:
    name: str
    held: bool
    detail: str


@dataclass
class InvariantContext:
    """What was true before the failed execution, to check what must still be true after it."""

    paused_before: dict[str, bool]
    latest_before: str | None
    alerts_before: int
    phase_before: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def before_failure(sandbox: Sandbox, *, environment_exists: bool = True) -> InvariantContext:
    return InvariantContext(
        paused_before=user_paused_states(sandbox) if environment_exists else {},
        latest_before=latest_snapshot_id(sandbox),
        alerts_before=len(sandbox.alerts()),
        phase_before=recorded_phase(sandbox),
    )


def new_alerts(sandbox: Sandbox, context: InvariantContext) -> list[Alert]:
    return sandbox.alerts()[context.alerts_before :]


def _alert_invariant(sandbox: Sandbox, context: InvariantContext, mentions: str | None = None) -> Invariant:
    alerts = new_alerts(sandbox, context)
    mentioning = [alert for alert in alerts if sandbox.environment_name in alert.message]
    if mentions is not None:
        mentioning = [alert for alert in mentioning if mentions in alert.message]
    detail = f"{len(alerts)} message(s) on the alert topic; subject: {alerts[-1].subject!r}" if alerts else "no message"
    wanted = f" naming the environment{' and ' + repr(mentions) if mentions else ''}"
    return Invariant(f"an alert was sent{wanted}", bool(mentioning), detail)


def check_invariants(
    sandbox: Sandbox, step: str, execution: ExecutionResult, context: InvariantContext
) -> list[Invariant]:
    """What must hold after a failure injected at ``step`` (docs/design.md, invariants 1-4 and 7, as seen by a user)."""
    checks = [
        Invariant(
            "the execution failed (it did not report success)",
            execution.status == "FAILED",
            f"{execution.status}: {execution.error or ''}",
        )
    ]
    status = sandbox.environment_status()
    latest = latest_snapshot_id(sandbox)
    if step in HIBERNATE_FAILURES:
        checks.append(Invariant("the environment was kept", status == "AVAILABLE", f"status {status}"))
        after = user_paused_states(sandbox) if status == "AVAILABLE" else {}
        changed = {d: (context.paused_before.get(d), after.get(d)) for d in set(after) | set(context.paused_before)}
        changed = {d: pair for d, pair in changed.items() if pair[0] != pair[1]}
        checks.append(
            Invariant(
                "every DAG's paused state is as before",
                not changed and bool(after),
                f"{len(after)} DAGs, {sum(not p for p in after.values())} active"
                + (f"; changed: {changed}" if changed else ""),
            )
        )
        if step != "delete":  # a delete fails after the verified snapshot became the latest, as it should
            checks.append(
                Invariant(
                    "the latest-snapshot pointer did not move to the unverified snapshot",
                    latest == context.latest_before,
                    f"latest.json: {latest}",
                )
            )
        checks.append(_alert_invariant(sandbox, context))
    elif step == "create":
        checks.append(
            Invariant(
                "the snapshot is still the latest and untouched",
                latest is not None and latest == context.latest_before,
                f"latest.json: {latest}",
            )
        )
        checks.append(Invariant("state.json still says HIBERNATED", recorded_phase(sandbox) == "HIBERNATED", ""))
        checks.append(_alert_invariant(sandbox, context, mentions=INJECTED_CREATE_ERROR))
    elif step == "import":
        checks.append(Invariant("the environment was kept", status == "AVAILABLE", f"status {status}"))
        after = user_paused_states(sandbox) if status == "AVAILABLE" else {}
        checks.append(
            Invariant(
                "every DAG stays paused",
                bool(after) and all(after.values()),
                f"{sum(after.values())} of {len(after)} DAGs paused",
            )
        )
        imported = _seeded_rows_present(sandbox) if status == "AVAILABLE" else {}
        checks.append(
            Invariant(
                "nothing was half imported (no restored run, variable or connection)",
                status == "AVAILABLE" and not any(imported.values()),
                ", ".join(f"{name}: {count}" for name, count in imported.items()),
            )
        )
        checks.append(
            Invariant(
                "the snapshot is still the latest, and state.json still says HIBERNATED",
                latest == context.latest_before and recorded_phase(sandbox) == "HIBERNATED",
                f"latest.json: {latest}",
            )
        )
        checks.append(_alert_invariant(sandbox, context))
    return checks


def _seeded_rows_present(sandbox: Sandbox) -> dict[str, int]:
    api = airflow_api(sandbox)
    runs = sum(
        api.call("GET", f"/dags/{dag_id}/dagRuns", query={"limit": 1})["total_entries"]
        for dag_id in user_paused_states(sandbox)
    )
    return {
        "DAG runs": runs,
        "variables": api.call("GET", "/variables", query={"limit": 1})["total_entries"],
        "connections": api.call("GET", "/connections", query={"limit": 1})["total_entries"],
    }


def delete_failed_environment(sandbox: Sandbox, *, timeout: float = 300) -> None:
    """Delete a failed environment (as a person would after a failed wake) and wait until it is gone."""
    sandbox.client("mwaa").delete_environment(Name=sandbox.environment_name)
    sandbox.wait_for_status(lambda status: status is None, timeout=timeout, what="the failed environment to go")


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)
