"""The Chatwoot client: every reporting event of a window, complete, paced and archived as it comes.

How a fetch runs (``ChatwootClient.reporting_events``):

1. Page 1 of the window's query (with the account context alongside when asked for); it gives
   ``meta.count`` and ``meta.total_pages``. Then the remaining pages, concurrently (at most
   ``concurrency`` in flight) on one keep-alive connection pool, their starts paced by a
   :class:`~sla_digest.pacing.RateController` that adapts to 429s.
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

Retries (exponential backoff, full jitter) cover connection errors, timeouts, 5xx, 429 and bodies
that are not the expected JSON, within a per-request attempt cap and a retry budget for the run.
401 and 404 are final and become messages a person can act on. The access token travels only in
the ``api_access_token`` header of each request: never in a log line, an error or ``repr``.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import random
import re
import threading
import time
from collections import Counter, deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from itertools import chain, islice
from operator import itemgetter
from typing import TYPE_CHECKING, Any, Literal, Self, TypeIs
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter

from sla_digest.chatwoot.events import EVENT_NAMES, EventSet, classify_rows, parse_timestamp
from sla_digest.chatwoot.pacing import RateController
from sla_digest.exceptions import (
    AuthenticationError,
    ChatwootError,
    ConfigError,
    NotFoundError,
    ResponseError,
    RetryBudgetExhausted,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from types import TracebackType

    from sla_digest.window import Window

__all__ = [
    "AccountContext",
    "Agent",
    "ChatwootClient",
    "FetchResult",
    "FetchStats",
    "Inbox",
    "Page",
    "PageInfo",
    "RetryPolicy",
    "SlaPolicy",
]

logger = logging.getLogger(__name__)

Params = dict[str, int | str]
_Kind = Literal["reporting_events", "inboxes", "agents", "sla_policies"]

_MAX_PASSES = 3
_TRANSIENT = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
)
_RETRY_STATUSES = frozenset({408, 429})
_NOT_FOUND = "Resource could not be found"
# Chatwoot's 401 texts (chatwoot-api.md) → what the person has to do about each.
_AUTH_HINTS: dict[str, str] = {
    "Invalid Access Token": (
        "Chatwoot at {base} rejected the API access token for account {account} "
        "(Invalid Access Token): check the token"
    ),
    "You are not authorized to do this action": (
        "the token's user is not an administrator of account {account} at {base}: "
        "reporting needs an administrator's access token"
    ),
    "You are not authorized to access this account": (
        "the token's user is not a member of account {account} at {base}: "
        "use the access token of an administrator of that account"
    ),
    "Account is suspended": (
        "account {account} at {base} is suspended: reactivate it in Chatwoot or disable it here"
    ),
    "Access to this endpoint is not authorized for bots": (
        "the token for account {account} at {base} belongs to a bot: reporting needs an "
        "administrator's personal access token"
    ),
}


# ── records ───────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try: attempts per request, backoff, and the retry budget of one run.

    ``budget`` is the total number of retries a run may spend; ``None`` scales it with the
    run's page count (``max(budget_floor, budget_per_page × pages)``) so a large day does not
    fail on the same fault rate that a small one survives.
    """

    max_attempts: int = 8
    base_delay: float = 0.25
    max_delay: float = 10.0
    budget: int | None = None
    budget_floor: int = 50
    budget_per_page: float = 1.0
    throttle_patience: float = 180.0
    """Seconds a run goes on while every answer is a 429. A 429 is neither a failed attempt
    nor a retry of the budget: Chatwoot counts requests per IP in one-minute windows, so once
    a window's allowance is spent every request is refused until the next minute, however
    often it is retried, and a large day spends several windows."""

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need max_attempts >= 1 and 0 <= base_delay <= max_delay")
        if not self.throttle_patience > 0:
            raise ValueError("throttle_patience must be a positive number of seconds")
        if (self.budget is not None and self.budget < 0) or self.budget_floor < 0:
            raise ValueError("retry budgets cannot be negative")

    def budget_for(self, pages: int) -> int:
        """Retries allowed for a run of ``pages`` pages."""
        if self.budget is not None:
            return self.budget
        return max(self.budget_floor, math.ceil(self.budget_per_page * pages))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full-jitter backoff before retry number ``attempt`` (1-based)."""
        ceiling = min(self.max_delay, self.base_delay * 2 ** (attempt - 1))
        return rng.uniform(0.0, ceiling)


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
        for key, parse in _CONTEXT_PARSERS.items():
            body = raw.get(key)
            if body is None:
                if key != "sla_policies":
                    raise ResponseError(f"archived account context has no {key!r} body")
                continue
            try:
                parsed[key] = parse(body)
            except _BadBody as exc:
                raise ResponseError(f"archived {key} body is not usable: {exc}") from exc
        inboxes: dict[int, Inbox] = parsed["inboxes"]  # type: ignore[assignment]
        agents: dict[int, Agent] = parsed["agents"]  # type: ignore[assignment]
        policies: list[SlaPolicy] = parsed.get("sla_policies", [])  # type: ignore[assignment]
        return cls(inboxes=inboxes, agents=agents, sla_policies=policies, raw=dict(raw))


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


class _BadBody(Exception):
    """A 200 whose body is not what the endpoint promises (retried)."""


class _Stopped(Exception):
    """The run ended elsewhere (an error or the caller); workers leave quietly."""


_first = itemgetter(0)
_HEARTBEAT = 1.0  # seconds without a page after which reporting_events calls its heartbeat


def _is_int(value: object) -> TypeIs[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _load(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
        kind = "HTML" if body.lstrip()[:1] == b"<" else "not JSON"
        raise _BadBody(f"body is {kind}") from exc


@dataclass(frozen=True, slots=True)
class _EventsBody:
    payload: list[Any]
    count: int
    total_pages: int


def _parse_events(body: bytes) -> _EventsBody:
    doc = _load(body)
    if not isinstance(doc, dict):
        raise _BadBody("body is not a JSON object")
    payload, meta = doc.get("payload"), doc.get("meta")
    if not isinstance(payload, list) or not isinstance(meta, dict):
        raise _BadBody('body lacks a "payload" list or a "meta" object')
    count, total_pages = meta.get("count"), meta.get("total_pages")
    if not (_is_int(count) and _is_int(total_pages)) or count < 0 or total_pages < 0:
        raise _BadBody('"meta" lacks integer "count" and "total_pages"')
    return _EventsBody(payload=payload, count=count, total_pages=total_pages)


# JSON can escape half of a surrogate pair (``"\\udc80"``); such a string cannot be written as
# UTF-8, so one name like that would stop the summary, the digest and the email.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
# Chatwoot's tokens are printable ASCII. Anything else (a byte-order mark, a zero-width space, a
# line break from copy and paste) cannot travel in an HTTP header: refuse it with a message
# instead of a UnicodeEncodeError, or an "invalid header" error that quotes the token.
_TOKEN_SHAPE = re.compile(r"[\x21-\x7e]+")


def _text(value: object) -> str | None:
    """A string from Chatwoot fit to store and show: lone surrogates become U+FFFD."""
    if not isinstance(value, str):
        return None
    return _LONE_SURROGATE.sub("\ufffd", value)


def _seconds(value: object) -> float | None:
    if _is_int(value) or isinstance(value, float):
        number = float(value)
        return number if math.isfinite(number) and number >= 0 else None
    return None


def _payload_list(body: bytes) -> list[Any]:
    doc = _load(body)
    payload = doc.get("payload") if isinstance(doc, dict) else None
    if not isinstance(payload, list):
        raise _BadBody('body is not an object with a "payload" list')
    return payload


def _parse_inboxes(body: bytes) -> dict[int, Inbox]:
    inboxes: dict[int, Inbox] = {}
    for item in _payload_list(body):
        if isinstance(item, dict) and _is_int(item.get("id")):
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
        raise _BadBody("body is not a JSON array")
    agents: dict[int, Agent] = {}
    for item in doc:
        if isinstance(item, dict) and _is_int(item.get("id")):
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
        if isinstance(item, dict) and _is_int(item.get("id"))
    ]


# The account context's endpoints and their parsers: the client checks each answer with its
# parser before accepting it (a bad body is retried), and AccountContext.from_raw builds the
# context from the accepted bodies, live or archived, with the same parsers.
_CONTEXT_PARSERS: dict[_Kind, Callable[[bytes], object]] = {
    "inboxes": _parse_inboxes,
    "agents": _parse_agents,
    "sla_policies": _parse_sla_policies,
}


def _display_url(url: str) -> str:
    """The base URL as shown in messages: no credentials, query or fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _error_text(body: bytes) -> str | None:
    """The ``error`` string of a Chatwoot JSON error body, if that is what the body is."""
    try:
        doc = json.loads(body)
    except ValueError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    return error if isinstance(error, str) else None


