"""The digest in a real browser engine: not blank, no horizontal overflow, light and dark.

Runs Debian's headless Chromium through Playwright (never a downloaded browser) and keeps the
screenshots under ``test-output/screenshots/`` for a person to look at.
"""

from __future__ import annotations

import base64
import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.report.render import render_digest
from sla_digest.report.summary import Summary

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser, Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "test-output" / "screenshots"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
FIRST = ["Ana", "Bruno", "Chiara", "Dmitri", "Emeka", "Fatima", "Grace", "Hiroshi", "Ines", "Jonas"]
LAST = ["Souza", "Okafor", "Rossi", "Ivanova", "Tanaka", "Müller"]


def realistic_summary() -> dict[str, Any]:
    """The hand-made Acme day plus 30 more agents, so the table is capped as in real use."""
    summary: dict[str, Any] = json.loads(
        (ROOT / "tests/fixtures/summaries/acme-2026-11-20.json").read_text(encoding="utf-8")
    )
    template = summary["by_agent"]["11"]
    for index in range(30):
        block = copy.deepcopy(template)
        block["name"] = f"{FIRST[index % 10]} {LAST[index % 6]}"
        block["first_response"]["count"] = 30 - index
        block["first_response"]["p90"] = 200.0 + 37 * index
        summary["by_agent"][str(100 + index)] = block
    return summary


@pytest.fixture(scope="module")
def html() -> str:
    digest = render_digest(
        Summary.from_dict(realistic_summary()),
        templates_dir=ROOT / "templates",
        archive_location="s3://acme-sla-archive/raw/account_id=7/date=2026-11-20/",
    )
    return digest.html


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(
            "Debian's chromium is not installed (/usr/bin/chromium): run scripts/ensure-chromium"
        )
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def open_digest(browser: Browser, html: str, width: int, scheme: str) -> tuple[Page, list[str]]:
    """A page showing the digest; every network request is refused and recorded."""
    page = browser.new_page(viewport={"width": width, "height": 800}, color_scheme=scheme)  # type: ignore[arg-type]
    requests: list[str] = []

    def refuse(route: Any) -> None:
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.set_content(html, wait_until="load")
    return page, requests


def distinct_colours(page: Page, png: bytes) -> int:
    """Colours in a screenshot, counted by the browser's own PNG decoder (no imaging library)."""
    data_url = "data:image/png;base64," + base64.b64encode(png).decode()
    page.set_content("<canvas></canvas>")
    return int(
        page.evaluate(
            """async (url) => {
                const image = new Image();
                image.src = url;
                await image.decode();
                const canvas = document.querySelector('canvas');
                canvas.width = image.width;
                canvas.height = image.height;
                const context = canvas.getContext('2d');
                context.drawImage(image, 0, 0);
                const pixels = context.getImageData(0, 0, image.width, image.height).data;
                const seen = new Set();
                for (let i = 0; i < pixels.length && seen.size < 64; i += 4) {
                    seen.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
                }
                return seen.size;
            }""",
            data_url,
        )
    )


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("width", [600, 375])
def test_digest_renders_without_overflow_or_network(
    browser: Browser, html: str, width: int, scheme: str
) -> None:
    # GIVEN the digest open in Chromium at a phone or desktop width
    page, requests = open_digest(browser, html, width, scheme)
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(
            path=str(SCREENSHOTS / f"digest-{width}-{scheme}.png"), full_page=True
        )
        body_text = page.evaluate("document.body.innerText")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        colours = distinct_colours(page, png)
    finally:
        page.close()
    # THEN it shows the account, draws more than one colour, fits the width, loads nothing
    assert "Acme Support" in body_text
    assert colours > 1
    assert scroll_width <= width
    assert requests == []


def test_dark_mode_changes_the_background_and_keeps_text_light(browser: Browser, html: str) -> None:
    # GIVEN the digest in light and in dark mode
    def colours(scheme: str) -> dict[str, str]:
        page, _ = open_digest(browser, html, 600, scheme)
        try:
            return dict(
                page.evaluate(
                    """() => {
                        const section = document.querySelector('td.section');
                        const heading = document.querySelector('h2.h2');
                        return {background: getComputedStyle(section).backgroundColor,
                                text: getComputedStyle(heading).color};
                    }"""
                )
            )
        finally:
            page.close()

    light, dark = colours("light"), colours("dark")

    def brightness(rgb: str) -> float:
        red, green, blue = (int(part) for part in rgb[rgb.index("(") + 1 : -1].split(",")[:3])
        return (299 * red + 587 * green + 114 * blue) / 1000

    # THEN dark mode swaps to a dark card with light text, and light mode the reverse
    assert brightness(light["background"]) > 200 > 60 > brightness(dark["background"])
    assert brightness(dark["text"]) > 180
    assert brightness(light["text"]) < 80
