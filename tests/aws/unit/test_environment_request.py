"""Rebuilding CreateEnvironment from GetEnvironment: what MWAA refuses is dropped, what users set is kept."""

from __future__ import annotations

import json

import botocore.session
import pytest
from botocore.validate import ParamValidator
from mwaa_hibernate.environment import CREATE_ENVIRONMENT_FIELDS, build_create_request, parse_overrides
from mwaa_hibernate.exceptions import EnvironmentConfigurationInvalid

from .conftest import ENVIRONMENT, saved_environment

CREATE_SHAPE = botocore.session.get_session().get_service_model("mwaa").operation_model("CreateEnvironment").input_shape


def assert_valid_create_request(request: dict) -> None:
    report = ParamValidator().validate(request, CREATE_SHAPE)
    assert not report.has_errors(), report.generate_report()


def test_a_full_get_environment_output_becomes_a_request_botocore_accepts() -> None:
    request = build_create_request(saved_environment(), name=ENVIRONMENT)

    assert_valid_create_request(request)
    for output_only in (
        "Arn",
        "Status",
        "CreatedAt",
        "LastUpdate",
        "ServiceRoleArn",
        "WebserverUrl",
        "CeleryExecutorQueue",
        "DatabaseVpcEndpointService",
        "WebserverVpcEndpointService",
    ):
        assert output_only not in request
    assert all("CloudWatchLogGroupArn" not in m for m in request["LoggingConfiguration"].values())
    assert request["Tags"] == {"team": "data"}
    # What the user configured comes back unchanged, secrets in the configuration options included.
    assert request["AirflowConfigurationOptions"] == {
        **saved_environment()["AirflowConfigurationOptions"],
        "core.dags_are_paused_at_creation": "True",
    }
    assert request["RequirementsS3ObjectVersion"] == "3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY"


def test_the_allowlist_is_exactly_the_create_input_shape() -> None:
    assert set(CREATE_ENVIRONMENT_FIELDS) == set(CREATE_SHAPE.members)


def test_only_aws_tags_leave_no_tags_field_at_all() -> None:
    request = build_create_request(saved_environment(Tags={"aws:cloudformation:stack-id": "x"}), name=ENVIRONMENT)
    assert "Tags" not in request


def test_overrides_replace_fields_and_null_removes_one() -> None:
    overrides = parse_overrides(json.dumps({"EnvironmentClass": "mw1.small", "RequirementsS3ObjectVersion": None}))
    request = build_create_request(saved_environment(), name=ENVIRONMENT, overrides=overrides)

    assert request["EnvironmentClass"] == "mw1.small"
    assert "RequirementsS3ObjectVersion" not in request
    assert_valid_create_request(request)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"Status": "AVAILABLE"}', "does not accept: Status"),
        ('{"Name": "other"}', "cannot change Name"),
    ],
    ids=["bad-json", "not-an-object", "output-only-field", "rename"],
)
def test_bad_overrides_are_refused_with_what_to_fix(text: str, message: str) -> None:
    with pytest.raises(EnvironmentConfigurationInvalid, match=message):
        parse_overrides(text)


def test_a_configuration_without_two_subnets_is_refused_before_calling_mwaa() -> None:
    saved = saved_environment(NetworkConfiguration={"SubnetIds": ["subnet-1"], "SecurityGroupIds": ["sg-1"]})
    with pytest.raises(EnvironmentConfigurationInvalid, match="exactly 2 subnets"):
        build_create_request(saved, name=ENVIRONMENT)


def test_a_configuration_missing_a_required_field_says_which() -> None:
    saved = saved_environment()
    del saved["ExecutionRoleArn"]
    with pytest.raises(EnvironmentConfigurationInvalid, match="lacks ExecutionRoleArn"):
        build_create_request(saved, name=ENVIRONMENT)


def test_logging_is_the_only_field_whose_output_has_more_than_its_input() -> None:
    """If a botocore upgrade adds another output-only nested member, the request builder must learn it."""
    model = botocore.session.get_session().get_service_model("mwaa")
    output = model.shape_for("Environment")

    def extra_output_members(out, inp, path):
        if out.type_name == "structure":
            found = [f"{path}.{k}" for k in set(out.members) - set(inp.members)]
            for k in set(out.members) & set(inp.members):
                found += extra_output_members(out.members[k], inp.members[k], f"{path}.{k}")
            return found
        if out.type_name == "map":
            return extra_output_members(out.value, inp.value, f"{path}.*")
        if out.type_name == "list":
            return extra_output_members(out.member, inp.member, f"{path}[]")
        return []

    found = [
        p for k in CREATE_SHAPE.members for p in extra_output_members(output.members[k], CREATE_SHAPE.members[k], k)
    ]
    assert sorted({p.rsplit(".", 1)[1] for p in found}) == ["CloudWatchLogGroupArn"]
    assert all(p.startswith("LoggingConfiguration.") for p in found)


def test_every_dag_is_created_paused_in_the_recreated_environment_whatever_the_saved_option() -> None:
    """Issue 11: between AVAILABLE and the import, the new scheduler must not start runs (a catch-up storm)."""
    saved = saved_environment(AirflowConfigurationOptions={"core.dags_are_paused_at_creation": "False", "a.b": "c"})
    overrides = {"AirflowConfigurationOptions": {"core.dags_are_paused_at_creation": "false"}}

    for given in ({}, overrides):
        request = build_create_request(saved, name=ENVIRONMENT, overrides=given)
        assert request["AirflowConfigurationOptions"]["core.dags_are_paused_at_creation"] == "True"
    assert build_create_request(saved, name=ENVIRONMENT)["AirflowConfigurationOptions"]["a.b"] == "c"
