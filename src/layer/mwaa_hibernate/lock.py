"""One cycle at a time, for real: a lock object created with a conditional write (docs/design.md, invariant 5).

ListExecutions is eventually consistent, so two executions started together can each miss the other. The lock
is `<environment>/lock.json`, created with If-None-Match: of two preflights, S3 lets exactly one create it.
It names its owner (the execution ARN) and an expiry. A lock is free again once its owner no longer runs
(DescribeExecution of that one ARN) or its expiry has passed; the next preflight then takes it over with
If-Match on the stale lock's ETag, so two takeovers cannot both win either. No state has to release it: an
execution that is stopped by hand, times out or fails outside every catch path could not run a release step,
and its lock is free the moment it ends.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate import layout
from mwaa_hibernate.aws import client, error_code, lost_race, raise_if_transient, write_json
from mwaa_hibernate.exceptions import OverlappingExecution

logger = logging.getLogger(__name__)

# Longer than any execution can run (the longest timeouts of export, creation, import and deletion added up),
# so only a lock whose owner cannot be asked (deleted state machine) ever waits for it.
EXPIRY = timedelta(hours=48)
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


def acquire(
    *,
    environment: str,
    bucket: str,
    execution_arn: str,
    flow: str,
    now: datetime | None = None,
    s3: Any = None,
    sfn: Any = None,
) -> dict[str, Any]:
    """Take the environment's lock for `execution_arn`, or raise OverlappingExecution naming its owner."""
    s3, sfn = client("s3", s3), client("stepfunctions", sfn)
    now = now or datetime.now(UTC)
    key = layout.lock_key(environment)
    lock = {
        "execution_arn": execution_arn,
        "flow": flow,
        "acquired_at": now.strftime(TIME_FORMAT),
        "expires_at": (now + EXPIRY).strftime(TIME_FORMAT),
    }
    for _ in range(3):  # a lost race re-reads the lock once more; a third loss is an overlap
        current, etag = _read(s3, bucket, key)
        if current is not None and current.get("execution_arn") == execution_arn:
            return current  # a retry of our own preflight
        if current is not None and _held(current, now, sfn):
            break
        try:
            if current is None:
                write_json(s3, bucket, key, lock, if_none_match=True)
            else:
                logger.warning("Taking over a stale lock", extra={"stale": current, "environment": environment})
                write_json(s3, bucket, key, lock, if_match=etag)
        except ClientError as exc:
            if lost_race(exc) or error_code(exc) in {"NoSuchKey", "404"}:
                continue
            raise
        return lock
    else:
        current, _ = _read(s3, bucket, key)
    owner = (current or {}).get("execution_arn", "another execution")
    raise OverlappingExecution(
        f"Refusing to {flow} {environment}: {owner} holds the lock of this environment "
        f"(s3://{bucket}/{key}, since {(current or {}).get('acquired_at')}) and is still running. Nothing was "
        "touched. Wait for it to finish (or stop it in the Step Functions console), then run again."
    )


def _read(s3: Any, bucket: str, key: str) -> tuple[dict[str, Any] | None, str | None]:
    import json

    try:
        answer = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in {"NoSuchKey", "404", "NotFound"}:
            return None, None
        raise_if_transient(exc, f"Reading s3://{bucket}/{key}")
        raise
    return json.loads(answer["Body"].read()), answer["ETag"]


def _held(lock: dict[str, Any], now: datetime, sfn: Any) -> bool:
    """Whether the lock's owner still runs (and the lock has not expired)."""
    try:
        expires = datetime.strptime(lock["expires_at"], TIME_FORMAT).replace(tzinfo=UTC)
    except (KeyError, TypeError, ValueError):
        return False
    if now >= expires:
        return False
    try:
        status = sfn.describe_execution(executionArn=lock["execution_arn"])["status"]
    except ClientError as exc:
        if error_code(exc) in {"ExecutionDoesNotExist", "InvalidArn", "StateMachineDoesNotExist"}:
            return False
        raise_if_transient(exc, "DescribeExecution of the lock's owner")
        raise
    return status == "RUNNING"
