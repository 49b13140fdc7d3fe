"""Reading an environment's status, where "does not exist" is a status like any other."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate.aws import client, error_code, raise_if_transient

AVAILABLE = "AVAILABLE"
DELETED = "DELETED"
# Our word for "GetEnvironment says it does not exist" (MWAA answers ResourceNotFoundException or DELETED).
ABSENT = "ABSENT"
# Statuses from which the environment will not reach AVAILABLE by itself (contracts.md).
FAILED_STATUSES = frozenset({"CREATE_FAILED", "UNAVAILABLE", "UPDATE_FAILED"})


def describe_environment(name: str, *, mwaa: Any = None) -> dict[str, Any] | None:
    """GetEnvironment's Environment object, or None when the environment does not exist (or is DELETED)."""
    try:
        environment = client("mwaa", mwaa).get_environment(Name=name)["Environment"]
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise_if_transient(exc, f"GetEnvironment for {name}")
        raise
    return None if environment.get("Status") == DELETED else environment


def environment_status(name: str, *, mwaa: Any = None) -> str:
    """The environment's status, or ABSENT."""
    environment = describe_environment(name, mwaa=mwaa)
    return ABSENT if environment is None else environment["Status"]


def failure_text(environment: dict[str, Any] | None) -> str:
    """MWAA's own explanation of the last failed change, as one sentence ('' when it gives none)."""
    error = ((environment or {}).get("LastUpdate") or {}).get("Error") or {}
    code, message = error.get("ErrorCode", ""), error.get("ErrorMessage", "")
    if code and message:
        return f"{code}: {message}"
    return code or message
