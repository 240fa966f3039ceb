"""The Chatwoot client: every reporting event of a window, complete, paced and archived as it comes.

:class:`ChatwootClient` is the facade callers use. It composes the
:class:`~sla_digest.chatwoot.transport.Transport` (session, auth, retries, pacing, errors) with
:class:`~sla_digest.chatwoot.paging.PageFetch` (page plan, concurrency, completeness) and owns
the worker threads of each call. The records it returns live in
:mod:`sla_digest.chatwoot.records` and are re-exported here for existing callers.
"""

from __future__ import annotations

import random
import time
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Self

from sla_digest.chatwoot.applied_slas import fetch_applied_slas
from sla_digest.chatwoot.conversations import CappedRun, LinkSearch, resolve_display_ids
from sla_digest.chatwoot.csat import fetch_csat
from sla_digest.chatwoot.limits import RetryPolicy
from sla_digest.chatwoot.paging import PageFetch
from sla_digest.chatwoot.records import (
    AccountContext,
    Agent,
    FetchResult,
    FetchStats,
    Inbox,
    Page,
    PageInfo,
    SlaPolicy,
)
from sla_digest.chatwoot.transport import Transport, collect_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence
    from types import TracebackType

    import requests

    from sla_digest.chatwoot.links import LinkMap
    from sla_digest.chatwoot.listing import Listing
    from sla_digest.window import Window

__all__ = [
    "DEFAULT_MAX_SECONDS",
    "AccountContext",
    "Agent",
    "ChatwootClient",
    "FetchResult",
    "FetchStats",
    "Inbox",
    "LinkSearch",
    "Page",
    "PageInfo",
    "RetryPolicy",
    "SlaPolicy",
]

DEFAULT_MAX_SECONDS = 900.0
"""Wall-clock limit of one call (15 minutes). A day of 100,000 events (4,000 pages) takes under a
minute unthrottled and about 13 at Chatwoot Cloud's 300 requests a minute; a call still running
after 15 is held up by a broken or hostile server. A stopped day resumes from its archived pages
on the next run. The Lambda stops earlier still, for its own remaining time."""


class ChatwootClient:
    """Reads reporting events and account context from one Chatwoot installation.

    One instance per base URL; its pace, learned from 429s, carries over between calls.
    ``concurrency`` bounds the requests in flight; ``max_rate`` caps requests per second
    (Chatwoot Cloud throttles around 5/s); ``max_seconds`` is the wall-clock limit of each
    call (``None``: none), after which it raises
    :class:`~sla_digest.exceptions.DeadlineExceeded`; ``sleep`` and ``clock`` are seams for
    tests.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        session: requests.Session | None = None,
        concurrency: int = 8,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        max_rate: float | None = None,
        max_seconds: float | None = DEFAULT_MAX_SECONDS,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._transport = Transport(
            base_url,
            token,
            session=session,
            concurrency=concurrency,
            timeout=timeout,
            retry=retry if retry is not None else RetryPolicy(),
            max_rate=max_rate,
            max_seconds=max_seconds,
            sleep=sleep,
            clock=clock,
            rng=rng if rng is not None else random.Random(),
        )
        self._clock = clock
        self._sleep = sleep

    def __repr__(self) -> str:
        transport = self._transport
        return f"ChatwootClient({transport.shown!r}, concurrency={transport.concurrency})"

    def close(self) -> None:
        """Close the connection pool, if this client created it."""
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def rate(self) -> float | None:
        """The pace currently held, in requests per second (``None``: unpaced)."""
        return self._transport.rate

    def context(self, account_id: int) -> AccountContext:
        """Inboxes, agents and SLA policies of the account (fetched concurrently)."""
        run = self._transport.new_run(account_id)
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="chatwoot-context") as pool:
            try:
                return collect_context(self._transport.start_context(pool, run, account_id), run)
            finally:
                run.finish()

    def reporting_events(
        self,
        account_id: int,
        window: Window,
        *,
        resume: Sequence[Page] = (),
        on_page: Callable[[Page], None] | None = None,
        progress: Callable[[int, int], None] | None = None,
        heartbeat: Callable[[], None] | None = None,
        with_context: bool = False,
    ) -> FetchResult:
        """Every reporting event of ``window``, de-duplicated and checked against ``meta.count``.

        ``on_page`` and ``progress(done, total)`` are called on the calling thread, one page at
        a time, as pages arrive. ``heartbeat`` is called there too whenever a second passes
        without a page (a rate limiter can hold every request back for a minute): raising from
        it, or from ``on_page``, ends the run. ``with_context`` also fetches :meth:`context`
        alongside page 1 and returns it in ``FetchResult.context``.
        """
        transport = self._transport
        started = self._clock()
        run = transport.new_run(account_id)
        fetch = PageFetch(transport, run, account_id, window, resume, on_page, progress, heartbeat)
        workers = max(transport.concurrency, 4 if with_context else 1)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatwoot")
        try:
            pending = transport.start_context(pool, run, account_id) if with_context else None
            result = fetch.execute(pool, pending)
        finally:
            run.finish()
            pool.shutdown(wait=True, cancel_futures=True)
        run.stats.elapsed = self._clock() - started
        run.stats.rate = transport.rate
        return result

    # ── what the digest reads besides the events: optional, never raising for an answer ──

    def csat(self, account_id: int, window: Window) -> Listing:
        """The CSAT responses of ``window`` (Chatwoot's range semantics) and their metrics.

        A 404 (older Chatwoot) or 401 (the token may not read them) is a :class:`Listing`
        saying so, not an error.
        """
        return fetch_csat(self._transport, self._transport.new_run(account_id), account_id, window)

    def applied_slas(self, account_id: int, window: Window) -> Listing:
        """Missed SLA-policy rows applied in a lookback before ``window`` up to its end."""
        return fetch_applied_slas(
            self._transport, self._transport.new_run(account_id), account_id, window
        )

    def resolve_display_ids(
        self,
        account_id: int,
        conversations: Sequence[int],
        *,
        budget: int,
        known: LinkMap | None = None,
        hints: Iterable[int] = (),
        seconds: float | None = None,
    ) -> LinkSearch:
        """Display ids (the app's conversation numbers) of internal conversation ids.

        The one way to turn a reporting event's ``conversation_id`` into a link: searches the
        per-conversation endpoint in priority order, at most ``budget`` requests (retries and
        throttled ones included) and, with ``seconds``, for at most that long, starting from
        what ``known`` already holds; ``hints`` are display ids known to exist. What is not
        found stays without a display id.
        """
        options = self._transport.run_options(account_id)
        if seconds is not None:
            limit = options["max_seconds"]
            options["max_seconds"] = seconds if limit is None else min(limit, seconds)
        run = CappedRun(budget, **options)
        return resolve_display_ids(
            self._transport, run, account_id, conversations, known=known, hints=hints
        )
