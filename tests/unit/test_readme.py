"""The README's table of contents lists every section, in order, with working anchors."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _anchor(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.lower())
    return text.replace(" ", "-")


def test_the_anchor_rule_matches_a_hand_worked_heading() -> None:
    assert _anchor("Configuration (`accounts.json`)") == "configuration-accountsjson"


def test_the_table_of_contents_lists_every_section_in_order() -> None:
    # GIVEN the README's second-level headings and its table of contents
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    headings = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    toc = text.split("<!-- toc -->", 1)[1].split("<!-- tocstop -->", 1)[0]
    entries = re.findall(r"^- \[(.+)\]\(#(.+)\)$", toc, flags=re.MULTILINE)
    # THEN each heading has its entry, in the same order, pointing at its anchor
    assert [title for title, _ in entries] == headings
    assert [anchor for _, anchor in entries] == [_anchor(h) for h in headings]
