"""Small helpers shared by every module that calls AWS: lazy clients and error translation."""

from __future__ import annotations

import json
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
    return given if given is not None else boto3.client(service)


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


def write_json(s3: Any, bucket: str, key: str, document: Any) -> None:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    except ClientError as exc:
        raise_if_transient(exc, f"Writing s3://{bucket}/{key}")
        raise
