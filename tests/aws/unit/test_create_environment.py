"""Recreating the environment from a snapshot: the request MWAA gets, and errors a person can act on."""

from __future__ import annotations

import pytest
from mwaa_hibernate.environment.create import create_environment
from mwaa_hibernate.exceptions import EnvironmentConfigurationInvalid, SnapshotNotFound, TransientAwsError

from .conftest import ENVIRONMENT, SNAPSHOT_ID, client_error, saved_environment, write_snapshot


def create(aws, overrides: str = ""):
    return create_environment(environment=ENVIRONMENT, snapshot_id=SNAPSHOT_ID, bucket=aws.bucket, overrides=overrides)


def test_the_saved_configuration_is_recreated_with_the_overrides(aws) -> None:
    write_snapshot(aws)

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
    aws.mwaa.errors["CreateEnvironment"] = client_error("ValidationException", "Subnets must be in different AZs")

    with pytest.raises(EnvironmentConfigurationInvalid, match=r"different AZs.*EnvironmentOverrides"):
        create(aws)


def test_throttling_is_retried_by_the_state_machine(aws) -> None:
    write_snapshot(aws)
    aws.mwaa.errors["CreateEnvironment"] = client_error("ThrottlingException", "Rate exceeded")

    with pytest.raises(TransientAwsError):
        create(aws)
