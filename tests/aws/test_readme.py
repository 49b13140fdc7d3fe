"""The README and the docs/ pages: generated sections match their sources, every relative link resolves,
and the architecture picture matches its source."""

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


# ----- links ----------------------------------------------------------------------------------------------

_FENCE = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.M | re.S)
_INLINE_CODE = re.compile(r"`[^`\n]*`")
_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_HEADING = re.compile(r"^#{1,6}\s+(.*?)\s*#*\s*$", re.M)


def _markdown_pages() -> list[Path]:
    return [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def _prose(text: str) -> str:
    """The text without fenced code blocks and inline code, where link syntax is not a link."""
    return _INLINE_CODE.sub("", _FENCE.sub("", text))


def _anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lower case, punctuation dropped except - and _, spaces to hyphens."""
    anchors: set[str] = set()
    for heading in _HEADING.findall(_FENCE.sub("", path.read_text())):
        text = re.sub(r"[`*]|\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
        slug = re.sub(r"[^\w\- ]", "", text).replace(" ", "-")
        anchor, n = slug, 1
        while anchor in anchors:
            anchor, n = f"{slug}-{n}", n + 1
        anchors.add(anchor)
    return anchors


def _relative_links() -> list[tuple[Path, str]]:
    links = []
    for page in _markdown_pages():
        for target in _LINK.findall(_prose(page.read_text())):
            if not re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto: are not checked
                links.append((page, target))
    return links


def test_the_docs_have_relative_links_to_check() -> None:
    assert len(_relative_links()) > 20


@pytest.mark.parametrize(
    ("page", "target"), _relative_links(), ids=lambda v: v.relative_to(ROOT).as_posix() if isinstance(v, Path) else v
)
def test_every_relative_link_resolves(page: Path, target: str) -> None:
    path_part, _, anchor = target.partition("#")
    resolved = (page.parent / path_part).resolve() if path_part else page
    assert resolved.exists(), f"{page.relative_to(ROOT)} links to {target}: {path_part} does not exist"
    if anchor:
        assert resolved.suffix == ".md", f"{page.relative_to(ROOT)} links to an anchor in a non-Markdown file"
        assert anchor in _anchors(resolved), (
            f"{page.relative_to(ROOT)} links to {target}: no heading makes #{anchor} in {resolved.relative_to(ROOT)}"
        )


def test_architecture_picture_was_rendered_from_the_current_source() -> None:
    source = hashlib.sha256((ROOT / "docs" / "architecture.dot").read_bytes()).hexdigest()
    stamp = re.search(r"source-sha256: ([0-9a-f]{64})", (ROOT / "docs" / "architecture.svg").read_text())
    assert stamp and stamp.group(1) == source, "docs/architecture.dot changed: run `make diagram`"
    assert (ROOT / "docs" / "architecture.png").stat().st_size > 10_000
