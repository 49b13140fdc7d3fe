"""Deployments in moto for the CLI's discovery tests: stacks deployed by the sandbox, found through CloudFormation."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from moto import mock_aws
from mwaa_hibernate_sandbox.moto_stack import DeployedStack, deploy_stack
from mwaa_hibernate_sandbox.template import SamTemplate


@pytest.fixture(scope="session")
def template() -> SamTemplate:
    return SamTemplate.load()


@pytest.fixture(scope="module")
def region() -> str:
    return os.environ["AWS_DEFAULT_REGION"]


@pytest.fixture(scope="module")
def moto() -> Iterator[None]:
    with mock_aws():
        yield


@pytest.fixture(scope="module")
def deploy(moto: None, template: SamTemplate, region: str) -> object:
    """``deploy(stack_name, environment)``: the sandbox's stack for that environment, deployed once per name."""
    deployed: dict[str, DeployedStack] = {}

    def make(stack_name: str, environment: str) -> DeployedStack:
        if stack_name not in deployed:
            deployed[stack_name] = deploy_stack(
                template=template,
                parameter_overrides={"EnvironmentName": environment},
                stack_name=stack_name,
                region=region,
            )
        return deployed[stack_name]

    return make
