"""What the digest's "Conversations to act on" section shows, formatted once for both parts.

Worked out from the summary's :class:`~sla_digest.report.follow_up.FollowUp` (nothing else),
so a digest re-rendered from the archive shows the same rows. Every name and every piece of
feedback from Chatwoot is untrusted: reduced to one clean line, cut, and (in the text part)
isolated when it is right-to-left; the HTML template escapes it and shows it in ``<bdi>``.
Links are the summary's own (``{base_url}/app/accounts/{id}/conversations/{display_id}``)
and only ever ``http(s)``; a row without one shows no link at all.

The HTML shows at most :data:`SHOWN_ROWS` rows of each list whatever ``list_size`` is, so the
email stays far below the 102 KB at which Gmail clips it; a capped list says how many more
rows ``breaches.csv`` holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sla_digest.report.format import (
    clean_text,
    cut,
    format_count,
    format_duration,
    format_percent,
    format_target,
    isolate,
    local_time,
)
from sla_digest.report.metrics import METRICS

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sla_digest.report.follow_up import BreachRow, Csat, FollowUp, SlaMisses
    from sla_digest.report.summary import NamedBlock

__all__ = [
    "FEEDBACK_SHOWN",
    "SHOWN_ROWS",
    "BreachTable",
    "CsatView",
    "FollowUpView",
    "Link",
    "follow_up_view",
]

SHOWN_ROWS = 10
"""Rows over target the email shows per metric, whatever the configured list size."""
SHOWN_OTHERS = 5
"""Low ratings and agents' CSAT rows the email shows."""
SHOWN_GROUPS = 6
"""SLA-policy miss groups (policy × type) the email shows, each with a few links."""
FEEDBACK_SHOWN = 120
LINKS_PER_GROUP = 3
_NAME = 24  # characters of a name in this section (the tables above show more)
_MISS_TYPES = {"frt": "first response", "nrt": "next response", "rt": "resolution"}


@dataclass(frozen=True, slots=True)
class Link:
    """``#3049`` and its URL, or the words saying there is no link (``url`` is ``None``)."""

    text: str
    url: str | None


_NO_LINK = Link("no link", None)


@dataclass(frozen=True, slots=True)
class BreachLine:
    value: str  # "1h 30m"
    over: str  # "+1h 00m"
    link: Link
    inbox: str
    agent: str
    text_inbox: str
    text_agent: str
    when: str  # local time


@dataclass(frozen=True, slots=True)
class BreachTable:
    label: str  # "First response"
    target: str  # "30m"
    total: int
    heading: str  # "First response: 12 over the 30m target"
    rows: tuple[BreachLine, ...]
    note: str


@dataclass(frozen=True, slots=True)
class AgentLine:
    name: str
    text_name: str
    responses: str
    score: str


@dataclass(frozen=True, slots=True)
class LowLine:
    rating: str  # "1/5"
    feedback: str
    text_feedback: str
    link: Link
    agent: str
    text_agent: str
    when: str


@dataclass(frozen=True, slots=True)
class CsatView:
    summary: str  # "65% satisfied: 22 of 34 responses rated 4 or 5"
    rate: str  # "33% of 103 surveys sent were answered"
    range: str  # which date semantics applied
    agents: tuple[AgentLine, ...]
    agents_note: str
    low: tuple[LowLine, ...]
    low_note: str


@dataclass(frozen=True, slots=True)
class MissGroup:
    policy: str
    text_policy: str
    kind: str  # "first response"
    count: str
    links: tuple[Link, ...]
    more: str  # "and 4 more"


@dataclass(frozen=True, slots=True)
class FollowUpView:
    breaches: tuple[BreachTable, ...]
    breaches_text: str  # one line: how many, or why nothing is listed
    csat: CsatView | None
    misses: tuple[MissGroup, ...] | None
    misses_text: str
    misses_note: str
    notes: tuple[str, ...]
    requests: str  # "23 of 100 link requests used"


def _link(display: int | None, url: str | None) -> Link:
    if display is None or url is None or not url.lower().startswith(("https://", "http://")):
        return _NO_LINK
    return Link(f"#{display}", url)


def _name(blocks: Mapping[str, NamedBlock], key: int | None, noun: str, nobody: str) -> str:
    if key is None:
        return nobody
    block = blocks.get(str(key))
    raw = block.name if block is not None else None
    return cut(clean_text(raw), _NAME) if raw else f"{noun} #{key}"


def _when(text: str | None, zone: str, day: date) -> str:
    """Local ``19:55`` on the report day, else ``2026-11-21 08:10 CET``; ``—`` without one."""
    if not text:
        return "—"
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return "—"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    shown = local_time(moment, zone)
    return shown[11:16] if shown.startswith(day.isoformat()) else shown


def _breach_table(
    label: str,
    rows: tuple[BreachRow, ...],
    total: int,
    by_inbox: Mapping[str, NamedBlock],
    by_agent: Mapping[str, NamedBlock],
    zone: str,
    day: date,
) -> BreachTable:
    target = format_target(float(rows[0].target)) if rows else ""
    lines = []
    for row in rows[:SHOWN_ROWS]:
        inbox = _name(by_inbox, row.inbox_id, "Inbox", "No inbox")
        agent = _name(by_agent, row.user_id, "Agent", "Unassigned")
        lines.append(
            BreachLine(
                value=format_duration(float(row.value)),
                over="+" + format_duration(float(row.value) - float(row.target)),
                link=_link(row.display_id, row.url),
                inbox=inbox,
                agent=agent,
                text_inbox=isolate(inbox),
                text_agent=isolate(agent),
                when=_when(row.created_at, zone, day),
            )
        )
    shown = len(lines)
    note = ""
    if total > shown:
        note = f"showing the worst {shown} of {format_count(total)}; every row is in breaches.csv"
    noun = "row" if total == 1 else "rows"
    heading = f"{label}: {format_count(total)} {noun} over the {target} target"
    return BreachTable(label, target, total, heading, tuple(lines), note)


