"""The digest in Microsoft Teams: an Adaptive Card (1.5) posted to a Workflows webhook.

The card has the Slack message's content: headline figures with their trend, the other
response times, the busiest inboxes and agents, the worst breaches with links, CSAT, and an
action opening the account's reports in Chatwoot. It keeps to the Adaptive Card schema (no
host-specific keys) and under the 28 KB Teams accepts.

A ``TextBlock`` renders a subset of markdown, so a name such as ``[click](https://evil)``
would become a link: every name from Chatwoot goes into a ``TextRun`` of a
``RichTextBlock``, which shows its text as it is.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from sla_digest.delivery.content import chat_content
from sla_digest.delivery.hook import HookChannel

if TYPE_CHECKING:
    from sla_digest.delivery.channel import Delivery, Message
    from sla_digest.delivery.content import ChatContent, Line
    from sla_digest.report.summary import Summary

__all__ = [
    "CARD_CONTENT_TYPE",
    "CARD_VERSION",
    "MAX_MESSAGE_BYTES",
    "TeamsChannel",
    "payload_bytes",
    "teams_card",
    "teams_payload",
]

logger = logging.getLogger(__name__)

CARD_VERSION = "1.5"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
MAX_MESSAGE_BYTES = 28 * 1024
"""Teams refuses a message over about 28 KB; the card is trimmed to stay under it."""
_SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
_COLOUR = {"good": "Good", "warn": "Warning", "bad": "Attention"}


def _text(text: str, **style: Any) -> dict[str, Any]:
    """A TextBlock of our own words (never a name: TextBlock renders markdown)."""
    return {"type": "TextBlock", "text": text, "wrap": True, **style}


def _runs(*runs: dict[str, Any], **style: Any) -> dict[str, Any]:
    return {"type": "RichTextBlock", "inlines": list(runs), **style}


def _run(text: str, **style: Any) -> dict[str, Any]:
    """Text shown as it is, markdown and all: the only place a name from Chatwoot goes."""
    return {"type": "TextRun", "text": text, **style}


def _heading(text: str) -> dict[str, Any]:
    return _text(text, weight="Bolder", spacing="Medium", separator=True)


def _figures(content: ChatContent) -> dict[str, Any]:
    columns = []
    for figure in content.figures:
        colour = _COLOUR.get(figure.tone)
        value = _text(figure.value, size="Large", weight="Bolder", spacing="None")
        if colour:
            value["color"] = colour
        items = [_text(figure.label, isSubtle=True, size="Small"), value]
        items.append(_text(figure.change, size="Small", spacing="None"))
        if figure.detail:
            items.append(_text(figure.detail, size="Small", isSubtle=True, spacing="None"))
        columns.append({"type": "Column", "width": "stretch", "items": items})
    return {"type": "ColumnSet", "columns": columns, "spacing": "Medium"}


def _listed(title: str, lines: tuple[Line, ...], total: int, noun: str) -> list[dict[str, Any]]:
    if not lines:
        return []
    shown = f" ({len(lines)} of {total:,} {noun})" if total > len(lines) else ""
    blocks: list[dict[str, Any]] = [_heading(f"{title}{shown}")]
    for line in lines:
        blocks.append(
            _runs(_run(line.name, weight="Bolder"), _run(f" — {line.text}"), spacing="Small")
        )
    return blocks


def _breaches(content: ChatContent) -> list[dict[str, Any]]:
    if not content.breaches:
        return []
    shown = len(content.breaches)
    more = f" ({shown} of {content.breach_total:,})" if content.breach_total > shown else ""
    blocks: list[dict[str, Any]] = [_heading(f"Worst breaches{more}")]
    for breach in content.breaches:
        ref = _run(breach.ref, weight="Bolder")
        if breach.url:
            ref["selectAction"] = {"type": "Action.OpenUrl", "url": breach.url}
        runs = [ref, _run(f" {breach.metric.lower()} {breach.value} (target {breach.target})")]
        if breach.where:
            runs.append(_run(f" · {breach.where}", isSubtle=True))
        blocks.append(_runs(*runs, spacing="Small"))
    return blocks


def _card(content: ChatContent, *, rows: int) -> dict[str, Any]:
    compare = f" · compared with {content.compare}" if content.compare else ""
    body: list[dict[str, Any]] = [
        _runs(_run(content.title, size="Large", weight="Bolder")),
        _text(f"{content.date_label} ({content.timezone}){compare}", isSubtle=True, spacing="None"),
    ]
    body += [_runs(_run(note, color="Warning", weight="Bolder")) for note in content.notes]
    body.append(_figures(content))
    body.append(_heading("Response times"))
    body.append(
        {
            "type": "FactSet",
            "facts": [{"title": line.name, "value": line.text} for line in content.metrics],
        }
    )
    body += _listed("Busiest inboxes", content.inboxes[:rows], content.inbox_total, "inboxes")
    body += _listed("Busiest agents", content.agents[:rows], content.agent_total, "agents")
    body += _breaches(content)
    if content.csat:
        body += [_heading("CSAT"), _text(content.csat, spacing="Small")]
    body.append(_text(f"SLA digest · {content.source}", size="Small", isSubtle=True))
    card: dict[str, Any] = {
        "$schema": _SCHEMA,
        "type": "AdaptiveCard",
        "version": CARD_VERSION,
        "fallbackText": content.fallback_text(),
        "body": body,
    }
    if content.reports_url:
        card["actions"] = [
            {
                "type": "Action.OpenUrl",
                "title": "Open the reports in Chatwoot",
                "url": content.reports_url,
            }
        ]
    return card


def _envelope(card: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "message",
        "attachments": [{"contentType": CARD_CONTENT_TYPE, "contentUrl": None, "content": card}],
    }


def payload_bytes(payload: dict[str, Any]) -> bytes:
    """The message as it is posted (and measured against :data:`MAX_MESSAGE_BYTES`)."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def teams_card(summary: Summary) -> dict[str, Any]:
    """The Adaptive Card alone (what the schema validates)."""
    card: dict[str, Any] = teams_payload(summary)["attachments"][0]["content"]
    return card


def teams_payload(summary: Summary) -> dict[str, Any]:
    """The Workflows message: the card in its ``attachments`` envelope, under 28 KB.

    Names are cut to a few dozen characters, so the card is far below the limit; should it
    still be over, fewer rows are listed until it fits.
    """
    content = chat_content(summary)
    rows = max(len(content.inboxes), len(content.agents))
    payload = _envelope(_card(content, rows=rows))
    while len(payload_bytes(payload)) > MAX_MESSAGE_BYTES and rows > 0:
        rows -= 1
        payload = _envelope(_card(content, rows=rows))
    return payload


class TeamsChannel(HookChannel):
    """Posts the digest card to a Microsoft Teams Workflows webhook."""

    kind = "teams"
    noun = "Teams workflow"

    def request(self, message: Message, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        body = payload_bytes(teams_payload(message.summary))
        return body, {"Content-Type": "application/json; charset=utf-8"}
