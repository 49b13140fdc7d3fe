"""The task callables of the export, import and probe DAGs, on Airflow 2 and on Airflow 3's task carrier.

Each step parses the run's conf, beats the waiting state machine's heartbeat while it works, and on
failure leaves a short, secret-free reason in XCom (key `failure`) for the failure handler, which runs
whenever a step fails, even one that was killed. The export's handler restores every DAG's paused
state exactly as recorded before it tells the state machine, except once the success report went out: its
reply can be lost after Step Functions accepted it, and the environment is then deleted, so the DAGs stay
paused and the state machine's own compensation step unpauses them if it did not get the success.

Every database operation goes through one `Backend` (`_backend`). On Airflow 2 the task reaches the
metadata database in-process, through Airflow's own engine; on Airflow 3, where task processes have no
ORM, through a connection of its own built from the container's credentials (`connection.own_engine`:
the task carrier). The API-server carrier runs the same steps in the API server instead (`jobs`).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mwaa_hibernate_snapshot.errors import InvalidRunConf, SnapshotInvalid
from mwaa_hibernate_snapshot.paused_state import to_unpause
from mwaa_hibernate_snapshot.runconf import (
    DRAIN_TIMEOUT,
    EXPORT_FAILED,
    IMPORT_FAILED,
    SNAPSHOT_REJECTED,
    ExportConf,
    ImportConf,
    parse_export_conf,
    parse_import_conf,
)

from mwaa_hibernate_runtime import compat, draining, pausing
from mwaa_hibernate_runtime.backend import Backend, SqlBackend
from mwaa_hibernate_runtime.callback import TaskTokenCallback
from mwaa_hibernate_runtime.errors import CallbackError, DrainTimeout

if TYPE_CHECKING:
    from mwaa_hibernate_snapshot.store import SnapshotStore
    from sqlalchemy.engine import Engine

log = logging.getLogger(__name__)

# Task ids, in run order. The DAG files wire them; the failure handlers read XCom by them.
RECORD_PAUSED_STATES = "record_paused_states"
PAUSE_DAGS = "pause_dags"
DRAIN_RUNNING_WORK = "drain_running_work"
TRIM_HISTORY = "trim_history"
EXPORT_SNAPSHOT = "export_snapshot"
REPORT_SUCCESS = "report_success"
RESTORE_AFTER_FAILURE = "restore_paused_states_and_report_failure"
REPORT_FAILURE = "report_failure"
RESTORE_SNAPSHOT = "restore_snapshot"
APPLY_PAUSED_STATES = "apply_paused_states"
FAIL_RUN = "fail_run"

EXPORT_STEPS = (RECORD_PAUSED_STATES, PAUSE_DAGS, DRAIN_RUNNING_WORK, TRIM_HISTORY, EXPORT_SNAPSHOT, REPORT_SUCCESS)
IMPORT_STEPS = (PAUSE_DAGS, RESTORE_SNAPSHOT, APPLY_PAUSED_STATES, REPORT_SUCCESS)

FAILURE_XCOM_KEY = "failure"
# Set by the export's report step just before SendTaskSuccess: from then on the state machine may have the success
# (a reply can be lost after Step Functions accepted it) and go on to delete the environment.
SUCCESS_SENT_XCOM_KEY = "success_sent"

# Task defaults of both hibernation DAGs.
DEFAULT_ARGS = {
    "owner": "mwaa-hibernate",
    # A retry would run a step again behind the state machine's back; failures are handled explicitly.
    "retries": 0,
    # Ahead of any queued user task: the export must not wait behind the work it drains, nor the import behind
    # the new environment's first runs.
    "priority_weight": 1000,
    "weight_rule": "absolute",
}
# A cause is a sentence for a person, not a traceback: the first line of the error, this long at most.
_MAX_REASON = 1000


# --- plumbing -------------------------------------------------------------------------------------------


def _metadata_engine() -> Engine:
    """Airflow 2: Airflow's own engine. Airflow 3: this task's own connection (one per task process)."""
    global _OWN_ENGINE
    if not compat.is_airflow3():
        from airflow import settings

        return settings.engine
    if _OWN_ENGINE is None:
        from mwaa_hibernate_runtime.connection import own_engine

        _OWN_ENGINE = own_engine()
    return _OWN_ENGINE


_OWN_ENGINE: Engine | None = None


def _backend() -> Backend:
    return SqlBackend(_metadata_engine(), _fernet_key())


def _fernet_key() -> str | None:
    return compat.fernet_key()


def _callback(conf: ExportConf | ImportConf) -> TaskTokenCallback:
    return TaskTokenCallback(
        callback=conf.callback, environment=conf.snapshot.environment, mask_secret=compat.mask_secret
    )


def _store(conf: ExportConf | ImportConf) -> SnapshotStore:
    from mwaa_hibernate_snapshot import open_store

    return open_store(conf.snapshot.uri)


def _kms_client(conf: ExportConf | ImportConf) -> Any:
    import boto3

    key = getattr(conf, "kms_key_id", "")
    # A key ARN names its region; ids and aliases live in the stack's region, where the callback goes.
    region = key.split(":")[3] if key.startswith("arn:") else conf.callback.region
    return boto3.client("kms", region_name=region)


def _run_conf(context: Mapping[str, Any]) -> Mapping[str, Any] | None:
    return context["dag_run"].conf


def _reason(exc: BaseException) -> str:
    # First line only: database errors put row contents in DETAIL/CONTEXT lines, which stay in the task log.
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:_MAX_REASON]


@dataclass(frozen=True)
class _Step:
    conf: Any
    callback: TaskTokenCallback
    store: SnapshotStore


@contextlib.contextmanager
def _step(
    context: Mapping[str, Any], parse: Callable[[Any], Any], error_for: Callable[[BaseException], str]
) -> Iterator[_Step]:
    """Parse the conf, heartbeat while the body runs, and record why it failed if it does."""
    ti = context["ti"]
    try:
        conf = parse(_run_conf(context))
        for key in conf.ignored_keys:
            log.warning("run conf field %r is not part of the contract and is ignored", key)
        callback = _callback(conf)
        with callback.heartbeating():
            yield _Step(conf=conf, callback=callback, store=_store(conf))
    except Exception as exc:
        ti.xcom_push(key=FAILURE_XCOM_KEY, value={"task": ti.task_id, "error": error_for(exc), "reason": _reason(exc)})
        raise


def _export_error(exc: BaseException) -> str:
    return DRAIN_TIMEOUT if isinstance(exc, DrainTimeout) else EXPORT_FAILED


def _import_error(exc: BaseException) -> str:
    return SNAPSHOT_REJECTED if isinstance(exc, SnapshotInvalid) else IMPORT_FAILED


def _export_step(context: Mapping[str, Any]) -> contextlib.AbstractContextManager[_Step]:
    return _step(context, parse_export_conf, _export_error)


def _import_step(context: Mapping[str, Any]) -> contextlib.AbstractContextManager[_Step]:
    return _step(context, parse_import_conf, _import_error)


@dataclass(frozen=True)
class _Failure:
    task: str
    error: str
    reason: str


def _recorded_failure(context: Mapping[str, Any], steps: tuple[str, ...], default_error: str) -> _Failure:
    """The first failed step's recorded reason; a step that was killed recorded none, so say that."""
    ti = context["ti"]
    for task_id in steps:
        found = ti.xcom_pull(task_ids=task_id, key=FAILURE_XCOM_KEY)
        if found:
            return _Failure(task=found["task"], error=found["error"], reason=found["reason"])
    task = next(iter(_failed_steps(context, steps)), "an unknown step")
    return _Failure(
        task=task,
        error=default_error,
        reason="the task ended without recording a reason (killed, timed out or its worker was lost); see its log",
    )


