"""Snapshots built without a database, for the engine's AWS-side tests (a module of its own, not the conftest, so
its name is unique when test directories are collected together)."""

from __future__ import annotations

import gzip
import hashlib

from mwaa_hibernate_snapshot.manifest import MANIFEST_NAME, REQUIRED_TABLES, FileEntry, Manifest, table_path
from mwaa_hibernate_snapshot.store import SnapshotStore

BUCKET = "snapshots-bucket"

# Two small tables in the snapshot format (PostgreSQL CSV with a header, gzip): NULL vs "" included.
TABLES = {
    "variable": b'id,key,val,description,is_encrypted\n1,a,"",,f\n2,"b,c","line\nbreak",desc,f\n',
    "slot_pool": b"id,pool,slots,description,include_deferred\n1,default_pool,128,Default pool,f\n",
}


def write_snapshot(store: SnapshotStore, snapshot_id: str = "20261124T190000Z") -> Manifest:
    """A complete snapshot in `store`, written the way export writes one (tables, then the manifest)."""
    files = []
    for table, csv in TABLES.items():
        with store.writer(table_path(table)) as out:
            out.write(gzip.compress(csv, mtime=0))
        rows = csv.count(b"\n") - 1 - csv.count(b"line\nbreak")
        header = tuple(csv.split(b"\n", 1)[0].decode().split(","))
        files.append(FileEntry(table_path(table), out.bytes_written, out.sha256, table, "merged", rows, header))
    # A complete snapshot holds every table Airflow 2 always has (verification refuses one without them).
    for table in sorted(REQUIRED_TABLES[2] - set(TABLES)):
        with store.writer(table_path(table)) as out:
            out.write(gzip.compress(b"id\n", mtime=0))
        files.append(FileEntry(table_path(table), out.bytes_written, out.sha256, table, "copied", 0, ("id",)))
    manifest = Manifest(
        snapshot_id=snapshot_id,
        created_at="2026-11-24T19:00:00+00:00",
        dialect="postgresql",
        alembic_revision="5f2621c13b39",
        airflow_version="2.10.5",
        encryption={"scheme": "none"},
        files=tuple(files),
    )
    store.put_bytes(MANIFEST_NAME, manifest.dumps())
    return manifest


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
