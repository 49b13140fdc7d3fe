"""Reading rows of a snapshot's table files (mwaa_hibernate_snapshot.tables): the one reader outside the engine."""

from __future__ import annotations

import pytest
from mwaa_hibernate_snapshot import FileMissing, ManifestCorrupt
from mwaa_hibernate_snapshot.manifest import Manifest
from mwaa_hibernate_snapshot.store import open_store
from mwaa_hibernate_snapshot.tables import read_rows
from snapshot_files import BUCKET, write_snapshot


@pytest.mark.parametrize("where", ["local", "s3"])
def test_rows_come_back_by_column_with_quoted_newlines_and_missing_columns(tmp_path, where, request):
    if where == "s3":
        store = open_store(f"s3://{BUCKET}/env/snapshots/20261124T190000Z/", s3_client=request.getfixturevalue("s3"))
    else:
        store = open_store(tmp_path)
    manifest = write_snapshot(store)

    rows = list(read_rows(store, manifest, "variable", ["key", "val", "description", "not_in_this_version"]))

    assert rows == [
        {"key": "a", "val": None, "description": None, "not_in_this_version": None},
        {"key": "b,c", "val": "line\nbreak", "description": "desc", "not_in_this_version": None},
    ]


def test_a_table_the_snapshot_lacks_or_a_header_the_manifest_contradicts_is_refused(tmp_path):
    store = open_store(tmp_path)
    manifest = write_snapshot(store)
    with pytest.raises(FileMissing, match="no table 'serialized_dag'"):  # not copied: the snapshot has no file
        list(read_rows(store, manifest, "serialized_dag", ["dag_id"]))
    entry = manifest.file_for("slot_pool")
    lying = Manifest(**{**manifest.__dict__, "files": (entry.__class__(**{**entry.__dict__, "columns": ("x",)}),)})
    with pytest.raises(ManifestCorrupt, match="columns"):
        list(read_rows(store, lying, "slot_pool", ["pool"]))
