"""What `snapshots list|show` report about the bucket (moto S3, snapshots in the engine's format)."""

from __future__ import annotations

import pytest
from mwaa_hibernate import layout, snapshots
from mwaa_hibernate.exceptions import SnapshotNotFound
from mwaa_hibernate_cli import catalog

from .conftest import ENVIRONMENT, TABLE_FILES, write_snapshot

OLD, FAILED, LATEST, NEWER = "20261121T190000Z", "20261122T190000Z", "20261123T190000Z", "20261124T190000Z"


@pytest.fixture
def bucket_with_history(aws):
    write_snapshot(aws, OLD)
    write_snapshot(aws, FAILED, complete=False)
    write_snapshot(aws, LATEST)
    write_snapshot(aws, NEWER, complete=False)  # a hibernation running now
    snapshots.commit_latest(environment=ENVIRONMENT, snapshot_id=LATEST, bucket=aws.bucket)
    snapshots.record_state(environment=ENVIRONMENT, phase="HIBERNATED", snapshot_id=LATEST, bucket=aws.bucket)
    return aws


def test_list_reports_each_folder_oldest_first(bucket_with_history) -> None:
    listed = {
        s.snapshot_id: s for s in catalog.list_snapshots(environment=ENVIRONMENT, bucket=bucket_with_history.bucket)
    }

    assert list(listed) == [OLD, FAILED, LATEST, NEWER]
    latest = listed[LATEST]
    assert (latest.complete, latest.verified, latest.latest, latest.owed_restore) == (True, True, True, True)
    assert (latest.rows, latest.tables, latest.airflow_version) == (3, TABLE_FILES, "2.10.3")
    assert latest.created_at == "2026-11-24T19:03:31Z"  # from the manifest
    assert listed[OLD].complete and not listed[OLD].verified and not listed[OLD].latest
    failed = listed[FAILED]
    assert (failed.complete, failed.verified, failed.rows) == (False, False, None)
    assert failed.created_at == "2026-11-22T19:00:00+00:00"  # from the id: when the hibernation started


def test_list_names_a_damaged_manifest_instead_of_failing(bucket_with_history) -> None:
    aws = bucket_with_history
    aws.s3.put_object(Bucket=aws.bucket, Key=layout.manifest_key(ENVIRONMENT, OLD), Body=b"{not json")

    old = catalog.list_snapshots(environment=ENVIRONMENT, bucket=aws.bucket)[0]

    assert old.complete and old.rows is None and "unreadable" in old.problem


def test_list_of_an_environment_without_snapshots_is_empty(aws) -> None:
    assert catalog.list_snapshots(environment="other-environment", bucket=aws.bucket) == []


def test_show_gives_tables_encryption_and_the_saved_configuration_without_secret_values(bucket_with_history) -> None:
    shown = catalog.show_snapshot(environment=ENVIRONMENT, bucket=bucket_with_history.bucket, snapshot_id=LATEST)
    doc = shown.to_json()

    assert [(t["table"], t["kind"], t["rows"]) for t in doc["tables_detail"] if t["rows"]] == [
        ("variable", "copy", 1),
        ("dag_run", "copy", 2),
    ]
    assert doc["alembic_revision"] == "5f2621c13b39" and doc["encryption"] == {"kind": "none"}
    config = doc["configuration"]
    assert config["EnvironmentClass"] == "mw1.medium" and config["AirflowVersion"] == "2.10.3"
    assert config["SubnetIds"] == ["subnet-0a1", "subnet-0b2"]
    # MWAA marks configuration option values sensitive: their names only.
    assert config["AirflowConfigurationOptions"] == ["core.default_timezone", "secrets.backend_kwargs"]
    assert "secret" not in str(doc).replace("secrets.backend_kwargs", "")


def test_show_of_an_incomplete_snapshot_has_its_configuration_and_no_tables(bucket_with_history) -> None:
    shown = catalog.show_snapshot(environment=ENVIRONMENT, bucket=bucket_with_history.bucket, snapshot_id=FAILED)
    assert not shown.summary.complete and shown.tables == () and shown.configuration["DagS3Path"] == "dags"


def test_encryption_summary_never_shows_the_encrypted_data_key() -> None:
    block = {
        "scheme": "kms",
        "kms_key_id": "arn:aws:kms:eu-west-1:123456789012:key/abc",
        "encrypted_data_key": "AQIDAHh...",
        "encryption_context": {"mwaa-hibernate:snapshot": "x"},
    }
    assert catalog.encryption_summary(block) == {"scheme": "kms", "kms_key_id": block["kms_key_id"]}


@pytest.mark.parametrize(
    ("snapshot_id", "message"),
    [("20260101T000000Z", "no snapshot 20260101T000000Z"), ("yesterday", "not a snapshot id")],
)
def test_an_unknown_snapshot_id_says_how_to_find_the_right_one(bucket_with_history, snapshot_id, message) -> None:
    with pytest.raises(SnapshotNotFound, match=message) as raised:
        catalog.show_snapshot(environment=ENVIRONMENT, bucket=bucket_with_history.bucket, snapshot_id=snapshot_id)
    assert "snapshots list" in str(raised.value)


def test_latest_or_fail_before_the_first_hibernation(aws) -> None:
    with pytest.raises(SnapshotNotFound, match="no latest snapshot"):
        catalog.latest_or_fail(environment=ENVIRONMENT, bucket=aws.bucket)
