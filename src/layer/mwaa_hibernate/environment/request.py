"""Rebuild a CreateEnvironment request from a saved GetEnvironment output.

GetEnvironment returns fields CreateEnvironment refuses (read-only ones, nested CloudWatchLogGroupArn,
`aws:` tags), and boto3 rejects unknown keys, so the request is built from an explicit allowlist
(docs/design.md, "What earlier tools taught", with the API reference's links) rather than by deleting what we
know to be wrong.
"""

from __future__ import annotations

import copy
import json
from typing import Any

from mwaa_hibernate.exceptions import EnvironmentConfigurationInvalid

# Every CreateEnvironment input member (botocore mwaa 2020-07-01). Output-only fields are absent on
# purpose: Arn, Status, CreatedAt, LastUpdate, ServiceRoleArn, WebserverUrl, CeleryExecutorQueue,
# DatabaseVpcEndpointService, WebserverVpcEndpointService.
CREATE_ENVIRONMENT_FIELDS = (
    "Name",
    "ExecutionRoleArn",
    "SourceBucketArn",
    "DagS3Path",
    "NetworkConfiguration",
    "PluginsS3Path",
    "PluginsS3ObjectVersion",
    "RequirementsS3Path",
    "RequirementsS3ObjectVersion",
    "StartupScriptS3Path",
    "StartupScriptS3ObjectVersion",
    "AirflowConfigurationOptions",
    "EnvironmentClass",
    "MaxWorkers",
    "MinWorkers",
    "KmsKey",
    "AirflowVersion",
    "LoggingConfiguration",
    "WeeklyMaintenanceWindowStart",
    "Tags",
    "WebserverAccessMode",
    "Schedulers",
    "EndpointManagement",
    "MinWebservers",
    "MaxWebservers",
    "IdentityCenterConfiguration",
    "Teams",
)
REQUIRED_FIELDS = ("Name", "ExecutionRoleArn", "SourceBucketArn", "DagS3Path", "NetworkConfiguration")
# The input shape of each LoggingConfiguration module; the output adds CloudWatchLogGroupArn.
LOGGING_MODULE_FIELDS = ("Enabled", "LogLevel")
NETWORK_FIELDS = ("SubnetIds", "SecurityGroupIds")
# CreateEnvironment refuses these tag keys ("Customers cannot set tag keys starting with aws:").
RESERVED_TAG_PREFIX = "aws:"
# No DAG may run in the recreated environment before the import has restored its history and schedule: its
# metadata database is empty, so every DAG the scheduler parses is new, and new DAGs are created paused only
# while this option is True (Airflow's default, which a saved configuration may have turned off). The restore
# then sets every DAG's paused state, its last runs and next_dagrun in one transaction, so no catch-up starts.
# (A DAG declaring is_paused_upon_creation=False overrides it: docs/design.md, "Runs before the import".)
PAUSED_AT_CREATION = ("core.dags_are_paused_at_creation", "True")


def parse_overrides(text: str | None) -> dict[str, Any]:
    """The user's EnvironmentOverrides parameter as a dict of allowlisted CreateEnvironment fields."""
    if not text or not text.strip():
        return {}
    try:
        overrides = json.loads(text)
    except json.JSONDecodeError as exc:
        raise EnvironmentConfigurationInvalid(
            f"EnvironmentOverrides is not valid JSON ({exc.msg} at character {exc.pos}): fix the stack parameter."
        ) from exc
    if not isinstance(overrides, dict):
        raise EnvironmentConfigurationInvalid("EnvironmentOverrides must be a JSON object: fix the stack parameter.")
    unknown = sorted(set(overrides) - set(CREATE_ENVIRONMENT_FIELDS))
    if unknown:
        raise EnvironmentConfigurationInvalid(
            f"EnvironmentOverrides has fields CreateEnvironment does not accept: {', '.join(unknown)}. "
            f"Allowed: {', '.join(CREATE_ENVIRONMENT_FIELDS[1:])}."
        )
    if "Name" in overrides:
        raise EnvironmentConfigurationInvalid(
            "EnvironmentOverrides cannot change Name: the stack's EnvironmentName is the environment it manages."
        )
    return overrides


