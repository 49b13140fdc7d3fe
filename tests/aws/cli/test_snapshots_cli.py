"""`mwaa-hibernate snapshots list|show|verify|prune` on a stack deployed into moto: output, JSON and exit codes."""

from __future__ import annotations

import gzip
import hashlib
import json
from typing import Any

import boto3
import pytest
from mwaa_hibernate import layout, snapshots
from mwaa_hibernate_cli import app
from mwaa_hibernate_cli.exits import EXIT_AWS_ACCESS, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE
from mwaa_hibernate_snapshot import open_store
from mwaa_hibernate_snapshot.manifest import REQUIRED_TABLES, FileEntry, Manifest, table_path
from typer.testing import CliRunner

STACK, ENVIRONMENT = "ops-snapshots", "snap-env"
IDS = ("20261121T190000Z", "20261122T190000Z", "20261123T190000Z")
runner = CliRunner()


def run(*args: str) -> Any:
    return runner.invoke(app, [*args, "--stack", STACK], env={"COLUMNS": "200"})  # a wide terminal for the tables


def write_snapshot(s3: Any, bucket: str, snapshot_id: str) -> None:
    store = open_store(layout.snapshot_uri(bucket, ENVIRONMENT, snapshot_id), s3_client=s3)
    store.put_bytes(layout.ENVIRONMENT_FILE, json.dumps({"Name": ENVIRONMENT, "AirflowVersion": "2.10.3"}).encode())
    data = gzip.compress(b'id,key,val\n1,a,"multi\nline"\n2,b,\n')
    store.put_bytes(table_path("variable"), data)
    entries = [FileEntry(table_path("variable"), len(data), hashlib.sha256(data).hexdigest(), "variable", "copy", 2)]
    for table in sorted(REQUIRED_TABLES[2] - {"variable"}):  # every table Airflow 2 always has, empty
        empty = gzip.compress(b"id\n")
        store.put_bytes(table_path(table), empty)
        entries.append(FileEntry(table_path(table), len(empty), hashlib.sha256(empty).hexdigest(), table, "copy", 0))
    timings = {"seconds": 1.5, "tables": {"variable": 0.2}}
    manifest = Manifest(
        snapshot_id, "2026-11-24T19:03:31Z", "postgresql", "5f2621c13b39", "2.10.3", {"scheme": "none"},
        tuple(entries), timings=timings,
    )  # fmt: skip
    store.put_bytes(layout.MANIFEST_FILE, manifest.dumps())


@pytest.fixture
def bucket(deploy: Any, region: str) -> Any:
    stack = deploy(STACK, ENVIRONMENT)
    s3 = boto3.client("s3", region_name=region)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.bucket):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=stack.bucket, Key=obj["Key"])
    for snapshot_id in IDS:
        write_snapshot(s3, stack.bucket, snapshot_id)
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id=IDS[-1], bucket=stack.bucket, s3=s3)
    return s3, stack.bucket


def test_list_as_json_and_as_a_table(bucket) -> None:
    result = run("snapshots", "list", "--json")
    assert result.exit_code == EXIT_OK, result.output
    listed = json.loads(result.stdout)["snapshots"]
    assert [s["snapshot_id"] for s in listed] == list(IDS)
    assert [s["latest"] for s in listed] == [False, False, True] and listed[-1]["rows"] == 2

    table = run("snapshots", "list")
    assert table.exit_code == EXIT_OK and IDS[-1] in table.stdout and "latest" in table.stdout


def test_show_prints_tables_and_configuration(bucket) -> None:
    result = run("snapshots", "show", IDS[0], "--json")
    assert result.exit_code == EXIT_OK, result.output
    shown = json.loads(result.stdout)
    assert shown["tables_detail"][0] == {"table": "variable", "kind": "copy", "rows": 2, "bytes": 53, "seconds": 0.2}
    assert sum(t["bytes"] for t in shown["tables_detail"]) == shown["bytes"]
    assert {t["table"] for t in shown["tables_detail"][1:]} == REQUIRED_TABLES[2] - {"variable"}
    assert shown["configuration"] == {"AirflowVersion": "2.10.3"}
    assert "variable" in run("snapshots", "show", IDS[0]).stdout


def test_an_unknown_snapshot_id_exits_not_found_with_a_sentence(bucket) -> None:
    result = run("snapshots", "show", "20200101T000000Z", "--json")
    assert result.exit_code == EXIT_NOT_FOUND
    assert "snapshots list" in json.loads(result.stdout)["error"] and "snapshots list" in result.stderr


def test_verify_counts_rows_and_a_damaged_snapshot_exits_3_saying_why(bucket) -> None:
    s3, name = bucket
    ok = run("snapshots", "verify", "--json")  # the latest by default
    assert ok.exit_code == EXIT_OK, ok.output
    assert json.loads(ok.stdout).items() >= {"snapshot_id": IDS[-1], "valid": True, "rows": 2}.items()

    key = layout.snapshot_prefix(ENVIRONMENT, IDS[1]) + table_path("variable")
    s3.put_object(Bucket=name, Key=key, Body=b"not what the manifest says")
    damaged = run("snapshots", "verify", IDS[1])
    assert damaged.exit_code == EXIT_INVALID
    assert "variable.csv.gz" in damaged.stderr and "restore an earlier snapshot" in damaged.stderr


def test_prune_dry_run_then_for_real(bucket) -> None:
    dry = run("snapshots", "prune", "--keep", "1", "--dry-run", "--json")
    assert dry.exit_code == EXIT_OK, dry.output
    assert json.loads(dry.stdout).items() >= {"deleted": list(IDS[:2]), "kept": [IDS[-1]], "dry_run": True}.items()

    refused = run("snapshots", "prune", "--keep", "1", "--json")
    assert refused.exit_code == EXIT_USAGE and "--yes" in refused.stderr

    declined = runner.invoke(app, ["snapshots", "prune", "--keep", "1", "--stack", STACK], input="n\n")
    assert declined.exit_code == EXIT_OK and "Nothing deleted" in declined.stderr

    done = run("snapshots", "prune", "--keep", "1", "--yes")
    assert done.exit_code == EXIT_OK and "Deleted 2 snapshot(s)" in done.stdout
    assert [s["snapshot_id"] for s in json.loads(run("snapshots", "list", "--json").stdout)["snapshots"]] == [IDS[-1]]


def test_prune_defaults_to_the_stacks_snapshots_to_keep(bucket) -> None:
    result = run("snapshots", "prune", "--dry-run", "--json")
    assert result.exit_code == EXIT_OK, result.output
    assert json.loads(result.stdout)["keep"] == 7 and json.loads(result.stdout)["deleted"] == []


def test_a_missing_bucket_and_a_denied_one_are_explained(bucket, monkeypatch) -> None:
    _, name = bucket
    from botocore.exceptions import ClientError

    def refuse(code: str, message: str) -> Any:
        def call(*_: Any, **__: Any) -> Any:
            raise ClientError({"Error": {"Code": code, "Message": message}}, "ListObjectsV2")

        return call

    monkeypatch.setattr("mwaa_hibernate_cli.catalog.snapshots.list_snapshot_ids", refuse("NoSuchBucket", "gone"))
    missing = run("snapshots", "list")
    assert missing.exit_code == EXIT_NOT_FOUND and f"bucket {name}" in missing.stderr

    monkeypatch.setattr(
        "mwaa_hibernate_cli.catalog.snapshots.list_snapshot_ids", refuse("AccessDenied", "Access Denied")
    )
    denied = run("snapshots", "list")
    assert denied.exit_code == EXIT_AWS_ACCESS and "Access denied" in denied.stderr
