"""The Slack and Teams previews in a real browser engine: readable, no overflow, no network,
hostile names shown as text. Screenshots go to ``test-output/screenshots/`` like the digest's."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.delivery.slack import slack_payload
from sla_digest.delivery.teams import teams_payload
from sla_digest.report.summary import Summary
from sla_digest_cli.previews import slack_preview, teams_preview
from tests.browser.test_digest_browser import CHROMIUM, CHROMIUM_ARGS, SCREENSHOTS, distinct_colours

if TYPE_CHECKING:
    from collections.abc import Iterator

    from playwright.sync_api import Browser

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RENDERERS = {
    "slack": lambda summary: slack_preview(slack_payload(summary)),
    "teams": lambda summary: teams_preview(teams_payload(summary)),
}


def summary(name: str) -> Summary:
    path = ROOT / "tests" / "fixtures" / "summaries" / f"{name}.json"
    return Summary.from_dict(json.loads(path.read_text(encoding="utf-8")))


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


def open_page(browser: Browser, html: str, width: int) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": width, "height": 700})
    requests: list[str] = []

    def refuse(route: Any) -> None:
        requests.append(route.request.url)
        route.abort()

    page.route("**/*", refuse)
    page.set_content(html, wait_until="load")
    return page, requests


@pytest.mark.parametrize("width", [640, 375])
@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_the_preview_renders_the_figures_without_overflow_or_network(
    browser: Browser, kind: str, width: int
) -> None:
    # GIVEN the Acme day's message rendered as a preview, open at a desktop or phone width
    page, requests = open_page(browser, RENDERERS[kind](summary("acme-2026-11-20")), width)
    try:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        png = page.screenshot(path=str(SCREENSHOTS / f"{kind}-preview-{width}.png"), full_page=True)
        text = page.evaluate("document.body.innerText")
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
        links = page.evaluate("[...document.links].map(a => a.href)")
        colours = distinct_colours(page, png)
    finally:
        page.close()
    # THEN the account, the p90 (611 s) and the reports link are there; it fits; nothing loads
    assert "Acme Support" in text
    assert "10m 11s" in text
    assert "https://chat.acme.example/app/accounts/7/reports/overview" in links
    assert colours > 1
    assert scroll_width <= width
    assert requests == []


@pytest.mark.parametrize("kind", ["slack", "teams"])
def test_hostile_names_show_as_text_and_run_nothing(browser: Browser, kind: str) -> None:
    # GIVEN the hostile-names day's preview
    page, requests = open_page(browser, RENDERERS[kind](summary("hostile-names")), 640)
    try:
        page.screenshot(path=str(SCREENSHOTS / f"{kind}-preview-hostile.png"), full_page=True)
        text = page.evaluate("document.body.innerText")
        elements = page.evaluate(
            "({scripts: document.scripts.length, images: document.images.length,"
            " links: [...document.links].map(a => a.href)})"
        )
        scroll_width = page.evaluate("document.documentElement.scrollWidth")
    finally:
        page.close()
    # THEN the markup in the names is shown as text: no script, no image, no foreign link
    assert "<script>alert(document.cookie)</script>" in text
    assert '<img src=x onerror="alert(1)">' in text
    assert elements["scripts"] == 0
    assert elements["images"] == 0
    assert all(link.startswith("https://chat.acme.example/") for link in elements["links"])
    assert scroll_width <= 640
    assert requests == []
