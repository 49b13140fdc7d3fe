"""Fixtures for the engine's AWS-side tests: moto S3 and KMS (snapshots built without a database: snapshot_files)."""

from __future__ import annotations

from collections.abc import Iterator

import boto3
import pytest
from moto import mock_aws
from snapshot_files import BUCKET


@pytest.fixture
def aws() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    client.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": client.meta.region_name})
    return client


@pytest.fixture
def kms_key(aws) -> str:
    return boto3.client("kms").create_key(Description="mwaa-hibernate test key")["KeyMetadata"]["Arn"]