def _failed_steps(context: Mapping[str, Any], steps: tuple[str, ...]) -> list[str]:
    """The run's failed steps, in run order (Airflow 3: asked through the task SDK, which has no ORM)."""
    if not compat.is_airflow3():
        failed = {t.task_id for t in context["dag_run"].get_task_instances(state=["failed"])}
        return [step for step in steps if step in failed]
    ti = context["ti"]
    get_task_states = getattr(ti, "get_task_states", None)
    if get_task_states is None:
        return []
    try:
        found = get_task_states(dag_id=ti.dag_id, task_ids=list(steps), run_ids=[ti.run_id])
    except Exception as exc:  # naming the step is a courtesy: the failure is reported either way
        log.warning("could not read the run's task states (%s)", type(exc).__name__)
        return []
    states = found.get(ti.run_id, found) if isinstance(found, Mapping) else {}
    return [step for step in steps if states.get(step) == "failed"]


def _tell_failure(context: Mapping[str, Any], parse: Callable[[Any], Any], error: str, cause: str) -> None:
    try:
        conf = parse(_run_conf(context))
        _callback(conf).fail(error=error, cause=cause)
    except (InvalidRunConf, CallbackError) as exc:
        # Nothing more to do here: the state machine times out and alerts on its own.
        log.error("could not report %s to the state machine: %s", error, exc)


# --- export DAG -----------------------------------------------------------------------------------------


