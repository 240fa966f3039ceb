"""The list endpoints read besides reporting events: paging them, and what became of a read.

CSAT responses (:mod:`~sla_digest.chatwoot.csat`) and missed SLAs
(:mod:`~sla_digest.chatwoot.applied_slas`) are optional: an old Chatwoot lacks them (404), a
token may not read them (401), the SLA feature may be off. None of that may cost the digest,
so :func:`fetch_pages` never raises for an answer: it returns a :class:`Listing` whose
``status`` says what happened, with one line for people in ``detail``. The transport's own
retries (5xx, timeouts, 429) still apply; 401 and 404 are never retried.

Both endpoints page 25 rows at a time with ``page`` and neither reliably says how many pages
there are, so paging stops at the first short page, at a page that brings no row not seen
before (a server that ignores ``page``), or at ``max_pages`` (``truncated``).

Uses the transport only through its public methods.
"""

from __future__ import annotations

import logging
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal, cast

from sla_digest.chatwoot.records import is_int
from sla_digest.exceptions import AuthenticationError, ChatwootError

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest.chatwoot.limits import RunState
    from sla_digest.chatwoot.records import Params
    from sla_digest.chatwoot.transport import Endpoint, Transport

__all__ = [
    "PER_PAGE",
    "Listing",
    "ListingStatus",
    "PageRows",
    "epoch_seconds",
    "fetch_pages",
    "get_optional",
]

logger = logging.getLogger(__name__)

PER_PAGE = 25

type ListingStatus = Literal["ok", "absent", "forbidden", "failed"]


@dataclass(frozen=True, slots=True)
class PageRows:
    """What paging needs to know of one page: its row ids, and the pages the server claims."""

    ids: tuple[int, ...]
    total_pages: int | None = None


@dataclass(frozen=True, slots=True)
class Listing:
    """The pages of one list endpoint exactly as received, or why there are none.

    ``status``: ``ok``; ``absent`` (404: an older Chatwoot, or the feature is off);
    ``forbidden`` (401: the token may not read it); ``failed`` (retries ran out, or the answers
    were not the API's). ``extra`` is a second body some endpoints come with (CSAT metrics).
    """

    status: ListingStatus
    pages: tuple[bytes, ...] = ()
    extra: bytes | None = None
    detail: str = ""
    requests: int = 0
    truncated: bool = False


def epoch_seconds(value: object) -> float | None:
    """Epoch seconds from a number or an ISO-8601 text with a zone; ``None`` for anything else.

    These endpoints have sent both forms in different versions.
    """
    if is_int(value) or isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) and number >= 0 else None
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return None
        return moment.timestamp() if moment.tzinfo is not None else None
    return None


def get_optional[T](
    transport: Transport,
    run: RunState,
    account_id: int,
    path: str,
    params: Params,
    what: str,
    parse: Callable[[bytes], T],
) -> tuple[bytes, T] | None:
    """One GET of an endpoint that may not exist: ``None`` for a 404.

    ``path`` is below ``/api/v1/accounts/{id}/``; the transport's endpoint names are only the
    ones every fetch uses, so the path is handed over as one of them.
    """
    return transport.get(
        run, account_id, cast("Endpoint", path), params, what, parse, missing_ok=True
    )


def fetch_pages(
    transport: Transport,
    run: RunState,
    account_id: int,
    path: str,
    params: Params,
    parse: Callable[[bytes], PageRows],
    *,
    what: str,
    max_pages: int,
    expected_pages: int | None = None,
) -> Listing:
    """Every page of a list endpoint (see the module docstring); never raises for an answer.

    When the number of pages is known (``expected_pages``, or page 1's own count), the rest
    are asked for together, as many at a time as the transport allows in flight; otherwise
    one after another until a short page.
    """
    try:
        answer = get_optional(transport, run, account_id, path, {**params, "page": 1}, what, parse)
        if answer is None:
            return Listing(
                "absent",
                detail=f"Chatwoot has no {what} endpoint (HTTP 404)",
                requests=run.stats.requests,
            )
        body, rows = answer
        total = rows.total_pages if rows.total_pages is not None else expected_pages
        if len(rows.ids) < PER_PAGE:
            pages, truncated = [body], False
        elif total is not None:
            pages, truncated = _pages_at_once(
                transport, run, account_id, path, params, parse, what, body, min(total, max_pages)
            )
            truncated = total > max_pages
        else:
            pages, truncated = _pages_in_turn(
                transport, run, account_id, path, params, parse, what, answer, max_pages
            )
    except AuthenticationError as exc:
        return Listing("forbidden", detail=str(exc), requests=run.stats.requests)
    except ChatwootError as exc:
        logger.warning("account %d: %s left out: %s", account_id, what, exc)
        return Listing("failed", detail=str(exc), requests=run.stats.requests)
    if truncated:
        logger.warning("account %d: %s stopped after %d pages", account_id, what, max_pages)
    return Listing("ok", pages=tuple(pages), requests=run.stats.requests, truncated=truncated)


def _pages_at_once(
    transport: Transport,
    run: RunState,
    account_id: int,
    path: str,
    params: Params,
    parse: Callable[[bytes], PageRows],
    what: str,
    first: bytes,
    last: int,
) -> tuple[list[bytes], bool]:
    """Pages 2..``last`` together; a page past the end (empty, or 404) is left out."""
    if last <= 1:
        return [first], False

    def one(number: int) -> bytes | None:
        got = get_optional(
            transport, run, account_id, path, {**params, "page": number}, what, parse
        )
        return None if got is None or not got[1].ids else got[0]

    workers = min(transport.concurrency, last - 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatwoot-list") as pool:
        bodies = list(pool.map(one, range(2, last + 1)))
    return [first, *(body for body in bodies if body is not None)], False


def _pages_in_turn(
    transport: Transport,
    run: RunState,
    account_id: int,
    path: str,
    params: Params,
    parse: Callable[[bytes], PageRows],
    what: str,
    first: tuple[bytes, PageRows],
    max_pages: int,
) -> tuple[list[bytes], bool]:
    """Page after page until a short one, one that repeats rows, or ``max_pages``."""
    pages = [first[0]]
    seen = set(first[1].ids)
    for number in range(2, max_pages + 1):
        answer = get_optional(
            transport, run, account_id, path, {**params, "page": number}, what, parse
        )
        if answer is None:
            return pages, False
        body, rows = answer
        if rows.ids and not any(row_id not in seen for row_id in rows.ids):
            return pages, False  # the same rows again: the server does not page
        pages.append(body)
        seen.update(rows.ids)
        if len(rows.ids) < PER_PAGE:
            return pages, False
    return pages, True
