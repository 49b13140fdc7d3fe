"""The stand-in mirrors an environment's DAG folder from S3 as MWAA does: new, changed and deleted objects."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws
from mwaa_hibernate_sandbox.mwaa_standin.dag_sync import S3DagSync

BUCKET = "team-airflow"


@pytest.fixture
def s3():
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


def test_new_changed_and_deleted_objects_reach_the_dags_folder(s3, tmp_path) -> None:
    sync = S3DagSync(s3=s3, bucket=BUCKET, prefix="dags/", target=tmp_path, interval=1)
    s3.put_object(Bucket=BUCKET, Key="dags/etl.py", Body=b"v1")
    s3.put_object(Bucket=BUCKET, Key="dags/pkg/helpers.py", Body=b"helpers")
    s3.put_object(Bucket=BUCKET, Key="requirements.txt", Body=b"outside the DAG folder")

    assert sorted(sync.sync_once()) == ["etl.py", "pkg/helpers.py"]
    assert (tmp_path / "pkg/helpers.py").read_bytes() == b"helpers" and not (tmp_path / "requirements.txt").exists()
    assert sync.sync_once() == []  # nothing changed, nothing written

    s3.put_object(Bucket=BUCKET, Key="dags/etl.py", Body=b"v2")
    s3.delete_object(Bucket=BUCKET, Key="dags/pkg/helpers.py")
    assert sorted(sync.sync_once()) == ["etl.py", "pkg/helpers.py"]
    assert (tmp_path / "etl.py").read_bytes() == b"v2" and not (tmp_path / "pkg/helpers.py").exists()


def test_a_missing_bucket_syncs_nothing_and_fails_nothing(s3, tmp_path) -> None:
    sync = S3DagSync(s3=s3, bucket="not-created-yet", prefix="dags/", target=tmp_path, interval=1)
    assert sync.sync_once() == [] and list(tmp_path.iterdir()) == []


def test_without_an_s3_endpoint_there_is_no_sync(tmp_path) -> None:
    """The stand-in never reaches real AWS: no endpoint in the Airflow environment, no sync."""
    config = {"SourceBucketArn": f"arn:aws:s3:::{BUCKET}", "DagS3Path": "dags"}
    assert S3DagSync.for_environment(config, {"AWS_DEFAULT_REGION": "us-east-1"}, tmp_path, 1) is None
    sync = S3DagSync.for_environment(config, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9"}, tmp_path, 1)
    assert (sync.bucket, sync.prefix) == (BUCKET, "dags/")


def test_a_pass_started_while_another_downloads_waits_for_it(s3, tmp_path) -> None:
    """An environment update syncs from its own thread while the background pass may be mid-download."""
    import threading

    s3.put_object(Bucket=BUCKET, Key="dags/etl.py", Body=b"v1")
    sync = S3DagSync(s3=s3, bucket=BUCKET, prefix="dags/", target=tmp_path, interval=1)
    downloading, release = threading.Event(), threading.Event()
    real_get = s3.get_object

    def slow_get(**kwargs):
        if not downloading.is_set():  # only the first pass's download is held
            downloading.set()
            release.wait(timeout=30)
        return real_get(**kwargs)

    s3.get_object = slow_get
    first = threading.Thread(target=sync.sync_once)
    first.start()
    assert downloading.wait(timeout=30)
    second: list[list[str]] = []
    other = threading.Thread(target=lambda: second.append(sync.forget() or sync.sync_once()))
    other.start()
    other.join(timeout=0.5)
    assert other.is_alive(), "the second pass ran inside the first one"
    release.set()
    first.join(timeout=30)
    other.join(timeout=30)
    assert second == [["etl.py"]] and (tmp_path / "etl.py").read_bytes() == b"v1"
    assert not list(tmp_path.glob(".*.sync")), "a temporary file was left behind"
