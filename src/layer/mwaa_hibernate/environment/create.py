"""Recreate an environment from the configuration saved in a snapshot folder."""

from __future__ import annotations

import logging
from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate import snapshots
from mwaa_hibernate.aws import client, error_code, raise_if_transient
from mwaa_hibernate.environment.request import build_create_request, check_execution_role, parse_overrides
from mwaa_hibernate.exceptions import EnvironmentConfigurationInvalid

logger = logging.getLogger(__name__)


def saved_request(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    overrides: str,
    execution_role_name: str,
    configuration_sha256: str | None = None,
    s3: Any = None,
) -> dict[str, Any]:
    """The CreateEnvironment request a wake sends: the saved configuration, only if it is byte for byte the one
    the stack saved (`configuration_sha256`, by default the digest the latest pointer records), with the stack's
    own overrides, passing only the role the stack may pass (docs/design.md, invariant 9). The hibernation's
    check before the delete (`recreatable`) builds it with this same function."""
    if configuration_sha256 is None:
        configuration_sha256 = snapshots.latest_configuration_sha256(
            environment=environment, snapshot_id=snapshot_id, bucket=bucket, s3=s3
        )
    saved = snapshots.load_configuration(
        environment=environment,
        snapshot_id=snapshot_id,
        bucket=bucket,
        expected_sha256=configuration_sha256,
        s3=s3,
    )
    request = build_create_request(saved, name=environment, overrides=parse_overrides(overrides))
    check_execution_role(request, execution_role_name)
    return request


def create_environment(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    overrides: str = "",
    execution_role_name: str = "",
    mwaa: Any = None,
    s3: Any = None,
) -> dict[str, Any]:
    """Call CreateEnvironment with the saved configuration and the user's overrides; return the new ARN.

    Done here rather than in the state machine so AirflowConfigurationOptions (which may hold secrets)
    never appear in the execution history.
    """
    request = saved_request(
        environment=environment,
        snapshot_id=snapshot_id,
        bucket=bucket,
        overrides=overrides,
        execution_role_name=execution_role_name,
        s3=s3,
    )
    try:
        arn = client("mwaa", mwaa).create_environment(**request)["Arn"]
    except ClientError as exc:
        raise_if_transient(exc, f"CreateEnvironment for {environment}")
        if error_code(exc) == "ValidationException":
            raise EnvironmentConfigurationInvalid(
                f"MWAA refused to create {environment}: {exc.response['Error'].get('Message', exc)}. Fix the "
                "cause (or set EnvironmentOverrides), then run the wake again; the snapshot is untouched."
            ) from exc
        raise
    logger.info("CreateEnvironment accepted", extra={"environment": environment, "fields": sorted(request)})
    return {"arn": arn}
