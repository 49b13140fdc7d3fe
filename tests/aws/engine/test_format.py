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
from mwaa_hibernate_engine.classification import TABLES, Kind, not_restored, policy_for
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
    assert len(TABLES) == 48  # Airflow 2.10/2.11 (docs/snapshot-format.md)
    for table, policy in TABLES.items():
        assert len(policy.reason) > 20, table
        assert (policy.kind is Kind.MERGED) == bool(policy.natural_key), table
    assert {t for t, _ in not_restored()} >= {"serialized_dag", "session", "alembic_version", "ab_permission"}


def test_an_unclassified_table_is_named_in_the_error():
    with pytest.raises(UnclassifiedTable, match=r"'asset_watermark'.*Add it to TABLES"):
        policy_for("asset_watermark")
