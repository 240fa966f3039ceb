"""What a chat message says about a summary: the same figures as the email, fewer of them.

Slack and Teams show the same content in their own markup, so it is worked out once here, from
the report's own view (:func:`sla_digest.report.view.digest_view`): every number is formatted by
:mod:`sla_digest.report.format` exactly as in the email. Names from Chatwoot arrive cleaned
(one line, no control or bidi-override characters) and cut, but not escaped: each channel
escapes them for its own markup.

Breaches and CSAT are read from the summary when it carries them (``breaches``, ``csat``, §13
of the design); a summary without them gives a message without those sections.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.report.format import (
    clean_text,
    cut,
    format_count,
    format_duration,
    format_percent,
    format_target,
    isolate,
)
from sla_digest.report.metrics import HEADLINE, METRICS
from sla_digest.report.period_view import period_names
from sla_digest.report.view import NAME_LIMIT, digest_view, entities, headline

if TYPE_CHECKING:
    from sla_digest.report.summary import Summary
    from sla_digest.report.view import Row, Table

__all__ = [
    "MAX_BREACHES_PER_METRIC",
    "MAX_ROWS",
    "BreachLine",
    "ChatContent",
    "Figure",
    "Line",
    "chat_content",
    "safe_link",
]

MAX_ROWS = 5
"""Busiest inboxes and agents a chat message lists (the email and its CSV have them all)."""
MAX_BREACHES_PER_METRIC = 5

_LINK_BREAKERS = frozenset(" \t\"'<>|`\\")


@dataclass(frozen=True, slots=True)
class Figure:
    """A headline figure: ``Answered 50`` with its change against the previous period."""

    label: str
    value: str
    change: str
    tone: str  # good | bad | warn | neutral
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Line:
    """One listed thing: ``name`` is untrusted text (cleaned, cut, isolated), ``text`` ours."""

    name: str
    text: str


@dataclass(frozen=True, slots=True)
class BreachLine:
    """A conversation over its target; ``url`` is ``None`` when its link is not known."""

    metric: str
    ref: str
    value: str
    target: str
    where: str  # untrusted: the inbox and agent names
    url: str | None


@dataclass(frozen=True, slots=True)
class ChatContent:
    account_id: int
    account_name: str  # untrusted (cleaned, cut, isolated when right-to-left)
    date: str  # ISO date of the period's first day
    date_label: str  # "Friday 20 November 2026"
    timezone: str
    headline: str
    compare: str | None  # "Thursday 19 November 2026", the period compared with
    figures: tuple[Figure, ...]
    metrics: tuple[Line, ...]
    inboxes: tuple[Line, ...]
    inbox_total: int
    agents: tuple[Line, ...]
    agent_total: int
    breaches: tuple[BreachLine, ...]
    breach_total: int
    csat: str | None
    notes: tuple[str, ...]
    reports_url: str | None
    source: str

    @property
    def title(self) -> str:
        return f"{self.account_name} — SLA digest"

    def fallback_text(self) -> str:
        """One line for notifications and clients that show no cards (names unescaped)."""
        text = f"{self.account_name} SLA digest {self.date}: {self.headline}"
        return text + (" (incomplete data)" if self.notes else "")


def safe_link(url: Any) -> str | None:
    """An http(s) URL that cannot break out of Slack's ``<url|text>`` or a card's JSON."""
    if not isinstance(url, str):
        return None
    text = url.strip()
    if not text.lower().startswith(("https://", "http://")) or len(text) > 2000:
        return None
    if any(char in _LINK_BREAKERS or ord(char) < 32 for char in text):
        return None
    return text


def _lines(table: Table) -> tuple[Line, ...]:
    # The isolated name: a right-to-left name cannot pull the figures after it into its run.
    return tuple(Line(row.text_name, _row_text(row)) for row in table.rows)


def _row_text(row: Row) -> str:
    responses = "first response" if row.first_responses == "1" else "first responses"
    text = f"{row.first_responses} {responses}"
    if row.first_responses != "0":
        text += f" · p90 {row.first_response_p90} · {row.sla.short}"
    return text + f" · {row.resolved} resolved"


def _field(row: Any, name: str) -> Any:
    return row.get(name) if isinstance(row, Mapping) else getattr(row, name, None)


def _as_document(value: Any) -> Any:
    to_dict = getattr(value, "to_dict", None)
    return to_dict() if callable(to_dict) else value


def _name(blocks: Mapping[str, Any], key: Any, noun: str) -> str | None:
    if key is None:
        return None
    block = blocks.get(str(key))
    raw = getattr(block, "name", None) if block is not None else None
    return isolate(cut(clean_text(raw), NAME_LIMIT)) if raw else f"{noun} #{key}"


def _target(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return format_target(float(value))
    return format_duration(None)


def _breaches(summary: Summary) -> tuple[tuple[BreachLine, ...], int]:
    """The worst breaches of each metric with a target, when the summary carries them."""
    document = _as_document(getattr(summary, "breaches", None))
    if not isinstance(document, Mapping):
        return (), 0
    lines: list[BreachLine] = []
    total = 0
    for spec in METRICS:
        entry = _as_document(document.get(spec.key))
        if not isinstance(entry, Mapping):
            continue
        total += int(entry.get("total") or 0)
        for row in list(entry.get("worst") or ())[:MAX_BREACHES_PER_METRIC]:
            row = _as_document(row)
            display = _field(row, "display_id")
            ref = f"#{int(display)}" if isinstance(display, int) else "a conversation"
            names = [
                _name(summary.by_inbox, _field(row, "inbox_id"), "Inbox"),
                _name(summary.by_agent, _field(row, "user_id"), "Agent"),
            ]
            lines.append(
                BreachLine(
                    metric=spec.label,
                    ref=ref,
                    value=format_duration(_field(row, "value")),
                    target=_target(_field(row, "target")),
                    where=" · ".join(name for name in names if name),
                    url=safe_link(_field(row, "url")) if isinstance(display, int) else None,
                )
            )
    return tuple(lines), total


def _csat(summary: Summary) -> str | None:
    document = _as_document(getattr(summary, "csat", None))
    if not isinstance(document, Mapping):
        return None
    responses = int(document.get("responses") or 0)
    if responses <= 0:
        return "no CSAT responses"
    satisfied = int(document.get("satisfied") or 0)
    noun = "response" if responses == 1 else "responses"
    text = f"{format_percent(satisfied, responses)} satisfied ({format_count(responses)} {noun}"
    sent = int(document.get("sent") or 0)
    if sent > 0:
        text += f", {format_percent(responses, sent)} of {format_count(sent)} surveys answered"
    return text + ")"


def chat_content(summary: Summary, *, max_rows: int = MAX_ROWS) -> ChatContent:
    """The chat message's content for ``summary``, figures formatted as the email's."""
    inboxes = entities("inbox", summary.by_inbox)
    agents = entities("agent", summary.by_agent)
    names = period_names(summary)  # a week or month is named by its period, not its first day
    view = digest_view(summary, "", max_rows, inboxes, agents, **names)
    figures = tuple(
        Figure(tile.label, tile.value, tile.change.text, tile.tone, tile.detail)
        for tile in view["tiles"]
    )
    metrics = tuple(
        Line(
            metric.label,
            f"{metric.count} · median {metric.p50} · p90 {metric.p90} · {metric.sla.text}",
        )
        for metric in view["metrics"]
    )
    notes: list[str] = []
    if not view["complete"]:
        notes.append(f"Incomplete data: {view['missing_text']}.")
    if view["partial"]:
        notes.append("The period was not over when these figures were taken.")
    breaches, breach_total = _breaches(summary)
    return ChatContent(
        account_id=int(view["account_id"]),
        account_name=view["text_account_name"],
        date=names["titles"][0] if names else view["date"],
        date_label=view["date_long"],
        timezone=view["timezone"],
        headline=headline(summary.overall.metrics[HEADLINE]),
        compare=view["compare_date_long"],
        figures=figures,
        metrics=metrics,
        inboxes=_lines(view["inboxes"]),
        inbox_total=len(inboxes),
        agents=_lines(view["agents"]),
        agent_total=len(agents),
        breaches=breaches,
        breach_total=breach_total,
        csat=_csat(summary),
        notes=tuple(notes),
        reports_url=view["reports_url"],
        source=f"{view['events']} events in {view['pages']} pages",
    )
