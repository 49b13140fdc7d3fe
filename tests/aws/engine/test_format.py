"""The pieces of the file format that need no database: CSV codec, gzip stream, table classification."""

from __future__ import annotations

import gzip
import os

import pytest
from mwaa_hibernate_engine import UnclassifiedTable
from mwaa_hibernate_engine.classification import TABLES, Kind, not_restored, policy_for
from mwaa_hibernate_engine.csvcodec import encode_row
from mwaa_hibernate_engine.gzipstream import BLOCK_BYTES, GzipWriter
from mwaa_hibernate_engine.store import open_store


def test_codec_keeps_null_apart_from_empty_and_quotes_everything_else():
    assert encode_row([None, "", 'a "q", b', "x\ny"]) == b',"","a ""q"", b","x\ny"\n'


def test_gzip_stream_round_trips_row_by_row_writes(tmp_path):
    store = open_store(tmp_path)
    rows = [os.urandom(50).hex().encode() + b"\n" for _ in range(3 * BLOCK_BYTES // 100)]
    with store.writer("t.csv.gz") as out, GzipWriter(out) as sink:
        for row in rows:
            sink.write(row)
    assert gzip.decompress(store.get_bytes("t.csv.gz")) == b"".join(rows)


def test_gzip_stream_surfaces_a_failing_store_and_writes_nothing(tmp_path):
    class Failing:
        def write(self, data):
            raise ConnectionResetError("upload failed (injected)")

    with pytest.raises(ConnectionResetError), GzipWriter(Failing()) as sink:
        for _ in range(4 * BLOCK_BYTES // 1000):
            sink.write(os.urandom(1000))


def test_every_table_has_a_kind_and_a_reason():
    assert len(TABLES) == 48  # Airflow 2.10/2.11 (tooling-airflow.md, section 2)
    for table, policy in TABLES.items():
        assert len(policy.reason) > 20, table
        assert (policy.kind is Kind.MERGED) == bool(policy.natural_key), table
    assert {t for t, _ in not_restored()} >= {"serialized_dag", "session", "alembic_version", "ab_permission"}


def test_an_unclassified_table_is_named_in_the_error():
    with pytest.raises(UnclassifiedTable, match=r"'asset_watermark'.*Add it to TABLES"):
        policy_for("asset_watermark")
