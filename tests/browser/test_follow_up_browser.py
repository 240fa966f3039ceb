"""The "Conversations to act on" section in a real browser engine, at 600 and 375 px.

Screenshots of the section alone go to ``test-output/screenshots/follow-up-*.png``; the light
ones at both widths are the README's (``docs/images/``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.report.render import render_digest
from sla_digest.report.summary import Summary
from tests.browser.test_digest_browser import SCREENSHOTS, browser, open_digest

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser
__all__ = ["browser"]  # the fixture, shared with the digest's browser tests

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "summaries" / "follow-up-2026-11-20.json"
# The section spans several rows of the card: from its heading to the line of link requests.
SECTION_BOX = """() => {
  const cells = [...document.querySelectorAll('td.section')];
  const first = cells.find(td => td.textContent.includes('Conversations to act on'));
  const last = cells.find(td => td.textContent.includes('extra requests'));
  const card = document.querySelector('table.card').getBoundingClientRect();
  const top = first.getBoundingClientRect().top + window.scrollY;
  const bottom = last.getBoundingClientRect().bottom + window.scrollY;
  return {x: card.left, y: top, width: card.width, height: bottom - top};
}"""


@pytest.fixture(scope="module")
def html() -> str:
    summary: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    digest = render_digest(
        Summary.from_dict(summary),
        templates_dir=ROOT / "templates",
        archive_location="s3://acme-sla-archive/raw/account_id=7/date=2026-11-20/",
    )
    return digest.html


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [600, 375])
def test_the_section_fits_the_width_and_loads_nothing(
    browser: Browser, html: str, width: int, scheme: str
) -> None:
    # GIVEN the digest with its section, open at a desktop or phone width
    page, requests = open_digest(browser, html, width, scheme)
    try:
        box = page.evaluate(SECTION_BOX)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(
            path=str(SCREENSHOTS / f"follow-up-{width}-{scheme}.png"), full_page=True, clip=box
        )
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        links = page.evaluate(
            "[...document.querySelectorAll('a.lnk')].map(a => getComputedStyle(a).color)"
        )
        # Lines of text in each no-wrap cell: its text boxes' distinct tops.
        lines = page.evaluate(
            """[...document.querySelectorAll('table.list td[nowrap]')].map(td => {
                 const range = document.createRange();
                 range.selectNodeContents(td);
                 const tops = [...range.getClientRects()].map(r => Math.round(r.top));
                 return new Set(tops).size;
               })"""
        )
    finally:
        page.close()
    # THEN nothing overflows the width, nothing is fetched, and the section has height
    assert scroll_width <= width
    assert requests == []
    assert box["height"] > 300
    # AND links are there, and the durations and times keep to one line even at 375 px
    assert links
    assert lines
    assert set(lines) == {1}


def test_links_stay_readable_in_dark_mode(browser: Browser, html: str) -> None:
    # GIVEN the section in dark mode  WHEN the links' colour is read
    page, _ = open_digest(browser, html, 600, "dark")
    try:
        colour = page.evaluate("getComputedStyle(document.querySelector('a.lnk')).color")
    finally:
        page.close()
    red, green, blue = (int(part) for part in colour[colour.index("(") + 1 : -1].split(",")[:3])
    # THEN they are light on the dark card
    assert (299 * red + 587 * green + 114 * blue) / 1000 > 150
