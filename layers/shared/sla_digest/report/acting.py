"""Building the "conversations to act on" section from what was read besides the events.

:class:`Sources` is everything the section needs beyond the day's events: the CSAT pages and
metrics, the missed-SLA pages, and what the display-id search learned, each with what became
of its read (``ok``, ``absent``, ``forbidden``, ``failed``). It is archived beside the event
pages as resources listed in the manifest (:meth:`Sources.resources`, read back with
:meth:`Sources.from_resources`), so ``verify`` rebuilds the section from the archive alone and
a re-render or a weekly report never asks Chatwoot again.

:func:`build_follow_up` is the one place the section is computed, live and from the archive.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.chatwoot.applied_slas import MISS_TYPES, read_applied_slas
from sla_digest.chatwoot.csat import parse_csat_metrics, read_responses
from sla_digest.chatwoot.links import LinkMap
from sla_digest.chatwoot.records import BadBody, is_int
from sla_digest.report.follow_up import (
    AgentCsat,
    BreachList,
    BreachRow,
    Csat,
    FollowUp,
    LinkStats,
    LowRating,
    SlaMiss,
    SlaMisses,
    SlaMissGroup,
)
from sla_digest.report.format import clean_text, cut, format_count

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sla_digest.chatwoot.csat import CsatResponse
    from sla_digest.report.breaches import Breach


__all__ = [
    "CSAT_RANGE",
    "FEEDBACK_LIMIT",
    "SOURCES_RESOURCE",
    "SourceRead",
    "Sources",
    "Span",
    "build_follow_up",
    "conversation_link",
]

SOURCES_RESOURCE = "follow_up"
CSAT_RANGE = "conversation_created"
"""Recent Chatwoot applies the CSAT range to the conversation's creation, as its report does."""
FEEDBACK_LIMIT = 500
"""Characters of a low rating's feedback kept in the summary."""
_NO_ID = "none"
_TYPE_ORDER = {kind: at for at, kind in enumerate(MISS_TYPES)}


class Span(Protocol):
    """A report's ``[since, until)`` in epoch seconds: a day's window or a period's."""

    @property
    def since(self) -> int: ...
    @property
    def until(self) -> int: ...


@dataclass(frozen=True, slots=True)
class SourceRead:
    """One optional endpoint's pages as received and what became of the read."""

    status: str = "absent"  # ok | absent | forbidden | failed | skipped
    detail: str = ""
    pages: tuple[bytes, ...] = ()
    extra: bytes | None = None
    truncated: bool = False

    def record(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "detail": self.detail,
            "pages": len(self.pages),
            "extra": self.extra is not None,
            "truncated": self.truncated,
        }


@dataclass(frozen=True, slots=True)
class Sources:
    """What the section is built from besides the events (see the module docstring)."""

    csat: SourceRead = field(default_factory=SourceRead)
    sla: SourceRead = field(default_factory=SourceRead)
    links: LinkMap = field(default_factory=LinkMap)
    link_requests: int = 0
    link_budget: int = 0
    link_stopped: str | None = None

    def resources(self) -> dict[str, bytes]:
        """Archive resources: each page as received, and a record of the rest."""
        bodies: dict[str, bytes] = {}
        for prefix, read in (("csat", self.csat), ("applied_slas", self.sla)):
            for number, body in enumerate(read.pages, start=1):
                bodies[f"{prefix}_{number:05d}"] = body
        if self.csat.extra is not None:
            bodies["csat_metrics"] = self.csat.extra
        record = {
            "version": 1,
            "csat": self.csat.record(),
            "applied_slas": self.sla.record(),
            "links": {
                "requests": self.link_requests,
                "budget": self.link_budget,
                "stopped": self.link_stopped,
                **self.links.to_doc(),
            },
        }
        bodies[SOURCES_RESOURCE] = json.dumps(record, indent=1, sort_keys=True).encode()
        return bodies

    @classmethod
    def merged(cls, days: Sequence[Sources]) -> Sources:
        """The sources of a period from those of its days (a weekly or monthly report).

        Pages are pooled (a response or missed SLA on two days' pages is read once), surveys
        sent are added up, and what any day learned about display ids serves every day. A
        read that failed on some day makes the period's read that day's status: the figures
        would otherwise be partial without saying so.
        """
        csat = _merged_reads([day.csat for day in days], metrics=True)
        sla = _merged_reads([day.sla for day in days], metrics=False)
        links = LinkMap()
        for day in days:
            links.pairs.update(day.links.pairs)
            links.blank |= day.links.blank
            links.missing |= day.links.missing
        stopped = [day.link_stopped for day in days if day.link_stopped]
        return cls(
            csat=csat,
            sla=sla,
            links=links,
            link_requests=sum(day.link_requests for day in days),
            link_budget=sum(day.link_budget for day in days),
            link_stopped=stopped[-1] if stopped else None,
        )

    @classmethod
    def from_resources(cls, bodies: Mapping[str, bytes]) -> Sources | None:
        """Read back :meth:`resources`; ``None`` when the day has no record of them."""
        raw = bodies.get(SOURCES_RESOURCE)
        if raw is None:
            return None
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise BadBody(f"the archived {SOURCES_RESOURCE} record is not JSON") from exc
        if not isinstance(record, dict):
            raise BadBody(f"the archived {SOURCES_RESOURCE} record is not an object")

        def read(prefix: str, extra: str | None) -> SourceRead:
            said = _object(record.get(prefix))
            count = said.get("pages")
            pages = tuple(
                bodies[f"{prefix}_{n:05d}"] for n in range(1, (count if is_int(count) else 0) + 1)
            )
            return SourceRead(
                status=str(said.get("status", "absent")),
                detail=str(said.get("detail", "")),
                pages=pages,
                extra=bodies.get(extra) if extra else None,
                truncated=said.get("truncated") is True,
            )

        links = _object(record.get("links"))
        stopped = links.get("stopped")
        requests, budget = links.get("requests"), links.get("budget")
        return cls(
            csat=read("csat", "csat_metrics"),
            sla=read("applied_slas", None),
            links=LinkMap.from_doc(links),
            link_requests=requests if is_int(requests) else 0,
            link_budget=budget if is_int(budget) else 0,
            link_stopped=stopped if isinstance(stopped, str) else None,
        )


