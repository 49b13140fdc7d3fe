"""Small helpers shared by every module that calls AWS: lazy clients and error translation."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
from botocore.exceptions import ClientError

from mwaa_hibernate.exceptions import TransientAwsError

# Error codes that mean "try again later", whatever the service; the state machines retry TransientAwsError.
TRANSIENT_ERROR_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "SlowDown",
        "InternalServerException",
        "InternalError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "KMSInternalException",
    }
)


def client(service: str, given: Any = None) -> Any:
    """The injected client if there is one, else a new default client (never built at import time)."""
    if given is not None:
        return given
    new_client: Callable[..., Any] = boto3.client  # the service is known only at run time (the stubs want literals)
    return new_client(service)


def error_code(exc: ClientError) -> str:
    return exc.response.get("Error", {}).get("Code", "")


def raise_if_transient(exc: ClientError, what: str) -> None:
    """Turn a throttling or server-side error into TransientAwsError so the state machine retries."""
    if error_code(exc) in TRANSIENT_ERROR_CODES:
        raise TransientAwsError(f"{what} failed temporarily ({error_code(exc)}); retrying is safe.") from exc


def read_json(s3: Any, bucket: str, key: str) -> Any | None:
    """A JSON object from S3, or None when the key does not exist."""
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
            return None
        raise_if_transient(exc, f"Reading s3://{bucket}/{key}")
        raise
    return json.loads(body)


def json_bytes(document: Any) -> bytes:
    """How every JSON document the stack writes is serialised (its sha256 is taken over these bytes)."""
    return json.dumps(document, indent=2, sort_keys=True, default=str).encode()


def write_json(
    s3: Any, bucket: str, key: str, document: Any, *, if_none_match: bool = False, if_match: str | None = None
) -> str:
    """Write a JSON document; return the stored object's ETag.

    `if_none_match` creates the object only if the key holds none (S3 conditional write); `if_match`
    replaces it only if its ETag is still the one read before. Either way a lost race raises
    ClientError with code PreconditionFailed (or ConditionalRequestConflict), and nothing is written.
    """
    conditions: dict[str, str] = {}
    if if_none_match:
        conditions["IfNoneMatch"] = "*"
    if if_match is not None:
        conditions["IfMatch"] = if_match
    try:
        return s3.put_object(
            Bucket=bucket, Key=key, Body=json_bytes(document), ContentType="application/json", **conditions
        )["ETag"]
    except ClientError as exc:
        raise_if_transient(exc, f"Writing s3://{bucket}/{key}")
        raise


# S3's answers to a conditional write that lost (https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html):
# 412 when the condition does not hold, 409 when a concurrent write to the key won meanwhile.
PRECONDITION_FAILED = frozenset({"PreconditionFailed", "ConditionalRequestConflict"})


def lost_race(exc: ClientError) -> bool:
    return error_code(exc) in PRECONDITION_FAILED
