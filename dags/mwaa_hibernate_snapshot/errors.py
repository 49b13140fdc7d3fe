"""The snapshot's exception tree. Class names are stable: the DAGs map them to callback error names and
the CLI to exit codes. Every message says what is wrong (which snapshot, file or key) and what to do.

The database engine and the Airflow runtime extend this tree with their own errors
(`mwaa_hibernate_engine.errors`, `mwaa_hibernate_runtime.errors`), so `SnapshotError` catches them all.
"""

from __future__ import annotations


class SnapshotError(Exception):
    """Base of every error the snapshot format, the engine and the hibernation steps raise."""


class SnapshotInvalid(SnapshotError):
    """The snapshot cannot be trusted or does not fit the target: restore refuses it, imports nothing."""


class ManifestMissing(SnapshotInvalid):
    """No manifest.json: the export never finished (half-written snapshot) or the location is wrong."""


class ManifestCorrupt(SnapshotInvalid):
    """manifest.json is unreadable or has a format this engine does not know."""


class FileMissing(SnapshotInvalid):
    """A file listed in the manifest is absent from the snapshot."""


class ChecksumMismatch(SnapshotInvalid):
    """A file's size or sha256 differs from the manifest: it was altered or truncated."""


class CipherError(SnapshotError):
    """Secret columns cannot be encrypted or decrypted."""


class CipherMismatch(CipherError):
    """The snapshot was encrypted with another scheme or key than the one given for restore."""


class StoreError(SnapshotError):
    """Reading or writing the snapshot location failed."""


class InvalidRunConf(SnapshotError):
    """A hibernation DAG run's conf does not follow the contract the trigger Lambda and the DAGs share."""
