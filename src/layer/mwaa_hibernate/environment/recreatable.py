"""Never delete an environment that cannot be recreated (docs/design.md, invariant 8).

Before the export (so before the delete), the CreateEnvironment request a wake would send is built exactly as
the create function builds it (`create.saved_request`: the saved configuration with its recorded digest, the
stack's overrides, the role the stack may pass) and checked with read-only calls: the execution role, the
subnets and security groups exist (two subnets, one VPC, two Availability Zones), the source bucket and the
plugins, requirements and startup-script object versions it names exist, and MWAA still creates environments
on its Airflow version (`airflow_support`). Anything missing refuses the hibernation with what to fix; the
environment is kept.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import Any

from botocore.exceptions import ClientError

from mwaa_hibernate import airflow_support
from mwaa_hibernate.aws import client, error_code, raise_if_transient
from mwaa_hibernate.environment.create import saved_request
from mwaa_hibernate.environment.request import role_name
from mwaa_hibernate.exceptions import EnvironmentCannotBeRecreated, MwaaHibernateError

logger = logging.getLogger(__name__)

# (path field, version field) of the objects CreateEnvironment names in the source bucket.
SOURCE_OBJECTS = (
    ("PluginsS3Path", "PluginsS3ObjectVersion"),
    ("RequirementsS3Path", "RequirementsS3ObjectVersion"),
    ("StartupScriptS3Path", "StartupScriptS3ObjectVersion"),
)
_NOT_FOUND = {"NoSuchEntity", "404", "NoSuchKey", "NotFound", "NoSuchBucket", "NoSuchVersion"}


def check_recreatable(
    *,
    environment: str,
    snapshot_id: str,
    bucket: str,
    configuration_sha256: str,
    overrides: str,
    execution_role_name: str,
    today: date | None = None,
    s3: Any = None,
    iam: Any = None,
    ec2: Any = None,
) -> dict[str, Any]:
    """Return {"recreatable": True, "warnings": [...]}; raise EnvironmentCannotBeRecreated listing every problem."""
    try:
        request = saved_request(
            environment=environment,
            snapshot_id=snapshot_id,
            bucket=bucket,
            overrides=overrides,
            execution_role_name=execution_role_name,
            configuration_sha256=configuration_sha256,
            s3=s3,
        )
    except MwaaHibernateError as exc:
        raise EnvironmentCannotBeRecreated(f"{_refusal(environment)} {exc}") from exc
    problems: list[str] = []
    warnings: list[str] = []
    version = request.get("AirflowVersion", "")
    supported = airflow_support.support(version, today or datetime.now(UTC).date())
    if not supported.creatable:
        problems.append(supported.reason or f"Airflow {version} cannot be created")
    if supported.warning:
        warnings.append(supported.warning)
    problems += _role_problems(request, client("iam", iam))
    problems += _network_problems(request, client("ec2", ec2))
    problems += _source_problems(request, client("s3", s3))
    if problems:
        raise EnvironmentCannotBeRecreated(
            f"{_refusal(environment)} "
            + " ".join(f"({n}) {p}" for n, p in enumerate(problems, 1))
            + " Fix these (EnvironmentOverrides can change what the saved configuration names), then hibernate again."
        )
    logger.info("The environment can be recreated", extra={"environment": environment, "warnings": warnings})
    return {"recreatable": True, "warnings": warnings, "airflow_version": version}


def _refusal(environment: str) -> str:
    return (
        f"Refusing to hibernate {environment}: a wake could not recreate it from its saved configuration, so it is "
        "kept (nothing was paused or deleted)."
    )


def _missing(exc: ClientError, what: str) -> str:
    raise_if_transient(exc, f"Checking {what}")
    if error_code(exc) in _NOT_FOUND or error_code(exc).endswith(".NotFound") or error_code(exc).endswith(".Malformed"):
        return f"{what} does not exist."
    return f"{what} cannot be checked ({error_code(exc)}: {exc.response.get('Error', {}).get('Message', '')})."


def _role_problems(request: dict[str, Any], iam: Any) -> list[str]:
    arn = request["ExecutionRoleArn"]
    try:
        iam.get_role(RoleName=role_name(arn))
    except ClientError as exc:
        return [_missing(exc, f"The execution role {arn}")]
    return []


def _network_problems(request: dict[str, Any], ec2: Any) -> list[str]:
    network = request["NetworkConfiguration"]
    subnet_ids, groups = network.get("SubnetIds", []), network.get("SecurityGroupIds", [])
    problems = []
    try:
        subnets = ec2.describe_subnets(SubnetIds=subnet_ids)["Subnets"]
    except ClientError as exc:
        problems.append(_missing(exc, f"A subnet of {', '.join(subnet_ids)}"))
    else:
        if len({s["VpcId"] for s in subnets}) != 1:
            problems.append(f"The subnets {', '.join(subnet_ids)} are not in one VPC, as MWAA requires.")
        if len({s["AvailabilityZone"] for s in subnets}) != len(subnet_ids):
            problems.append(f"The subnets {', '.join(subnet_ids)} are not in different Availability Zones.")
    if groups:
        try:
            ec2.describe_security_groups(GroupIds=groups)
        except ClientError as exc:
            problems.append(_missing(exc, f"A security group of {', '.join(groups)}"))
    return problems


def _source_problems(request: dict[str, Any], s3: Any) -> list[str]:
    """The source bucket and the object versions the request names, read as metadata only (ListObjectVersions:
    the function may list versions in the account's buckets, never read an object)."""
    source = request["SourceBucketArn"].rsplit(":", 1)[-1]
    problems = []
    try:
        s3.list_object_versions(Bucket=source, MaxKeys=1)
    except ClientError as exc:
        return [_missing(exc, f"The source bucket {source}")]
    for path_field, version_field in SOURCE_OBJECTS:
        key = request.get(path_field)
        if not key:
            continue
        version = request.get(version_field)
        what = f"s3://{source}/{key}" + (f" version {version}" if version else "")
        try:
            found = _versions(s3, source, key)
        except ClientError as exc:
            problems.append(_missing(exc, f"{what} ({path_field})"))
            continue
        if (version and version not in found["versions"]) or (not version and not found["current"]):
            problems.append(f"{what} ({path_field}) does not exist.")
    return problems


def _versions(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    """The version ids of exactly `key`, and whether its current version is an object (not a delete marker)."""
    versions: set[str] = set()
    current = False
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key):
        for item in page.get("Versions", []):
            if item["Key"] == key:
                versions.add(item["VersionId"])
                current = current or item.get("IsLatest", False)
    return {"versions": versions, "current": current}
