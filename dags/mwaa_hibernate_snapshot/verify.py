"""Checks a snapshot from outside the environment: manifest present and readable, every file there with
the recorded size and sha256, and (on request) each table file's row count. Needs only the store (boto3 in
the Lambda layer), no database."""

from __future__ import annotations

import hashlib
import zlib

from mwaa_hibernate_snapshot.errors import ChecksumMismatch, FileMissing, ManifestCorrupt, ManifestMissing
from mwaa_hibernate_snapshot.manifest import (
    MANIFEST_NAME,
    PAUSED_STATE_NAME,
    REQUIRED_TABLES,
    TABLE_NAME,
    TABLE_SUFFIX,
    FileEntry,
    Manifest,
    airflow_major,
    table_path,
)
from mwaa_hibernate_snapshot.progress import Progress, no_progress
from mwaa_hibernate_snapshot.store import READ_CHUNK, SnapshotStore


def load_manifest(store: SnapshotStore) -> Manifest:
    """The snapshot's manifest; ManifestMissing when the export never finished."""
    if not store.exists(MANIFEST_NAME):
        raise ManifestMissing(
            f"{store.uri} has no {MANIFEST_NAME}: the export that wrote it did not finish (or this is not a snapshot "
            "folder). Do not restore it: use an earlier complete snapshot or take a new one"
        )
    return Manifest.loads(store.get_bytes(MANIFEST_NAME), where=f"{store.uri}{MANIFEST_NAME}")


class _CsvRecordCounter:
    """Counts the records of the snapshot's CSV (PostgreSQL's dialect) as decompressed bytes stream past.

    A record ends at a newline outside quotes; a quote inside a value is doubled, so splitting on quotes
    and toggling keeps the state right across chunk boundaries without parsing any value.
    """

    def __init__(self) -> None:
        self.records = 0
        self._quoted = False

    def feed(self, data: bytes) -> None:
        for i, part in enumerate(data.split(b'"')):
            if i:
                self._quoted = not self._quoted
            if not self._quoted:
                self.records += part.count(b"\n")


class _GunzipCounter:
    """Decompresses a gzip stream (one or more members) into a record counter; `ok` turns False on bad data."""

    def __init__(self) -> None:
        self.counter = _CsvRecordCounter()
        self.ok = True
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def feed(self, data: bytes) -> None:
        while self.ok and data:
            try:
                self.counter.feed(self._inflate.decompress(data))
            except zlib.error:
                self.ok = False
                return
            data = self._inflate.unused_data
            if self._inflate.eof and data:
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    @property
    def complete(self) -> bool:
        return self.ok and self._inflate.eof


def check_file(store: SnapshotStore, entry: FileEntry, *, count_rows: bool = False) -> None:
    """Stream one object and compare its size and sha256 (and, with `count_rows`, its rows) with the manifest."""
    size = store.size(entry.path)
    if size is None:
        raise FileMissing(
            f"{store.uri}{entry.path} is listed in the manifest but missing: the snapshot is damaged, "
            "restore an earlier snapshot"
        )
    if size != entry.bytes:
        raise ChecksumMismatch(
            f"{store.uri}{entry.path} has {size} bytes, the manifest says {entry.bytes}: the file was truncated "
            "or replaced; restore an earlier snapshot"
        )
    sha = hashlib.sha256()
    rows = _GunzipCounter() if count_rows and entry.rows is not None and entry.path.endswith(TABLE_SUFFIX) else None
    with store.reader(entry.path) as fh:
        while chunk := fh.read(READ_CHUNK):
            sha.update(chunk)
            if rows is not None:
                rows.feed(chunk)
    if sha.hexdigest() != entry.sha256:
        raise ChecksumMismatch(
            f"{store.uri}{entry.path} has sha256 {sha.hexdigest()}, the manifest says {entry.sha256}: the file was "
            "altered; restore an earlier snapshot"
        )
    if rows is None:
        return
    counted = rows.counter.records - 1  # the header
    if not rows.complete or counted != entry.rows:
        found = f"holds {counted} rows" if rows.complete else "is not a complete gzip stream"
        raise ChecksumMismatch(
            f"{store.uri}{entry.path} {found}, the manifest says {entry.rows} rows although the checksum matches: "
            "the manifest was written by something else than the export; restore an earlier snapshot"
        )


def check_complete(manifest: Manifest, *, where: str) -> None:
    """A manifest that describes a whole, restorable snapshot: a revision and an Airflow version, well-formed
    paths (exactly tables/<table>.csv.gz, each table once; the paused-state record by its name), and every
    table its Airflow major version always has (`REQUIRED_TABLES`). Raises ManifestCorrupt saying what is wrong."""
    problems = []
    if not manifest.alembic_revision:
        problems.append("no alembic revision")
    major = airflow_major(manifest.airflow_version)
    if major is None:
        problems.append(f"no Airflow version (found {manifest.airflow_version!r})")
    seen: set[str] = set()
    for entry in manifest.files:
        table = entry.table or ""
        if not TABLE_NAME.match(table) or entry.path != table_path(table):
            problems.append(
                f"a file entry with table {table!r} and path {entry.path!r} (expected tables/<table>.csv.gz)"
            )
        elif table in seen:
            problems.append(f"table {table} listed twice")
        seen.add(table)
    if manifest.paused_state is not None and manifest.paused_state.path != PAUSED_STATE_NAME:
        problems.append(f"a paused-state record at {manifest.paused_state.path!r}, not {PAUSED_STATE_NAME}")
    missing = sorted(REQUIRED_TABLES.get(major or 0, frozenset()) - seen)
    if missing:
        problems.append(f"no file for table(s) {', '.join(missing)}")
    if not manifest.files:
        problems.append("no table files at all")
    if problems:
        raise ManifestCorrupt(
            f"{where} does not describe a complete snapshot: {'; '.join(problems)}. It was not written by a finished "
            "export of this version: do not restore it, take a new snapshot"
        )


def verify_snapshot(store: SnapshotStore, *, progress: Progress = no_progress, count_rows: bool = False) -> Manifest:
    """Check that the snapshot in `store` is complete and intact; return its manifest.

    `count_rows` also decompresses every table file and counts its CSV records against the manifest
    (a full read: for operators' checks, not the hibernation's own verify step).

    Raises
    ------
    SnapshotInvalid
        ManifestMissing, ManifestCorrupt, FileMissing or ChecksumMismatch, with what to do in the message.
    """
    manifest = load_manifest(store)
    check_complete(manifest, where=f"{store.uri}{MANIFEST_NAME}")
    entries = [*manifest.files, *([manifest.paused_state] if manifest.paused_state else [])]
    for entry in entries:
        check_file(store, entry, count_rows=count_rows)
        progress("verify", entry.table or entry.path, entry.rows or 0)
    return manifest