def record_paused_states(**context: Any) -> dict[str, Any]:
    """Write every DAG's paused state into the snapshot folder before anything is paused.

    The record also goes to XCom (dag ids and booleans only), so the failure handler can restore it
    even when the snapshot bucket is what failed.
    """
    with _export_step(context) as step:
        states = pausing.record_paused_states(backend=_backend(), store=step.store)
    return {"dags": states}


def pause_dags(**context: Any) -> dict[str, Any]:
    """Pause every DAG except the hibernation DAGs."""
    with _export_step(context):
        paused = pausing.pause_all_dags(backend=_backend())
    return {"paused": len(paused)}


def drain_running_work(**context: Any) -> dict[str, Any]:
    """Wait until no other DAG has a running or queued task instance, up to the conf's drain timeout."""
    with _export_step(context) as step:
        report = draining.wait_for_drain(backend=_backend(), timeout_seconds=step.conf.drain_timeout_minutes * 60)
    return {"seconds": round(report.seconds, 1), "initially_busy": report.initially_busy}


def trim_history(**context: Any) -> dict[str, Any]:
    """Delete history older than the conf's retention window (0 keeps everything)."""
    with _export_step(context) as step:
        report = _backend().trim_history(step.conf.retention_days)
    return {"cutoff": report.cutoff.isoformat() if report.cutoff else None, "deleted": report.deleted}


def export_snapshot(**context: Any) -> dict[str, Any]:
    """Export the metadata database into the snapshot folder; return the summary the state machine gets."""
    from mwaa_hibernate_snapshot import KmsCipher

    with _export_step(context) as step:
        started = time.monotonic()
        manifest = _backend().export(
            store=step.store,
            cipher=KmsCipher(step.conf.kms_key_id, client=_kms_client(step.conf)),
            snapshot_id=step.conf.snapshot.snapshot_id,
        )
        seconds = time.monotonic() - started
    return {
        "snapshot_id": manifest.snapshot_id,
        "tables": len(manifest.files),
        "rows": manifest.rows,
        "bytes": manifest.bytes,
        "seconds": round(seconds, 1),
    }


def report_export_success(**context: Any) -> None:
    """SendTaskSuccess with the export's summary. If Step Functions refuses it, this fails and DAGs are restored."""
    with _export_step(context) as step:
        summary = context["ti"].xcom_pull(task_ids=EXPORT_SNAPSHOT)
        context["ti"].xcom_push(key=SUCCESS_SENT_XCOM_KEY, value=True)
        step.callback.succeed(summary)


def restore_paused_states_and_report_failure(**context: Any) -> None:
    """Runs when any export step failed: restore every DAG's paused state as recorded, then SendTaskFailure."""
    failure = _recorded_failure(context, EXPORT_STEPS, EXPORT_FAILED)
    record = context["ti"].xcom_pull(task_ids=RECORD_PAUSED_STATES)
    cause = f"The export DAG failed in step {failure.task}: {failure.reason}."
    if context["ti"].xcom_pull(task_ids=REPORT_SUCCESS, key=SUCCESS_SENT_XCOM_KEY):
        # SendTaskSuccess went out and its answer was lost or refused: Step Functions may have the success and be
        # deleting the environment, so unpausing here would start runs that die with it. The DAGs stay paused;
        # if the state machine did not get the success it fails, and its own compensation step unpauses them.
        outcome = (
            "The success report may have reached the state machine, so every DAG stays paused here; if the "
            "hibernation did not go on, its 'Restore the DAGs' paused states' step unpauses them."
        )
        log.warning("%s %s", cause, outcome)
        _tell_failure(context, parse_export_conf, failure.error, f"{cause} {outcome}")
        return
    try:
        outcome = pausing.undo_pause(backend=_backend, record=record["dags"] if record else None, reason=_reason)
    except pausing.UndoFailed as exc:
        _tell_failure(context, parse_export_conf, failure.error, f"{cause} {exc}")
        raise
    log.info("%s %s", cause, outcome)
    _tell_failure(context, parse_export_conf, failure.error, f"{cause} {outcome}")


# --- import DAG -----------------------------------------------------------------------------------------


def pause_dags_before_restore(**context: Any) -> dict[str, Any]:
    """Pause every DAG of the new environment, so nothing runs on a half-restored history; unless this snapshot is
    already restored here (a second wake after a completed restore): then the DAGs run as people left them since."""
    with _import_step(context) as step:
        backend = _backend()
        if backend.restored(step.conf.snapshot.snapshot_id):
            log.info("snapshot %s is already restored here: no DAG is paused", step.conf.snapshot.snapshot_id)
            return {"paused": 0, "already_restored": True}
        paused = pausing.pause_all_dags(backend=backend)
    return {"paused": len(paused)}


