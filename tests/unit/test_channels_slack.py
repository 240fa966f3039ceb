"""The Slack message: Block Kit within Slack's limits, figures as the email shows them, names
escaped for mrkdwn, breaches linked when the summary has them."""

from __future__ import annotations

import copy
import json
import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sla_digest.delivery.channel import Delivery, Message
from sla_digest.delivery.http import HttpAnswer
from sla_digest.delivery.slack import SlackChannel, slack_payload
from sla_digest.exceptions import DeliveryRejected
from sla_digest.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "summaries"


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    return loaded


def summary(name: str) -> Summary:
    return Summary.from_dict(document(name))


def texts(payload: dict[str, Any]) -> list[str]:
    """Every mrkdwn text of the message, the fallback included."""
    found = [payload["text"]]
    for block in payload["blocks"]:
        if block["type"] == "section":
            if "text" in block:
                found.append(block["text"]["text"])
            found += [field["text"] for field in block.get("fields", ())]
        elif block["type"] == "context":
            found += [element["text"] for element in block["elements"]]
    return found


def many_inboxes(count: int, name: str) -> dict[str, Any]:
    """The Acme day with ``count`` extra inboxes named ``name #n``."""
    doc = document("acme-2026-11-20")
    template = doc["by_inbox"]["1"]
    for index in range(count):
        block = copy.deepcopy(template)
        block["name"] = f"{name} #{index}"
        doc["by_inbox"][str(1000 + index)] = block
    return doc


class WithBreaches:
    """A summary carrying §13's ``breaches``, as the breach work will add them."""

    def __init__(self, inner: Summary, breaches: Any) -> None:
        self._inner = inner
        self.breaches = breaches

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def breach(value: float, display_id: int | None, url: str | None) -> dict[str, Any]:
    return {"value": value, "target": 1800.0, "inbox_id": 1, "user_id": 11,
            "conversation_ref": 9000, "display_id": display_id, "url": url,
            "created_at": 1795130000}  # fmt: skip


def test_the_headline_figures_and_their_trend_read_as_in_the_email() -> None:
    # GIVEN the Acme day: 50 first responses (44 the day before), p90 611 s (700 s before),
    # 47 of 50 within the 30-minute target (40 of 44 before)
    payload = slack_payload(summary("acme-2026-11-20"))
    fields = next(b["fields"] for b in payload["blocks"] if "fields" in b)
    shown = "\n".join(field["text"] for field in fields)
    # THEN the figures and changes are the hand-worked ones
    assert "*Answered*\n50\n_▲ 14% more than 2026-11-19_" in shown  # 50/44 = +13.6 %
    assert "*p90*\n10m 11s\n_▼ 13% faster than 2026-11-19_" in shown  # 611/700 = −12.7 %
    assert "94%" in shown  # 47/50
    assert "4 pts better than 2026-11-19" in shown  # 94 − 90 (40/44 rounded down)
    assert payload["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Acme Support — SLA digest", "emoji": False},
    }


def test_the_message_links_the_account_reports_in_chatwoot_and_has_a_fallback_text() -> None:
    # GIVEN the Acme day of account 7 on chat.acme.example
    payload = slack_payload(summary("acme-2026-11-20"))
    # THEN the reports link and a one-line fallback are there
    link = "<https://chat.acme.example/app/accounts/7/reports/overview|"
    assert any(link in text for text in texts(payload))
    assert payload["text"].startswith("Acme Support SLA digest 2026-11-20: first response p90")
    assert "\n" not in payload["text"]


