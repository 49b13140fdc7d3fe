"""Fixtures for executing the real state machines in moto, with the real handlers and an MWAA double.

moto runs, and the stack is deployed, once per test module (creating state machines is the slow part;
module scope because other suites start their own moto and must not inherit this one's settings, such
as execute_state_machine, nor the MWAA double's botocore hook). Each test then starts from a clean
slate: an empty bucket and alert queue, no running executions, and an AVAILABLE environment with a few
DAGs (some paused, some not) whose hibernation DAGs succeed unless the test scripts otherwise.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from dag_simulation import DagSimulation
from moto import mock_aws
from mwaa_double import MwaaDouble, default_config
from mwaa_hibernate_sandbox.moto_patches import LambdaRouter, patched_moto
from mwaa_hibernate_sandbox.moto_stack import DEFAULT_STACK_NAME, DeployedStack, deploy_stack
from mwaa_hibernate_sandbox.template import SamTemplate
from world import ENVIRONMENT, EXECUTION_ROLE, EXPORT_DAG, HIBERNATION_DAGS, IMPORT_DAG, USER_DAGS, World


@pytest.fixture(scope="session")
def template() -> SamTemplate:
    return SamTemplate.load()


@pytest.fixture(scope="module")
def mwaa_double() -> Iterator[MwaaDouble]:
    double = MwaaDouble()
    with double.installed():
        yield double


@pytest.fixture(scope="module")
def moto_router(mwaa_double: MwaaDouble) -> Iterator[LambdaRouter]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}), patched_moto() as router:
        yield router


class Stacks:
    """Stacks deployed into the session's moto, one per distinct set of parameter overrides."""

    def __init__(self, template: SamTemplate, region: str) -> None:
        self.template = template
        self.region = region
        self._deployed: dict[tuple[tuple[str, str], ...], DeployedStack] = {}

    def get(self, overrides: dict[str, Any]) -> DeployedStack:
        key = tuple(sorted((name, str(value)) for name, value in overrides.items()))
        stack = self._deployed.get(key)
        if stack is None or not self._still_there(stack):
            name = DEFAULT_STACK_NAME if not key else f"{DEFAULT_STACK_NAME}-{len(self._deployed)}"
            stack = deploy_stack(
                template=self.template,
                # The double's environments run as <name>-execution (mwaa_double): the role the stack may pass.
                parameter_overrides={"EnvironmentName": ENVIRONMENT, "ExecutionRoleName": EXECUTION_ROLE, **overrides},
                stack_name=name,
                region=self.region,
            )
            self._deployed[key] = stack
        return stack

    def _still_there(self, stack: DeployedStack) -> bool:
        """Another test's mock_aws start resets moto's backends; redeploy then."""
        import boto3

        machines = boto3.client("stepfunctions", region_name=self.region).list_state_machines()["stateMachines"]
        return stack.state_machine_arn("hibernate") in {machine["stateMachineArn"] for machine in machines}


@pytest.fixture(scope="module")
def stacks(template: SamTemplate, moto_router: LambdaRouter) -> Stacks:
    return Stacks(template, os.environ["AWS_DEFAULT_REGION"])


def _empty_bucket(world: World) -> None:
    s3 = world.client("s3")
    listing = s3.list_object_versions(Bucket=world.stack.bucket)
    doomed = [
        {"Key": item["Key"], "VersionId": item["VersionId"]}
        for item in [*listing.get("Versions", []), *listing.get("DeleteMarkers", [])]
    ]
    if doomed:
        s3.delete_objects(Bucket=world.stack.bucket, Delete={"Objects": doomed})


def _alert_queue(world: World) -> str:
    sqs = world.client("sqs")
    name = f"{world.stack.stack_name}-alerts"
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns = world.client("sns")
    subscribed = sns.list_subscriptions_by_topic(TopicArn=world.stack.topic_arn)["Subscriptions"]
    if not any(sub["Endpoint"] == arn for sub in subscribed):
        sns.subscribe(TopicArn=world.stack.topic_arn, Protocol="sqs", Endpoint=arn)
    return url


def _recreatable_config(world: World) -> dict[str, Any]:
    """The double's default configuration, naming an execution role, subnets, a security group and a source bucket
    that exist in moto, so the hibernation's check that a wake could recreate the environment passes (invariant 8)."""
    config = default_config(ENVIRONMENT, world.region)
    iam = world.client("iam")
    role = config["ExecutionRoleArn"].rsplit("/", 1)[-1]
    with contextlib.suppress(iam.exceptions.EntityAlreadyExistsException):
        iam.create_role(RoleName=role, AssumeRolePolicyDocument=json.dumps({"Statement": []}))
    ec2 = world.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.0.{i}.0/24", AvailabilityZone=f"{world.region}{zone}")["Subnet"]
        for i, zone in enumerate("ab")
    ]
    group = ec2.create_security_group(GroupName=f"mwaa-{vpc}", Description="mwaa", VpcId=vpc)["GroupId"]
    config["NetworkConfiguration"] = {"SubnetIds": [s["SubnetId"] for s in subnets], "SecurityGroupIds": [group]}
    source = config["SourceBucketArn"].rsplit(":", 1)[-1]
    s3 = world.client("s3")
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou):
        s3.create_bucket(Bucket=source, CreateBucketConfiguration={"LocationConstraint": world.region})
    return config


@pytest.fixture
def make_world(
    stacks: Stacks, moto_router: LambdaRouter, mwaa_double: MwaaDouble, template: SamTemplate
) -> Iterator[Callable[..., World]]:
    """``make_world(**parameter_overrides)``: a clean World on the stack deployed with those parameters."""
    worlds: list[World] = []

    def make(**parameter_overrides: Any) -> World:
        stack = stacks.get(parameter_overrides)
        mwaa_double.reset()
        world = World(
            stack=stack,
            mwaa=mwaa_double,
            router=moto_router,
            dags=DagSimulation(region=stacks.region),
            environment=ENVIRONMENT,
            region=stacks.region,
            events_dir=template.root / "events",
        )
        world.stop_running()
        moto_router.logs.clear()  # the metrics earlier tests' functions logged
        _empty_bucket(world)
        world.alert_queue_url = _alert_queue(world)
        world.alerts()  # drain what earlier tests left
        world._alerts.clear()
        mwaa_double.add_environment(
            ENVIRONMENT,
            dags={**USER_DAGS, **HIBERNATION_DAGS},
            region=stacks.region,
            config=_recreatable_config(world),
        )
        mwaa_double.dag_ids_for_new_environments = (*USER_DAGS, *HIBERNATION_DAGS)
        mwaa_double.on_trigger(EXPORT_DAG, world.dags.export("success"))
        mwaa_double.on_trigger(IMPORT_DAG, world.dags.import_("success"))
        worlds.append(world)
        return world

    yield make
    for world in worlds:
        world.stop_running()
        for thread in world.dags.threads:
            thread.join(5)


@pytest.fixture
def world(make_world: Callable[..., World]) -> World:
    return make_world()
