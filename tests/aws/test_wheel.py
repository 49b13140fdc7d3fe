"""The wheel carries what `mwaa-hibernate install-dags` uploads: an installed package needs no source checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path

import pytest
from mwaa_hibernate_cli import dag_install

REPO = Path(__file__).resolve().parents[2]


def _uv() -> str:
    local = REPO / ".venvs/uv/bin/uv"
    found = shutil.which("uv") or (str(local) if local.exists() else None)
    if found is None:
        pytest.fail("uv is needed to build the wheel: run `make env` (it installs uv under .venvs/uv)")
    return found


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [_uv(), "build", "--wheel", "--offline", "--quiet", "--out-dir", str(out), str(REPO)],
        check=True,
        capture_output=True,
    )
    return next(out.glob("mwaa_hibernate-*.whl"))


def test_the_wheel_carries_the_dag_files_and_no_byte_code(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        for name in dag_install.DAG_FILES:
            assert archive.read(f"mwaa_hibernate_cli/dag_files/{name}") == (REPO / "dags" / name).read_bytes()
        assert (
            archive.read("mwaa_hibernate_cli/dag_files/.airflowignore") == (REPO / "dags/.airflowignore").read_bytes()
        )
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc") or n.startswith("tests/")]
    # The offline sandbox (moto, the MWAA stand-in) is a development package, not something users install.
    assert not [n for n in names if n.startswith("mwaa_hibernate_sandbox/")]


def test_an_installed_wheel_finds_the_same_files_as_the_checkout(wheel: Path, tmp_path: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path)
    script = textwrap.dedent("""
        import json
        from mwaa_hibernate_cli import dag_install
        print(json.dumps({
            "module": dag_install.__file__,
            "source": str(dag_install.dags_source()),
            "files": [f.relative for f in dag_install.files_to_install()],
        }))
    """)
    # The unpacked wheel comes first on the path, ahead of this checkout's editable install.
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    found = json.loads(subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, check=True).stdout)

    assert found["module"].startswith(str(tmp_path))
    assert found["source"] == str(tmp_path / "mwaa_hibernate_cli" / "dag_files")
    assert found["files"] == [f.relative for f in dag_install.files_to_install()]