@pytest.mark.parametrize("name", ["acme-2026-11-20", "hostile-names"])
def test_the_message_keeps_to_slacks_limits(name: str) -> None:
    # GIVEN a fixture day
    payload = slack_payload(summary(name))
    # THEN at most 50 blocks, section texts of at most 3,000 characters, a short header
    assert len(payload["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in texts(payload))
    assert len(payload["blocks"][0]["text"]["text"]) <= 150


def test_a_day_with_hundreds_of_long_hostile_names_still_keeps_to_the_limits() -> None:
    # GIVEN 400 inboxes whose names are long and full of characters mrkdwn must escape
    doc = many_inboxes(400, "&<>" * 70)
    # WHEN the message is built
    payload = slack_payload(Summary.from_dict(doc))
    # THEN it stays within every limit and lists only a handful of inboxes
    assert len(payload["blocks"]) <= 50
    assert all(len(text) <= 3000 for text in texts(payload))
    inboxes = next(t for t in texts(payload) if t.startswith("*Busiest inboxes*"))
    assert "(5 of 403 inboxes)" in inboxes


def test_hostile_names_are_escaped_for_mrkdwn_and_cannot_link_or_mention() -> None:
    # GIVEN names with markup, a fake link and a mention
    doc = document("acme-2026-11-20")
    doc["by_inbox"]["1"]["name"] = "<https://evil.example|Hi> & <!channel>"
    payload = slack_payload(Summary.from_dict(doc))
    # THEN the escaped name is shown, and no raw angle bracket survives outside our own link
    escaped = "&lt;https://evil.example|Hi&gt; &amp; &lt;!channel&gt;"
    assert any(escaped in text for text in texts(payload))
    for text in texts(payload):
        without_our_link = re.sub(r"<https://chat\.acme\.example/[^|>]+\|[^>]+>", "", text)
        assert "<" not in without_our_link, text
        assert ">" not in without_our_link, text


def test_the_hostile_names_fixture_shows_every_inbox_name_escaped() -> None:
    # GIVEN the hostile-names day
    doc = document("hostile-names")
    payload = slack_payload(Summary.from_dict(doc))
    joined = "\n".join(texts(payload))
    # THEN each inbox name appears escaped by the reference rule (& < > only), never raw
    for block in doc["by_inbox"].values():
        name = block["name"]
        reference = name.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if len(reference) <= 40 and "<" in name:
            assert reference in joined
            assert name not in joined


def test_the_worst_breaches_are_listed_with_links_when_the_summary_has_them() -> None:
    # GIVEN a summary with three first-response breaches: one linked, one with a link that
    # would break Slack's syntax, one whose display id is unknown
    breaches = {
        "first_response": {
            "total": 3,
            "worst": [
                breach(7500.0, 123, "https://chat.acme.example/app/accounts/7/conversations/123"),
                breach(4000.0, 124, "https://evil.example/x|Click here>"),
                breach(2000.0, None, None),
            ],
        }
    }
    payload = slack_payload(WithBreaches(summary("acme-2026-11-20"), breaches))  # type: ignore[arg-type]
    section = next(t for t in texts(payload) if t.startswith("*Worst breaches*"))
    lines = section.splitlines()[1:]
    # THEN each is one line, worst first, the safe link linked and the others plain
    assert lines[0] == (
        "• <https://chat.acme.example/app/accounts/7/conversations/123|#123> first response "
        "2h 05m (target 30m) · Website chat · Ana Souza"
    )
    assert lines[1].startswith("• #124 first response 1h 07m (target 30m)")
    assert lines[2].startswith("• a conversation first response 33m 20s")
    assert "evil.example" not in section


def test_a_summary_without_breaches_has_no_breach_section() -> None:
    # GIVEN the Acme day, whose summary predates breaches
    payload = slack_payload(summary("acme-2026-11-20"))
    # THEN the message has the headline alone
    assert not any(text.startswith("*Worst breaches*") for text in texts(payload))


@pytest.mark.parametrize("body", [b"invalid_payload", b"no_text", b"channel_not_found"])
def test_a_200_with_one_of_slacks_error_bodies_is_a_refusal_naming_it(body: bytes) -> None:
    # GIVEN the Slack channel and an answer of 200 with an error code as its body
    channel = SlackChannel("https://hooks.example.com/secret-path", where="sla-digest/acme/slack")
    # WHEN it checks the answer
    with pytest.raises(DeliveryRejected) as caught:
        channel.check(HttpAnswer(200, {}, body), "the Slack hook of account 7")
    # THEN the refusal names the code and the account, never the URL
    message = str(caught.value)
    assert body.decode() in message
    assert "account 7" in message
    assert "secret-path" not in message


def test_slacks_own_ok_answer_is_accepted() -> None:
    channel = SlackChannel("https://hooks.example.com/x", where="SLA_DIGEST_SLACK_URL")
    # GIVEN / WHEN / THEN: "ok" and a workflow hook's JSON are both success
    channel.check(HttpAnswer(200, {}, b"ok"), "the Slack hook of account 7")
    channel.check(HttpAnswer(200, {}, b'{"ok": true}'), "the Slack hook of account 7")


def test_the_request_body_is_the_payload_as_utf8_json() -> None:
    # GIVEN the channel and the Acme day
    channel = SlackChannel("https://hooks.example.com/x", where="SLA_DIGEST_SLACK_URL")
    day = summary("acme-2026-11-20")
    # WHEN the request is built
    body, headers = channel.request(
        Message(digest=None, summary=day),  # type: ignore[arg-type]
        Delivery(account_id=7, start=date(2026, 11, 20)),
    )
    # THEN it is the payload, as JSON
    assert json.loads(body) == slack_payload(day)
    assert headers["Content-Type"].startswith("application/json")


def test_a_weekly_message_is_named_by_its_week_not_its_first_day() -> None:
    # GIVEN the week of 16-22 Nov 2026 (ISO week 47)
    payload = slack_payload(summary("acme-week-2026-11-16"))
    # THEN the fallback text and the blocks name the week, never its first day alone
    assert payload["text"].startswith("Acme Support SLA digest Week 47 (16–22 Nov): ")
    assert "Week 47 (16–22 Nov 2026)" in " ".join(texts(payload))
    assert "2026-11-16" not in payload["text"]
