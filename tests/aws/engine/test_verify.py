"""Verification from outside the environment (the Lambda layer): manifest, presence, sizes, checksums."""

from __future__ import annotations

import dataclasses
import gzip
import json
import subprocess
import sys
import textwrap

import pytest
from mwaa_hibernate_snapshot import (
    ChecksumMismatch,
    FileMissing,
    Manifest,
    ManifestCorrupt,
    ManifestMissing,
    open_store,
    verify_snapshot,
)
from snapshot_files import BUCKET, sha256, write_snapshot


@pytest.fixture
def s3_snapshot(s3):
    store = open_store(f"s3://{BUCKET}/env/snapshots/20261124T190000Z/", s3_client=s3)
    return store, write_snapshot(store)


def test_complete_snapshot_verifies(s3_snapshot):
    store, manifest = s3_snapshot
    seen = []
    assert verify_snapshot(store, progress=lambda phase, table, rows: seen.append((table, rows))) == manifest
    assert [s for s in seen if s[1]] == [("variable", 2), ("slot_pool", 1)]


def test_altered_object_is_refused(s3, s3_snapshot):
    store, manifest = s3_snapshot
    key = store.prefix + manifest.files[0].path
    body = bytearray(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    body[-5] ^= 0xFF
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(body))
    with pytest.raises(ChecksumMismatch, match="sha256"):
        verify_snapshot(store)


def test_missing_object_is_refused(s3, s3_snapshot):
    store, manifest = s3_snapshot
    s3.delete_object(Bucket=BUCKET, Key=store.prefix + manifest.files[1].path)
    with pytest.raises(FileMissing, match="slot_pool"):
        verify_snapshot(store)


def test_half_written_snapshot_is_refused(s3, s3_snapshot):
    store, _ = s3_snapshot
    s3.delete_object(Bucket=BUCKET, Key=store.prefix + "manifest.json")
    with pytest.raises(ManifestMissing, match="did not finish"):
        verify_snapshot(store)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        pytest.param({"format_version": 99}, "format version 99", id="newer-format"),
        pytest.param({"format": "something-else"}, "not an mwaa-hibernate", id="not-ours"),
        pytest.param({"files": "oops"}, "unreadable", id="garbled"),
    ],
)
def test_unreadable_manifest_is_refused(tmp_path, change, message):
    store = open_store(tmp_path)
    write_snapshot(store)
    doc = json.loads(store.get_bytes("manifest.json")) | change
    _replace(store, "manifest.json", json.dumps(doc).encode())
    with pytest.raises(ManifestCorrupt, match=message):
        verify_snapshot(store)


def test_verification_needs_neither_sqlalchemy_nor_cryptography(tmp_path):
    """The Lambda layer has boto3 only: the engine's verify path must import and run without the rest."""
    write_snapshot(open_store(tmp_path))
    script = textwrap.dedent(f"""
        import sys
        for name in ("sqlalchemy", "psycopg2", "cryptography", "airflow"):
            sys.modules[name] = None  # any import of these now fails
        import mwaa_hibernate_snapshot as snapshot_api
        print(snapshot_api.verify_snapshot(snapshot_api.open_store({str(tmp_path)!r})).snapshot_id)
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "20261124T190000Z"


def test_counting_rows_reads_quoted_line_breaks_as_one_value(tmp_path):
    store = open_store(tmp_path)
    manifest = write_snapshot(store)  # variable holds a quoted value with a line break in it
    seen = []
    verified = verify_snapshot(store, count_rows=True, progress=lambda phase, table, rows: seen.append((table, rows)))
    assert verified == manifest and [s for s in seen if s[1]] == [("variable", 2), ("slot_pool", 1)]


def _rewrite_table(store, manifest: Manifest, data: bytes, rows: int) -> None:
    """Replace the first table's file and make the manifest agree on size and checksum (not on rows)."""
    entry = manifest.files[0]
    _replace(store, entry.path, data)
    files = (dataclasses.replace(entry, bytes=len(data), sha256=sha256(data), rows=rows), *manifest.files[1:])
    _replace(store, "manifest.json", dataclasses.replace(manifest, files=files).dumps())


def test_counting_rows_catches_a_manifest_that_lies_about_rows(tmp_path):
    store = open_store(tmp_path)
    manifest = write_snapshot(store)
    _rewrite_table(store, manifest, gzip.compress(b'id,key\n1,"a ""quoted""\nvalue"\n2,b\n'), rows=3)
    verify_snapshot(store)  # sizes and checksums agree: only counting sees it
    with pytest.raises(ChecksumMismatch, match="holds 2 rows, the manifest says 3"):
        verify_snapshot(store, count_rows=True)


def test_counting_rows_reads_concatenated_gzip_members_and_refuses_a_cut_one(tmp_path):
    store = open_store(tmp_path)
    manifest = write_snapshot(store)
    _rewrite_table(store, manifest, gzip.compress(b"id,key\n1,a\n") + gzip.compress(b'2,"b,\n"\n'), rows=2)
    verify_snapshot(store, count_rows=True)
    cut = gzip.compress(b"id,key\n1,a\n2,b\n")[:-6]
    _rewrite_table(store, manifest, cut, rows=2)
    with pytest.raises(ChecksumMismatch, match="not a complete gzip stream"):
        verify_snapshot(store, count_rows=True)


def _replace(store, name: str, data: bytes) -> None:
    """Rewrite a file of a local snapshot folder (the store itself never overwrites)."""
    (store.root / name).unlink(missing_ok=True)
    store.put_bytes(name, data)


def _edit_manifest(store, **changes) -> None:
    doc = json.loads(store.get_bytes("manifest.json"))
    for key, value in changes.items():
        doc[key] = value(doc[key]) if callable(value) else value
    _replace(store, "manifest.json", json.dumps(doc).encode())


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        pytest.param({"files": [], "alembic_revision": None}, "no alembic revision.*no table files", id="empty"),
        pytest.param({"airflow_version": None}, "no Airflow version", id="no-version"),
        pytest.param({"files": lambda f: [e for e in f if e["table"] != "dag_run"]}, "dag_run", id="missing-table"),
        pytest.param(
            {"files": lambda f: [{**f[0], "path": "../../other/snapshots/x/tables/variable.csv.gz"}, *f[1:]]},
            "expected tables/<table>.csv.gz",
            id="path-outside",
        ),
        pytest.param({"files": lambda f: [*f, f[0]]}, "listed twice", id="duplicate"),
        pytest.param(
            {"files": lambda f: [{**f[0], "table": "slot_pool"}, *f[1:]]},
            "expected tables/<table>.csv.gz",
            id="swapped",
        ),
    ],
)
def test_a_manifest_that_is_not_complete_and_restorable_is_refused(tmp_path, changes, message):
    """Verified means complete: a manifest with no files and no revision passed verification before."""
    store = open_store(tmp_path)
    write_snapshot(store)
    _edit_manifest(store, **changes)
    with pytest.raises(ManifestCorrupt, match=message):
        verify_snapshot(store)


def test_a_local_folder_refuses_paths_outside_it(tmp_path):
    from mwaa_hibernate_snapshot import StoreError

    (tmp_path / "secret").write_text("outside")
    store = open_store(tmp_path / "snapshot")
    for name in ("../secret", "/etc/passwd", "tables/../../secret", "."):
        with pytest.raises(StoreError, match="not a file inside the snapshot folder"):
            store.get_bytes(name)
