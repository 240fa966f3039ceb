"""Missed Chatwoot SLA policies: fetching ``applied_slas`` and reading its bodies.

``GET /api/v1/accounts/{id}/applied_slas`` (enterprise, administrators, premium ``sla``
feature) lists only applied SLAs that were **missed**, 25 a page. Its ``since``/``until`` filter
on when the SLA was *applied* (usually when the conversation came in), not on when it was
missed, so a miss inside the report day can belong to an SLA applied days earlier: the query
reaches :data:`LOOKBACK_DAYS` back, and the report keeps the misses (``sla_events``) whose
``created_at`` falls in the day. ``meta`` has ``count`` but no ``total_pages``.

Each row names the conversation by its display id; a row without one (Chatwoot renders the
object even when the conversation is gone, and a proxy may drop it) is kept without a link.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot.listing import PER_PAGE, Listing, PageRows, epoch_seconds, fetch_pages
from sla_digest.chatwoot.records import BadBody, clean_text, is_int

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sla_digest.chatwoot.limits import RunState
    from sla_digest.chatwoot.transport import Transport
    from sla_digest.window import Window

__all__ = [
    "APPLIED_SLAS_PATH",
    "LOOKBACK_DAYS",
    "MISS_TYPES",
    "AppliedSla",
    "fetch_applied_slas",
    "parse_applied_slas_page",
    "read_applied_slas",
]

APPLIED_SLAS_PATH = "applied_slas"
LOOKBACK_DAYS = 14
MAX_PAGES = 80  # 2,000 missed SLAs applied in the lookback
MISS_TYPES: tuple[str, ...] = ("frt", "nrt", "rt")
"""First response, next response, resolution: the ``event_type`` of Chatwoot's SLA events."""


@dataclass(frozen=True, slots=True)
class AppliedSla:
    """One missed SLA: its policy, its conversation (display id) and its misses.

    ``misses`` holds ``(event_type, created_at epoch seconds)`` of each SLA event whose type
    and time could be read; ``unreadable`` counts the others.
    """

    id: int | None
    policy_id: int | None
    policy_name: str | None
    display_id: int | None
    misses: tuple[tuple[str, float], ...]
    unreadable: int = 0


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise BadBody("body is not JSON") from exc


def _payload(body: bytes) -> tuple[list[Any], int | None]:
    doc = _load(body)
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(payload, list):
        raise BadBody('body is not an object with a "payload" list')
    meta = doc.get("meta")
    count = meta.get("count") if isinstance(meta, dict) else None
    return payload, count if is_int(count) and count >= 0 else None


def parse_applied_slas_page(body: bytes) -> PageRows:
    """Row ids of one page and the pages ``meta.count`` implies; :class:`BadBody` otherwise."""
    payload, count = _payload(body)
    ids = []
    for position, row in enumerate(payload):
        applied = row.get("applied_sla") if isinstance(row, dict) else None
        row_id = applied.get("id") if isinstance(applied, dict) else None
        # A row without an id still fills its place on the page: count it by position.
        ids.append(row_id if is_int(row_id) else -1 - position)
    pages = None if count is None else math.ceil(count / PER_PAGE)
    return PageRows(tuple(ids), pages)


def _applied(row: Any) -> AppliedSla:
    row = row if isinstance(row, dict) else {}
    applied = row.get("applied_sla")
    applied = applied if isinstance(applied, dict) else {}
    conversation = row.get("conversation")
    display = conversation.get("id") if isinstance(conversation, dict) else None
    name = applied.get("sla_name")
    misses: list[tuple[str, float]] = []
    unreadable = 0
    events = row.get("sla_events")
    for event in events if isinstance(events, list) else ():
        kind = event.get("event_type") if isinstance(event, dict) else None
        moment = epoch_seconds(event.get("created_at")) if isinstance(event, dict) else None
        if kind in MISS_TYPES and moment is not None:
            misses.append((kind, moment))
        else:
            unreadable += 1
    policy = applied.get("sla_id")
    row_id = applied.get("id")
    return AppliedSla(
        id=row_id if is_int(row_id) else None,
        policy_id=policy if is_int(policy) else None,
        policy_name=clean_text(name) if isinstance(name, str) else None,
        display_id=display if is_int(display) and display > 0 else None,
        misses=tuple(misses),
        unreadable=unreadable,
    )


def read_applied_slas(pages: Iterable[bytes]) -> list[AppliedSla]:
    """Every row on ``pages``; a row repeated across pages (same id) is read once."""
    found: list[AppliedSla] = []
    seen: set[int] = set()
    for body in pages:
        payload, _ = _payload(body)
        for row in payload:
            applied = _applied(row)
            if applied.id is not None:
                if applied.id in seen:
                    continue
                seen.add(applied.id)
            found.append(applied)
    return found


def fetch_applied_slas(
    transport: Transport, run: RunState, account_id: int, window: Window
) -> Listing:
    """Missed SLAs applied from :data:`LOOKBACK_DAYS` before the window to its end."""
    params: dict[str, int | str] = {
        "since": window.since - LOOKBACK_DAYS * 86_400,
        "until": window.until,
    }
    return fetch_pages(
        transport,
        run,
        account_id,
        APPLIED_SLAS_PATH,
        params,
        parse_applied_slas_page,
        what="SLA policy misses",
        max_pages=MAX_PAGES,
    )
