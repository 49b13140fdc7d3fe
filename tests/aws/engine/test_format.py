"""The pieces of the file format that need no database: CSV codec, gzip stream, table classification."""

from __future__ import annotations

import gzip
import os
import subprocess
import sys
import zlib

import pytest
from isal import isal_zlib
from mwaa_hibernate_engine import UnclassifiedTable
from mwaa_hibernate_engine.classification import TABLES, Kind, classify, not_restored, policy_for
from mwaa_hibernate_engine.csvcodec import encode_row
from mwaa_hibernate_engine.gzipstream import BLOCK_BYTES, DEFLATE, GzipWriter
from mwaa_hibernate_snapshot.store import open_store


def test_codec_keeps_null_apart_from_empty_and_quotes_everything_else():
    assert encode_row([None, "", 'a "q", b', "x\ny"]) == b',"","a ""q"", b","x\ny"\n'


@pytest.mark.parametrize("deflate", [isal_zlib, zlib], ids=["isal", "zlib"])
def test_gzip_stream_round_trips_row_by_row_writes(tmp_path, deflate):
    """Both deflates write ordinary gzip that Python's gzip (zlib) reads back, compressed."""
    store = open_store(tmp_path)
    rows = [b"%d,task_%d,scheduled__%s,success\n" % (i, i % 10, os.urandom(4).hex().encode()) for i in range(60_000)]
    with store.writer("t.csv.gz") as out, GzipWriter(out, deflate=deflate) as sink:
        for row in rows:
            sink.write(row)
    data = store.get_bytes("t.csv.gz")
    assert gzip.decompress(data) == b"".join(rows)
    assert len(data) < len(b"".join(rows)) / 2


def test_gzip_stream_uses_isal_where_installed_and_zlib_otherwise():
    assert DEFLATE is isal_zlib
    without_isal = "import sys, zlib; sys.modules['isal'] = None; from mwaa_hibernate_engine import gzipstream as g; "
    subprocess.run([sys.executable, "-c", without_isal + "assert g.DEFLATE is zlib"], check=True)


def test_gzip_stream_surfaces_a_failing_store_and_writes_nothing(tmp_path):
    class Failing:
        def write(self, data):
            raise ConnectionResetError("upload failed (injected)")

    with pytest.raises(ConnectionResetError), GzipWriter(Failing()) as sink:
        for _ in range(4 * BLOCK_BYTES // 1000):
            sink.write(os.urandom(1000))


def test_every_table_has_a_kind_and_a_reason():
    # Airflow 2.10/2.11: 48 tables; Airflow 3.0/3.2/3.3 with FAB: 71 in 3.3, two more in 3.0, two more in databases
    # upgraded from Airflow 2 (docs/snapshot-format.md).
    assert sum(2 in p.majors for p in TABLES.values()) == 48
    assert sum(3 in p.majors for p in TABLES.values()) == 75
    for table, policy in TABLES.items():
        for p in filter(None, (policy, policy.versioned)):
            assert len(p.reason) > 20, table
            assert (p.kind is Kind.MERGED) == bool(p.natural_key), table
    assert {t for t, _ in not_restored()} >= {"serialized_dag", "session", "alembic_version", "ab_permission"}


def test_a_schema_that_versions_dags_restores_serialized_dags_as_history():
    airflow2 = classify(["dag", "serialized_dag", "dag_code", "trigger"])
    airflow3 = classify(["dag", "dag_version", "serialized_dag", "dag_code", "trigger"])
    assert {airflow2[t].kind for t in ("serialized_dag", "dag_code")} == {Kind.OWNED}
    assert {airflow3[t].kind for t in ("serialized_dag", "dag_code", "dag_version")} == {Kind.COPIED}
    assert airflow3["trigger"].referenced_only and not airflow2["trigger"].referenced_only


def test_an_unclassified_table_is_named_in_the_error():
    with pytest.raises(UnclassifiedTable, match=r"'asset_watermark'.*Add it to TABLES"):
        policy_for("asset_watermark")
