"""Every failure a command can meet, as one sentence that says what to do, and an exit code from `exits`.

AWS errors arrive as botocore exceptions whose text is written for SDK authors ("An error occurred
(AccessDeniedException) when calling the StartExecution operation: ..."). `from_aws` turns them into
what a person needs: what went wrong, and the command or permission that fixes it. S3 says only
"Access Denied", so every client made by `session.AwsSession` records the call it is making, and an
access error names the IAM action from that record.
"""

from __future__ import annotations

import re
from contextvars import ContextVar
from typing import Any

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    CredentialRetrievalError,
    EndpointConnectionError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ProxyConnectionError,
    ReadTimeoutError,
    SSOError,
    TokenRetrievalError,
    UnauthorizedSSOTokenError,
)
from mwaa_hibernate import exceptions
from mwaa_hibernate.aws import TRANSIENT_ERROR_CODES, error_code

from mwaa_hibernate_cli.exits import (
    EXIT_AWS_ACCESS,
    EXIT_AWS_UNAVAILABLE,
    EXIT_DAG_IMPORT_ERROR,
    EXIT_DAG_PARSE_TIMEOUT,
    EXIT_ENVIRONMENT_NOT_READY,
    EXIT_INVALID,
    EXIT_NO_CARRIER,
    EXIT_NOT_FOUND,
    EXIT_UNEXPECTED,
)

ACCESS_DENIED_CODES = frozenset(
    {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "AuthorizationError", "Forbidden", "403"}
)
EXPIRED_CODES = frozenset({"ExpiredToken", "ExpiredTokenException", "RequestExpired", "TokenRefreshRequired"})
INVALID_CREDENTIAL_CODES = frozenset(
    {"InvalidClientTokenId", "UnrecognizedClientException", "InvalidSignatureException", "SignatureDoesNotMatch",
     "InvalidAccessKeyId", "AuthFailure"}
)  # fmt: skip
# API operations whose IAM action has another name.
_IAM_ACTION_OF = {
    "s3:ListObjectsV2": "s3:ListBucket",
    "s3:ListObjectVersions": "s3:ListBucketVersions",
    "s3:HeadObject": "s3:GetObject",
    "s3:DeleteObjects": "s3:DeleteObject",
}
# The package's own errors already say what to do; these pick their exit code (most specific class first).
_DOMAIN_EXIT_CODES: tuple[tuple[type[Exception], int], ...] = (
    (exceptions.EnvironmentNotFound, EXIT_NOT_FOUND),
    (exceptions.SnapshotNotFound, EXIT_NOT_FOUND),
    (exceptions.DagNotFound, EXIT_NOT_FOUND),
    (exceptions.SnapshotVerificationFailed, EXIT_INVALID),
    (exceptions.DagImportFailed, EXIT_DAG_IMPORT_ERROR),
    (exceptions.DagParseTimeout, EXIT_DAG_PARSE_TIMEOUT),
    (exceptions.EnvironmentNotAvailable, EXIT_ENVIRONMENT_NOT_READY),
    (exceptions.UnsupportedAirflowVersion, EXIT_ENVIRONMENT_NOT_READY),
    (exceptions.EnvironmentNeedsUpdate, EXIT_ENVIRONMENT_NOT_READY),
    (exceptions.RestApiCallFailed, EXIT_ENVIRONMENT_NOT_READY),
    (exceptions.TransientAwsError, EXIT_AWS_UNAVAILABLE),
    (exceptions.NoCarrier, EXIT_NO_CARRIER),
    (exceptions.EnvironmentFailed, EXIT_ENVIRONMENT_NOT_READY),
)
_NOT_AUTHORIZED = re.compile(r"not authorized to perform:? ([A-Za-z0-9-]+:[A-Za-z0-9*]+)")
_LAST_CALL: ContextVar[str | None] = ContextVar("mwaa_hibernate_cli_last_call", default=None)


