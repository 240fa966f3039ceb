"""The "Conversations to act on" section of the digest: where it sits, its links, its escaping.

The fixture is a sandbox day (tests/fixtures/summaries/follow-up-2026-11-20.json); hostile
feedback and names are put into copies of it here.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest

from sla_digest.report.render import Digest, render_digest
from sla_digest.report.summary import Summary, validate_summary
from tests.unit import test_render_safety as safety
from tests.unit.test_render_safety import Tree, _busy_summary

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "summaries" / "follow-up-2026-11-20.json"
BASE = "https://chat.acme.example"
HOSTILE = [
    '<script>alert("csat")</script><img src=x onerror=alert(1)> & more',
    "line one\r\nBcc: victim@example.com\r\n\r\nline three",
    "long " * 2000,
    "\u202eتم الرد بعد ساعتين",
    "👎🏽 waited 3h 😡",
]


def load() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return doc


def render(doc: dict[str, Any]) -> Digest:
    validate_summary(doc)
    return render_digest(
        Summary.from_dict(doc), templates_dir=ROOT / "templates", archive_location="s3://b/raw/"
    )


def hostile() -> dict[str, Any]:
    doc = load()
    for low, text in zip(doc["csat"]["low"], HOSTILE, strict=False):
        low["feedback"] = text[:500]
        low["agent"] = "<b>Eve</b>\r\nBcc: x@example.com"
    doc["csat"]["low"] = doc["csat"]["low"][: len(HOSTILE)]
    first = doc["breaches"]["first_response"]["worst"][0]
    doc["by_inbox"][str(first["inbox_id"])]["name"] = '<a href="http://evil.example">In</a>'
    return doc


@pytest.fixture(scope="module")
def plain() -> Digest:
    return render(load())


@pytest.fixture(scope="module")
def attacked() -> Digest:
    return render(hostile())


def test_the_section_sits_under_the_headline_in_both_parts(plain: Digest) -> None:
    # GIVEN a day with conversations to act on  WHEN it is rendered
    text = Tree(plain.html).text()
    # THEN the section comes after the headline tiles and before all response times
    for part in (text, plain.text):
        upper = part.upper()
        headline = upper.index("FIRST RESPONSE")
        section = upper.index("CONVERSATIONS TO ACT ON")
        assert headline < section < upper.index("ALL RESPONSE TIMES")


@pytest.mark.parametrize(
    "rule",
    [
        safety.test_every_element_with_a_class_is_styled_inline,
        safety.test_style_block_keeps_only_media_queries,
        safety.test_layout_tables_are_presentational_and_data_tables_have_headers,
        safety.test_dark_mode_is_declared_and_every_coloured_box_sets_its_text_colour,
    ],
)
def test_the_section_keeps_the_email_client_rules(plain: Digest, rule: Any) -> None:
    # GIVEN the digest with the section  WHEN each rule of the rest of the digest is applied
    # THEN it holds here too (inline styles, only @media in <style>, headers, dark mode)
    rule(Tree(plain.html))


def test_each_row_links_to_its_own_conversation_and_unlinked_rows_have_none(
    plain: Digest,
) -> None:
    # GIVEN the summary's rows: some with a display id, some without
    doc = load()
    rows = [row for metric in doc["breaches"].values() for row in metric["worst"]]
    linked = {row["url"] for row in rows if row["url"]}
    assert linked
    assert any(row["url"] is None for row in rows)
    # WHEN the links of the HTML are collected
    hrefs = [e.attrs["href"] for e in Tree(plain.html).elements if "href" in e.attrs]
    # THEN each row's link is there, and every link is the reports page or a conversation
    assert linked <= set(hrefs)
    pattern = re.compile(rf"^{re.escape(BASE)}/app/accounts/7/conversations/\d+$")
    others = [h for h in hrefs if not pattern.match(h)]
    assert others == [f"{BASE}/app/accounts/7/reports/overview"]
    # AND a row's link text is its own display id
    anchors = [e for e in Tree(plain.html).named("a") if pattern.match(e.attrs["href"])]
    assert all("".join(a.text) == "#" + a.attrs["href"].rsplit("/", 1)[1] for a in anchors)


def test_rows_without_a_display_id_say_so_instead_of_linking(plain: Digest) -> None:
    doc = load()
    unlinked = sum(
        1 for m in doc["breaches"].values() for row in m["worst"] if row["display_id"] is None
    )
    # THEN the words "no link" stand where the link would be, in both parts
    assert Tree(plain.html).text().count("no link") >= unlinked
    assert plain.text.count("no link") >= unlinked


def test_capped_lists_say_how_many_more_are_in_breaches_csv(plain: Digest) -> None:
    # GIVEN 25 first-response breaches, 10 kept in the summary
    assert load()["breaches"]["first_response"]["total"] == 25
    # THEN both parts say the rest is in breaches.csv
    note = "showing the worst 10 of 25; every row is in breaches.csv"
    assert note in Tree(plain.html).text()
    assert note in plain.text


def test_hostile_feedback_is_text_in_the_html(attacked: Digest) -> None:
    tree = Tree(attacked.html)
    # THEN no script or image element came from feedback, no attribute from it either
    assert tree.named("script") == []
    assert tree.named("img") == []
    assert all("onerror" not in e.attrs for e in tree.elements)
    hrefs = [e.attrs["href"] for e in tree.elements if "href" in e.attrs]
    assert "http://evil.example" not in hrefs
    # AND the text reads as the customer wrote it, on one line, cut with an ellipsis
    text = tree.text()
    assert '<script>alert("csat")</script>' in text
    assert "line one Bcc: victim@example.com line three" in text
    assert "long long" in text
    assert "long " * 40 not in text
    assert "👎🏽 waited 3h 😡" in text


def test_right_to_left_feedback_is_isolated_and_its_override_removed(
    attacked: Digest,
) -> None:
    # THEN the HTML keeps it inside <bdi> without the override character
    assert "\u202e" not in attacked.html
    bdi = [e for e in Tree(attacked.html).named("bdi") if "تم الرد" in "".join(e.text)]
    assert bdi
    # AND the text part wraps it in first-strong isolates
    assert "\u2068تم الرد بعد ساعتين\u2069" in attacked.text
    assert "\u202e" not in attacked.text


def test_feedback_cannot_add_lines_or_headers_to_the_text_part(attacked: Digest) -> None:
    # THEN no line of the text part starts with what the feedback tried to inject
    assert not any(line.startswith("Bcc:") for line in attacked.text.splitlines())
    assert "line one Bcc: victim@example.com line three" in attacked.text
    assert '<script>alert("csat")</script>' in attacked.text  # plain text: shown as written


def test_a_summary_without_the_section_renders_without_it() -> None:
    # GIVEN a summary made before the section existed
    doc = load()
    for key in ("breaches", "csat", "sla_misses", "follow_up"):
        del doc[key]
    # THEN there is no section and nothing else changes
    digest = render(doc)
    assert "Conversations to act on" not in digest.html
    assert "CONVERSATIONS TO ACT ON" not in digest.text


def test_csat_left_out_says_why_in_one_line() -> None:
    # GIVEN a day whose token may not read CSAT
    doc = load()
    doc["csat"] = None
    why = "CSAT left out: the token may not read CSAT responses (administrators only) (HTTP 401)."
    doc["follow_up"]["notes"] = [why]
    # THEN the CSAT block is gone and the line is there, in both parts
    digest = render(doc)
    assert "Customer satisfaction" not in digest.html
    assert why in Tree(digest.html).text()
    assert why in digest.text


def test_the_email_stays_under_gmails_clipping_size_with_every_list_full() -> None:
    # GIVEN the busiest tables and every list of the section full of hostile names and text
    doc = copy.deepcopy(_busy_summary())
    worst = "<&>\"'" * 8 + "👩‍💻" * 10
    url = f"{BASE}/app/accounts/66/conversations/"

    def row(i: int) -> dict[str, Any]:
        return {
            "value": 7200.0 + i,
            "target": 1800.0,
            "inbox_id": 1 + i % 60,
            "user_id": 1000 + i,
            "conversation_ref": 9_000_000 + i,
            "display_id": 100_000 + i,
            "url": f"{url}{100_000 + i}",
            "created_at": "2026-11-20T10:00:00.000Z",
            "event_id": i,
        }

    metrics = ("first_response", "reply_time", "conversation_resolved")
    doc["breaches"] = {m: {"total": 500, "worst": [row(i) for i in range(50)]} for m in metrics}
    doc["csat"] = {
        "responses": 900,
        "sent": 2000,
        "response_rate": 0.45,
        "satisfied": 500,
        "score": 0.55,
        "by_agent": {
            str(i): {"responses": 10, "score": 0.5, "name": worst} for i in range(1000, 1300)
        },
        "low": [
            {
                "rating": 1,
                "feedback": (worst * 20)[:500],
                "display_id": 100 + i,
                "url": f"{url}{100 + i}",
                "agent": worst,
                "created_at": "2026-11-20T10:00:00Z",
            }
            for i in range(50)
        ],
        "range": "conversation_created",
        "ignored": 3,
    }
    doc["sla_misses"] = {
        "total": 3000,
        "without_conversation": 2,
        "groups": [
            {
                "policy_id": p,
                "policy": worst,
                "type": kind,
                "count": 100,
                "misses": [
                    {"display_id": 100 + i, "url": f"{url}{100 + i}", "created_at": "x"}
                    for i in range(50)
                ],
            }
            for p in range(10)
            for kind in ("frt", "nrt", "rt")
        ],
    }
    doc["follow_up"] = {
        "list_size": 50,
        "links": {"requests": 100, "budget": 100, "linked": 150, "unlinked": 350},
        "notes": ["x " * 300] * 6,
    }
    # WHEN it is rendered
    digest = render(doc)
    # THEN the HTML is below the 102 KB at which Gmail clips a message
    assert len(digest.html.encode("utf-8")) < 102_000
    assert "showing the worst 10 of 500; every row is in breaches.csv" in digest.text
