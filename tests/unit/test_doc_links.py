"""The docs point only into the repository: every relative link and every Markdown file they
name exists here, so a reader (an on-call engineer following a runbook) is never sent to a
path the product does not ship."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]
_LINK = re.compile(r"\]\(([^)\s]+)\)")
_NAMED_MD = re.compile(r"`([^`\s]+\.md)`")


def _in_repository(doc: Path, target: str) -> bool:
    """A path from the doc's folder or from the repository's root, never an absolute one."""
    if target.startswith("/"):
        return False
    for base in (doc.parent, ROOT):
        path = (base / target).resolve()
        if path.is_relative_to(ROOT) and path.exists():
            return True
    return False


@pytest.mark.parametrize("doc", DOCS, ids=lambda path: str(path.relative_to(ROOT)))
def test_relative_links_and_named_markdown_files_exist_in_the_repository(doc):
    text = doc.read_text()
    links = [t.split("#")[0] for t in _LINK.findall(text) if not re.match(r"[a-z]+:|#", t)]
    named = _NAMED_MD.findall(text)
    missing = [target for target in links + named if not _in_repository(doc, target)]
    assert not missing, f"{doc.relative_to(ROOT)} points outside the repository: {missing}"
