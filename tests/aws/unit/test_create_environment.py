"""Recreating the environment from a snapshot: the request MWAA gets, and errors a person can act on."""

from __future__ import annotations

import pytest
from mwaa_hibernate import layout
from mwaa_hibernate.aws import json_bytes
from mwaa_hibernate.environment.create import create_environment
from mwaa_hibernate.exceptions import (
    EnvironmentConfigurationInvalid,
    SnapshotNotFound,
    SnapshotVerificationFailed,
    TransientAwsError,
)

from .conftest import ENVIRONMENT, SNAPSHOT_ID, client_error, commit, saved_environment, write_snapshot

# The saved configuration's execution role (conftest.saved_environment), which the stack's ExecutionRoleName names.
ROLE = saved_environment()["ExecutionRoleArn"].rsplit("/", 1)[-1]


def create(aws, overrides: str = "", role: str = ROLE):
    return create_environment(
        environment=ENVIRONMENT,
        snapshot_id=SNAPSHOT_ID,
        bucket=aws.bucket,
        overrides=overrides,
        execution_role_name=role,
    )


def test_the_saved_configuration_is_recreated_with_the_overrides(aws) -> None:
    write_snapshot(aws)
    commit(aws)

    created = create(aws, '{"EnvironmentClass": "mw1.small", "MaxWorkers": 2}')

    assert created == {"arn": f"arn:aws:airflow:eu-west-1:123456789012:environment/{ENVIRONMENT}"}
    ((operation, request),) = aws.mwaa.calls  # validated against botocore's model by the fake
    assert operation == "CreateEnvironment"
    assert (request["EnvironmentClass"], request["MaxWorkers"]) == ("mw1.small", 2)
    assert request["ExecutionRoleArn"] == saved_environment()["ExecutionRoleArn"]
    assert request["Tags"] == {"team": "data"}


def test_a_snapshot_without_its_configuration_cannot_recreate_anything(aws) -> None:
    with pytest.raises(SnapshotNotFound, match=r"has no environment\.json"):
        create(aws)
    assert aws.mwaa.calls == []


def test_mwaa_refusing_the_request_says_what_to_fix(aws) -> None:
    write_snapshot(aws)
    commit(aws)
    aws.mwaa.errors["CreateEnvironment"] = client_error("ValidationException", "Subnets must be in different AZs")

    with pytest.raises(EnvironmentConfigurationInvalid, match=r"different AZs.*EnvironmentOverrides"):
        create(aws)


def test_throttling_is_retried_by_the_state_machine(aws) -> None:
    write_snapshot(aws)
    commit(aws)
    aws.mwaa.errors["CreateEnvironment"] = client_error("ThrottlingException", "Rate exceeded")

    with pytest.raises(TransientAwsError):
        create(aws)


def test_a_configuration_rewritten_after_the_stack_saved_it_recreates_nothing(aws) -> None:
    """Invariant 9: a DAG rewrote environment.json (public web server, another role, logging off) during the export."""
    write_snapshot(aws)
    commit(aws)
    hostile = saved_environment(
        WebserverAccessMode="PUBLIC_ONLY",
        ExecutionRoleArn="arn:aws:iam::123456789012:role/admin",
        SourceBucketArn="arn:aws:s3:::someone-elses-dags",
        LoggingConfiguration={},
    )
    key = layout.environment_key(ENVIRONMENT, SNAPSHOT_ID)
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=json_bytes(hostile))

    with pytest.raises(SnapshotVerificationFailed, match="not the one this stack saved"):
        create(aws)
    assert aws.mwaa.calls == []


def test_a_snapshot_without_a_recorded_digest_recreates_nothing(aws) -> None:
    write_snapshot(aws)
    aws.s3.put_object(
        Bucket=aws.bucket, Key=layout.latest_key(ENVIRONMENT), Body=b'{"snapshot_id": "%s"}' % SNAPSHOT_ID.encode()
    )

    with pytest.raises(SnapshotVerificationFailed, match="No configuration digest"):
        create(aws)
    assert aws.mwaa.calls == []


def test_only_the_role_the_stack_names_is_passed_to_mwaa(aws) -> None:
    write_snapshot(aws)
    commit(aws)

    with pytest.raises(EnvironmentConfigurationInvalid, match="passes only that role"):
        create(aws, '{"ExecutionRoleArn": "arn:aws:iam::123456789012:role/admin"}')
    with pytest.raises(EnvironmentConfigurationInvalid, match="ExecutionRoleName parameter is empty"):
        create(aws, role="")
    assert aws.mwaa.calls == []