def _feedback(raw: str | None) -> str:
    """One line of feedback, cut; empty when there is none."""
    return cut(clean_text(raw), FEEDBACK_SHOWN) if raw else ""


def _csat(csat: Csat, by_agent: Mapping[str, NamedBlock], zone: str, day: date) -> CsatView:
    responses = int(csat.responses)
    satisfied = int(csat.satisfied)
    summary = (
        f"{format_percent(satisfied, responses)} satisfied: {satisfied:,} of {responses:,} "
        "responses rated 4 or 5"
        if responses
        else "No CSAT responses"
    )
    sent = csat.sent
    if sent is None:
        rate = "surveys sent: not reported by Chatwoot"
    elif sent == 0:
        rate = "no surveys were sent"
    else:
        rate = f"{format_percent(responses, int(sent))} of {int(sent):,} surveys sent answered"
    range_text = (
        "Responses to conversations created on this day, as Chatwoot's CSAT report counts "
        "them (older Chatwoot versions count the responses given on the day)."
        if csat.range == "conversation_created"
        else "Responses given on this day."
    )
    ranked = sorted(csat.by_agent.items(), key=lambda item: (-int(item[1].responses), item[0]))
    agents = []
    for key, figures in ranked[:SHOWN_OTHERS]:
        name = cut(clean_text(figures.name), _NAME) if figures.name else None
        shown = name or ("Unassigned" if key == "none" else f"Agent #{key}")
        good = round(float(figures.score or 0) * int(figures.responses))
        agents.append(
            AgentLine(
                name=shown,
                text_name=isolate(shown),
                responses=format_count(figures.responses),
                score=format_percent(good, int(figures.responses)),
            )
        )
    agents_note = (
        f"showing {len(agents)} of {len(ranked)} agents" if len(ranked) > len(agents) else ""
    )
    low = []
    for rating in csat.low[:SHOWN_OTHERS]:
        feedback = _feedback(rating.feedback)
        agent = cut(clean_text(rating.agent), _NAME) if rating.agent else "Unassigned"
        low.append(
            LowLine(
                rating=f"{int(rating.rating)}/5",
                feedback=feedback,
                text_feedback=isolate(feedback),
                link=_link(rating.display_id, rating.url),
                agent=agent,
                text_agent=isolate(agent),
                when=_when(rating.created_at, zone, day),
            )
        )
    low_note = "No ratings of 1 or 2." if not low else ""
    if len(csat.low) > len(low):
        low_note = f"showing the newest {len(low)} of {len(csat.low)} low ratings"
    return CsatView(summary, rate, range_text, tuple(agents), agents_note, tuple(low), low_note)


def _misses(misses: SlaMisses) -> tuple[MissGroup, ...]:
    groups = []
    for group in misses.groups[:SHOWN_GROUPS]:
        policy = cut(clean_text(group.policy), _NAME) if group.policy else "Unnamed policy"
        links = tuple(_link(miss.display_id, miss.url) for miss in group.misses[:LINKS_PER_GROUP])
        more = int(group.count) - len(links)
        groups.append(
            MissGroup(
                policy=policy,
                text_policy=isolate(policy),
                kind=_MISS_TYPES.get(group.type, clean_text(group.type)),
                count=format_count(group.count),
                links=links,
                more=f"and {more:,} more" if more > 0 else "",
            )
        )
    return tuple(groups)


def follow_up_view(
    follow_up: FollowUp,
    *,
    by_inbox: Mapping[str, NamedBlock],
    by_agent: Mapping[str, NamedBlock],
    zone: str,
    day: date,
) -> FollowUpView:
    """The section's view (see the module docstring)."""
    # The catalogue's order, not the mapping's: a stored summary.json has its keys sorted.
    tables = tuple(
        _breach_table(
            spec.label,
            follow_up.breaches[spec.key].worst,
            int(follow_up.breaches[spec.key].total),
            by_inbox,
            by_agent,
            zone,
            day,
        )
        for spec in METRICS
        if spec.key in follow_up.breaches
    )
    total = sum(table.total for table in tables)
    if not tables:
        breaches_text = "No SLA targets are set, so no conversation is over one."
    elif total == 0:
        breaches_text = "No conversation went over an SLA target on this day."
    else:
        breaches_text = (
            f"{format_count(total)} rows over an SLA target, worst first. Every one is in the "
            "attached breaches.csv."
        )
    misses = follow_up.sla_misses
    misses_text = ""
    if misses is not None:
        misses_text = (
            f"{format_count(misses.total)} missed Chatwoot SLA policy targets on this day."
            if misses.total
            else "No Chatwoot SLA policy was missed on this day."
        )
    shown_groups = 0 if misses is None else min(len(misses.groups), SHOWN_GROUPS)
    misses_note = (
        f"showing {shown_groups} of {len(misses.groups)} policy and type groups"
        if misses is not None and len(misses.groups) > shown_groups
        else ""
    )
    links = follow_up.links
    return FollowUpView(
        breaches=tables,
        breaches_text=breaches_text,
        csat=None if follow_up.csat is None else _csat(follow_up.csat, by_agent, zone, day),
        misses=None if misses is None else _misses(misses),
        misses_text=misses_text,
        misses_note=misses_note,
        notes=tuple(cut(clean_text(note), 200) for note in follow_up.notes),
        requests=(
            f"{format_count(links.linked)} conversations linked with "
            f"{format_count(links.requests)} of {format_count(links.budget)} extra requests"
        ),
    )
