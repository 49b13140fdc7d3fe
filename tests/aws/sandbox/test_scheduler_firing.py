"""The sandbox fires EventBridge Scheduler's schedules (moto keeps them but never fires them), strictly when due."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import boto3
from moto import mock_aws
from mwaa_hibernate_sandbox.scheduler import ScheduleFirer

REGION = "us-east-1"
ROLE = "arn:aws:iam::123456789012:role/start"


def test_one_time_schedules_fire_once_when_due_and_are_deleted_rate_schedules_on_the_scaled_clock() -> None:
    with mock_aws():
        sfn = boto3.client("stepfunctions", region_name=REGION)
        definition = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})
        machine = sfn.create_state_machine(name="wake", definition=definition, roleArn=ROLE)["stateMachineArn"]
        scheduler = boto3.client("scheduler", region_name=REGION)
        scheduler.create_schedule_group(Name="stack")
        due = datetime(2026, 12, 1, 8, 30, tzinfo=UTC)
        common = {"GroupName": "stack", "FlexibleTimeWindow": {"Mode": "OFF"}}
        target = {"Arn": machine, "RoleArn": ROLE, "Input": '{"trigger": "adaptive"}'}
        scheduler.create_schedule(
            Name="adaptive-wake", ScheduleExpression="at(2026-12-01T08:30:00)", ScheduleExpressionTimezone="UTC",
            ActionAfterCompletion="DELETE", Target=target, **common,
        )  # fmt: skip
        scheduler.create_schedule(Name="idle-check", ScheduleExpression="rate(15 minutes)", Target=target, **common)
        scheduler.create_schedule(
            Name="fixed", ScheduleExpression="cron(0 8 * * ? *)", Target=target, FlexibleTimeWindow={"Mode": "OFF"}
        )
        firer = ScheduleFirer(clients=lambda service: boto3.client(service, region_name=REGION), scale=1 / 900)

        assert firer.tick(due - timedelta(seconds=1)) == []  # not due yet; the rate's first period (1 s) runs
        fired = firer.tick(due)

        assert [(f.name, f.due) for f in fired] == [("adaptive-wake", due)]
        execution = sfn.describe_execution(executionArn=fired[0].execution_arn)
        assert json.loads(execution["input"]) == {"trigger": "adaptive"}
        names = [s["Name"] for s in scheduler.list_schedules(GroupName="stack")["Schedules"]]
        assert names == ["idle-check"]  # ActionAfterCompletion DELETE
        time.sleep(1.1)
        assert [f.name for f in firer.tick(due + timedelta(hours=1))] == ["idle-check"]  # cron is never fired
        assert firer.tick(due + timedelta(hours=1)) == []  # the next period has not passed
