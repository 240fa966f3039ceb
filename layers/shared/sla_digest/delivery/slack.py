"""The digest in Slack: an incoming-webhook message in Block Kit, within Slack's limits.

Headline figures with their trend, the other response times, the busiest inboxes and agents,
the worst breaches with links (when the summary has them), CSAT, and a link to the account's
reports in Chatwoot; ``text`` carries a one-line fallback for notifications. Every name from
Chatwoot is escaped for mrkdwn (``&``, ``<``, ``>``), so a name cannot make a link or a
``<!channel>`` mention.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from sla_digest.delivery.content import chat_content
from sla_digest.delivery.hook import HookChannel
from sla_digest.exceptions import DeliveryRejected
from sla_digest.report.format import cut

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sla_digest.delivery.channel import Delivery, Message
    from sla_digest.delivery.content import ChatContent, Line
    from sla_digest.delivery.http import HttpAnswer
    from sla_digest.report.summary import Summary

__all__ = [
    "MAX_BLOCKS",
    "MAX_HEADER_TEXT",
    "MAX_SECTION_TEXT",
    "SlackChannel",
    "escape_mrkdwn",
    "slack_payload",
]

logger = logging.getLogger(__name__)

# Slack's documented limits for a message's blocks.
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_HEADER_TEXT = 150
MAX_FIELDS = 10
MAX_FIELD_TEXT = 2000
MAX_CONTEXT_ELEMENTS = 10
_TONE = {"good": ":large_green_circle:", "warn": ":large_yellow_circle:", "bad": ":red_circle:"}


def escape_mrkdwn(text: str) -> str:
    """Text shown as itself in mrkdwn: the three characters Slack asks to escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _mrkdwn(text: str) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": text}


def _context(*texts: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [_mrkdwn(cut(t, MAX_SECTION_TEXT)) for t in texts[:MAX_CONTEXT_ELEMENTS]],
    }


def _sections(heading: str, lines: Iterable[str]) -> list[dict[str, Any]]:
    """``heading`` and its lines in as few sections as fit ``MAX_SECTION_TEXT`` each."""
    sections: list[dict[str, Any]] = []
    text = heading
    for line in lines:
        line = cut(line, MAX_SECTION_TEXT - 10)
        if len(text) + 1 + len(line) > MAX_SECTION_TEXT:
            sections.append({"type": "section", "text": _mrkdwn(text)})
            text = line
        else:
            text = f"{text}\n{line}" if text else line
    if text:
        sections.append({"type": "section", "text": _mrkdwn(text)})
    return sections


def _listed(title: str, lines: tuple[Line, ...], total: int, noun: str) -> list[dict[str, Any]]:
    if not lines:
        return []
    shown = f" ({len(lines)} of {total:,} {noun})" if total > len(lines) else ""
    return _sections(
        f"*{title}*{shown}",
        (f"• *{escape_mrkdwn(line.name)}* — {line.text}" for line in lines),
    )


def _figures(content: ChatContent) -> dict[str, Any]:
    fields = []
    for figure in content.figures[:MAX_FIELDS]:
        tone = _TONE.get(figure.tone, "")
        value = f"{tone} {figure.value}".strip()
        detail = f" ({figure.detail})" if figure.detail else ""
        text = f"*{figure.label}*{detail}\n{value}\n_{figure.change}_"
        fields.append(_mrkdwn(cut(text, MAX_FIELD_TEXT)))
    return {"type": "section", "fields": fields}


def _breach_lines(content: ChatContent) -> list[str]:
    lines = []
    for breach in content.breaches:
        ref = f"<{breach.url}|{breach.ref}>" if breach.url else breach.ref
        where = f" · {escape_mrkdwn(breach.where)}" if breach.where else ""
        lines.append(
            f"• {ref} {breach.metric.lower()} {breach.value} (target {breach.target}){where}"
        )
    return lines


def _fit(blocks: list[dict[str, Any]], footer: dict[str, Any]) -> list[dict[str, Any]]:
    """At most ``MAX_BLOCKS`` blocks, the footer always last; what is dropped is said."""
    if len(blocks) + 1 <= MAX_BLOCKS:
        return [*blocks, footer]
    kept = blocks[: MAX_BLOCKS - 2]
    note = _context(f"{len(blocks) - len(kept)} more sections are in the email digest.")
    return [*kept, note, footer]


def slack_payload(summary: Summary) -> dict[str, Any]:
    """The incoming-webhook message (``text`` + ``blocks``) for one summary."""
    content = chat_content(summary)
    compare = f" · compared with {content.compare}" if content.compare else ""
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {
                "type": "plain_text",
                "text": cut(content.title, MAX_HEADER_TEXT),
                "emoji": False,
            },
        },
        _context(f"{content.date_label} ({content.timezone}){compare}"),
    ]
    blocks += _sections("", (f":warning: {escape_mrkdwn(note)}" for note in content.notes))
    blocks.append(_figures(content))
    blocks += _sections(
        "*Response times*",
        (f"• *{escape_mrkdwn(line.name)}* — {line.text}" for line in content.metrics),
    )
    blocks.append({"type": "divider"})
    blocks += _listed("Busiest inboxes", content.inboxes, content.inbox_total, "inboxes")
    blocks += _listed("Busiest agents", content.agents, content.agent_total, "agents")
    if content.breaches:
        shown = len(content.breaches)
        more = f" ({shown} of {content.breach_total:,})" if content.breach_total > shown else ""
        blocks += _sections(f"*Worst breaches*{more}", _breach_lines(content))
    if content.csat:
        blocks += _sections("", [f"*CSAT* {content.csat}"])
    if content.reports_url:
        blocks += _sections("", [f"<{content.reports_url}|Open the reports in Chatwoot>"])
    footer = _context(f"SLA digest · {content.source}")
    return {
        "text": escape_mrkdwn(content.fallback_text()),
        "blocks": _fit(blocks, footer),
        "unfurl_links": False,
        "unfurl_media": False,
    }


class SlackChannel(HookChannel):
    """Posts the digest to a Slack incoming webhook."""

    kind = "slack"
    noun = "Slack hook"

    def request(self, message: Message, delivery: Delivery) -> tuple[bytes, dict[str, str]]:
        body = json.dumps(slack_payload(message.summary), ensure_ascii=False).encode("utf-8")
        return body, {"Content-Type": "application/json; charset=utf-8"}

    def check(self, answer: HttpAnswer, what: str) -> None:
        """Slack says ``ok``; anything else in a 2xx (``invalid_payload``…) is a refusal."""
        text = answer.body.decode("utf-8", "replace").strip()
        if text in ("ok", "") or _json_ok(text):
            return
        reason = answer.reason() or "an unexpected answer"
        raise DeliveryRejected(
            f"{what}: Slack refused the message ({reason}); check that the hook's channel "
            "still exists and the app may post to it"
        )


def _json_ok(text: str) -> bool:
    try:
        document = json.loads(text)
    except ValueError:
        return False
    return isinstance(document, dict) and document.get("ok") is True
