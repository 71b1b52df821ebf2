"""The README stays short and true to the tree: every link in it resolves."""

from __future__ import annotations

import re
from pathlib import Path

import schlage_async

_ROOT = Path(__file__).resolve().parents[1]


def test_the_readme_is_short() -> None:
    """A newcomer reads it on one sitting: under 250 lines, the rest lives in docs/."""
    assert len((_ROOT / "README.md").read_text(encoding="utf-8").splitlines()) < 250


def test_every_relative_link_of_the_readme_resolves() -> None:
    """Each ``[text](path#anchor)`` that is not a URL names a file of the repository."""
    text = (_ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    local = [link.split("#", 1)[0] for link in links if "://" not in link]
    assert local, "the README links into the docs"
    missing = [link for link in local if link and not (_ROOT / link).exists()]
    assert missing == []


def test_the_docs_site_names_every_page_it_holds() -> None:
    """Every page under docs/ is in the site's navigation (none is orphaned)."""
    config = (_ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    pages = sorted(p.name for p in (_ROOT / "docs").glob("*.md"))
    assert [p for p in pages if p not in config] == []


def test_the_version_comes_from_the_package_metadata() -> None:
    """``schlage_async.__version__`` is the installed distribution's version."""
    from importlib import metadata

    assert schlage_async.__version__ == metadata.version("schlage-async")
