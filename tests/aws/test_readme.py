"""The README and the docs/ pages: generated sections match their sources, and the architecture picture
matches its source."""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "update-readme"


def _generator() -> ModuleType:
    """scripts/update-readme as a module (it has no .py suffix)."""
    loader = importlib.machinery.SourceFileLoader("update_readme", str(GENERATOR))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


update_readme = _generator()


def test_generated_sections_are_current() -> None:
    result = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("section", sorted(update_readme.SECTIONS))
def test_a_drifted_section_is_caught(section: str) -> None:
    """Change one generated section by hand: rendering must put it back, so `--check` fails on the drift."""
    pages = update_readme.read_pages()
    page = update_readme.locate(pages)[section]
    marker = f"<!-- BEGIN {section} -->\n"
    drifted = dict(pages)
    drifted[page] = pages[page].replace(marker, marker + "| a row nobody generated |\n", 1)
    rendered = update_readme.render(drifted)[page]
    assert rendered != drifted[page]  # what --check compares: the drift is reported
    assert rendered == update_readme.render(pages)[page]  # and regenerating puts the section back


def test_every_section_must_be_somewhere_exactly_once() -> None:
    pages = update_readme.read_pages()
    page = update_readme.locate(pages)["tables"]
    missing = dict(pages)
    missing[page] = re.sub(r"<!-- (BEGIN|END) tables -->\n", "", pages[page])
    with pytest.raises(update_readme.SectionError, match="tables"):
        update_readme.locate(missing)
    twice = {**pages, "docs/copy.md": "<!-- BEGIN tables -->\n<!-- END tables -->\n"}
    with pytest.raises(update_readme.SectionError, match="exactly once"):
        update_readme.locate(twice)


def test_the_parameters_section_lists_every_template_parameter_in_template_order() -> None:
    from cfnlint.decode import decode

    template, _ = decode(str(ROOT / "template.yaml"))
    pages = update_readme.read_pages()
    text = pages[update_readme.locate(pages)["parameters"]]
    section = text.split("<!-- BEGIN parameters -->")[1].split("<!-- END parameters -->")[0]
    listed = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert listed == list(template["Parameters"])


def test_architecture_picture_was_rendered_from_the_current_source() -> None:
    source = hashlib.sha256((ROOT / "docs" / "architecture.dot").read_bytes()).hexdigest()
    stamp = re.search(r"source-sha256: ([0-9a-f]{64})", (ROOT / "docs" / "architecture.svg").read_text())
    assert stamp and stamp.group(1) == source, "docs/architecture.dot changed: run `make diagram`"
    assert (ROOT / "docs" / "architecture.png").stat().st_size > 10_000
