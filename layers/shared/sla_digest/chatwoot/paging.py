"""Paging a window's reporting events until they are complete: page plan, concurrency, repair.

How a fetch runs (:class:`PageFetch`, behind ``ChatwootClient.reporting_events``):

1. Page 1 of the window's query (with the account context alongside when asked for); it gives
   ``meta.count`` and ``meta.total_pages``. Then the remaining pages, concurrently (at most
   twice the transport's ``concurrency`` submitted ahead of the caller), through the
   :class:`~sla_digest.chatwoot.transport.Transport`, which paces and retries them.
2. Every page goes to ``on_page`` the moment it arrives, so the archive holds it even if the run
   dies later; pages handed back through ``resume`` are not requested again.
3. Completeness. Chatwoot orders by ``created_at`` only, so rows with equal timestamps that
   straddle a page boundary can be repeated or skipped. Offset paging returns every position
   once, so each row seen twice stands for one skipped with the same timestamp: that second is
   fetched as a one-second window (``since``/``until`` one second apart: usually one page and
   therefore exact) while the other pages are still coming. If the unique rows still fall
   short of ``meta.count``: the other seconds straddling a boundary, then bisection of the
   window in time, comparing each part's ``meta.count`` with the rows held, down to parts that
   fit a page; a one-second part with more than a page of rows is narrowed per event name,
   then per name and inbox. All of it is bounded by a page allowance (``max(32, 2 × pages)``).
   One-second windows replace the per-name re-fetch of the whole day: a few requests instead
   of another pass over every page.
4. ``meta.count`` can change while paging (conversations deleted, or a day still being
   written): the pages of a pass then disagree on it. The pass is discarded and the query
   fetched again, at most three passes; the freshest count of the last pass is the one reported,
   and a result that does not hold exactly that many rows is marked incomplete.

This module uses the transport only through its public methods (a test holds it to that).
"""

from __future__ import annotations

import bisect
import logging
import math
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from operator import itemgetter
from typing import TYPE_CHECKING

from sla_digest.chatwoot.events import EVENT_NAMES, EventSet, classify_rows, parse_timestamp
from sla_digest.chatwoot.records import (
    BadBody,
    EventsBody,
    FetchResult,
    Page,
    PageInfo,
    is_int,
    parse_events,
)
from sla_digest.chatwoot.rows import created_at_of
from sla_digest.chatwoot.transport import collect_context

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from concurrent.futures import ThreadPoolExecutor

    from sla_digest.chatwoot.limits import RunState
    from sla_digest.chatwoot.records import AccountContext, Params
    from sla_digest.chatwoot.transport import Transport
    from sla_digest.window import Window

__all__ = ["PageFetch"]

logger = logging.getLogger(__name__)

_MAX_PASSES = 3
_HEARTBEAT = 1.0  # seconds without a page after which reporting_events calls its heartbeat
_first = itemgetter(0)


# ── queries and the state of one pass ────────────────────────────────────────────────────────


@dataclass(frozen=True, slots=True)
class _Query:
    """A reporting-events query: a sub-window, optionally narrowed to a name and an inbox."""

    since: int
    until: int
    name: str | None = None
    inbox_id: int | None = None

    def params(self, page: int) -> Params:
        params: Params = {"since": self.since, "until": self.until}
        if self.name is not None:
            # Chatwoot's controller reads `event_name`; its API docs say `name`. Send both so the
            # narrowing holds whichever a given release reads.
            params["event_name"] = self.name
            params["name"] = self.name
        if self.inbox_id is not None:
            params["inbox_id"] = self.inbox_id
        params["page"] = page
        return params


def _key(params: Mapping[str, int | str]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, str(value)) for name, value in params.items()))


@dataclass(frozen=True, slots=True)
class _Got:
    """What a pass keeps of a page after classifying its rows."""

    count: int
    total_pages: int
    first: object
    last: object


