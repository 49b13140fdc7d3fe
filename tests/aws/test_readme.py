"""The README's generated sections match their sources, and the architecture picture matches its source."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_readme_sections_are_current() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "update-readme"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_readme_lists_every_template_parameter() -> None:
    from cfnlint.decode import decode

    template, _ = decode(str(ROOT / "template.yaml"))
    readme = (ROOT / "README.md").read_text()
    missing = [name for name in template["Parameters"] if f"| `{name}` |" not in readme]
    assert not missing


def test_architecture_picture_was_rendered_from_the_current_source() -> None:
    source = hashlib.sha256((ROOT / "docs" / "architecture.dot").read_bytes()).hexdigest()
    stamp = re.search(r"source-sha256: ([0-9a-f]{64})", (ROOT / "docs" / "architecture.svg").read_text())
    assert stamp and stamp.group(1) == source, "docs/architecture.dot changed: run `make diagram`"
    assert (ROOT / "docs" / "architecture.png").stat().st_size > 10_000
