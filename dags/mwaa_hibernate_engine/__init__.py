"""The snapshot engine: a lossless, verified copy of the Airflow metadata database.

It ships in the environment's DAG folder (the hibernation DAGs import it) and in the Lambda layer
(the verify step reads manifests with it), and the `mwaa-hibernate snapshot` commands use it directly.
This module and the modules verification needs (manifest, store, verify, errors, cipher) import
without SQLAlchemy, because the Lambda layer has only boto3; database code is imported on first use.

Public API::

    store = open_store("s3://bucket/env/snapshots/<id>/")     # or a local folder
    manifest = export_snapshot(engine=engine, store=store, cipher=KmsCipher(key_arn), source_fernet=key)
    manifest = verify_snapshot(store)
    result = restore_snapshot(engine=engine, store=store, cipher=KmsCipher(), target_fernet=key)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from mwaa_hibernate_engine.cipher import Cipher, KeyFileCipher, KmsCipher, NoEncryption
from mwaa_hibernate_engine.dagconf import HIBERNATION_DAG_IDS
from mwaa_hibernate_engine.errors import (
    ChecksumMismatch,
    CipherError,
    CipherMismatch,
    ExportFailed,
    FernetKeyMissing,
    FileMissing,
    ManifestCorrupt,
    ManifestMissing,
    RestoreConflict,
    RestoreFailed,
    RevisionMismatch,
    SchemaError,
    SnapshotError,
    SnapshotInvalid,
    StoreError,
    UnclassifiedTable,
    UnsupportedDatabase,
)
from mwaa_hibernate_engine.manifest import MANIFEST_NAME, PAUSED_STATE_NAME, Manifest
from mwaa_hibernate_engine.paused_state import read_paused_state, write_paused_state
from mwaa_hibernate_engine.results import Progress, RestoreResult, no_progress
from mwaa_hibernate_engine.store import SnapshotStore, open_store
from mwaa_hibernate_engine.verify import load_manifest, verify_snapshot

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = [
    "HIBERNATION_DAG_IDS",
    "MANIFEST_NAME",
    "PAUSED_STATE_NAME",
    "ChecksumMismatch",
    "Cipher",
    "CipherError",
    "CipherMismatch",
    "ExportFailed",
    "FernetKeyMissing",
    "FileMissing",
    "KeyFileCipher",
    "KmsCipher",
    "Manifest",
    "ManifestCorrupt",
    "ManifestMissing",
    "NoEncryption",
    "Progress",
    "RestoreConflict",
    "RestoreFailed",
    "RestoreResult",
    "RevisionMismatch",
    "SchemaError",
    "SnapshotError",
    "SnapshotInvalid",
    "SnapshotStore",
    "StoreError",
    "UnclassifiedTable",
    "UnsupportedDatabase",
    "export_snapshot",
    "load_manifest",
    "open_store",
    "read_paused_state",
    "restore_snapshot",
    "verify_snapshot",
    "write_paused_state",
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
