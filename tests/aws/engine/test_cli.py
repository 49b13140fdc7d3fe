"""`mwaa-hibernate snapshot`: exit codes and output a script can rely on (verify, usage errors, keys)."""

from __future__ import annotations

import json

import pytest
from mwaa_hibernate_cli import app
from mwaa_hibernate_cli.exits import EXIT_FAILED, EXIT_INVALID, EXIT_OK, EXIT_USAGE
from mwaa_hibernate_snapshot import open_store
from snapshot_files import BUCKET, write_snapshot
from typer.testing import CliRunner

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, ["snapshot", *args], env={"AIRFLOW__CORE__FERNET_KEY": ""})


def test_verify_prints_json_and_exits_zero(tmp_path):
    write_snapshot(open_store(tmp_path))
    result = invoke("verify", "--from", str(tmp_path), "--json")
    assert result.exit_code == EXIT_OK, result.output
    doc = json.loads(result.stdout)
    assert doc["valid"] is True and doc["snapshot_id"] == "20261124T190000Z" and doc["rows"] == 3


def test_verify_on_s3(s3):
    write_snapshot(open_store(f"s3://{BUCKET}/env/snapshots/20261124T190000Z/", s3_client=s3))
    result = invoke("verify", "--from", f"s3://{BUCKET}/env/snapshots/20261124T190000Z/", "--json")
    assert result.exit_code == EXIT_OK, result.output


def test_verify_refuses_a_damaged_snapshot_with_exit_3(tmp_path):
    write_snapshot(open_store(tmp_path))
    (tmp_path / "tables" / "variable.csv.gz").write_bytes(b"garbage")
    result = invoke("verify", "--from", str(tmp_path))
    assert result.exit_code == EXIT_INVALID
    assert "variable.csv.gz" in result.stderr


def test_verify_refuses_a_folder_without_manifest(tmp_path):
    result = invoke("verify", "--from", str(tmp_path))
    assert result.exit_code == EXIT_INVALID and "no manifest.json" in result.stderr


@pytest.mark.parametrize(
    "options",
    [pytest.param([], id="no-choice"), pytest.param(["--no-encryption", "--kms-key-id", "k"], id="two-choices")],
)
def test_export_never_picks_plaintext_silently(tmp_path, options):
    result = invoke(
        "export",
        "--sql-alchemy-conn",
        "postgresql+psycopg2://nobody@127.0.0.1:1/x",
        "--to",
        str(tmp_path / "s"),
        *options,
    )
    assert result.exit_code == EXIT_USAGE
    assert "exactly one of --key-file, --kms-key-id or --no-encryption" in result.stderr
    assert not (tmp_path / "s").exists()


def test_export_of_sqlite_with_an_unclassified_table_fails_loudly(tmp_path):
    import sqlite3

    db = tmp_path / "a.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE plugin_state (id INTEGER PRIMARY KEY, value TEXT)")
    result = invoke(
        "export", "--sql-alchemy-conn", f"sqlite:///{db}", "--to", str(tmp_path / "s"), "--no-encryption"
    )  # fmt: skip
    assert result.exit_code == EXIT_FAILED and "'plugin_state'" in result.stderr and "TABLES" in result.stderr
    assert not (tmp_path / "s").exists()


def test_export_refuses_other_databases_as_usage_error(tmp_path):
    result = invoke(
        "export", "--sql-alchemy-conn", "mysql://nobody@127.0.0.1:1/x", "--to", str(tmp_path / "s"), "--no-encryption"
    )  # fmt: skip
    assert result.exit_code == EXIT_USAGE and "--sql-alchemy-conn" in result.stderr


def test_export_refuses_to_overwrite_a_snapshot(tmp_path):
    write_snapshot(open_store(tmp_path))
    result = invoke(
        "export",
        "--sql-alchemy-conn",
        "postgresql+psycopg2://nobody@127.0.0.1:1/x",
        "--to",
        str(tmp_path),
        "--no-encryption",
    )
    assert result.exit_code == EXIT_USAGE and "never overwritten" in result.stderr


def test_new_key_writes_once(tmp_path):
    key = tmp_path / "snapshot.key"
    assert invoke("new-key", str(key)).exit_code == EXIT_OK
    assert key.stat().st_mode & 0o777 == 0o600
    first = key.read_bytes()
    assert invoke("new-key", str(key)).exit_code == EXIT_USAGE
    assert key.read_bytes() == first


def test_missing_key_file_says_how_to_make_one(tmp_path):
    result = invoke(
        "export",
        "--sql-alchemy-conn",
        "postgresql+psycopg2://nobody@127.0.0.1:1/x",
        "--to",
        str(tmp_path / "s"),
        "--key-file",
        str(tmp_path / "nope.key"),
    )
    assert result.exit_code == EXIT_USAGE and "snapshot new-key" in result.stderr
