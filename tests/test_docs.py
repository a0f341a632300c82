"""The documentation holds together: every relative link of the Markdown files reaches a file of
the repository (and a heading of it when it names one), every document the code cites exists,
and every page under docs/ is reachable from the README."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PAGES = sorted(
    [REPO / "README.md", REPO / "CONTRIBUTING.md", REPO / "CHANGELOG.md", REPO / "BENCHMARKS.md"]
    + list((REPO / "docs").glob("*.md"))
)
LINK = re.compile(r"\]\(([^)\s]+)\)")
CITED_DOC = re.compile(r"\b((?:docs/)?[A-Za-z_]+\.md)\b")


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.*)$", page.read_text(), re.M)}


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_reach_a_file_and_heading(page):
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file):
            broken.append(f"{target} (no such heading)")
    assert not broken, f"{page.relative_to(REPO)}: {broken}"


def test_every_doc_page_is_linked_from_the_readme():
    linked = {
        (REPO / t.partition("#")[0]).resolve()
        for t in LINK.findall((REPO / "README.md").read_text())
    }
    missing = [p.name for p in (REPO / "docs").glob("*.md") if p.resolve() not in linked]
    assert not missing, f"docs pages the README does not link: {missing}"


def test_documents_the_code_cites_exist():
    """Every Markdown document named in the code (under docs/ or at the top) is in the repository."""
    missing = set()
    for folder in ("alt_jax", "tools", "benchmarks", "configs", "tests"):
        for source in (REPO / folder).rglob("*.py"):
            for name in CITED_DOC.findall(source.read_text()):
                candidates = [REPO / name, source.parent / name, REPO / "docs" / name]
                if not any(c.exists() for c in candidates):
                    missing.add(f"{source.relative_to(REPO)}: {name}")
    assert not missing, sorted(missing)
