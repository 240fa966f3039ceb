"""What the Chatwoot client hands back, and the parsers that check Chatwoot's bodies.

Records: :class:`Page` (one reporting-events body, exactly as received) and :class:`PageInfo`,
:class:`FetchStats`, :class:`FetchResult`, and the account context (:class:`Inbox`,
:class:`Agent`, :class:`SlaPolicy`, :class:`AccountContext`). The parsers live beside them
because :meth:`AccountContext.from_raw` rebuilds a context from archived bodies with the same
checks the transport applies to a live answer. A parser raises :class:`BadBody` for a body that
is not what the endpoint promises: the transport retries those, the archive reader refuses them.
:class:`RefusedBody`, a body that contradicts itself (``meta.total_pages`` that does not follow
from ``meta.count``), is refused at once: no retry makes a broken server consistent, and a page
plan built from such a claim could run for ever.

Nothing here talks to the network or imports ``requests``.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeIs

from sla_digest.chatwoot.rows import decode_events
from sla_digest.exceptions import ResponseError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sla_digest.chatwoot.events import EventSet

__all__ = [
    "CONTEXT_PARSERS",
    "PER_PAGE",
    "AccountContext",
    "Agent",
    "BadBody",
    "ContextKind",
    "EventsBody",
    "FetchResult",
    "FetchStats",
    "Inbox",
    "Page",
    "PageInfo",
    "Params",
    "RefusedBody",
    "SlaPolicy",
    "clean_text",
    "is_int",
    "pages_for",
    "parse_events",
]

type Params = dict[str, int | str]
"""Query parameters of one request, as sent (and as archived with the page)."""
type ContextKind = Literal["inboxes", "agents", "sla_policies"]

PER_PAGE = 25
"""Rows per reporting-events page (Kaminari's default, which Chatwoot keeps)."""


# ── records ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class PageInfo:
    """A page without its body: what the manifest and the summary need."""

    number: int
    params: Params
    rows: int


@dataclass(frozen=True, slots=True)
class Page:
    """One reporting-events response, ``body`` exactly the bytes received.

    ``number`` 1..N are the main query's pages; re-fetched and narrowed pages get the numbers
    after N and carry their own ``params``.
    """

    number: int
    params: Params
    body: bytes
    rows: int
    count: int | None
    total_pages: int | None

    def info(self) -> PageInfo:
        return PageInfo(number=self.number, params=self.params, rows=self.rows)


@dataclass
class FetchStats:
    """What a run cost; ``rate`` is the pace held at the end (requests/s, ``None``: unpaced)."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    pages: int = 0
    bytes: int = 0
    elapsed: float = 0.0
    rate: float | None = None


@dataclass(frozen=True, slots=True)
class Inbox:
    id: int
    name: str | None
    working_hours_enabled: bool
    timezone: str | None


@dataclass(frozen=True, slots=True)
class Agent:
    id: int
    name: str | None


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    """A Chatwoot SLA policy; thresholds in seconds, ``None`` when not set."""

    id: int
    name: str | None
    first_response: float | None
    reply_time: float | None
    conversation_resolved: float | None
    only_during_business_hours: bool


@dataclass
class AccountContext:
    """Names and SLA policies of an account, with the bodies as received for the archive.

    ``raw`` holds the bodies under ``"inboxes"``, ``"agents"`` and ``"sla_policies"``; the last
    is absent when Chatwoot has no SLA policies endpoint (community edition: 404).
    """

    inboxes: dict[int, Inbox]
    agents: dict[int, Agent]
    sla_policies: list[SlaPolicy]
    raw: dict[str, bytes]

    @classmethod
    def from_raw(cls, raw: Mapping[str, bytes]) -> AccountContext:
        """Rebuild the context from archived bodies, without Chatwoot."""
        parsed: dict[str, object] = {}
        for key, parse in CONTEXT_PARSERS.items():
            body = raw.get(key)
            if body is None:
                if key != "sla_policies":
                    raise ResponseError(f"archived account context has no {key!r} body")
                continue
            try:
                parsed[key] = parse(body)
            except BadBody as exc:
                raise ResponseError(f"archived {key} body is not usable: {exc}") from exc
        inboxes: dict[int, Inbox] = parsed["inboxes"]  # type: ignore[assignment]
        agents: dict[int, Agent] = parsed["agents"]  # type: ignore[assignment]
        policies: list[SlaPolicy] = parsed.get("sla_policies", [])  # type: ignore[assignment]
        return cls(inboxes=inboxes, agents=agents, sla_policies=policies, raw=dict(raw))

    def summary_names(self) -> dict[str, Any]:
        """What the summary takes from the context: names, and which inboxes keep hours.

        The digest job and ``verify`` both pass exactly this, so a re-derived summary can
        only differ from the stored one in its numbers.
        """
        return {
            "inbox_names": {i: box.name for i, box in self.inboxes.items() if box.name is not None},
            "inbox_working_hours": {
                i: box.working_hours_enabled for i, box in self.inboxes.items()
            },
            "agent_names": {i: a.name for i, a in self.agents.items() if a.name is not None},
        }


@dataclass
class FetchResult:
    """The window's events and how they were obtained.

    ``pages`` lists exactly the pages whose rows make up ``events`` (by number); pages handed to
    ``on_page`` in a pass that was discarded because ``meta.count`` changed are not listed.
    ``complete`` is true when the unique rows equal ``meta_count``; ``missing`` is the shortfall.
    ``context`` is set when ``reporting_events(..., with_context=True)``.
    """

    events: EventSet
    pages: list[PageInfo]
    meta_count: int
    complete: bool
    missing: int
    stats: FetchStats
    context: AccountContext | None = None


# ── parsing ───────────────────────────────────────────────────────────────────────────────────


class BadBody(Exception):
    """A 200 whose body is not what the endpoint promises (the transport retries it)."""


class RefusedBody(BadBody):
    """A body that contradicts itself: refused at once, never retried."""


def is_int(value: object) -> TypeIs[int]:
    """An integer that is not a bool (JSON ``true`` parses to one)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        kind = "HTML" if body.lstrip()[:1] == b"<" else "not JSON"
        raise BadBody(f"body is {kind}") from exc


@dataclass(frozen=True, slots=True)
class EventsBody:
    """A reporting-events body that has the promised shape (rows not yet classified)."""

    payload: list[Any]
    count: int
    total_pages: int


def pages_for(count: int) -> int:
    """⌈count / PER_PAGE⌉, exactly: the pages Chatwoot serves for ``count`` rows."""
    return -(-count // PER_PAGE)


def parse_events(body: bytes) -> EventsBody:
    """Check a reporting-events body's shape; raise :class:`BadBody` when it is not the API's.

    Rows come as :class:`~sla_digest.chatwoot.rows.Row` when the body has the usual shape;
    anything else is read by ``json.loads`` and checked as such, for the same messages.
    """
    try:
        usual, found, meta = decode_events(body)
    except ValueError:
        _load(body)  # raises BadBody, naming what the body is
        raise
    if usual:
        payload = found
    else:
        if not isinstance(found, dict):
            raise BadBody("body is not a JSON object")
        payload, meta = found.get("payload"), found.get("meta")
    if not isinstance(payload, list) or not isinstance(meta, dict):
        raise BadBody('body lacks a "payload" list or a "meta" object')
    count, total_pages = meta.get("count"), meta.get("total_pages")
    if not (is_int(count) and is_int(total_pages)) or count < 0 or total_pages < 0:
        raise BadBody('"meta" lacks integer "count" and "total_pages"')
    if total_pages != pages_for(count):
        raise RefusedBody(
            f"meta.total_pages {total_pages} does not follow from meta.count {count} "
            f"(that is {pages_for(count)} pages of {PER_PAGE} rows)"
        )
    return EventsBody(payload=payload, count=count, total_pages=total_pages)


# JSON can escape half of a surrogate pair (``"\\udc80"``); such a string cannot be written as
# UTF-8, so one name like that would stop the summary, the digest and the email.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """``text`` with lone surrogates replaced by U+FFFD, so it can be written as UTF-8."""
    return _LONE_SURROGATE.sub("\ufffd", text)


def _text(value: object) -> str | None:
    """A string from Chatwoot fit to store and show, or ``None`` for anything else."""
    return clean_text(value) if isinstance(value, str) else None


def _seconds(value: object) -> float | None:
    if is_int(value) or isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) and number >= 0 else None
    return None


def _payload_list(body: bytes) -> list[Any]:
    doc = _load(body)
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(payload, list):
        raise BadBody('body is not an object with a "payload" list')
    return payload


def _parse_inboxes(body: bytes) -> dict[int, Inbox]:
    inboxes: dict[int, Inbox] = {}
    for item in _payload_list(body):
        if isinstance(item, dict) and is_int(item.get("id")):
            inboxes[item["id"]] = Inbox(
                id=item["id"],
                name=_text(item.get("name")),
                working_hours_enabled=item.get("working_hours_enabled") is True,
                timezone=_text(item.get("timezone")),
            )
    return inboxes


def _parse_agents(body: bytes) -> dict[int, Agent]:
    doc = _load(body)
    if not isinstance(doc, list):
        raise BadBody("body is not a JSON array")
    agents: dict[int, Agent] = {}
    for item in doc:
        if isinstance(item, dict) and is_int(item.get("id")):
            name = _text(item.get("available_name")) or _text(item.get("name"))
            agents[item["id"]] = Agent(id=item["id"], name=name)
    return agents


def _parse_sla_policies(body: bytes) -> list[SlaPolicy]:
    return [
        SlaPolicy(
            id=item["id"],
            name=_text(item.get("name")),
            first_response=_seconds(item.get("first_response_time_threshold")),
            reply_time=_seconds(item.get("next_response_time_threshold")),
            conversation_resolved=_seconds(item.get("resolution_time_threshold")),
            only_during_business_hours=item.get("only_during_business_hours") is True,
        )
        for item in _payload_list(body)
        if isinstance(item, dict) and is_int(item.get("id"))
    ]


# The account context's endpoints and their parsers: the transport checks each answer with its
# parser before accepting it (a bad body is retried), and AccountContext.from_raw builds the
# context from the accepted bodies, live or archived, with the same parsers.
CONTEXT_PARSERS: dict[ContextKind, Callable[[bytes], object]] = {
    "inboxes": _parse_inboxes,
    "agents": _parse_agents,
    "sla_policies": _parse_sla_policies,
}
