"""A snapshot that cannot be trusted is refused with a message that says what to do, and a failed
restore or export leaves nothing behind: the target is byte-for-byte what it was."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import mwaa_hibernate_engine as api
import pytest
from conftest import AIRFLOW_MAJOR, all_table_rows, query
from mwaa_hibernate_engine import ExportFailed, RestoreConflict, RevisionMismatch, UnclassifiedTable
from mwaa_hibernate_snapshot import (
    ChecksumMismatch,
    CipherMismatch,
    FileMissing,
    ManifestMissing,
    NoEncryption,
    SnapshotInvalid,
    open_store,
    verify_snapshot,
)
from snapshot_fixtures import add_hibernation_runs, export, new_key_file, restore
from sqlalchemy import create_engine, text

pytestmark = pytest.mark.airflow

_VARIABLES = (
    "INSERT INTO variable (key, val, is_encrypted) SELECT 'v' || i, repeat('x', i), false FROM generate_series(1, 50) i"
)


@pytest.fixture(scope="module")
def good_snapshot(make_airflow, tmp_path_factory):
    source = make_airflow("failsource")
    add_hibernation_runs(source.db_url)
    query(source.db_url, _VARIABLES)
    uri = tmp_path_factory.mktemp("good") / "20261124T190000Z"
    export(source.db_url, str(uri), cipher=NoEncryption(), fernet_key=source.fernet_key)
    return source, uri


@pytest.fixture(scope="module")
def target(make_airflow):
    return make_airflow("failtarget")


@pytest.fixture
def snapshot_copy(good_snapshot, tmp_path) -> Path:
    _, uri = good_snapshot
    copy = tmp_path / uri.name
    shutil.copytree(uri, copy)
    return copy


@pytest.fixture
def unchanged(target):
    """Asserts after the test that the target database is exactly as it was."""
    before = all_table_rows(target.db_url)
    yield
    assert all_table_rows(target.db_url) == before, "a refused or failed restore changed the target"


def _edit_manifest(folder: Path, **changes) -> None:
    path = folder / "manifest.json"
    doc = json.loads(path.read_text())
    for key, value in changes.items():
        if key == "first_file":
            doc["files"][0].update(value)
        else:
            doc[key] = value
    path.write_text(json.dumps(doc))


def _refused(target, folder: Path, error: type[Exception], *, cipher=None, message: str = "") -> Exception:
    with pytest.raises(error) as info:
        restore(target.db_url, str(folder), cipher=cipher or NoEncryption(), fernet_key=target.fernet_key)
    assert message in str(info.value)
    return info.value


def _file_with_rows(folder: Path) -> Path:
    doc = json.loads((folder / "manifest.json").read_text())
    entry = next(f for f in doc["files"] if f["table"] == "variable")
    return folder / entry["path"]


def test_corrupt_file_is_refused(target, snapshot_copy, unchanged):
    path = _file_with_rows(snapshot_copy)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, different content
    path.write_bytes(bytes(data))
    with pytest.raises(ChecksumMismatch, match=r"variable\.csv\.gz"):
        verify_snapshot(open_store(snapshot_copy))
    _refused(target, snapshot_copy, ChecksumMismatch, message="restore an earlier")


def test_truncated_file_is_refused(target, snapshot_copy, unchanged):
    path = _file_with_rows(snapshot_copy)
    path.write_bytes(path.read_bytes()[:-10])
    _refused(target, snapshot_copy, ChecksumMismatch, message="bytes, the manifest says")


def test_missing_file_is_refused(target, snapshot_copy, unchanged):
    _file_with_rows(snapshot_copy).unlink()
    with pytest.raises(FileMissing):
        verify_snapshot(open_store(snapshot_copy))
    _refused(target, snapshot_copy, FileMissing, message="variable.csv.gz is listed in the manifest")


def test_wrong_checksum_in_manifest_is_refused(target, snapshot_copy, unchanged):
    _edit_manifest(snapshot_copy, first_file={"sha256": "0" * 64})
    _refused(target, snapshot_copy, ChecksumMismatch, message="does not match the manifest")


def test_other_alembic_revision_is_refused(target, snapshot_copy, unchanged):
    _edit_manifest(snapshot_copy, alembic_revision="1949afb29106")
    error = _refused(target, snapshot_copy, RevisionMismatch, message="1949afb29106")
    assert "same Airflow version" in str(error)


@pytest.mark.parametrize("table", ["xcom", "task_instance_history", "dataset_alias"])
def test_a_manifest_leaving_out_a_table_the_target_copies_or_merges_is_refused(target, snapshot_copy, unchanged, table):
    """Issue 11: the restore silently skipped a table the manifest left out; now it names it and imports nothing."""
    doc = json.loads((snapshot_copy / "manifest.json").read_text())
    if not any(f["table"] == table for f in doc["files"]):
        pytest.skip(f"this Airflow has no {table} table")
    _edit_manifest(snapshot_copy, files=[f for f in doc["files"] if f["table"] != table])
    _refused(target, snapshot_copy, SnapshotInvalid, message=table)


def test_the_classification_copies_or_merges_every_table_a_verified_snapshot_must_hold(good_snapshot):
    """REQUIRED_TABLES (the format's core, which verification outside the environment checks) is a subset of what
    the classification copies or merges and of what a real export writes."""
    from mwaa_hibernate_engine.classification import Kind, policy_for
    from mwaa_hibernate_snapshot.manifest import REQUIRED_TABLES

    _, uri = good_snapshot
    exported = {f["table"] for f in json.loads((uri / "manifest.json").read_text())["files"]}
    required = REQUIRED_TABLES[AIRFLOW_MAJOR]
    for table in required:
        assert policy_for(table, versioned=AIRFLOW_MAJOR >= 3).kind is not Kind.OWNED, table
    assert required <= exported, sorted(required - exported)


def test_half_written_snapshot_without_manifest_is_refused(target, snapshot_copy, unchanged):
    (snapshot_copy / "manifest.json").unlink()
    with pytest.raises(ManifestMissing, match="did not finish"):
        verify_snapshot(open_store(snapshot_copy))
    _refused(target, snapshot_copy, ManifestMissing)


def test_wrong_key_file_is_refused(good_snapshot, target, tmp_path, unchanged):
    source, _ = good_snapshot
    uri = tmp_path / "keyed"
    export(source.db_url, str(uri), cipher=new_key_file(tmp_path), fernet_key=source.fernet_key)
    other = tmp_path / "other"
    other.mkdir()
    _refused(target, uri, CipherMismatch, cipher=new_key_file(other), message="another key file")
    _refused(target, uri, CipherMismatch, cipher=NoEncryption(), message="--key-file")


def test_conflict_with_a_target_row_imports_nothing(good_snapshot, make_airflow):
    _, uri = good_snapshot
    busy = make_airflow("conflict")
    add_hibernation_runs(busy.db_url)  # the same run ids as the snapshot's
    before = all_table_rows(busy.db_url)
    with pytest.raises(RestoreConflict, match="already exists"):
        restore(busy.db_url, str(uri), cipher=NoEncryption(), fernet_key=busy.fernet_key)
    assert all_table_rows(busy.db_url) == before


def test_conflict_on_the_bulk_path_imports_nothing(good_snapshot, make_airflow, monkeypatch):
    from mwaa_hibernate_engine import restore as restore_module

    monkeypatch.setattr(restore_module, "BULK_ROWS", 1)  # keys dropped: the collision surfaces when rebuilt
    _, uri = good_snapshot
    busy = make_airflow("bulkconflict")
    add_hibernation_runs(busy.db_url)
    before = all_table_rows(busy.db_url)
    with pytest.raises(RestoreConflict, match=r"duplicated|already exists"):
        restore(busy.db_url, str(uri), cipher=NoEncryption(), fernet_key=busy.fernet_key)
    assert all_table_rows(busy.db_url) == before


def test_restore_killed_halfway_imports_nothing(good_snapshot, target):
    _, uri = good_snapshot
    before = all_table_rows(target.db_url)
    script = textwrap.dedent(f"""
        import os, signal
        from sqlalchemy import create_engine
        import mwaa_hibernate_engine as api
        import mwaa_hibernate_snapshot as snapshot_api

        def progress(phase, table, rows):
            if phase == "insert" and table == "dag_run":  # rows are already in the live tables by now
                os.kill(os.getpid(), signal.SIGKILL)

        api.restore_snapshot(engine=create_engine({target.db_url!r}), store=snapshot_api.open_store({str(uri)!r}),
                             cipher=snapshot_api.NoEncryption(), target_fernet=None, progress=progress)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert all_table_rows(target.db_url) == before
    # The server rolled the dead transaction back and released its lock: a restore now goes through.
    result = restore(target.db_url, str(uri), cipher=NoEncryption(), fernet_key=target.fernet_key)
    assert not result.already_restored and result.rows > 0


class _FailingStore:
    """A store whose Nth table write fails, like a network error in the middle of an upload."""

    def __init__(self, inner, fail_at: int) -> None:
        self.inner, self.fail_at, self.writes = inner, fail_at, 0
        self.uri = inner.uri

    def writer(self, name):
        self.writes += 1
        if self.writes == self.fail_at:
            raise ConnectionResetError("connection reset by peer (injected)")
        return self.inner.writer(name)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_export_failing_halfway_writes_no_manifest(good_snapshot, tmp_path):
    source, _ = good_snapshot
    store = open_store(tmp_path / "broken")
    engine = create_engine(source.db_url)
    with pytest.raises(ExportFailed, match="No manifest was written"):
        api.export_snapshot(engine=engine, store=_FailingStore(store, 5), cipher=NoEncryption(), source_fernet=None)
    engine.dispose()
    assert store.list() and "manifest.json" not in store.list()
    with pytest.raises(SnapshotInvalid):
        verify_snapshot(store)


def test_unclassified_table_stops_the_export(good_snapshot, tmp_path):
    source, _ = good_snapshot
    engine = create_engine(source.db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE plugin_state (id serial PRIMARY KEY, value text)"))
    try:
        with pytest.raises(UnclassifiedTable, match="'plugin_state'"):
            api.export_snapshot(
                engine=engine, store=open_store(tmp_path / "x"), cipher=NoEncryption(), source_fernet=None
            )
    finally:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE plugin_state"))
        engine.dispose()
    assert not (tmp_path / "x").exists()


def test_export_and_restore_refuse_a_connection_in_autocommit_mode(good_snapshot, target, tmp_path, unchanged):
    """Issue 11: in autocommit mode each statement commits alone, so a failed restore would leave half its rows."""
    from mwaa_hibernate_engine import UnsupportedDatabase

    source, uri = good_snapshot
    for url, action in ((source.db_url, "export"), (target.db_url, "restore")):
        engine = create_engine(url, isolation_level="AUTOCOMMIT")
        try:
            with pytest.raises(UnsupportedDatabase, match="autocommit"):
                if action == "export":
                    api.export_snapshot(
                        engine=engine, store=open_store(tmp_path / "20261124T190000Z"), cipher=NoEncryption(),
                        source_fernet=source.fernet_key,
                    )  # fmt: skip
                else:
                    api.restore_snapshot(
                        engine=engine, store=open_store(uri), cipher=NoEncryption(), target_fernet=target.fernet_key
                    )
        finally:
            engine.dispose()


def test_sealed_values_swapped_between_rows_are_refused(good_snapshot, make_airflow, tmp_path):
    """Issue 11: each secret is bound to its table, row and column (AES-GCM associated data): a writer of the
    snapshot who swaps two variables' sealed values, without the key, makes the restore refuse, not mix them."""
    import csv
    import gzip
    import hashlib
    import io

    from mwaa_hibernate_snapshot import CipherError

    source, _ = good_snapshot
    uri = tmp_path / "20261124T190007Z"
    cipher = new_key_file(tmp_path)
    export(source.db_url, str(uri), cipher=cipher, fernet_key=source.fernet_key)
    doc = json.loads((uri / "manifest.json").read_text())
    entry = next(f for f in doc["files"] if f["table"] == "variable")
    path = uri / entry["path"]
    rows = list(csv.reader(io.StringIO(gzip.decompress(path.read_bytes()).decode())))
    val = rows[0].index("val")
    assert rows[1][val].startswith("mwh2:") and rows[2][val].startswith("mwh2:")
    rows[1][val], rows[2][val] = rows[2][val], rows[1][val]
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    data = gzip.compress(text.getvalue().encode())
    path.unlink()
    path.write_bytes(data)
    entry.update(bytes=len(data), sha256=hashlib.sha256(data).hexdigest())
    (uri / "manifest.json").write_text(json.dumps(doc))

    target = make_airflow("swaptarget")
    before = all_table_rows(target.db_url)
    _refused(target, uri, CipherError, cipher=cipher, message="moved from another row or field")
    assert all_table_rows(target.db_url) == before
