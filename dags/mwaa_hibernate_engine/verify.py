"""Checks a snapshot from outside the environment: manifest present and readable, every file there with
the recorded size and sha256. Needs only the store (boto3 in the Lambda layer), no database."""

from __future__ import annotations

import hashlib

from mwaa_hibernate_engine.errors import ChecksumMismatch, FileMissing, ManifestMissing
from mwaa_hibernate_engine.manifest import MANIFEST_NAME, FileEntry, Manifest
from mwaa_hibernate_engine.results import Progress, no_progress
from mwaa_hibernate_engine.store import READ_CHUNK, SnapshotStore


def load_manifest(store: SnapshotStore) -> Manifest:
    """The snapshot's manifest; ManifestMissing when the export never finished."""
    if not store.exists(MANIFEST_NAME):
        raise ManifestMissing(
            f"{store.uri} has no {MANIFEST_NAME}: the export that wrote it did not finish (or this is not a snapshot "
            "folder). Do not restore it: use an earlier complete snapshot or take a new one"
        )
    return Manifest.loads(store.get_bytes(MANIFEST_NAME), where=f"{store.uri}{MANIFEST_NAME}")


def check_file(store: SnapshotStore, entry: FileEntry) -> None:
    """Stream one object and compare its size and sha256 with the manifest."""
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
    with store.reader(entry.path) as fh:
        while chunk := fh.read(READ_CHUNK):
            sha.update(chunk)
    if sha.hexdigest() != entry.sha256:
        raise ChecksumMismatch(
            f"{store.uri}{entry.path} has sha256 {sha.hexdigest()}, the manifest says {entry.sha256}: the file was "
            "altered; restore an earlier snapshot"
        )


def verify_snapshot(store: SnapshotStore, *, progress: Progress = no_progress) -> Manifest:
    """Check that the snapshot in `store` is complete and intact; return its manifest.

    Raises
    ------
    SnapshotInvalid
        ManifestMissing, ManifestCorrupt, FileMissing or ChecksumMismatch, with what to do in the message.
    """
    manifest = load_manifest(store)
    entries = [*manifest.files, *([manifest.paused_state] if manifest.paused_state else [])]
    for entry in entries:
        check_file(store, entry)
        progress("verify", entry.table or entry.path, entry.rows or 0)
    return manifest
