"""The engine's one exception tree. Class names are stable: the DAGs map them to callback error names.

Every message says what is wrong (which snapshot, table, file or key) and what to do about it.
"""

from __future__ import annotations


class SnapshotError(Exception):
    """Base of every error the snapshot engine raises."""


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


class RevisionMismatch(SnapshotInvalid):
    """The snapshot's alembic revision differs from the target database's."""


class SchemaError(SnapshotError):
    """The live schema does not match what the engine knows how to copy."""


class UnclassifiedTable(SchemaError):
    """A table of the live schema is in no list of `classification`: nobody decided what to do with it."""


class CipherError(SnapshotError):
    """Secret columns cannot be encrypted or decrypted."""


class CipherMismatch(CipherError):
    """The snapshot was encrypted with another scheme or key than the one given for restore."""


class FernetKeyMissing(CipherError):
    """A secret in the database is Fernet-encrypted but no (or the wrong) Fernet key was given."""


class StoreError(SnapshotError):
    """Reading or writing the snapshot location failed."""


class ExportFailed(SnapshotError):
    """The export stopped part-way; no manifest was written, so the snapshot is not usable."""


class RestoreFailed(SnapshotError):
    """The restore stopped; its transaction was rolled back and nothing was imported."""


class RestoreConflict(RestoreFailed):
    """A snapshot row collides with a row the target environment created itself."""


class UnsupportedDatabase(SnapshotError):
    """The database dialect is neither PostgreSQL nor SQLite."""