@dataclass
class _Pass:
    """Everything derived from the pages of one pass over the window."""

    main: _Query
    # With details: the job writes the events dataset from the same rows (sla_digest.dataset).
    events: EventSet = field(default_factory=partial(EventSet, details=True))
    pages: list[PageInfo] = field(default_factory=list)
    # (created_at as received, name, inbox_id) of every row seen, once each, for counting per query
    rows: list[tuple[object, object, object]] = field(default_factory=list)
    edges: dict[tuple[_Query, int], _Got] = field(default_factory=dict)
    main_counts: list[tuple[int, int]] = field(default_factory=list)
    repeats: set[str] = field(default_factory=set)
    probed: set[_Query] = field(default_factory=set)
    allowance: int = 32  # pages this pass may add beyond the main query
    changed: bool = False
    # ``rows`` with a readable created_at, sorted by it; covers the first ``_indexed`` of ``rows``
    _index: list[tuple[float, object, object]] = field(default_factory=list, init=False, repr=False)
    _indexed: int = field(default=0, init=False, repr=False)

    @property
    def count(self) -> int:
        """The freshest ``meta.count`` of the main query: from the page that arrived last."""
        return self.main_counts[-1][0] if self.main_counts else 0

    @property
    def deficit(self) -> int:
        return self.count - self.events.unique_rows

    @property
    def consistent(self) -> bool:
        return len(set(self.main_counts)) <= 1

    def add(
        self, query: _Query, page: int, got: EventsBody, info: PageInfo, window: Window
    ) -> None:
        main = query == self.main
        # Offset paging returns every position once: a row the main query returns twice stands
        # in for one skipped, and both share a timestamp (only ties can swap places).
        classify_rows(
            got.payload,
            window,
            into=self.events,
            positions=self.rows,
            repeats=self.repeats if main else None,
        )
        payload = got.payload
        first = created_at_of(payload[0]) if payload else None
        last = created_at_of(payload[-1]) if payload else None
        self.edges[query, page] = _Got(got.count, got.total_pages, first, last)
        if main:
            self.main_counts.append((got.count, got.total_pages))
        self.pages.append(info)

    def index(self) -> list[tuple[float, object, object]]:
        """Rows with a readable ``created_at``, sorted by it, for counting per sub-window.

        ``rows`` only grows, in arrival order, so each call places just the rows added since.
        """
        if self._indexed < len(self.rows):
            fresh = []
            for created, name, inbox in islice(self.rows, self._indexed, None):
                try:
                    when = parse_timestamp(created) if isinstance(created, str) else None
                except ValueError:
                    when = None
                if when is not None:
                    fresh.append((when, name, inbox))
            fresh.sort(key=_first)
            # Two sorted runs: the sort merges them in linear time.
            self._index = sorted(chain(self._index, fresh), key=_first)
            self._indexed = len(self.rows)
        return self._index

    def held(self, query: _Query) -> list[tuple[float, object, object]]:
        entries = self.index()
        lo = bisect.bisect_left(entries, float(query.since), key=_first)
        hi = bisect.bisect_left(entries, float(query.until), key=_first)
        return [
            entry
            for entry in entries[lo:hi]
            if (query.name is None or entry[1] == query.name)
            and (query.inbox_id is None or entry[2] == query.inbox_id)
        ]

    def repeated_seconds(self) -> list[_Query]:
        """One-second windows of the timestamps of rows the main query returned twice."""
        return self._seconds(self.repeats)

    def tie_seconds(self) -> list[_Query]:
        """One-second windows of the timestamps shared across a page boundary."""
        shared = []
        for (query, page), got in self.edges.items():
            following = self.edges.get((query, page + 1))
            if following is not None and got.last is not None and got.last == following.first:
                shared.append(got.last)
        return self._seconds(shared)

    def _seconds(self, stamps: Iterable[object]) -> list[_Query]:
        found: set[int] = set()
        for stamp in stamps:
            try:
                when = parse_timestamp(stamp) if isinstance(stamp, str) else None
            except ValueError:
                when = None
            if when is not None:
                found.add(math.floor(when))
        main = self.main
        return [
            _Query(max(main.since, second), min(main.until, second + 1))
            for second in sorted(found)
            if main.since <= second < main.until
        ]

    def split(self, query: _Query) -> list[_Query]:
        """Narrower queries that together cover ``query``; empty when it cannot be narrowed."""
        if query.until - query.since > 1:
            held = self.held(query)
            middle = math.floor(held[len(held) // 2][0]) if held else None
            if middle is None or not query.since < middle < query.until:
                middle = (query.since + query.until) // 2
            return [
                _Query(query.since, middle, query.name, query.inbox_id),
                _Query(middle, query.until, query.name, query.inbox_id),
            ]
        if query.name is None:
            names = set(EVENT_NAMES)
            names.update(name for _, name, _ in self.held(query) if isinstance(name, str))
            return [_Query(query.since, query.until, name) for name in sorted(names)]
        if query.inbox_id is None:
            inboxes = {inbox for _, _, inbox in self.held(query) if is_int(inbox)}
            return [
                _Query(query.since, query.until, query.name, inbox) for inbox in sorted(inboxes)
            ]
        return []


# ── one call ──────────────────────────────────────────────────────────────────────────────────


class PageFetch:
    """One ``reporting_events`` call: passes, page numbering, resume, callbacks."""

    def __init__(
        self,
        transport: Transport,
        run: RunState,
        account_id: int,
        window: Window,
        resume: Sequence[Page],
        on_page: Callable[[Page], None] | None,
        progress: Callable[[int, int], None] | None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.transport = transport
        self.run = run
        self.account_id = account_id
        self.window = window
        self.on_page = on_page
        self.progress = progress
        self.heartbeat = heartbeat
        self.main = _Query(window.since, window.until)
        self.done = 0
        self.total = 0
        self.resumed: dict[tuple[tuple[str, str], ...], list[Page]] = {}
        taken: set[int] = set()
        for page in sorted(resume, key=lambda page: page.number):
            since, until = page.params.get("since"), page.params.get("until")
            if not (is_int(since) and is_int(until)):
                raise ValueError(f"resumed page {page.number} has no integer since/until")
            if not window.since <= since < until <= window.until:
                raise ValueError(f"resumed page {page.number} is not within the window")
            self.resumed.setdefault(_key(page.params), []).append(page)
            taken.add(page.number)
        self.taken = taken
        self.next_number = max(taken, default=0) + 1

    # ── passes ────────────────────────────────────────────────────────────────────────────────

    def execute(
        self, pool: ThreadPoolExecutor, context: Mapping[str, Future[bytes | None]] | None
    ) -> FetchResult:
        self.pool = pool
        fetched_context: AccountContext | None = None
        for number in range(1, _MAX_PASSES + 1):
            state = _Pass(self.main)
            self._main_query(state, first_pass=number == 1)
            if number == 1 and context is not None:
                fetched_context = collect_context(context, self.run)
            if not state.consistent:
                logger.warning(
                    "meta.count changed while paging account %s (%s); fetching again",
                    self.account_id,
                    " → ".join(str(count) for count, _ in state.main_counts),
                )
                continue
            if state.deficit > 0:
                self._complete(state)
            if not state.changed:
                break
            logger.warning("rows vanished while paging account %s; fetching again", self.account_id)
        unique = state.events.unique_rows
        complete = state.consistent and not state.changed and unique == state.count
        if not complete:
            logger.warning(
                "account %s, %s: %d unique rows for meta.count %d%s",
                self.account_id,
                self.window.day,
                unique,
                state.count,
                "" if state.consistent and not state.changed else " (data changed while paging)",
            )
        return FetchResult(
            events=state.events,
            pages=sorted(state.pages, key=lambda info: info.number),
            meta_count=state.count,
            complete=complete,
            missing=max(0, state.count - unique),
            stats=self.run.stats,
            context=fetched_context,
        )

    def _main_query(self, state: _Pass, *, first_pass: bool) -> None:
        got = self._pages(state, [(self.main, 1)], 1, main=first_pass)
        last = got[self.main, 1].total_pages
        if first_pass:
            # Numbers 1..last belong to the main query's pages, even to those that arrive
            # after a repair page: repairs are numbered from last + 1.
            self.next_number = max(self.next_number, last + 1)
        self.run.set_budget(self.transport.retry.budget_for(max(1, last)))
        state.allowance = max(32, 2 * last)

        def probe_repeats(query: _Query, page: int, got: _Got) -> list[tuple[_Query, int]]:
            # Probing a repeated second while the rest still pages keeps it off the critical
            # path; _complete() judges the answers once the pass is in.
            if query != self.main or not state.repeats:
                return []
            fresh = [q for q in state.repeated_seconds() if q not in state.probed]
            fresh = fresh[: state.allowance]
            state.probed.update(fresh)
            state.allowance -= len(fresh)
            return [(q, 1) for q in fresh]

        # A generator, not a list: the plan costs nothing however many pages the server claims
        # (and the deadline ends a run that claims more than it can fetch).
        rest = ((self.main, page) for page in range(2, last + 1))
        self._pages(state, rest, max(0, last - 1), main=first_pass, follow=probe_repeats)

    def _complete(self, state: _Pass) -> None:
        """Fill a shortfall, cheapest first, within the pass's page allowance.

        1. the seconds of rows the main query returned twice (exact when nothing changed);
        2. the other seconds whose rows straddle a page boundary;
        3. bisection of the window, comparing each part's count with the rows held.
        """
        before = state.deficit
        repeated = state.repeated_seconds()
        self._refine(state, repeated)
        tried = set(repeated)
        self._refine(state, [query for query in state.tie_seconds() if query not in tried])
        self._refine(state, state.split(self.main))
        logger.info(
            "account %s: %d rows were missing after paging, %d after narrowing",
            self.account_id,
            before,
            max(0, state.deficit),
        )

    def _refine(self, state: _Pass, frontier: list[_Query]) -> None:
        """Probe queries breadth-first; narrow those holding fewer rows than their count."""
        while frontier and state.deficit > 0 and not state.changed:
            known = [query for query in frontier if (query, 1) in state.edges]
            unknown = [query for query in frontier if (query, 1) not in state.edges]
            unknown = unknown[: max(0, state.allowance)]
            if not known and not unknown:
                return
            state.allowance -= len(unknown)
            self._pages(state, [(query, 1) for query in unknown], len(unknown), main=False)
            frontier = []
            deep: list[_Query] = []  # cannot be narrowed further: their other pages are fetched
            for query in known + unknown:
                got = state.edges[query, 1]
                held = len(state.held(query))
                if held > got.count:
                    state.changed = True
                if held >= got.count or got.total_pages <= 1:
                    continue
                narrower = state.split(query)
                if narrower:
                    frontier.extend(narrower)
                else:
                    deep.append(query)
            self._deep_pages(state, deep)

    def _deep_pages(self, state: _Pass, deep: list[_Query]) -> None:
        """Pages 2.. of ``deep`` not held yet, as many as the allowance has room for.

        Taken lazily, so what a server claims (``total_pages``) never becomes a list.
        """
        if not deep:
            return
        narrowest = set(deep)
        held = Counter(query for query, page in state.edges if page >= 2 and query in narrowest)
        missing = sum(state.edges[query, 1].total_pages - 1 - held[query] for query in deep)
        room = max(0, state.allowance)
        wanted = (
            (query, page)
            for query in deep
            for page in range(2, state.edges[query, 1].total_pages + 1)
            if (query, page) not in state.edges
        )
        taken = self._pages(state, islice(wanted, room), min(room, missing), main=False)
        state.allowance -= len(taken)

    # ── pages ─────────────────────────────────────────────────────────────────────────────────

    def _pages(
        self,
        state: _Pass,
        wanted: Iterable[tuple[_Query, int]],
        expected: int,
        *,
        main: bool,
        follow: Callable[[_Query, int, _Got], list[tuple[_Query, int]]] | None = None,
    ) -> dict[tuple[_Query, int], _Got]:
        """Fetch (or take from ``resume``) pages; hand each over as it arrives.

        ``wanted`` is taken lazily, ``expected`` of them (for progress). ``follow`` may ask for
        more pages after each one; they join the same batch, after ``wanted``. The run's
        deadline is checked whenever a page arrives, and at least once a second.
        """
        results: dict[tuple[_Query, int], _Got] = {}
        planned = iter(wanted)
        queue: deque[tuple[_Query, int]] = deque()
        self.total += expected

        def take() -> tuple[_Query, int] | None:
            item = next(planned, None)
            if item is None and queue:
                item = queue.popleft()
            return item

        futures: dict[Future[tuple[bytes, EventsBody] | None], tuple[_Query, int, Params]] = {}

        def settle(query: _Query, page: int, page_obj: Page, parsed: EventsBody) -> None:
            got = results[query, page] = self._accept(state, query, page, page_obj, parsed)
            more = follow(query, page, got) if follow is not None else []
            self.total += len(more)
            queue.extend(more)

        # Requests submitted but not yet handed to on_page: enough to keep every connection
        # busy. Without a bound the pool fetched ahead of a slower archive, piling parsed pages
        # up in memory, and a run stopped for time threw them away to fetch them again.
        ahead = 2 * self.transport.concurrency
        try:
            while True:
                self.run.check()
                while len(futures) < ahead and (item := take()) is not None:
                    query, page = item
                    params = query.params(page)
                    resumed = self._take_resumed(params)
                    if resumed is not None:
                        settle(query, page, *resumed)
                        continue
                    what = f"reporting_events page {page} ({self._describe(query)})"
                    future = self.pool.submit(
                        self.transport.get,
                        self.run,
                        self.account_id,
                        "reporting_events",
                        params,
                        what,
                        parse_events,
                    )
                    futures[future] = (query, page, params)
                if not futures:
                    break
                finished, _ = wait(
                    futures, timeout=self.run.within(_HEARTBEAT), return_when=FIRST_COMPLETED
                )
                if not finished and self.heartbeat is not None:
                    self.heartbeat()
                for future in finished:
                    query, page, params = futures.pop(future)
                    answer = future.result()
                    assert answer is not None  # 404 is final for reporting_events
                    body, parsed = answer
                    page_obj = Page(
                        number=self._number(query, page, main=main),
                        params=params,
                        body=body,
                        rows=len(parsed.payload),
                        count=parsed.count,
                        total_pages=parsed.total_pages,
                    )
                    self.run.stats.pages += 1
                    if self.on_page is not None:
                        self.on_page(page_obj)
                    settle(query, page, page_obj, parsed)
        finally:
            for future in futures:
                future.cancel()
        return results

    def _accept(
        self, state: _Pass, query: _Query, page: int, page_obj: Page, parsed: EventsBody
    ) -> _Got:
        state.add(query, page, parsed, page_obj.info(), self.window)
        self.done += 1
        self._report()
        return state.edges[query, page]

    def _report(self) -> None:
        if self.progress is not None:
            self.progress(self.done, self.total)

    def _number(self, query: _Query, page: int, *, main: bool) -> int:
        if main and query == self.main and page not in self.taken:
            self.taken.add(page)
            self.next_number = max(self.next_number, page + 1)
            return page
        number = self.next_number
        self.next_number += 1
        self.taken.add(number)
        return number

    def _take_resumed(self, params: Params) -> tuple[Page, EventsBody] | None:
        queue = self.resumed.get(_key(params))
        while queue:
            page = queue.pop(0)
            try:
                return page, parse_events(page.body)
            except BadBody as exc:
                logger.warning("resumed page %d is not usable (%s); fetching it", page.number, exc)
        return None

    def _describe(self, query: _Query) -> str:
        if query == self.main:
            return "the day's query"
        narrowed = f"{query.since}..{query.until}"
        if query.name is not None:
            narrowed += f", {query.name}"
        if query.inbox_id is not None:
            narrowed += f", inbox {query.inbox_id}"
        return narrowed