class CliError(Exception):
    """A failure explained for a person; the command prints the message and exits with `exit_code`."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def remember_calls(client: Any) -> Any:
    """Record each call's IAM action (service prefix and operation) before it is made, for `from_aws`."""

    def record(model: Any, **_: Any) -> None:
        action = f"{model.service_model.signing_name}:{model.name}"
        _LAST_CALL.set(_IAM_ACTION_OF.get(action, action))

    client.meta.events.register("before-parameter-build", record)
    return client


def _denied_action(exc: ClientError) -> str:
    match = _NOT_AUTHORIZED.search(exc.response.get("Error", {}).get("Message", ""))
    return match.group(1) if match else (_LAST_CALL.get() or exc.operation_name)


def from_domain(exc: exceptions.MwaaHibernateError) -> CliError:
    """The package's own error (its message is already a sentence for a person) with its exit code."""
    code = next((code for kind, code in _DOMAIN_EXIT_CODES if isinstance(exc, kind)), EXIT_UNEXPECTED)
    return CliError(str(exc), code)


def from_aws(exc: Exception, *, profile: str | None = None) -> CliError:
    """The sentence and exit code for an AWS (botocore) error."""
    login = f"aws sso login --profile {profile}" if profile else "aws sso login"
    if isinstance(exc, ProfileNotFound):
        return CliError(
            f"The AWS profile {profile or ''!s} is not in your AWS config: check --profile or AWS_PROFILE "
            "(`aws configure list-profiles` lists them).",
            EXIT_AWS_ACCESS,
        )
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return CliError(
            "No AWS credentials found: run `aws configure` or `aws sso login`, set AWS_PROFILE, or pass --profile.",
            EXIT_AWS_ACCESS,
        )
    if isinstance(exc, UnauthorizedSSOTokenError | TokenRetrievalError | SSOError | CredentialRetrievalError):
        return CliError(
            f"Your AWS login has expired or cannot be refreshed: run `{login}` and try again.", EXIT_AWS_ACCESS
        )
    if isinstance(exc, NoRegionError):
        return CliError(
            "No AWS region: pass --region, or set AWS_REGION (or a region in your profile).", EXIT_AWS_ACCESS
        )
    if isinstance(exc, EndpointConnectionError | ProxyConnectionError | ConnectTimeoutError):
        return CliError(
            f"Cannot reach AWS ({exc}). Check your network or proxy and the region name, then try again.",
            EXIT_AWS_UNAVAILABLE,
        )
    if isinstance(exc, ReadTimeoutError | ConnectionClosedError):
        return CliError(f"AWS did not answer in time ({exc}); try again in a minute.", EXIT_AWS_UNAVAILABLE)
    if isinstance(exc, ClientError):
        return _from_client_error(exc, login)
    if isinstance(exc, BotoCoreError):
        return CliError(f"The AWS SDK failed: {exc}", EXIT_UNEXPECTED)
    return CliError(str(exc), EXIT_UNEXPECTED)


def _from_client_error(exc: ClientError, login: str) -> CliError:
    code = error_code(exc)
    message = exc.response.get("Error", {}).get("Message", "") or code
    if code in ACCESS_DENIED_CODES:
        action = _denied_action(exc)
        return CliError(
            f"Access denied: your AWS identity may not call {action}. Ask for that permission (docs/operating.md, "
            f"'What the commands need in IAM', lists them), or use a profile that has it. AWS said: {message}",
            EXIT_AWS_ACCESS,
        )
    if code in EXPIRED_CODES:
        return CliError(
            f"Your AWS credentials have expired: run `{login}` or refresh them, then try again.", EXIT_AWS_ACCESS
        )
    if code in INVALID_CREDENTIAL_CODES:
        return CliError(
            f"AWS does not accept your credentials ({code}): check the access key or profile in use "
            "(`aws sts get-caller-identity` shows who you are).",
            EXIT_AWS_ACCESS,
        )
    if code in TRANSIENT_ERROR_CODES:
        return CliError(
            f"AWS is throttling or temporarily failing {exc.operation_name} ({code}); try again in a minute.",
            EXIT_AWS_UNAVAILABLE,
        )
    return CliError(f"AWS refused {exc.operation_name} ({code}): {message}", EXIT_UNEXPECTED)
