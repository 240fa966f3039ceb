"""The weekly digest in a real browser engine: the day chart shows, fits, and turns in dark mode.

Same set-up as the daily digest's browser test (Debian's headless Chromium through
Playwright); the screenshots go to ``test-output/screenshots/weekly-*.png``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.report.render import render_digest
from sla_digest.report.summary import Summary
from tests.browser.test_digest_browser import (
    SCREENSHOTS,
    browser,  # noqa: F401 - the fixture, shared with the daily digest's tests
    distinct_colours,
    open_digest,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
WEEK = ROOT / "tests" / "fixtures" / "summaries" / "acme-week-2026-11-16.json"


@pytest.fixture(scope="module")
def html() -> str:
    summary: dict[str, Any] = json.loads(WEEK.read_text(encoding="utf-8"))
    digest = render_digest(
        Summary.from_dict(summary),
        templates_dir=ROOT / "templates",
        archive_location="s3://acme-sla-archive/raw/account_id=7/",
    )
    return digest.html


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [600, 375])
def test_the_weekly_digest_shows_its_chart_without_overflow_or_network(
    browser: Browser,  # noqa: F811
    html: str,
    width: int,
    scheme: str,
) -> None:
    # GIVEN the weekly digest open in Chromium at a desktop or phone width
    page, requests = open_digest(browser, html, width, scheme)
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(
            path=str(SCREENSHOTS / f"weekly-{width}-{scheme}.png"), full_page=True
        )
        body_text = page.evaluate("document.body.innerText")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        # Every bar of the chart is drawn: a cell with a width and a height on the page.
        bars = page.evaluate(
            """() => [...document.querySelectorAll('td.dfill')].map(cell => {
                const box = cell.getBoundingClientRect();
                return [box.width, box.height];
            })"""
        )
        colours = distinct_colours(page, png)
    finally:
        page.close()
    # THEN the week is named, its six days read are drawn, the page fits and loads nothing
    assert "Week 47 (16–22 Nov 2026)" in body_text
    assert "Day by day" in body_text
    assert len(bars) == 6
    assert all(width_px > 0 and height_px >= 8 for width_px, height_px in bars)
    assert colours > 1
    assert scroll_width <= width
    assert requests == []


def test_the_bars_take_a_lighter_fill_in_dark_mode(browser: Browser, html: str) -> None:  # noqa: F811
    def fill(scheme: str) -> str:
        page, _ = open_digest(browser, html, 600, scheme)
        try:
            return str(
                page.evaluate(
                    "() => getComputedStyle(document.querySelector('td.dfill')).backgroundColor"
                )
            )
        finally:
            page.close()

    def brightness(rgb: str) -> float:
        red, green, blue = (int(part) for part in rgb[rgb.index("(") + 1 : -1].split(",")[:3])
        return (299 * red + 587 * green + 114 * blue) / 1000

    # GIVEN the bar's fill in light and dark mode THEN dark mode's is the lighter one
    assert brightness(fill("dark")) > brightness(fill("light"))
