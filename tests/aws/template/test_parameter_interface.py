"""What a person deploying the stack sees: the parameter groups and labels (the console and the Serverless
Application Repository), the order `sam deploy --guided` asks in, and defaults that fit together."""

from __future__ import annotations

from typing import Any

import pytest
from mwaa_hibernate_sandbox.template import SamTemplate

# What a first deployment has to think about; everything after it has a default that suits most people.
FIRST_DEPLOYMENT = {
    "EnvironmentName",
    "HibernateSchedule",
    "WakeSchedule",
    "ScheduleTimezone",
    "AlertEmail",
    "ExecutionRoleName",
}


@pytest.fixture(scope="module")
def interface(template: SamTemplate) -> dict[str, Any]:
    return template.document["Metadata"]["AWS::CloudFormation::Interface"]


def _grouped(interface: dict[str, Any]) -> list[str]:
    return [name for group in interface["ParameterGroups"] for name in group["Parameters"]]


def test_every_parameter_is_in_exactly_one_group(template: SamTemplate, interface: dict[str, Any]) -> None:
    grouped = _grouped(interface)
    assert sorted(grouped) == sorted(template.parameters), "a parameter is missing from the groups, or unknown"
    assert len(grouped) == len(set(grouped)), "a parameter is in two groups"
    for group in interface["ParameterGroups"]:
        assert group["Label"]["default"].strip(), group


def test_every_parameter_has_a_short_label(template: SamTemplate, interface: dict[str, Any]) -> None:
    labels = interface["ParameterLabels"]
    assert set(labels) == set(template.parameters)
    for name, label in labels.items():
        assert 0 < len(label["default"]) <= 80, name


def test_guided_deploy_asks_in_the_order_of_the_groups(template: SamTemplate, interface: dict[str, Any]) -> None:
    """`sam deploy --guided` asks the parameters in the order they are declared, not by the groups."""
    assert list(template.parameters) == _grouped(interface)


def test_the_first_group_is_what_a_first_deployment_needs(template: SamTemplate, interface: dict[str, Any]) -> None:
    first = set(interface["ParameterGroups"][0]["Parameters"])
    assert first >= FIRST_DEPLOYMENT
    required = {name for name, parameter in template.parameters.items() if parameter.default is None}
    assert required <= first, "a parameter without a default must be asked first"


def test_the_default_timeouts_fit_together(template: SamTemplate) -> None:
    default = {name: int(p.default) for name, p in template.parameters.items() if p.type == "Number"}
    assert default["ExportTimeoutSeconds"] > default["DrainTimeoutMinutes"] * 60
    assert default["CallbackHeartbeatSeconds"] < min(default["ExportTimeoutSeconds"], default["ImportTimeoutSeconds"])
    for waited in ("EnvironmentCreateTimeoutSeconds", "EnvironmentDeleteTimeoutSeconds"):
        assert default[waited] >= 10 * default["PollIntervalSeconds"], waited
