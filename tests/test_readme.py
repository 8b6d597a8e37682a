"""The README stays a front page (at most 250 lines; the rest lives in docs/, which
``mkdocs build --strict`` checks) and its relative links lead to files of the repository."""

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= 250, f"README.md has {len(lines)} lines; move sections to docs/"


def test_readme_links_lead_to_repository_files():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text)
    relative = [t for t in targets if "://" not in t]
    assert relative, "the README links to its docs pages"
    missing = [t for t in relative if not (REPO / t).exists()]
    assert missing == []
