"""AWS errors become a sentence that says what to do, with an exit code a script can branch on."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    UnauthorizedSSOTokenError,
)
from botocore.stub import Stubber
from mwaa_hibernate_cli.deployment import AwsSession
from mwaa_hibernate_cli.errors import from_aws
from mwaa_hibernate_cli.exits import EXIT_AWS_ACCESS, EXIT_AWS_UNAVAILABLE, EXIT_UNEXPECTED


def _failing_call(service: str, operation: str, code: str, message: str, **params: Any) -> ClientError:
    """The ClientError a real client raises for this answer (through AwsSession, which records the call)."""
    client = AwsSession(region="eu-west-1").client(service)
    with Stubber(client) as stub:
        stub.add_client_error(operation, service_error_code=code, service_message=message, http_status_code=400)
        with pytest.raises(ClientError) as caught:
            getattr(client, operation)(**params)
    return caught.value


def test_access_denied_names_the_action_aws_reports() -> None:
    exc = _failing_call(
        "stepfunctions",
        "start_execution",
        "AccessDeniedException",
        "User: arn:aws:iam::123456789012:user/ana is not authorized to perform: states:StartExecution on resource: "
        "arn:aws:states:eu-west-1:123456789012:stateMachine:ops-wake",
        stateMachineArn="arn:aws:states:eu-west-1:123456789012:stateMachine:ops-wake",
    )
    error = from_aws(exc)
    assert error.exit_code == EXIT_AWS_ACCESS
    assert str(error).startswith("Access denied: your AWS identity may not call states:StartExecution. Ask for that")


def test_s3_access_denied_names_the_iam_action_of_the_call() -> None:
    """S3 says only "Access Denied"; the action comes from the call (ListObjectsV2 needs s3:ListBucket)."""
    exc = _failing_call("s3", "list_objects_v2", "AccessDenied", "Access Denied", Bucket="snapshots")
    assert "may not call s3:ListBucket" in str(from_aws(exc))
    exc = _failing_call("mwaa", "get_environment", "AccessDeniedException", "Forbidden", Name="analytics")
    assert "may not call airflow:GetEnvironment" in str(from_aws(exc))


@pytest.mark.parametrize(
    ("code", "expected", "exit_code"),
    [
        ("ThrottlingException", "AWS is throttling or temporarily failing DescribeStacks", EXIT_AWS_UNAVAILABLE),
        ("ExpiredToken", "Your AWS credentials have expired: run `aws sso login`", EXIT_AWS_ACCESS),
        ("InvalidClientTokenId", "AWS does not accept your credentials (InvalidClientTokenId)", EXIT_AWS_ACCESS),
        ("SomethingNew", "AWS refused DescribeStacks (SomethingNew): it broke", EXIT_UNEXPECTED),
    ],
)
def test_client_errors(code: str, expected: str, exit_code: int) -> None:
    error = from_aws(_failing_call("cloudformation", "describe_stacks", code, "it broke"))
    assert expected in str(error)
    assert error.exit_code == exit_code


@pytest.mark.parametrize(
    ("exc", "expected", "exit_code"),
    [
        (NoCredentialsError(), "No AWS credentials found: run `aws configure` or `aws sso login`", EXIT_AWS_ACCESS),
        (ProfileNotFound(profile="prod"), "The AWS profile prod is not in your AWS config", EXIT_AWS_ACCESS),
        (UnauthorizedSSOTokenError(), "run `aws sso login --profile prod`", EXIT_AWS_ACCESS),
        (
            EndpointConnectionError(endpoint_url="https://states.eu-west-9.amazonaws.com/"),
            'Cannot reach AWS (Could not connect to the endpoint URL: "https://states.eu-west-9.amazonaws.com/")',
            EXIT_AWS_UNAVAILABLE,
        ),
    ],
)
def test_sdk_errors(exc: Exception, expected: str, exit_code: int) -> None:
    error = from_aws(exc, profile="prod")
    assert expected in str(error)
    assert error.exit_code == exit_code
