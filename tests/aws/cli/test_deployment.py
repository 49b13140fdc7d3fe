"""Finding a deployment by stack name or by the environment it manages, among stacks in moto's CloudFormation."""

from __future__ import annotations

import json
from typing import Any

import boto3
import pytest
from mwaa_hibernate_cli.deployment import OUTPUTS, SCHEDULE_GROUP, AwsSession, find_deployment
from mwaa_hibernate_cli.errors import CliError
from mwaa_hibernate_cli.exits import EXIT_AWS_ACCESS, EXIT_NOT_FOUND, EXIT_USAGE
from mwaa_hibernate_sandbox.template import SamTemplate


def test_every_output_the_cli_reads_is_declared_by_the_template(template: SamTemplate) -> None:
    declared = template.document["Outputs"]
    assert set(OUTPUTS.values()) <= set(declared)
    assert "EnvironmentName" in template.parameters


def test_schedules_are_named_after_the_stack_in_the_default_group(template: SamTemplate) -> None:
    """Two stacks in one region must not collide on schedule names; the CLI reads them from the default group."""
    events = [
        event["Properties"]
        for machine in template.state_machines.values()
        for event in machine.properties.get("Events", {}).values()
        if event["Type"] == "ScheduleV2"
    ]
    assert len(events) == 2
    for properties in events:
        assert "${AWS::StackName}" in properties["Name"]["Fn::Sub"]
        assert "GroupName" not in properties, f"the CLI assumes the {SCHEDULE_GROUP} group"


def test_found_by_stack_name_with_every_physical_id(deploy: Any, region: str) -> None:
    stack = deploy("ops-analytics", "analytics")
    deployment = find_deployment(AwsSession(region=region), stack="ops-analytics", environment=None)

    assert deployment.environment == "analytics"
    assert deployment.bucket == stack.bucket
    assert deployment.hibernate_state_machine_arn == stack.state_machine_arn("hibernate")
    assert deployment.wake_state_machine_arn == stack.state_machine_arn("wake")
    assert deployment.alert_topic_arn == stack.topic_arn
    assert deployment.kms_key_arn == stack.kms_key_arn
    scheduler = boto3.client("scheduler", region_name=region)
    for flow in ("hibernate", "wake"):
        schedule = scheduler.get_schedule(Name=deployment.schedule_name(flow), GroupName=deployment.schedule_group)
        assert schedule["Target"]["Arn"] == deployment.state_machine_arn(flow)


def test_found_by_environment(deploy: Any, region: str) -> None:
    deploy("ops-analytics", "analytics")
    deploy("ops-finance", "finance")
    deployment = find_deployment(AwsSession(region=region), stack=None, environment="finance")
    assert deployment.stack_name == "ops-finance"
    assert deployment.selector() == f"--stack ops-finance --region {region}"


def test_stack_and_environment_must_agree(deploy: Any, region: str) -> None:
    deploy("ops-analytics", "analytics")
    assert find_deployment(AwsSession(region=region), stack="ops-analytics", environment="analytics")
    with pytest.raises(CliError) as caught:
        find_deployment(AwsSession(region=region), stack="ops-analytics", environment="finance")
    assert caught.value.exit_code == EXIT_USAGE
    assert "manages environment analytics, not finance" in str(caught.value)


def test_no_stack_by_that_name(moto: None, region: str) -> None:
    with pytest.raises(CliError) as caught:
        find_deployment(AwsSession(region=region), stack="nope", environment=None)
    assert caught.value.exit_code == EXIT_NOT_FOUND
    assert f"No CloudFormation stack named nope in {region}" in str(caught.value)


def test_no_stack_manages_that_environment(deploy: Any, region: str) -> None:
    deploy("ops-analytics", "analytics")
    with pytest.raises(CliError) as caught:
        find_deployment(AwsSession(region=region), stack=None, environment="marketing")
    assert caught.value.exit_code == EXIT_NOT_FOUND
    assert f"No mwaa-hibernate stack in {region} manages environment marketing" in str(caught.value)


def test_several_stacks_manage_the_environment(deploy: Any, region: str) -> None:
    deploy("ops-sales-a", "sales")
    deploy("ops-sales-b", "sales")
    with pytest.raises(CliError) as caught:
        find_deployment(AwsSession(region=region), stack=None, environment="sales")
    assert caught.value.exit_code == EXIT_NOT_FOUND
    assert "(ops-sales-a, ops-sales-b): pick one with --stack" in str(caught.value)


@pytest.mark.filterwarnings("ignore:Tried to parse .*WaitConditionHandle:UserWarning")
def test_a_stack_of_another_app_is_not_taken_for_ours(moto: None, region: str) -> None:
    body = {
        "Parameters": {"EnvironmentName": {"Type": "String"}},
        "Resources": {"Nothing": {"Type": "AWS::CloudFormation::WaitConditionHandle"}},
    }
    boto3.client("cloudformation", region_name=region).create_stack(
        StackName="someone-elses",
        TemplateBody=json.dumps(body),
        Parameters=[{"ParameterKey": "EnvironmentName", "ParameterValue": "payroll"}],
    )
    with pytest.raises(CliError) as caught:
        find_deployment(AwsSession(region=region), stack="someone-elses", environment=None)
    assert "is not an mwaa-hibernate stack" in str(caught.value)
    with pytest.raises(CliError, match=r"No mwaa-hibernate stack .* manages environment payroll"):
        find_deployment(AwsSession(region=region), stack=None, environment="payroll")


def test_neither_option_says_what_to_pass(moto: None, region: str) -> None:
    with pytest.raises(CliError, match=r"--stack NAME, or --environment NAME") as caught:
        find_deployment(AwsSession(region=region), stack=None, environment=None)
    assert caught.value.exit_code == EXIT_USAGE


def test_no_region_anywhere(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    with pytest.raises(CliError, match="No AWS region: pass --region") as caught:
        AwsSession()
    assert caught.value.exit_code == EXIT_AWS_ACCESS
