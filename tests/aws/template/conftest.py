"""Shared fixtures for the template tests: the template, the SAM CLI, one `sam build`, transformed variants."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from mwaa_hibernate_sandbox.template import SamTemplate
from sam_helpers import SAM_BUILD_TIMEOUT_SECONDS, VARIANTS, Resolved, resolve_transformed, run_sam


@pytest.fixture(scope="session")
def template() -> SamTemplate:
    return SamTemplate.load()


@pytest.fixture(scope="session")
def sam_cli(template: SamTemplate) -> Path:
    """The SAM CLI: $SAM_CLI (set by `make test`), else the project's own .venvs/sam."""
    path = Path(os.environ.get("SAM_CLI") or template.root / ".venvs" / "sam" / "bin" / "sam").absolute()
    if not path.is_file():
        pytest.fail(f"SAM CLI not found at {path}: run `make env` (it builds .venvs/sam) or set SAM_CLI")
    return path


@pytest.fixture(scope="session")
def sam_scratch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("sam-cli")


@pytest.fixture(scope="session")
def sam_build(template: SamTemplate, sam_cli: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One `sam build` for the whole session, into a temporary folder (never the checkout's .aws-sam)."""
    scratch = tmp_path_factory.mktemp("sam")
    build_dir = scratch / "build"
    args = ["build", "--template-file", str(template.path), "--build-dir", str(build_dir)]
    # samconfig.toml turns the cache on; keep it out of the checkout too.
    args += ["--base-dir", str(template.root), "--cache-dir", str(scratch / "cache")]
    result = run_sam(sam_cli, args, root=template.root, scratch=scratch, timeout=SAM_BUILD_TIMEOUT_SECONDS)
    assert result.returncode == 0, f"sam build failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
    return build_dir


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def resolved(request: pytest.FixtureRequest, template: SamTemplate) -> Resolved:
    return resolve_transformed(template, request.param, VARIANTS[request.param])
