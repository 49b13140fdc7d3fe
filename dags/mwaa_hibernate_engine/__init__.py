"""The database engine: a lossless copy of the Airflow metadata database into a snapshot, and back.

It reads the live schema (`schema`), decides per table what happens (`classification`), and moves rows
through a dialect (`dialects`: PostgreSQL with COPY, SQLite through Python) in the snapshot format
(`mwaa_hibernate_snapshot`: manifest, store, ciphers). It ships in the environment's DAG folder and in
the `mwaa-hibernate` command; the Lambda functions never need it.

Public API::

    manifest = export_snapshot(engine=engine, store=store, cipher=KmsCipher(key_arn), source_fernet=key)
    result = restore_snapshot(engine=engine, store=store, cipher=KmsCipher(), target_fernet=key)

(`store = mwaa_hibernate_snapshot.open_store("s3://bucket/env/snapshots/<id>/")`, or a local folder.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mwaa_hibernate_snapshot import Cipher, Manifest, Progress, SnapshotStore, no_progress
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS

from mwaa_hibernate_engine.errors import (
    ExportFailed,
    FernetKeyMissing,
    RestoreConflict,
    RestoreFailed,
    RevisionMismatch,
    SchemaError,
    UnclassifiedTable,
    UnsupportedDatabase,
)
from mwaa_hibernate_engine.results import RestoreResult

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "ExportFailed",
    "FernetKeyMissing",
    "RestoreConflict",
    "RestoreFailed",
    "RestoreResult",
    "RevisionMismatch",
    "SchemaError",
    "UnclassifiedTable",
    "UnsupportedDatabase",
    "export_snapshot",
    "restore_snapshot",
    "snapshot_restored",
]


def export_snapshot(
    *,
    engine: Engine,
    store: SnapshotStore,
    cipher: Cipher,
    source_fernet: str | None,
    exclude_dag_ids: Iterable[str] = HIBERNATION_DAG_IDS,
    snapshot_id: str | None = None,
    progress: Progress = no_progress,
) -> Manifest:
    """Export the metadata database behind `engine` into `store`; return the manifest (written last).

    Every table is read in one REPEATABLE READ, READ ONLY transaction. Secret columns are decrypted
    with `source_fernet` (the environment's `[core] fernet_key`, None if it has none) and sealed with
    a fresh data key protected by `cipher`. Unfinished runs of `exclude_dag_ids` (by default the
    hibernation DAGs) and everything hanging off them are left out. `snapshot_id` defaults to the
    last segment of the store's location. On failure, raises ExportFailed (or a narrower
    SnapshotError) and writes no manifest.
    """
    from mwaa_hibernate_engine.export import run_export

    return run_export(
        engine=engine,
        store=store,
        cipher=cipher,
        source_fernet=source_fernet,
        exclude_dag_ids=tuple(exclude_dag_ids),
        snapshot_id=snapshot_id,
        progress=progress,
    )


def restore_snapshot(
    *,
    engine: Engine,
    store: SnapshotStore,
    cipher: Cipher,
    target_fernet: str | None,
    progress: Progress = no_progress,
    lock_budget_seconds: float | None = None,
) -> RestoreResult:
    """Restore the snapshot in `store` into the database behind `engine`, in one transaction.

    Verifies the snapshot first (manifest, sizes, checksums) and refuses one from another alembic
    revision (SnapshotInvalid subclasses). Copied tables get their surrogate keys shifted past the
    target's own rows, with every reference rewritten; merged tables (`dag`, pools, connections,
    variables, ...) are merged by their natural key; the paused-state record, if present, sets each
    DAG's `is_paused`. Secrets are re-encrypted with `target_fernet`. Running it again for the same
    snapshot changes nothing and returns `already_restored=True`. On any failure the transaction is
    rolled back, nothing is imported, and RestoreFailed (or a narrower SnapshotError) is raised.

    Large tables are loaded with their indexes and keys dropped and rebuilt, which locks them until
    commit. Into a live environment pass `lock_budget_seconds` (how long its readers can wait): the
    restore then keeps indexes in place unless it is predicted to finish within that time.
    """
    from mwaa_hibernate_engine.restore import run_restore

    return run_restore(
        engine=engine,
        store=store,
        cipher=cipher,
        target_fernet=target_fernet,
        progress=progress,
        lock_budget_seconds=lock_budget_seconds,
    )


def snapshot_restored(*, engine: Engine, snapshot_id: str) -> bool:
    """Whether a restore of `snapshot_id` committed into this database (its marker row is in the audit log)."""
    from mwaa_hibernate_engine.restore import was_restored

    return was_restored(engine, snapshot_id)
