"""Errors of the database engine, on top of the snapshot's tree (`mwaa_hibernate_snapshot.errors`)."""

from __future__ import annotations

from mwaa_hibernate_snapshot.errors import CipherError, SnapshotError, SnapshotInvalid


class RevisionMismatch(SnapshotInvalid):
    """The snapshot's alembic revision differs from the target database's."""


class SchemaError(SnapshotError):
    """The live schema does not match what the engine knows how to copy."""


class UnclassifiedTable(SchemaError):
    """A table of the live schema is in no list of `classification`: nobody decided what to do with it."""


class FernetKeyMissing(CipherError):
    """A secret in the database is Fernet-encrypted but no (or the wrong) Fernet key was given."""


class ExportFailed(SnapshotError):
    """The export stopped part-way; no manifest was written, so the snapshot is not usable."""


class RestoreFailed(SnapshotError):
    """The restore stopped; its transaction was rolled back and nothing was imported."""


class RestoreConflict(RestoreFailed):
    """A snapshot row collides with a row the target environment created itself."""


class UnsupportedDatabase(SnapshotError):
    """The database dialect is neither PostgreSQL nor SQLite."""
