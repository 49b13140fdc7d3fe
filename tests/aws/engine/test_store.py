"""The snapshot store: S3 multipart at constant part size, aborted on error; local folders atomic."""

from __future__ import annotations

import hashlib
import os

import pytest
from mwaa_hibernate_snapshot import StoreError, open_store
from mwaa_hibernate_snapshot.store import PART_SIZE, LocalStore, S3Store
from snapshot_files import BUCKET


def _parts_recorder(client) -> list[int]:
    sizes: list[int] = []
    client.meta.events.register(
        "provide-client-params.s3.UploadPart", lambda params, **_: sizes.append(len(params["Body"]))
    )
    return sizes


def test_large_object_goes_up_in_equal_parts_and_reads_back(s3):
    store = open_store(f"s3://{BUCKET}/env/snapshots/x/", s3_client=s3)
    data = os.urandom(2 * PART_SIZE + 12345)
    parts = _parts_recorder(s3)
    with store.writer("tables/task_instance.csv.gz") as out:
        for start in range(0, len(data), 1_000_003):  # odd-sized writes, as gzip produces
            out.write(data[start : start + 1_000_003])
    assert parts == [PART_SIZE, PART_SIZE, 12345]
    assert out.bytes_written == len(data) == store.size("tables/task_instance.csv.gz")
    assert out.sha256 == hashlib.sha256(data).hexdigest()
    assert store.get_bytes("tables/task_instance.csv.gz") == data
    assert store.list() == ["tables/task_instance.csv.gz"]


def test_small_object_is_one_put(s3):
    store = open_store(f"s3://{BUCKET}/p", s3_client=s3)
    parts = _parts_recorder(s3)
    store.put_bytes("manifest.json", b"{}")
    assert parts == []
    assert s3.get_object(Bucket=BUCKET, Key="p/manifest.json")["Body"].read() == b"{}"


def test_failed_write_aborts_the_multipart_upload(s3):
    store = open_store(f"s3://{BUCKET}/env/", s3_client=s3)
    with pytest.raises(RuntimeError, match="boom"), store.writer("tables/log.csv.gz") as out:
        out.write(os.urandom(PART_SIZE + 1))
        raise RuntimeError("boom")
    assert not store.exists("tables/log.csv.gz")
    assert s3.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []) == []


def test_failed_local_write_leaves_nothing(tmp_path):
    store = open_store(tmp_path / "snap")
    with pytest.raises(RuntimeError), store.writer("tables/dag.csv.gz") as out:
        out.write(b"partial")
        raise RuntimeError("disk full")
    assert store.list() == []
    assert not any((tmp_path / "snap").rglob("*.part"))


def test_open_store_parses_locations(tmp_path):
    s3_store = open_store("s3://bucket/env/snapshots/20261124T190000Z")
    assert isinstance(s3_store, S3Store) and s3_store.prefix == "env/snapshots/20261124T190000Z/"
    assert s3_store.uri == "s3://bucket/env/snapshots/20261124T190000Z/"
    assert isinstance(open_store(tmp_path), LocalStore)
    with pytest.raises(StoreError, match="only s3://"):
        open_store("gs://bucket/x")
    with pytest.raises(StoreError, match="names no bucket"):
        open_store("s3:///x")