def _merged_reads(reads: Sequence[SourceRead], *, metrics: bool) -> SourceRead:
    if not reads:
        return SourceRead()
    failed = next((read for read in reads if read.status != "ok"), None)
    if failed is not None:
        return failed
    extra = None
    if metrics and all(read.extra is not None for read in reads):
        try:
            sent = [parse_csat_metrics(read.extra).sent for read in reads if read.extra]
        except BadBody:
            sent = [None]
        if None not in sent:
            total = sum(count for count in sent if count is not None)
            extra = json.dumps({"total_sent_messages_count": total}).encode()
    return SourceRead(
        status="ok",
        pages=tuple(page for read in reads for page in read.pages),
        extra=extra,
        truncated=any(read.truncated for read in reads),
    )


def _object(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def conversation_link(base_url: str, account_id: int) -> Callable[[int | None], str | None]:
    """The app's URL of a display id, or ``None`` (no id, or a base that is not http(s))."""
    base = clean_text(base_url).rstrip("/")
    usable = base.lower().startswith(("https://", "http://")) and not any(
        c in base for c in " \"'<>"
    )

    def link(display: int | None) -> str | None:
        if display is None or display <= 0 or not usable:
            return None
        return f"{base}/app/accounts/{account_id}/conversations/{display}"

    return link


def _when(epoch: float | None) -> str | None:
    if epoch is None:
        return None
    moment = datetime.fromtimestamp(epoch, UTC).replace(tzinfo=None)
    return moment.isoformat(timespec="seconds") + "Z"


def _breach_lists(
    breaches: Mapping[str, Sequence[Breach]],
    displays: Mapping[int, int],
    link: Callable[[int | None], str | None],
    size: int,
) -> dict[str, BreachList]:
    lists: dict[str, BreachList] = {}
    for metric, rows in breaches.items():
        worst = []
        for row in rows[:size]:
            ref = row.conversation_ref
            display = None if ref is None else displays.get(ref)
            worst.append(
                BreachRow(
                    value=row.value,
                    target=row.target,
                    inbox_id=row.inbox_id,
                    user_id=row.user_id,
                    conversation_ref=ref,
                    display_id=display,
                    url=link(display),
                    created_at=row.created_at,
                    event_id=row.event_id,
                )
            )
        lists[metric] = BreachList(total=len(rows), worst=tuple(worst))
    return lists


def _unavailable(what: str, read: SourceRead, forbidden: str) -> str:
    if read.status == "absent":
        return f"{what} left out: Chatwoot has no such endpoint here (HTTP 404)."
    if read.status == "forbidden":
        return f"{what} left out: {forbidden} (HTTP 401)."
    if read.status == "skipped":
        return f"{what} left out: {read.detail or 'not read for this report'}."
    return f"{what} left out: {cut(clean_text(read.detail), 200) or 'Chatwoot failed'}."


def _csat(
    read: SourceRead,
    *,
    link: Callable[[int | None], str | None],
    agent_names: Mapping[int, str],
    size: int,
    notes: list[str],
) -> Csat | None:
    if read.status != "ok":
        notes.append(
            _unavailable(
                "CSAT", read, "the token may not read CSAT responses (administrators only)"
            )
        )
        return None
    responses, unreadable = read_responses(read.pages)
    valid = [r for r in responses if r.rating is not None and 1 <= r.rating <= 5]
    ignored = len(responses) - len(valid) + unreadable
    sent = None
    if read.extra is not None:
        try:
            sent = parse_csat_metrics(read.extra).sent
        except BadBody:
            sent = None
    if sent is None:
        notes.append("CSAT: Chatwoot did not say how many surveys were sent; no response rate.")
    if ignored:
        noun = "response" if ignored == 1 else "responses"
        notes.append(
            f"CSAT: {format_count(ignored)} {noun} left out (a rating outside 1–5 or no id)."
        )
    if read.truncated:
        notes.append(f"CSAT: only the first {format_count(len(responses))} responses were read.")
    satisfied = sum(1 for r in valid if r.rating is not None and r.rating >= 4)
    by_agent: dict[str, list[CsatResponse]] = {}
    for response in valid:
        key = _NO_ID if response.agent_id is None else str(response.agent_id)
        by_agent.setdefault(key, []).append(response)
    agents = {}
    for key in sorted(by_agent, key=lambda k: (k == _NO_ID, int(k) if k.isdigit() else 0)):
        rows = by_agent[key]
        good = sum(1 for r in rows if r.rating is not None and r.rating >= 4)
        name = agent_names.get(int(key)) if key.isdigit() else None
        agents[key] = AgentCsat(len(rows), good / len(rows), name or rows[0].agent_name)
    low = sorted(
        (r for r in valid if r.rating is not None and r.rating <= 2),
        key=lambda r: (-(r.created_at or 0.0), -r.id),
    )[:size]
    return Csat(
        responses=len(valid),
        sent=sent,
        response_rate=len(valid) / sent if sent else None,
        satisfied=satisfied,
        score=satisfied / len(valid) if valid else None,
        by_agent=agents,
        low=tuple(
            LowRating(
                rating=int(r.rating or 0),
                feedback=None if r.feedback is None else cut(r.feedback, FEEDBACK_LIMIT),
                display_id=r.display_id,
                url=link(r.display_id),
                agent=(agent_names.get(r.agent_id) if r.agent_id else None) or r.agent_name,
                created_at=_when(r.created_at),
            )
            for r in low
        ),
        range=CSAT_RANGE,
        ignored=ignored,
    )


def _sla_misses(
    read: SourceRead,
    *,
    window: Span,
    link: Callable[[int | None], str | None],
    size: int,
    notes: list[str],
) -> SlaMisses | None:
    if read.status != "ok":
        notes.append(
            _unavailable(
                "SLA policy misses",
                read,
                "the token may not read applied SLAs (administrators only)",
            )
        )
        return None
    groups: dict[tuple[int | None, str | None, str], list[tuple[float, int | None]]] = {}
    without = 0
    for applied in read_applied_slas(read.pages):
        for kind, moment in applied.misses:
            if window.since <= moment < window.until:
                key = (applied.policy_id, applied.policy_name, kind)
                groups.setdefault(key, []).append((moment, applied.display_id))
                without += applied.display_id is None
    if without:
        noun = "miss has" if without == 1 else "misses have"
        notes.append(f"SLA policy misses: {without} {noun} no conversation, so no link.")
    if read.truncated:
        notes.append("SLA policy misses: only the first pages of missed SLAs were read.")
    ordered = sorted(
        groups.items(),
        key=lambda item: (item[0][1] or "", item[0][0] or 0, _TYPE_ORDER[item[0][2]]),
    )
    built = []
    for (policy_id, policy, kind), misses in ordered:
        misses.sort(key=lambda miss: (miss[0], miss[1] or 0))
        shown = tuple(
            SlaMiss(display, link(display), _when(moment) or "")
            for moment, display in misses[:size]
        )
        built.append(SlaMissGroup(policy_id, policy, kind, len(misses), shown))
    return SlaMisses(sum(g.count for g in built), tuple(built), without)


def build_follow_up(
    *,
    breaches: Mapping[str, Sequence[Breach]],
    sources: Sources,
    list_size: int,
    base_url: str,
    account_id: int,
    window: Span,
    agent_names: Mapping[int, str],
) -> FollowUp:
    """The section of one account-day (or period) from its breaches and :class:`Sources`."""
    link = conversation_link(base_url, account_id)
    displays = sources.links.displays()
    notes: list[str] = []
    lists = _breach_lists(breaches, displays, link, list_size)
    refs = {row.conversation_ref for rows in breaches.values() for row in rows}
    linked = sum(1 for ref in refs if ref is not None and ref in displays)
    unlinked = len(refs) - linked
    if sources.link_stopped and unlinked:
        notes.append(
            f"Links: {format_count(unlinked)} of {format_count(len(refs))} conversations over "
            f"a target have none, because {cut(clean_text(sources.link_stopped), 200)}."
        )
    csat = _csat(sources.csat, link=link, agent_names=agent_names, size=list_size, notes=notes)
    misses = _sla_misses(sources.sla, window=window, link=link, size=list_size, notes=notes)
    return FollowUp(
        breaches=lists,
        csat=csat,
        sla_misses=misses,
        list_size=list_size,
        links=LinkStats(
            requests=sources.link_requests,
            budget=sources.link_budget,
            linked=linked,
            unlinked=unlinked,
        ),
        notes=tuple(notes),
    )
