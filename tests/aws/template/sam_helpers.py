"""Helpers for the template tests: running the SAM CLI, and the transformed template with intrinsics resolved."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mwaa_hibernate_sandbox.moto_stack import nominal_physical
from mwaa_hibernate_sandbox.template import Physical, SamTemplate

REGION = "eu-west-1"
ENVIRONMENT = "analytics"
STACK = "mwaa-hibernate"
# sam build installs the layer's pinned requirements; a cold pip cache through the mirror needs about a minute.
SAM_BUILD_TIMEOUT_SECONDS = 900
SAM_VALIDATE_TIMEOUT_SECONDS = 180
# The Lambda runtime's Python (template Globals): sam build insists on this exact version.
LAMBDA_PYTHON = "3.13"


def _python_with_pip(sam_cli: Path, root: Path) -> Path:
    """A python3.13 that has pip, for SAM's pip builder: the SAM venv's own (uv venvs have no pip), else the one
    scripts/find-python picks for the Lambda runtime."""
    candidates = [sam_cli.parent / f"python{LAMBDA_PYTHON}"]
    found = subprocess.run(
        [str(root / "scripts" / "find-python"), LAMBDA_PYTHON], capture_output=True, text=True, check=False
    )
    if found.returncode == 0 and found.stdout.strip():
        candidates.append(Path(found.stdout.strip()))
    for python in candidates:
        probe = subprocess.run([str(python), "-m", "pip", "--version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return python
    raise AssertionError(f"no python{LAMBDA_PYTHON} with pip among {candidates}: sam build cannot install the layer")


def sam_environment(sam_cli: Path, root: Path, scratch: Path) -> dict[str, str]:
    """sam build looks for the runtime's python3.13 (with pip) on PATH; put one first, then the SAM venv."""
    shim = scratch / "python-shim"
    shim.mkdir(parents=True, exist_ok=True)
    link = shim / f"python{LAMBDA_PYTHON}"
    if not link.exists():
        link.symlink_to(_python_with_pip(sam_cli, root))
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(shim), str(sam_cli.parent), env.get("PATH", "")])
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def run_sam(
    sam_cli: Path, args: list[str], *, root: Path, scratch: Path, timeout: int
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(sam_cli), *args],
        cwd=root,
        env=sam_environment(sam_cli, root, scratch),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class Resolved:
    """The transformed (CloudFormation) template for one set of parameters, every intrinsic resolved."""

    name: str
    parameters: dict[str, str]
    resources: dict[str, dict[str, Any]]  # logical id -> {"Type", "Properties"} with values resolved
    physical: dict[str, Physical]  # what Ref and GetAtt resolved to

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {lid: res for lid, res in self.resources.items() if res["Type"] == resource_type}


# Parameter sets the security properties must hold for: what `sam deploy --guided` offers by default,
# an existing key and a named execution role, and functions placed in a VPC.
VARIANTS: dict[str, dict[str, str]] = {
    "defaults": {"EnvironmentName": ENVIRONMENT},
    "named-role-and-key": {
        "EnvironmentName": ENVIRONMENT,
        "ExecutionRoleName": "analytics-mwaa-execution",
        "KmsKeyArn": "arn:aws:kms:eu-west-1:123456789012:key/11111111-2222-3333-4444-555555555555",
        "AlertEmail": "data-team@example.com",
    },
    "in-vpc": {
        "EnvironmentName": ENVIRONMENT,
        "ExecutionRoleName": "analytics-mwaa-execution",
        "FunctionSubnetIds": "subnet-0a,subnet-0b",
        "FunctionSecurityGroupIds": "sg-01",
    },
}


def resolve_transformed(template: SamTemplate, name: str, parameters: dict[str, str]) -> Resolved:
    document = template.transformed(parameters, region=REGION)
    transformed = SamTemplate(document, path=template.path)
    physical = nominal_physical(template=transformed, parameter_overrides=parameters, region=REGION, stack_name=STACK)
    resolver = transformed.resolver(physical=physical, parameter_values=parameters, region=REGION, stack_name=STACK)
    resources = {
        lid: {"Type": res["Type"], "Properties": resolver.resolve(res.get("Properties", {}))}
        for lid, res in document["Resources"].items()
        if resolver.is_deployed(lid)
    }
    return Resolved(name=name, parameters=parameters, resources=resources, physical=physical)
