"""The snapshot format: what a snapshot folder holds, how it is stored, sealed and verified.

Standard library plus boto3 (and `cryptography` for the ciphers, imported on first use): this package
is all the Lambda functions need of a snapshot, and what the database engine writes and reads.

- `manifest`: `manifest.json`, written last, listing every file with its size, sha256 and rows;
- `store`: a snapshot folder in S3 or on disk (streams, multipart uploads);
- `verify`: a snapshot is complete and unaltered (from outside the environment);
- `cipher`: the envelope encryption of secret values (KMS data key, key file, or none);
- `paused_state`: each DAG's paused state before the export, and the one rule for putting it back;
- `runconf`: the hibernation DAGs' ids and the run conf the trigger and the DAGs share;
- `errors`: the exception tree every part extends.
"""

from __future__ import annotations

from mwaa_hibernate_snapshot.cipher import Cipher, KeyFileCipher, KmsCipher, NoEncryption
from mwaa_hibernate_snapshot.errors import (
    ChecksumMismatch,
    CipherError,
    CipherMismatch,
    FileMissing,
    InvalidRunConf,
    ManifestCorrupt,
    ManifestMissing,
    SnapshotError,
    SnapshotInvalid,
    StoreError,
)
from mwaa_hibernate_snapshot.manifest import MANIFEST_NAME, PAUSED_STATE_NAME, FileEntry, Manifest
from mwaa_hibernate_snapshot.paused_state import read_paused_state, write_paused_state
from mwaa_hibernate_snapshot.progress import Progress, no_progress
from mwaa_hibernate_snapshot.runconf import HIBERNATION_DAG_IDS
from mwaa_hibernate_snapshot.store import SnapshotStore, open_store
from mwaa_hibernate_snapshot.verify import load_manifest, verify_snapshot

__all__ = [
    "HIBERNATION_DAG_IDS",
    "MANIFEST_NAME",
    "PAUSED_STATE_NAME",
    "ChecksumMismatch",
    "Cipher",
    "CipherError",
    "CipherMismatch",
    "FileEntry",
    "FileMissing",
    "InvalidRunConf",
    "KeyFileCipher",
    "KmsCipher",
    "Manifest",
    "ManifestCorrupt",
    "ManifestMissing",
    "NoEncryption",
    "Progress",
    "SnapshotError",
    "SnapshotInvalid",
    "SnapshotStore",
    "StoreError",
    "load_manifest",
    "no_progress",
    "open_store",
    "read_paused_state",
    "verify_snapshot",
    "write_paused_state",
]
