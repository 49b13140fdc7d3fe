"""The API-server carrier: the export and import DAGs' steps, run in order as one job inside the API server.

A Lambda function starts a job through the plugin's route (`api_server`); the job then does exactly what
the DAGs do, through the same `Backend` on the API server's own database engine: record and pause every
DAG, drain, trim, export and call back (export); pause, restore, apply the paused states and call back
(import). It answers the waiting state machine itself, with the same task token callback, heartbeats and
failure sentences as the DAGs, so the state machines cannot tell the carriers apart. Its state is in the
job table (`job_store`), not in this process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from mwaa_hibernate_snapshot.carrier import EXPORT, JOB_FAILED, JOB_SUCCEEDED
from mwaa_hibernate_snapshot.errors import SnapshotInvalid
from mwaa_hibernate_snapshot.paused_state import to_unpause
from mwaa_hibernate_snapshot.runconf import (
    DRAIN_TIMEOUT,
    EXPORT_FAILED,
    IMPORT_FAILED,
    SNAPSHOT_REJECTED,
    ExportConf,
    ImportConf,
)

from mwaa_hibernate_runtime import draining, pausing
from mwaa_hibernate_runtime.errors import CallbackError, DrainTimeout

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from mwaa_hibernate_runtime.backend import Backend
    from mwaa_hibernate_runtime.callback import TaskTokenCallback
    from mwaa_hibernate_runtime.job_store import Job, JobStore

log = logging.getLogger(__name__)

_MAX_REASON = 1000


def _reason(exc: BaseException) -> str:
    text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    return text[:_MAX_REASON]


class JobFailed(Exception):
    """A step failed; `error` is the name the state machines' Catch matches, the message the cause."""

    def __init__(self, error: str, cause: str) -> None:
        super().__init__(cause)
        self.error = error


def run_export(
    *,
    conf: ExportConf,
    backend: Callable[[], Backend],
    callback: TaskTokenCallback,
    store: Any,
    cipher: Callable[[], Any],
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The export DAG's steps in order; on failure put every DAG back as recorded, then SendTaskFailure."""
    record: dict[str, bool] | None = None
    step = "record_paused_states"
    try:
        with callback.heartbeating():
            progress(step)
            record = pausing.record_paused_states(backend=backend(), store=store)
            step = "pause_dags"
            progress(step)
            pausing.pause_all_dags(backend=backend())
            step = "drain_running_work"
            progress(step)
            draining.wait_for_drain(backend=backend(), timeout_seconds=conf.drain_timeout_minutes * 60)
            step = "trim_history"
            progress(step)
            backend().trim_history(conf.retention_days)
            step = "export_snapshot"
            progress(step)
            started = time.monotonic()
            manifest = backend().export(store=store, cipher=cipher(), snapshot_id=conf.snapshot.snapshot_id)
            summary = {
                "snapshot_id": manifest.snapshot_id,
                "tables": len(manifest.files),
                "rows": manifest.rows,
                "bytes": manifest.bytes,
                "seconds": round(time.monotonic() - started, 1),
            }
            step = "report_success"
            progress(step)
            callback.succeed(summary)
        return summary
    except Exception as exc:
        error = DRAIN_TIMEOUT if isinstance(exc, DrainTimeout) else EXPORT_FAILED
        cause = f"The export job in the API server failed in step {step}: {_reason(exc)}."
        try:
            outcome = pausing.undo_pause(backend=backend, record=record, reason=_reason)
        except pausing.UndoFailed as undo:
            outcome = str(undo)
        _tell(callback, error, f"{cause} {outcome}")
        raise JobFailed(error, f"{cause} {outcome}") from exc


def run_import(
    *,
    conf: ImportConf,
    backend: Callable[[], Backend],
    callback: TaskTokenCallback,
    store: Any,
    cipher: Callable[[], Any],
    lock_budget_seconds: float,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    """The import DAG's steps in order; on failure SendTaskFailure with what was and was not done."""
    from mwaa_hibernate_snapshot import read_paused_state

    step = "pause_dags"
    try:
        with callback.heartbeating():
            progress(step)
            pausing.pause_all_dags(backend=backend())
            step = "restore_snapshot"
            progress(step)
            result = backend().restore(store=store, cipher=cipher(), lock_budget_seconds=lock_budget_seconds)
            step = "apply_paused_states"
            progress(step)
            record = read_paused_state(store)
            unpaused = 0
            if record is not None:
                pausing.apply_paused_states(backend=backend(), record=record)
                states = backend().dag_paused_states()
                unpaused = sum(1 for dag_id in to_unpause(record) if states.get(dag_id) is False)
            summary = {
                "snapshot_id": result.snapshot_id,
                "tables": result.tables,
                "rows": result.rows,
                "seconds": result.seconds,
                "dags_unpaused": unpaused,
            }
            step = "report_success"
            progress(step)
            callback.succeed(summary)
        return summary
    except Exception as exc:
        error = SNAPSHOT_REJECTED if isinstance(exc, SnapshotInvalid) else IMPORT_FAILED
        if step in ("pause_dags", "restore_snapshot"):
            outcome = (
                "Nothing was imported (the restore is one transaction) and the environment's DAGs stay paused: "
                "fix the cause, then run the wake again."
            )
        elif step == "apply_paused_states":
            outcome = "The snapshot was restored, but the DAGs stay paused: run the wake again to apply their states."
        else:
            outcome = "The snapshot was restored and each DAG's paused state applied; only the report failed."
        cause = f"The import job in the API server failed in step {step}: {_reason(exc)}. {outcome}"
        _tell(callback, error, cause)
        raise JobFailed(error, cause) from exc


def _tell(callback: TaskTokenCallback, error: str, cause: str) -> None:
    try:
        callback.fail(error=error, cause=cause)
    except CallbackError as exc:
        log.error("could not report %s to the state machine: %s", error, exc)


def start_in_background(
    *, store: JobStore, job: Job, lock_holder: Connection, work: Callable[[Callable[[str], None]], dict[str, Any]]
) -> threading.Thread:
    """Run `work` on a thread of this API server; record its outcome; release the job lock at the end."""
    import json

    def progress(step: str) -> None:
        log.info("job %s: %s", job.id, step)
        store.note(job.id, f"running: {step}")

    def run() -> None:
        try:
            summary = work(progress)
        except JobFailed as exc:
            store.finish(job.id, JOB_FAILED, f"{exc.error}: {exc}")
        except BaseException as exc:  # a bug: still recorded, never silently lost
            log.exception("job %s crashed", job.id)
            store.finish(job.id, JOB_FAILED, f"unexpected error: {_reason(exc)}")
        else:
            store.finish(job.id, JOB_SUCCEEDED, "done", json.dumps(summary, sort_keys=True))
        finally:
            store.release(lock_holder)

    thread = threading.Thread(target=run, name=f"mwaa-hibernate-{job.kind}-{job.snapshot_id}", daemon=True)
    thread.start()
    log.info(
        "job %s (%s of snapshot %s) started", job.id, "export" if job.kind == EXPORT else "import", job.snapshot_id
    )
    return thread