def build_create_request(
    saved: dict[str, Any], *, name: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """CreateEnvironment keyword arguments from a saved Environment object and the user's overrides.

    An override value of null removes the field (MWAA then uses its default).
    """
    request: dict[str, Any] = {
        k: copy.deepcopy(saved[k]) for k in CREATE_ENVIRONMENT_FIELDS if saved.get(k) is not None
    }
    request["Name"] = name
    if "LoggingConfiguration" in request:
        request["LoggingConfiguration"] = _logging_input(request["LoggingConfiguration"])
    if "NetworkConfiguration" in request:
        request["NetworkConfiguration"] = {
            k: v for k, v in request["NetworkConfiguration"].items() if k in NETWORK_FIELDS and v
        }
    if "Tags" in request:
        tags = {k: v for k, v in request["Tags"].items() if not k.lower().startswith(RESERVED_TAG_PREFIX)}
        request["Tags"] = tags
    for key, value in (overrides or {}).items():
        if value is None:
            request.pop(key, None)
        else:
            request[key] = copy.deepcopy(value)
    if not request.get("Tags"):
        request.pop("Tags", None)
    option, value = PAUSED_AT_CREATION
    request["AirflowConfigurationOptions"] = {**(request.get("AirflowConfigurationOptions") or {}), option: value}
    _check(request)
    return request


def _logging_input(logging: dict[str, Any]) -> dict[str, Any]:
    modules = {}
    for module, config in logging.items():
        if isinstance(config, dict):
            modules[module] = {k: config[k] for k in LOGGING_MODULE_FIELDS if k in config}
    return modules


def _check(request: dict[str, Any]) -> None:
    missing = [k for k in REQUIRED_FIELDS if not request.get(k)]
    if missing:
        raise EnvironmentConfigurationInvalid(
            f"The saved configuration of {request['Name']} lacks {', '.join(missing)}, which CreateEnvironment "
            "requires: add them through EnvironmentOverrides, or hibernate again from a working environment."
        )
    subnets = request["NetworkConfiguration"].get("SubnetIds") or []
    if len(subnets) != 2:
        raise EnvironmentConfigurationInvalid(
            f"CreateEnvironment needs exactly 2 subnets, the configuration of {request['Name']} has {len(subnets)}: "
            "set NetworkConfiguration through EnvironmentOverrides."
        )
    for module, config in request.get("LoggingConfiguration", {}).items():
        absent = [k for k in LOGGING_MODULE_FIELDS if k not in config]
        if absent:
            raise EnvironmentConfigurationInvalid(
                f"LoggingConfiguration.{module} lacks {', '.join(absent)} (CreateEnvironment requires both "
                "Enabled and LogLevel): set it through EnvironmentOverrides."
            )


def role_name(role_arn: str) -> str:
    """The name of a role from its ARN (arn:aws:iam::<account>:role/<path/>name)."""
    return role_arn.rsplit("/", 1)[-1]


def check_execution_role(request: dict[str, Any], execution_role_name: str) -> None:
    """The stack passes one role to MWAA, the one its ExecutionRoleName names (and iam:PassRole allows only that
    one): refuse a request that would recreate the environment with another role, or any role when none is named."""
    name = request["Name"]
    if not execution_role_name:
        raise EnvironmentConfigurationInvalid(
            f"The stack's ExecutionRoleName parameter is empty, so it may not pass any execution role to MWAA and "
            f"could not recreate {name}. Set ExecutionRoleName to the environment's execution role (the name "
            f"after role/ in {request.get('ExecutionRoleArn', 'its ARN')}) and update the stack."
        )
    if role_name(request["ExecutionRoleArn"]) != execution_role_name:
        raise EnvironmentConfigurationInvalid(
            f"The request would recreate {name} with execution role {request['ExecutionRoleArn']}, but the stack's "
            f"ExecutionRoleName is {execution_role_name}: the stack passes only that role. If the environment "
            "really changed roles, update ExecutionRoleName; otherwise set ExecutionRoleArn through "
            "EnvironmentOverrides."
        )
