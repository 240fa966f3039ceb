"""CSAT survey responses of a window: fetching them, and reading the bodies (live or archived).

``GET /api/v1/accounts/{id}/csat_survey_responses`` pages 25 rows with ``page`` and filters
with ``since``/``until`` (epoch seconds). Recent Chatwoot applies that range to the
*conversation's* creation time, as its own CSAT report does; older versions to the response's.
The list has been a bare JSON array and a ``{"payload": [...]}`` object in different versions,
and ``created_at`` an epoch number or an ISO-8601 text: both are read. ``…/metrics`` gives the
number of surveys sent.

Rows are parsed leniently: a field that is missing or of the wrong type becomes ``None`` (a
rating outside 1–5 is kept as given; the report decides what counts), so one odd row never
costs the others. A body that is not a list of rows at all is :class:`BadBody`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot.listing import (
    PER_PAGE,
    Listing,
    PageRows,
    epoch_seconds,
    fetch_pages,
    get_optional,
)
from sla_digest.chatwoot.records import BadBody, clean_text, is_int
from sla_digest.exceptions import ChatwootError

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sla_digest.chatwoot.limits import RunState
    from sla_digest.chatwoot.transport import Transport
    from sla_digest.window import Window

__all__ = [
    "CSAT_PATH",
    "MAX_FEEDBACK",
    "MAX_PAGES",
    "CsatMetrics",
    "CsatResponse",
    "fetch_csat",
    "parse_csat_metrics",
    "parse_csat_page",
    "read_responses",
]

CSAT_PATH = "csat_survey_responses"
METRICS_PATH = "csat_survey_responses/metrics"
MAX_PAGES = 200  # 5,000 responses in one day
MAX_FEEDBACK = 2000
"""Characters of feedback kept from a response (the digest shows far fewer)."""


@dataclass(frozen=True, slots=True)
class CsatResponse:
    """One survey response; ``display_id`` is the conversation's id in the app's URLs."""

    id: int
    rating: int | None
    feedback: str | None
    display_id: int | None
    agent_id: int | None
    agent_name: str | None
    created_at: float | None  # epoch seconds of the response


@dataclass(frozen=True, slots=True)
class CsatMetrics:
    """``…/metrics``: responses Chatwoot counts, and surveys sent in the same range."""

    total: int | None
    sent: int | None


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadBody("body is not JSON") from exc


def _rows(body: bytes) -> list[Any]:
    doc = _load(body)
    if isinstance(doc, dict):
        doc = doc.get("payload")
    if not isinstance(doc, list):
        raise BadBody("body is not a list of CSAT responses")
    return doc


def _text(value: object) -> str | None:
    return clean_text(value[:MAX_FEEDBACK]) if isinstance(value, str) else None


def _positive(value: object) -> int | None:
    return value if is_int(value) and value > 0 else None


def _response(row: dict[str, Any]) -> CsatResponse:
    agent = row.get("assigned_agent")
    agent = agent if isinstance(agent, dict) else {}
    name = agent.get("available_name") or agent.get("name")
    rating = row.get("rating")
    return CsatResponse(
        id=row["id"],
        rating=rating if is_int(rating) else None,
        feedback=_text(row.get("feedback_message")),
        display_id=_positive(row.get("conversation_id")),
        agent_id=_positive(agent.get("id")),
        agent_name=_text(name),
        created_at=epoch_seconds(row.get("created_at")),
    )


def parse_csat_page(body: bytes) -> PageRows:
    """The row ids of one page, for paging; raises :class:`BadBody` for a body of no rows."""
    return PageRows(
        tuple(r["id"] for r in _rows(body) if isinstance(r, dict) and is_int(r.get("id")))
    )


def read_responses(pages: Iterable[bytes]) -> tuple[list[CsatResponse], int]:
    """The responses on ``pages``, each id once, and the number of rows without an id."""
    found: dict[int, CsatResponse] = {}
    unreadable = 0
    for body in pages:
        for row in _rows(body):
            if not isinstance(row, dict) or not is_int(row.get("id")):
                unreadable += 1
            elif row["id"] not in found:
                found[row["id"]] = _response(row)
    return list(found.values()), unreadable


def parse_csat_metrics(body: bytes) -> CsatMetrics:
    doc = _load(body)
    if not isinstance(doc, dict):
        raise BadBody("CSAT metrics body is not an object")
    total, sent = doc.get("total_count"), doc.get("total_sent_messages_count")
    return CsatMetrics(
        total=total if is_int(total) and total >= 0 else None,
        sent=sent if is_int(sent) and sent >= 0 else None,
    )


def fetch_csat(transport: Transport, run: RunState, account_id: int, window: Window) -> Listing:
    """The window's CSAT pages and the metrics body (in ``extra``); never raises for an answer.

    The metrics come first: their ``total_count`` says how many pages the list has, so those
    are asked for together. They are optional on their own: a Chatwoot that lists responses
    but cannot count surveys sent still gives the responses.
    """
    params: dict[str, int | str] = {"since": window.since, "until": window.until}
    extra: bytes | None = None
    expected: int | None = None
    try:
        answer = get_optional(
            transport, run, account_id, METRICS_PATH, params, "CSAT metrics", parse_csat_metrics
        )
    except ChatwootError:
        answer = None  # the responses stand on their own; the rate is left out
    if answer is not None:
        extra = answer[0]
        total = answer[1].total
        expected = None if total is None else max(1, -(-total // PER_PAGE))
    listing = fetch_pages(
        transport,
        run,
        account_id,
        CSAT_PATH,
        params,
        parse_csat_page,
        what="CSAT responses",
        max_pages=MAX_PAGES,
        expected_pages=expected,
    )
    if listing.status != "ok":
        return listing
    return Listing(
        "ok",
        pages=listing.pages,
        extra=extra,
        requests=run.stats.requests,
        truncated=listing.truncated,
    )
