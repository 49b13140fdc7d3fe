"""The adaptive schedule's resources follow ScheduleMode and WakeEventPattern (FIXED and no rule by default)."""

from __future__ import annotations

import json
from typing import Any

from mwaa_hibernate_sandbox.moto_stack import nominal_physical
from mwaa_hibernate_sandbox.template import SamTemplate

PATTERN = '{"source": ["aws.s3"], "detail-type": ["Object Created"], "detail": {"bucket": {"name": ["landing"]}}}'


def deployed(template: SamTemplate, **parameters: str) -> tuple[Any, dict[str, Any]]:
    overrides = {"EnvironmentName": "analytics", **parameters}
    physical = nominal_physical(template=template, parameter_overrides=overrides, region="eu-west-1")
    resolver = template.resolver(
        physical=physical, parameter_values=overrides, region="eu-west-1", stack_name="mwaa-hibernate"
    )
    return resolver, physical


def fixed_states(template: SamTemplate, resolver: Any) -> set[str]:
    return {resolver.resolve(dict(s.properties))["State"] for s in template.schedules.values()}


def test_fixed_is_the_default_with_no_idle_check_and_no_event_rule(template: SamTemplate) -> None:
    resolver, physical = deployed(template)
    assert fixed_states(template, resolver) == {"ENABLED"}
    assert not resolver.is_deployed("IdleCheckSchedule") and not resolver.is_deployed("WakeOnEventRule")
    assert resolver.is_deployed("AdaptiveScheduleGroup")  # overrides use its one-time schedules in both modes
    assert physical["AdaptiveScheduleGroup"].ref == "mwaa-hibernate"


def test_adaptive_disables_the_fixed_pair_and_checks_idleness_on_a_rate(template: SamTemplate) -> None:
    resolver, physical = deployed(template, ScheduleMode="ADAPTIVE", IdleCheckMinutes="10")
    assert fixed_states(template, resolver) == {"DISABLED"}
    check = resolver.resolve(template.resources["IdleCheckSchedule"]["Properties"])
    assert resolver.is_deployed("IdleCheckSchedule")
    assert check["ScheduleExpression"] == "rate(10 minutes)" and check["GroupName"] == "mwaa-hibernate"
    assert check["Target"]["Arn"] == physical["IdleCheckFunction"].attributes["Arn"]
    assert check["Target"]["RoleArn"] == physical["AdaptiveStartRole"].attributes["Arn"]


def test_a_wake_event_pattern_makes_a_rule_that_starts_the_wake(template: SamTemplate) -> None:
    resolver, physical = deployed(template, WakeEventPattern=PATTERN)
    assert resolver.is_deployed("WakeOnEventRule")
    rule = resolver.resolve(template.resources["WakeOnEventRule"]["Properties"])
    assert json.loads(rule["EventPattern"]) == json.loads(PATTERN)
    (target,) = rule["Targets"]
    assert target["Arn"] == physical["WakeStateMachine"].ref and json.loads(target["Input"]) == {"trigger": "event"}


def test_the_functions_get_the_adaptive_settings(template: SamTemplate) -> None:
    resolver, _ = deployed(template, ScheduleMode="ADAPTIVE", KeepAwakeWindows="MON-FRI 08:00-18:00")
    variables = resolver.resolve(dict(template.functions["AdaptiveScheduleFunction"].environment))
    assert variables["SCHEDULE_MODE"] == "ADAPTIVE" and variables["KEEP_AWAKE_WINDOWS"] == "MON-FRI 08:00-18:00"
    assert variables["SCHEDULE_GROUP"] == "mwaa-hibernate" and variables["WAKE_LEAD_MINUTES"] == "45"
