"""The template passes AWS's own tools offline: cfn-lint, `sam validate --lint`, and `sam build`."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from mwaa_hibernate_sandbox.template import SamTemplate
from sam_helpers import SAM_VALIDATE_TIMEOUT_SECONDS, run_sam


def test_cfn_lint_reports_nothing(template: SamTemplate) -> None:
    cfn_lint = Path(sys.executable).with_name("cfn-lint")
    result = subprocess.run(
        [str(cfn_lint), str(template.path)], capture_output=True, text=True, timeout=300, check=False
    )
    assert result.returncode == 0, f"cfn-lint findings:\n{result.stdout}{result.stderr}"


def test_sam_validate_with_lint_accepts_the_template(template: SamTemplate, sam_cli: Path, sam_scratch: Path) -> None:
    result = run_sam(
        sam_cli,
        ["validate", "--lint", "--template-file", str(template.path)],
        root=template.root,
        scratch=sam_scratch,
        timeout=SAM_VALIDATE_TIMEOUT_SECONDS,
    )
    assert result.returncode == 0, f"sam validate --lint failed:\n{result.stdout}{result.stderr}"


def _pinned_boto3(template: SamTemplate) -> str:
    layer_dir = template.layer_dirs[template.single("AWS::Serverless::LayerVersion")]
    requirements = layer_dir / "requirements.txt"
    assert requirements.is_file(), f"the layer has no {requirements.name}: boto3 must be pinned (InvokeRestApi)"
    match = re.search(r"^boto3==([0-9][0-9.]*)\s*$", requirements.read_text(), re.MULTILINE)
    assert match, f"{requirements.name} must pin boto3 exactly (boto3==X.Y.Z)"
    return match.group(1)


def test_built_layer_carries_the_package_the_snapshot_format_and_the_pinned_boto3(
    template: SamTemplate, sam_build: Path
) -> None:
    layer = sam_build / template.single("AWS::Serverless::LayerVersion") / "python"
    assert (layer / "mwaa_hibernate" / "__init__.py").is_file()
    snapshot = layer / "mwaa_hibernate_snapshot"
    # In the source tree this is a symlink to dags/mwaa_hibernate_snapshot: the zip must hold real files.
    assert snapshot.is_dir() and not snapshot.is_symlink(), "the format must be copied into the layer, not linked"
    assert (snapshot / "manifest.py").is_file() and (snapshot / "verify.py").is_file()
    # The functions need the format only: not the database engine, the Airflow runtime or the operator command.
    for absent in ("mwaa_hibernate_engine", "mwaa_hibernate_runtime", "mwaa_hibernate_cli"):
        assert not (layer / absent).exists(), f"{absent} has no place in the Lambda layer"
    assert not (layer / "mwaa_hibernate" / "cli").exists()
    version = _pinned_boto3(template)
    assert (layer / f"boto3-{version}.dist-info").is_dir(), f"boto3 {version} is not in the built layer"
    assert (layer / "boto3" / "__init__.py").is_file()
    # The saved configuration's option values are sealed with AES-GCM (mwaa_hibernate.configuration).
    assert (layer / "cryptography" / "__init__.py").is_file(), "cryptography is not in the built layer"


def test_every_function_is_built_with_its_handler_module(template: SamTemplate, sam_build: Path) -> None:
    for logical_id, function in template.functions.items():
        built = sam_build / logical_id / f"{function.handler_module.replace('.', '/')}.py"
        assert built.is_file(), f"{logical_id}: {built.name} missing from the build"
    built_template = (sam_build / "template.yaml").read_text()
    for logical_id in template.functions:
        assert f"CodeUri: {logical_id}" in built_template