def _describe(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-body"
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return "undecodable body"
    return "connection error"


# ── one run's shared state ────────────────────────────────────────────────────────────────────


class _Run:
    """Stop flag, retry budget and statistics shared by the workers of one call."""

    def __init__(
        self,
        *,
        budget: int,
        sleep: Callable[[float], object],
        interruptible: bool,
        started: float,
    ) -> None:
        self.stop = threading.Event()
        self.stats = FetchStats()
        self.failures: Counter[str] = Counter()
        self.answered_at = started  # when the server last answered other than 429
        self._lock = threading.Lock()
        self._budget = budget
        self._sleep = sleep
        self._interruptible = interruptible

    def set_budget(self, budget: int) -> None:
        with self._lock:
            self._budget = budget

    def check(self) -> None:
        if self.stop.is_set():
            raise _Stopped

    def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._interruptible:
            if self.stop.wait(seconds):
                raise _Stopped
        else:
            self._sleep(seconds)
            self.check()

    def count(self, *, body: int = 0, throttled: bool = False) -> None:
        with self._lock:
            self.stats.requests += 1
            self.stats.bytes += body
            self.stats.throttled += throttled

    def spend_retry(self, problem: str, what: str, where: str) -> None:
        with self._lock:
            self.failures[problem] += 1
            if self.stats.retries >= self._budget:
                worst = ", ".join(f"{p} ×{n}" for p, n in self.failures.most_common(3))
                raise RetryBudgetExhausted(
                    f"gave up on {where} after {self.stats.retries} retries (the run's whole "
                    f"retry budget) while fetching {what}; failures: {worst}: "
                    "Chatwoot is failing or overloaded, try again later"
                )
            self.stats.retries += 1


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
        self, query: _Query, page: int, got: _EventsBody, info: PageInfo, window: Window
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
        first = payload[0].get("created_at") if payload and isinstance(payload[0], dict) else None
        last = payload[-1].get("created_at") if payload and isinstance(payload[-1], dict) else None
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
            inboxes = {inbox for _, _, inbox in self.held(query) if _is_int(inbox)}
            return [
                _Query(query.since, query.until, query.name, inbox) for inbox in sorted(inboxes)
            ]
        return []


# ── the client ────────────────────────────────────────────────────────────────────────────────


class ChatwootClient:
    """Reads reporting events and account context from one Chatwoot installation.

    One instance per base URL; its pace, learned from 429s, carries over between calls.
    ``concurrency`` bounds the requests in flight; ``max_rate`` caps requests per second
    (Chatwoot Cloud throttles around 5/s); ``sleep`` and ``clock`` are seams for tests.
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
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not timeout > 0:
            raise ValueError("timeout must be positive")
        if not _TOKEN_SHAPE.fullmatch(token):
            raise ConfigError(
                "the Chatwoot access token is empty or has characters no token has (spaces, "
                "line breaks, invisible or non-ASCII characters): copy it again from "
                "Profile settings → Access token"
            )
        self._base = base_url.rstrip("/")
        self._shown = _display_url(self._base)
        self._headers = {"api_access_token": token, "Accept": "application/json"}
        self._token = token
        self._concurrency = concurrency
        self._timeout = timeout
        self._retry = retry if retry is not None else RetryPolicy()
        self._sleep = sleep
        self._clock = clock
        self._rng = rng if rng is not None else random.Random()
        self._pacer = RateController(max_rate, clock=clock)
        self._slots = threading.BoundedSemaphore(concurrency)
        self._owns_session = session is None
        self._session = session if session is not None else self._new_session(concurrency)

    def __repr__(self) -> str:
        return f"ChatwootClient({self._shown!r}, concurrency={self._concurrency})"

    @staticmethod
    def _new_session(concurrency: int) -> requests.Session:
        session = requests.Session()
        # Retries are ours (they know about budgets and pacing): urllib3's are off.
        adapter = HTTPAdapter(
            pool_connections=1, pool_maxsize=max(concurrency, 4), max_retries=0, pool_block=True
        )
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        return session

    def close(self) -> None:
        """Close the connection pool, if this client created it."""
        if self._owns_session:
            self._session.close()

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
        return self._pacer.rate

    # ── public calls ──────────────────────────────────────────────────────────────────────────

    def context(self, account_id: int) -> AccountContext:
        """Inboxes, agents and SLA policies of the account (fetched concurrently)."""
        run = self._new_run()
        with ThreadPoolExecutor(max_workers=3, thread_name_prefix="chatwoot-context") as pool:
            try:
                return self._collect_context(self._start_context(pool, run, account_id))
            finally:
                run.stop.set()

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
        started = self._clock()
        run = self._new_run()
        fetch = _Fetch(self, run, account_id, window, resume, on_page, progress, heartbeat)
        workers = max(self._concurrency, 4 if with_context else 1)
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="chatwoot")
        try:
            pending = self._start_context(pool, run, account_id) if with_context else None
            result = fetch.execute(pool, pending)
        finally:
            run.stop.set()
            pool.shutdown(wait=True, cancel_futures=True)
        run.stats.elapsed = self._clock() - started
        run.stats.rate = self._pacer.rate
        return result

    # ── internals ─────────────────────────────────────────────────────────────────────────────

    def _new_run(self) -> _Run:
        return _Run(
            budget=self._retry.budget_for(1),
            sleep=self._sleep,
            # The real sleep is replaced by a wait on the stop flag, so that a failed run does
            # not have to wait out its workers' backoff; an injected sleep is used as given.
            interruptible=self._sleep is time.sleep,
            started=self._clock(),
        )

    def _start_context(
        self, pool: ThreadPoolExecutor, run: _Run, account_id: int
    ) -> dict[str, Future[bytes | None]]:
        return {
            kind: pool.submit(self._get_raw, run, account_id, kind, parse)
            for kind, parse in _CONTEXT_PARSERS.items()
        }

    def _get_raw(
        self, run: _Run, account_id: int, kind: _Kind, parse: Callable[[bytes], object]
    ) -> bytes | None:
        answer = self._get(
            run, account_id, kind, {}, kind, parse, missing_ok=kind == "sla_policies"
        )
        return None if answer is None else answer[0]

    @staticmethod
    def _collect_context(pending: Mapping[str, Future[bytes | None]]) -> AccountContext:
        raw = {
            kind: body for kind, future in pending.items() if (body := future.result()) is not None
        }
        return AccountContext.from_raw(raw)

    def _get[T](
        self,
        run: _Run,
        account_id: int,
        kind: _Kind,
        params: Params,
        what: str,
        parse: Callable[[bytes], T],
        *,
        missing_ok: bool = False,
    ) -> tuple[bytes, T] | None:
        """GET one endpoint of the account with retries; ``None`` for a 404 when ``missing_ok``."""
        url = f"{self._base}/api/v1/accounts/{account_id}/{kind}"
        where = f"account {account_id} at {self._shown}"
        attempt = 0  # failed attempts; a 429 is flow control, not a failure
        while True:
            run.check()
            status: int | None = None
            body = b""
            with self._slots:
                self._wait_for_slot(run)
                started = self._clock()
                try:
                    response = self._session.get(
                        url,
                        params=params,
                        headers=self._headers,
                        timeout=self._timeout,
                        allow_redirects=False,
                    )
                    body = response.content
                    status = response.status_code
                except _TRANSIENT as exc:
                    problem = _describe(exc)
                except requests.RequestException as exc:
                    raise ChatwootError(
                        f"cannot send requests to Chatwoot at {self._shown} "
                        f"({type(exc).__name__}): check base_url"
                    ) from exc
            run.count(body=len(body), throttled=status == 429)
            if status == 429:
                self._pacer.throttled()
            elif status is not None:
                self._pacer.accepted(started)
                run.answered_at = self._clock()
            logger.debug("GET %s %s -> %s (%d bytes)", kind, params, status, len(body))
            if status == 200:
                try:
                    return body, parse(body)
                except _BadBody as exc:
                    problem = f"HTTP 200 but {exc}"
            elif status == 404 and missing_ok:
                return None
            elif status is not None:
                problem = f"HTTP {status}"
                if status < 500 and status not in _RETRY_STATUSES:
                    raise self._final_error(status, body, account_id, kind, response.headers)
            if status == 429:
                # Neither a failed attempt nor a retry of the budget: asked again at once, and
                # the pacer, now slower, decides when it may start. Patience bounds it instead.
                refused = self._clock() - run.answered_at
                if refused > self._retry.throttle_patience:
                    raise RetryBudgetExhausted(
                        f"Chatwoot at {self._shown} answered every request with HTTP 429 (rate "
                        f"limited) for {refused:.0f} s while fetching {what} of account "
                        f"{account_id}: another client may be using this address's allowance; "
                        "try again later"
                    )
                continue
            attempt += 1
            if attempt >= self._retry.max_attempts:
                raise RetryBudgetExhausted(
                    f"{what} of {where} failed {attempt} times in a row (last: {problem}): "
                    "Chatwoot is failing or overloaded, try again later"
                )
            run.spend_retry(problem, what, where)
            logger.debug("retrying %s after %s (attempt %d)", what, problem, attempt)
            run.pause(self._retry.delay(attempt, self._rng))

    def _wait_for_slot(self, run: _Run) -> None:
        while (delay := self._pacer.try_acquire()) > 0:
            run.pause(delay)

    def _final_error(
        self,
        status: int,
        body: bytes,
        account_id: int,
        kind: _Kind,
        headers: Mapping[str, str],
    ) -> ChatwootError:
        base, account = self._shown, account_id
        error = _error_text(body)
        if status == 401:
            hint = _AUTH_HINTS.get(error or "")
            if hint is not None:
                return AuthenticationError(hint.format(base=base, account=account), status=401)
            said = f": {self._clean(error)}" if error else ""
            return AuthenticationError(
                f"Chatwoot at {base} refused the access token for account {account} "
                f"(HTTP 401{said}): check the token and that it is an administrator's",
                status=401,
            )
        if status == 404:
            if error == _NOT_FOUND:
                return NotFoundError(
                    f"account {account} not found at {base}: check the account id and base_url",
                    status=404,
                )
            if kind == "reporting_events":
                return NotFoundError(
                    f"Chatwoot at {base} has no reporting-events API (HTTP 404 for account "
                    f"{account}): it needs Chatwoot 4.8 or newer with the enterprise edition",
                    status=404,
                )
            return NotFoundError(
                f"Chatwoot at {base} has no {kind} endpoint (HTTP 404 for account {account}): "
                "check base_url",
                status=404,
            )
        if 300 <= status < 400:
            location = _display_url(headers.get("Location", "")) or "elsewhere"
            return ResponseError(
                f"Chatwoot at {base} redirects to {location}: set base_url to the address "
                "the API answers on",
                status=status,
            )
        return ResponseError(
            f"Chatwoot at {base} answered HTTP {status} to {kind} of account {account}"
            f"{': ' + self._clean(error) if error else ''}",
            status=status,
        )

    def _clean(self, text: str) -> str:
        """Server text fit for a one-line message (and never echoing the token)."""
        line = _LONE_SURROGATE.sub("\ufffd", " ".join(text.split())[:200])
        return line.replace(self._token, "[token]") if self._token else line


class _Fetch:
    """One ``reporting_events`` call: passes, page numbering, resume, callbacks."""

    def __init__(
        self,
        client: ChatwootClient,
        run: _Run,
        account_id: int,
        window: Window,
        resume: Sequence[Page],
        on_page: Callable[[Page], None] | None,
        progress: Callable[[int, int], None] | None,
        heartbeat: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
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
            if not (_is_int(since) and _is_int(until)):
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
                fetched_context = ChatwootClient._collect_context(context)
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
        got = self._pages(state, [(self.main, 1)], main=first_pass)
        last = got[self.main, 1].total_pages
        if first_pass:
            # Numbers 1..last belong to the main query's pages, even to those that arrive
            # after a repair page: repairs are numbered from last + 1.
            self.next_number = max(self.next_number, last + 1)
        self.run.set_budget(self.client._retry.budget_for(max(1, last)))
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

        rest = [(self.main, page) for page in range(2, last + 1)]
        self._pages(state, rest, main=first_pass, follow=probe_repeats)

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
            self._pages(state, [(query, 1) for query in unknown], main=False)
            frontier = []
            rest: list[tuple[_Query, int]] = []
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
                    rest.extend((query, page) for page in range(2, got.total_pages + 1))
            rest = [wanted for wanted in rest if wanted not in state.edges]
            rest = rest[: max(0, state.allowance)]
            state.allowance -= len(rest)
            self._pages(state, rest, main=False)

    # ── pages ─────────────────────────────────────────────────────────────────────────────────

    def _pages(
        self,
        state: _Pass,
        wanted: list[tuple[_Query, int]],
        *,
        main: bool,
        follow: Callable[[_Query, int, _Got], list[tuple[_Query, int]]] | None = None,
    ) -> dict[tuple[_Query, int], _Got]:
        """Fetch (or take from ``resume``) pages; hand each over as it arrives.

        ``follow`` may ask for more pages after each one; they join the same batch.
        """
        results: dict[tuple[_Query, int], _Got] = {}
        queue = deque(wanted)
        self.total += len(wanted)
        futures: dict[Future[tuple[bytes, _EventsBody] | None], tuple[_Query, int, Params]] = {}

        def settle(query: _Query, page: int, page_obj: Page, parsed: _EventsBody) -> None:
            got = results[query, page] = self._accept(state, query, page, page_obj, parsed)
            more = follow(query, page, got) if follow is not None else []
            self.total += len(more)
            queue.extend(more)

        # Requests submitted but not yet handed to on_page: enough to keep every connection
        # busy. Without a bound the pool fetched ahead of a slower archive, piling parsed pages
        # up in memory, and a run stopped for time threw them away to fetch them again.
        ahead = 2 * self.client._concurrency
        try:
            while queue or futures:
                while queue and len(futures) < ahead:
                    query, page = queue.popleft()
                    params = query.params(page)
                    resumed = self._take_resumed(params)
                    if resumed is not None:
                        settle(query, page, *resumed)
                        continue
                    what = f"reporting_events page {page} ({self._describe(query)})"
                    future = self.pool.submit(
                        self.client._get,
                        self.run,
                        self.account_id,
                        "reporting_events",
                        params,
                        what,
                        _parse_events,
                    )
                    futures[future] = (query, page, params)
                if not futures:
                    break
                finished, _ = wait(futures, timeout=_HEARTBEAT, return_when=FIRST_COMPLETED)
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
        self, state: _Pass, query: _Query, page: int, page_obj: Page, parsed: _EventsBody
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

    def _take_resumed(self, params: Params) -> tuple[Page, _EventsBody] | None:
        queue = self.resumed.get(_key(params))
        while queue:
            page = queue.pop(0)
            try:
                return page, _parse_events(page.body)
            except _BadBody as exc:
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