def restore_snapshot(**context: Any) -> dict[str, Any]:
    """Restore the snapshot in one transaction (the engine refuses bad snapshots, importing nothing)."""
    from mwaa_hibernate_snapshot import KmsCipher, load_manifest

    with _import_step(context) as step:
        found = load_manifest(step.store).snapshot_id
        if found != step.conf.snapshot.snapshot_id:
            raise SnapshotInvalid(
                f"{step.store.uri} holds a manifest of snapshot {found}, not of {step.conf.snapshot.snapshot_id}, "
                "which the wake asked for: nothing was imported"
            )
        result = _backend().restore(
            store=step.store,
            cipher=KmsCipher(step.conf.kms_key_id, client=_kms_client(step.conf)),
            lock_budget_seconds=_lock_budget_seconds(),
        )
    if result.already_restored:
        log.info("snapshot %s was restored by an earlier run: nothing changed", result.snapshot_id)
    return {
        "snapshot_id": result.snapshot_id,
        "tables": result.tables,
        "rows": result.rows,
        "seconds": result.seconds,
        "already_restored": result.already_restored,
    }


def _lock_budget_seconds() -> float:
    """Half the scheduler's heartbeat timeout: this task's heartbeat waits on the restore's table locks."""
    return compat.heartbeat_timeout_seconds() / 2


def apply_paused_states(**context: Any) -> dict[str, Any]:
    """Set each DAG's paused state exactly as it was before hibernation (idempotent, so a rerun is safe)."""
    from mwaa_hibernate_snapshot import read_paused_state

    with _import_step(context) as step:
        if (context["ti"].xcom_pull(task_ids=RESTORE_SNAPSHOT) or {}).get("already_restored"):
            # The record is as old as the snapshot: since the first restore, people may have paused or unpaused
            # DAGs; applying it again would undo that.
            log.info("the snapshot was restored by an earlier run: its paused states are not applied again")
            return {"dags_unpaused": 0}
        record = read_paused_state(step.store)
        if record is None:
            log.warning("%s has no paused-state record: every DAG stays paused", step.store.uri)
            return {"dags_unpaused": 0}
        backend = _backend()
        pausing.apply_paused_states(backend=backend, record=record)
        unpaused = backend.dag_paused_states()
    active = to_unpause(record)
    return {"dags_unpaused": sum(1 for d in active if unpaused.get(d) is False)}


def report_import_success(**context: Any) -> None:
    """SendTaskSuccess with the import's summary."""
    with _import_step(context) as step:
        ti = context["ti"]
        summary = dict(ti.xcom_pull(task_ids=RESTORE_SNAPSHOT))
        summary["dags_unpaused"] = ti.xcom_pull(task_ids=APPLY_PAUSED_STATES)["dags_unpaused"]
        step.callback.succeed(summary)


def report_import_failure(**context: Any) -> None:
    """Runs when any import step failed: SendTaskFailure with SnapshotRejected or ImportFailed."""
    failure = _recorded_failure(context, IMPORT_STEPS, IMPORT_FAILED)
    if failure.task in (PAUSE_DAGS, RESTORE_SNAPSHOT):
        outcome = (
            "Nothing was imported (the restore is one transaction) and the environment's DAGs stay paused: "
            "fix the cause, then run the wake again."
        )
    elif failure.task == APPLY_PAUSED_STATES:
        outcome = "The snapshot was restored, but the DAGs stay paused: run the wake again to apply their states."
    else:
        outcome = "The snapshot was restored and each DAG's paused state applied; only the report failed."
    cause = f"The import DAG failed in step {failure.task}: {failure.reason}. {outcome}"
    log.info("%s", cause)
    _tell_failure(context, parse_import_conf, failure.error, cause)


# --- both -----------------------------------------------------------------------------------------------


def fail_run(**context: Any) -> None:
    """Marks the run failed when a step failed (the failure handler itself succeeds when it did its job)."""
    raise compat.fail_exception()("a step of this run failed: the failure handler's log says what was done about it")


# --- probe DAG ------------------------------------------------------------------------------------------


def probe_database_access(**context: Any) -> str:
    """Whether this task can reach the metadata database (the task carrier); branches to the outcome's task.

    The outcome task is what the Lambda side reads back; the sentence goes to this task's log and XCom
    (`probe_result`). Neither ever holds a credential.
    """
    from mwaa_hibernate_snapshot.carrier import IN_PROCESS, TASK

    from mwaa_hibernate_runtime.probe import check_database

    carrier = TASK if compat.is_airflow3() else IN_PROCESS
    result = check_database(carrier, _metadata_engine, _fernet_key())
    log.info("carrier %s %s: %s", carrier, "works" if result.usable else "does not work", result.detail)
    context["ti"].xcom_push(key="probe_result", value=result.to_json())
    return result.outcome
