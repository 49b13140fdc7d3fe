"""Which deployment a command is about: `--stack NAME` or `--environment NAME`, read from CloudFormation.

Everything a command needs (bucket, state machines, schedules, topic, key) comes from the stack's
Outputs, and the environment from its EnvironmentName parameter: one DescribeStacks call by name, or
one paged scan of the region's stacks to find the stack that manages an environment. The output keys
below are the template's (tests check they are declared there).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Annotated, Any, Literal

import boto3
import typer
from botocore.exceptions import ClientError, NoRegionError
from mwaa_hibernate.aws import error_code

from mwaa_hibernate_cli.errors import CliError, from_aws, remember_calls
from mwaa_hibernate_cli.exits import EXIT_NOT_FOUND, EXIT_USAGE

Flow = Literal["hibernate", "wake"]
FLOWS: tuple[Flow, ...] = ("hibernate", "wake")

ENVIRONMENT_PARAMETER = "EnvironmentName"
# How many snapshots the hibernation keeps; `snapshots prune` applies the same count by default.
SNAPSHOTS_TO_KEEP_PARAMETER = "SnapshotsToKeep"
# Stack outputs, by the Deployment field they fill. The first two mark a stack as one of this app's.
OUTPUTS = {
    "hibernate_state_machine_arn": "HibernateStateMachineArn",
    "wake_state_machine_arn": "WakeStateMachineArn",
    "hibernate_schedule": "HibernateScheduleName",
    "wake_schedule": "WakeScheduleName",
    "bucket": "SnapshotBucketName",
    "alert_topic_arn": "AlertTopicArn",
    "kms_key_arn": "KmsKeyArn",
}
_MARKERS = (OUTPUTS["hibernate_state_machine_arn"], OUTPUTS["wake_state_machine_arn"])
# SAM puts the schedules in the default group: the template sets no GroupName.
SCHEDULE_GROUP = "default"
# The adaptive schedule (docs/adaptive-schedule.md): optional outputs and parameters, absent on older stacks.
ADAPTIVE_OUTPUTS = {"adaptive_group": "ScheduleGroupName", "adaptive_function": "AdaptiveScheduleFunctionName"}
ADAPTIVE_PARAMETERS = {
    "schedule_mode": "ScheduleMode",
    "schedule_timezone": "ScheduleTimezone",
    "keep_awake_windows": "KeepAwakeWindows",
    "wake_lead_minutes": "WakeLeadMinutes",
    "idle_check_minutes": "IdleCheckMinutes",
    "hibernate_expression": "HibernateSchedule",
    "wake_expression": "WakeSchedule",
}

StackOption = Annotated[
    str | None, typer.Option("--stack", help="The mwaa-hibernate stack's name.", show_default=False)
]
EnvironmentOption = Annotated[
    str | None,
    typer.Option("--environment", "-e", help="Find the stack by the MWAA environment it manages.", show_default=False),
]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="AWS region (default: AWS_REGION or the profile's).", show_default=False)
]
ProfileOption = Annotated[
    str | None, typer.Option("--profile", help="AWS profile (default: AWS_PROFILE).", show_default=False)
]


class AwsSession:
    """A boto3 session for one region; its clients record each call so access errors can name the action."""

    def __init__(self, *, region: str | None = None, profile: str | None = None) -> None:
        self.profile = profile
        self._session = boto3.Session(profile_name=profile, region_name=region)
        if not self._session.region_name:
            raise from_aws(NoRegionError(), profile=profile)
        self.region: str = self._session.region_name
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        if service not in self._clients:
            new_client: Callable[..., Any] = self._session.client  # the service is known only at run time
            self._clients[service] = remember_calls(new_client(service))
        return self._clients[service]


@dataclass(frozen=True)
class Deployment:
    """One deployed stack of this app, as the commands need it."""

    stack_name: str
    stack_id: str
    region: str
    environment: str
    hibernate_state_machine_arn: str
    wake_state_machine_arn: str
    hibernate_schedule: str
    wake_schedule: str
    bucket: str
    alert_topic_arn: str
    kms_key_arn: str
    schedule_group: str = SCHEDULE_GROUP
    snapshots_to_keep: int | None = None
    adaptive_group: str | None = None
    adaptive_function: str | None = None
    schedule_mode: str = "FIXED"
    schedule_timezone: str = "UTC"
    keep_awake_windows: str = ""
    wake_lead_minutes: str = "45"
    idle_check_minutes: str = "15"
    hibernate_expression: str = ""
    wake_expression: str = ""

    @property
    def adaptive(self) -> bool:
        return self.schedule_mode == "ADAPTIVE"

    def state_machine_arn(self, flow: Flow) -> str:
        return self.hibernate_state_machine_arn if flow == "hibernate" else self.wake_state_machine_arn

    def schedule_name(self, flow: Flow) -> str:
        return self.hibernate_schedule if flow == "hibernate" else self.wake_schedule

    def selector(self) -> str:
        """The options that select this deployment again, for commands we tell a person to run."""
        return f"--stack {self.stack_name} --region {self.region}"

    def to_json(self) -> dict[str, str]:
        return asdict(self)


def find_deployment(session: AwsSession, *, stack: str | None, environment: str | None) -> Deployment:
    """The deployment named by --stack, or the one stack managing --environment (refuses none or several)."""
    if not stack and not environment:
        raise CliError("Say which deployment: --stack NAME, or --environment NAME to find its stack.", EXIT_USAGE)
    if stack:
        deployment = _from_stack(_describe_stack(session, stack), session.region)
        if environment and deployment.environment != environment:
            raise CliError(
                f"Stack {stack} manages environment {deployment.environment}, not {environment}: "
                "drop one of --stack and --environment, or fix it.",
                EXIT_USAGE,
            )
        return deployment
    return _by_environment(session, environment or "")


def _describe_stack(session: AwsSession, name: str) -> dict[str, Any]:
    try:
        return session.client("cloudformation").describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as exc:
        if error_code(exc) == "ValidationError" and "does not exist" in str(exc):
            raise CliError(
                f"No CloudFormation stack named {name} in {session.region}: check --stack and --region "
                "(`aws cloudformation list-stacks` lists the region's stacks), or use --environment NAME.",
                EXIT_NOT_FOUND,
            ) from exc
        raise


def _by_environment(session: AwsSession, environment: str) -> Deployment:
    paginator = session.client("cloudformation").get_paginator("describe_stacks")
    matches = [
        stack
        for page in paginator.paginate()
        for stack in page.get("Stacks", [])
        if _is_ours(stack) and _parameters(stack).get(ENVIRONMENT_PARAMETER) == environment
    ]
    if not matches:
        raise CliError(
            f"No mwaa-hibernate stack in {session.region} manages environment {environment}: check the name and "
            "--region, or name the stack with --stack.",
            EXIT_NOT_FOUND,
        )
    if len(matches) > 1:
        names = ", ".join(sorted(stack["StackName"] for stack in matches))
        raise CliError(
            f"Several mwaa-hibernate stacks in {session.region} manage environment {environment} ({names}): "
            "pick one with --stack.",
            EXIT_NOT_FOUND,
        )
    return _from_stack(matches[0], session.region)


def _outputs(stack: dict[str, Any]) -> dict[str, str]:
    return {output["OutputKey"]: output.get("OutputValue", "") for output in stack.get("Outputs", [])}


def _parameters(stack: dict[str, Any]) -> dict[str, str]:
    return {item["ParameterKey"]: item.get("ParameterValue", "") for item in stack.get("Parameters", [])}


def _is_ours(stack: dict[str, Any]) -> bool:
    outputs = _outputs(stack)
    return all(outputs.get(key) for key in _MARKERS)


def _from_stack(stack: dict[str, Any], region: str) -> Deployment:
    name = stack["StackName"]
    if not _is_ours(stack):
        raise CliError(
            f"Stack {name} is not an mwaa-hibernate stack, or is still being created (it has no "
            f"{' or '.join(_MARKERS)} output): check --stack.",
            EXIT_NOT_FOUND,
        )
    outputs = _outputs(stack)
    missing = sorted(key for key in OUTPUTS.values() if not outputs.get(key))
    if missing:
        raise CliError(
            f"Stack {name} lacks the outputs {', '.join(missing)}: it was deployed from an older mwaa-hibernate; "
            "deploy the current version over it (sam deploy) and try again.",
            EXIT_NOT_FOUND,
        )
    environment = _parameters(stack).get(ENVIRONMENT_PARAMETER)
    if not environment:
        raise CliError(f"Stack {name} has no {ENVIRONMENT_PARAMETER} parameter: check --stack.", EXIT_NOT_FOUND)
    values = {field: outputs[key] for field, key in OUTPUTS.items()}
    parameters = _parameters(stack)
    keep = parameters.get(SNAPSHOTS_TO_KEEP_PARAMETER, "")
    adaptive = {field: outputs[key] for field, key in ADAPTIVE_OUTPUTS.items() if outputs.get(key)}
    adaptive.update({field: parameters[key] for field, key in ADAPTIVE_PARAMETERS.items() if parameters.get(key)})
    return Deployment(
        stack_name=name,
        stack_id=stack["StackId"],
        region=region,
        environment=environment,
        snapshots_to_keep=int(keep) if keep.isdigit() else None,
        **values,
        **adaptive,
    )


def resolve(
    *, stack: str | None, environment: str | None, region: str | None, profile: str | None
) -> tuple[AwsSession, Deployment]:
    """The session and deployment a command's --stack/--environment/--region/--profile options name."""
    session = AwsSession(region=region, profile=profile)
    return session, find_deployment(session, stack=stack, environment=environment)
