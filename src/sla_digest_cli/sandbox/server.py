"""A Chatwoot-compatible HTTP server on 127.0.0.1 for the demo, the tests and the benchmark.

It answers the endpoints the digest uses the way Chatwoot 4.15 does: its authentication errors,
Kaminari paging, ``created_at DESC`` without a tie-breaker and the rate limiter's bare 429.
Latency, faults, tie shuffling, rate limits and data changes between requests can be injected,
so the client is tested against the failures it has to survive rather than against a mock.
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import random
import re
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sla_digest.exceptions import ConfigError
from sla_digest.window import load_timezone
from sla_digest_cli.sandbox.data import (
    EVENT_KEYS,
    PER_PAGE,
    Dataset,
    EventView,
    build_dataset,
    parse_ms,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

__all__ = [
    "DEFAULT_FAULTS",
    "FAULT_KINDS",
    "Dataset",
    "SandboxOptions",
    "SandboxServer",
    "SandboxStats",
    "generate_dataset",
    "ruby_to_i",
    "serve",
]

logger = logging.getLogger(__name__)

DEFAULT_FAULTS: tuple[str, ...] = ("500", "502", "503", "429", "truncated", "html200", "reset")
# "cut": the full Content-Length is announced, half the body sent, the connection closed.
# "stall": the answer comes after ``stall_seconds`` (for client timeouts).
FAULT_KINDS: frozenset[str] = frozenset((*DEFAULT_FAULTS, "504", "cut", "stall"))
_MIN_REPORTING_VERSION = (4, 8)

_JSON = "application/json; charset=utf-8"
_HTML = "text/html; charset=utf-8"
_NOT_FOUND_PAGE = (
    b"<!DOCTYPE html>\n<html>\n<head>\n  <title>The page you were looking for doesn't exist "
    b"(404)</title>\n</head>\n<body>\n  <h1>The page you were looking for doesn't exist.</h1>\n"
    b"  <p>You may have mistyped the address or the page may have moved.</p>\n</body>\n</html>\n"
)
_GATEWAY_PAGES = {
    502: b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    b"</html>\r\n",
    503: b"<html>\r\n<head><title>503 Service Temporarily Unavailable</title></head>\r\n<body>\r\n"
    b"<center><h1>503 Service Temporarily Unavailable</h1></center>\r\n<hr><center>nginx"
    b"</center>\r\n</body>\r\n</html>\r\n",
    504: b"<html>\r\n<head><title>504 Gateway Time-out</title></head>\r\n<body>\r\n"
    b"<center><h1>504 Gateway Time-out</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n"
    b"</html>\r\n",
}
_MAINTENANCE_PAGE = (
    b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
    b"<body><h1>We'll be back shortly.</h1></body></html>\n"
)
_SERVER_ERROR = b'{"status":500,"error":"Internal Server Error"}'
_RETRY_LATER = b"Retry later\n"

_ROUTE_V1 = re.compile(
    r"^/api/v1/accounts/([^/]+)/(reporting_events|agents|inboxes|teams|sla_policies)"
    r"(?:\.json)?/?$"
)
_ROUTE_SUMMARY = re.compile(r"^/api/v2/accounts/([^/]+)/reports/summary(?:\.json)?/?$")
_ADMIN_ONLY = frozenset({"reporting_events", "summary"})
_RUBY_INTEGER = re.compile(r"\s*([+-]?\d+(?:_\d+)*)")
_EPOCH_SECONDS = re.compile(r"-?\d+")
_VERSION = re.compile(r"^(\d+)\.(\d+)(?:\.\d+)?$")
_FALSE_VALUES = frozenset({"0", "f", "F", "false", "FALSE", "off", "OFF"})


# --------------------------------------------------------------------------- options and data


@dataclass(frozen=True)
class SandboxOptions:
    """What the sandbox serves and how it misbehaves; the defaults behave like a healthy 4.15."""

    account_id: int = 7
    day: date = date(2026, 11, 20)
    timezone: str = "Europe/Berlin"
    events: int = 600  # rows whose created_at is inside the report day
    seed: int = 7
    latency: float = 0.0  # seconds added to every response
    fault_rate: float = 0.0  # share of reporting_events requests answered with a fault
    faults: tuple[str, ...] = DEFAULT_FAULTS
    stall_seconds: float = 5.0
    shuffle_ties: bool = False  # rotate rows with equal created_at on every request
    rate_limit: int | None = None  # requests per window and client IP; beyond: 429
    rate_window: float = 1.0
    version: str = "4.15"  # below 4.8 reporting_events does not exist (404)
    # Fixed, public test tokens of a local fake: not secrets.
    admin_token: str = "sandbox-admin-token"  # noqa: S105
    agent_token: str = "sandbox-agent-token"  # noqa: S105
    bot_token: str = "sandbox-bot-token"  # noqa: S105
    other_account_token: str = "sandbox-other-account-token"  # noqa: S105
    suspended: bool = False

    def __post_init__(self) -> None:
        load_timezone(self.timezone)
        if self.events < 0:
            raise ConfigError(f"sandbox events must be 0 or more, not {self.events}")
        if not 0.0 <= self.fault_rate <= 1.0:
            raise ConfigError(f"sandbox fault_rate must be between 0 and 1, not {self.fault_rate}")
        if self.latency < 0 or self.stall_seconds < 0:
            raise ConfigError("sandbox latency and stall_seconds must not be negative")
        unknown = sorted(set(self.faults) - FAULT_KINDS)
        if unknown:
            kinds = ", ".join(sorted(FAULT_KINDS))
            raise ConfigError(f"unknown sandbox fault kind {unknown[0]!r}; use one of {kinds}")
        if self.fault_rate > 0 and not self.faults:
            raise ConfigError("sandbox fault_rate is set but no fault kinds are given")
        if self.rate_limit is not None and self.rate_limit < 1:
            raise ConfigError(f"sandbox rate_limit must be at least 1, not {self.rate_limit}")
        if self.rate_window <= 0:
            raise ConfigError(f"sandbox rate_window must be positive, not {self.rate_window}")
        if not _VERSION.match(self.version):
            raise ConfigError(f"sandbox version {self.version!r} is not like '4.15'")
        tokens = (self.admin_token, self.agent_token, self.bot_token, self.other_account_token)
        if len(set(tokens)) != len(tokens) or not all(tokens):
            raise ConfigError("sandbox tokens must be distinct and not empty")

    @property
    def has_reporting_api(self) -> bool:
        """Whether this version has ``reporting_events`` (added in 4.8)."""
        match = _VERSION.match(self.version)
        assert match is not None  # checked in __post_init__
        return (int(match.group(1)), int(match.group(2))) >= _MIN_REPORTING_VERSION


def generate_dataset(options: SandboxOptions) -> Dataset:
    """The seeded data for ``options``; the same options always give the same data."""
    return build_dataset(
        account_id=options.account_id,
        day=options.day,
        timezone=options.timezone,
        events=options.events,
        seed=options.seed,
    )


def ruby_to_i(text: str) -> int:
    """Ruby's ``String#to_i``: the leading integer, else 0 (how Kaminari reads ``page``)."""
    match = _RUBY_INTEGER.match(text)
    return int(match.group(1).replace("_", "")) if match else 0


# --------------------------------------------------------------------------- statistics


@dataclass
class SandboxStats:
    """Counters the tests and the benchmark read; every update holds the lock.

    ``reporting_requests`` and ``request_times`` (monotonic start times) count every request
    to ``reporting_events``, throttled or not; ``throttled`` counts only the rate limiter's 429s;
    ``faults`` the injected faults by kind; ``connections`` the TCP connections accepted (one
    per client when keep-alive works). Read consistent copies with :meth:`snapshot`.
    """

    requests: int = 0
    connections: int = 0
    reporting_requests: int = 0
    by_status: dict[int, int] = field(default_factory=dict)
    throttled: int = 0
    in_flight: int = 0
    max_in_flight: int = 0
    request_times: list[float] = field(default_factory=list)
    faults: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def reset(self) -> None:
        """Start counting afresh (requests still in flight stay counted as in flight)."""
        with self._lock:
            self.requests = 0
            self.connections = 0
            self.reporting_requests = 0
            self.by_status = {}
            self.throttled = 0
            self.max_in_flight = self.in_flight
            self.request_times = []
            self.faults = {}

    def snapshot(self) -> dict[str, Any]:
        """A consistent copy of every counter, safe to read while requests are served."""
        with self._lock:
            return {
                "requests": self.requests,
                "connections": self.connections,
                "reporting_requests": self.reporting_requests,
                "by_status": dict(self.by_status),
                "throttled": self.throttled,
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "request_times": list(self.request_times),
                "faults": dict(self.faults),
            }

    def begin(self, *, reporting: bool, at: float) -> None:
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if reporting:
                self.reporting_requests += 1
                self.request_times.append(at)

    def end(self, status: int | None) -> None:
        """Count an answer; called before its bytes are sent, so a client that has its answer
        always sees it counted and no longer in flight."""
        with self._lock:
            self.in_flight -= 1
            if status is not None:
                self.by_status[status] = self.by_status.get(status, 0) + 1

    def count_connection(self) -> None:
        with self._lock:
            self.connections += 1

    def count_throttled(self) -> None:
        with self._lock:
            self.throttled += 1

    def count_fault(self, kind: str) -> None:
        with self._lock:
            self.faults[kind] = self.faults.get(kind, 0) + 1


class _RateLimiter:
    """A fixed-window counter per client IP, as Rack::Attack's throttle keeps it."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float]) -> None:
        self._limit = limit
        self._window = window
        self._clock = clock
        self._counts: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    def allow(self, client: str) -> bool:
        index = int(self._clock() // self._window)
        with self._lock:
            current = self._counts.get(client)
            count = current[1] + 1 if current is not None and current[0] == index else 1
            self._counts[client] = (index, count)
        return count <= self._limit


# --------------------------------------------------------------------------- HTTP plumbing


class _HTTPServer(ThreadingHTTPServer):
    """A daemon thread per connection; keeps the connections and threads so :meth:`stop` can
    end and join them (the standard library does not join daemon threads)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: SandboxServer) -> None:
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._to_reset: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self._serve_connection,
            args=(request, client_address),
            name="sandbox-connection",
            daemon=True,
        )
        with self._open_lock:
            self._open.add(request)
            self._workers.add(worker)
        self.sandbox.stats.count_connection()
        worker.start()

    def _serve_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._open_lock:
                self._workers.discard(threading.current_thread())

    def join_workers(self, timeout: float) -> list[threading.Thread]:
        """Wait for every connection thread; returns those still alive after ``timeout``."""
        deadline = time.monotonic() + timeout
        with self._open_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        return [worker for worker in workers if worker.is_alive()]

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
            reset = request in self._to_reset
            self._to_reset.discard(request)
        if reset:
            request.close()  # SO_LINGER 0 is set: close sends RST instead of FIN
        else:
            super().shutdown_request(request)

    def reset_connection(self, request: socket.socket) -> None:
        request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        with self._open_lock:
            self._to_reset.add(request)

    def close_connections(self) -> None:
        with self._open_lock:
            connections = list(self._open)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                logger.debug("connection already closed")

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up mid-answer are expected here (timeouts, fault tests).
        logger.debug(
            "sandbox connection from %s ended with an error", client_address, exc_info=True
        )


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections end after this
    server: _HTTPServer
    answered = False

    def do_GET(self) -> None:
        self.server.sandbox._handle(self)

    def _no_route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.sandbox._handle(self, routable=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = _no_route

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s " + format, self.address_string(), *args)

    def version_string(self) -> str:
        return self.server_version

    def send(
        self, status: int, body: bytes, content_type: str, *, length: int | None = None
    ) -> int:
        self.answered = True
        self.server.sandbox.stats.end(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)
        return status

    def send_json(self, status: int, document: Any) -> int:
        return self.send(status, _render_json(document), _JSON)


def _render_json(document: Any) -> bytes:
    """Compact JSON with HTML characters escaped, as Rails renders it."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.encode("utf-8")


class _ServerFault(Exception):
    """A query Chatwoot answers with 500 (for example a non-numeric ``since``)."""


def _epoch_param(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key, "")
    if raw == "":
        return None
    if not _EPOCH_SECONDS.fullmatch(raw):
        raise _ServerFault(key)
    return int(raw)


def _id_param(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key, "")
    return None if raw == "" else ruby_to_i(raw)


# --------------------------------------------------------------------------- the server


class SandboxServer:
    """The sandbox as a context manager: ``with SandboxServer(options) as server: ...``.

    ``on_reporting_request`` (if set) is called with the page number of every
    ``reporting_events`` request before it is answered, so a test can change the data between
    pages; ``delete_events``/``add_events`` change it atomically.
    """

    def __init__(
        self,
        options: SandboxOptions | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.options = options if options is not None else SandboxOptions()
        self.dataset: Dataset = generate_dataset(self.options)
        self.dataset.view()
        self.stats = SandboxStats()
        self.on_reporting_request: Callable[[int], None] | None = None
        self._host = host
        self._port = port
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._fault_rng = random.Random(self.options.seed)
        self._queued_faults: deque[str] = deque()
        self._rotations = itertools.count(1)
        self._limiter = (
            _RateLimiter(
                self.options.rate_limit,
                self.options.rate_window,
                clock if clock is not None else time.monotonic,
            )
            if self.options.rate_limit is not None
            else None
        )

    # -- lifecycle

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:<port>`` once started."""
        if self._httpd is None:
            raise RuntimeError("the sandbox server is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> SandboxServer:
        if self._httpd is not None:
            return self
        self._stopping.clear()
        self._httpd = _HTTPServer((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="sandbox-server",
            daemon=True,
        )
        self._thread.start()
        logger.info("sandbox serving account %d at %s", self.options.account_id, self.base_url)
        return self

    def stop(self) -> None:
        """Stop accepting, end open keep-alive connections and join every thread."""
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if thread is not None:
            thread.join()
        stuck = httpd.join_workers(timeout=10.0)
        if stuck:
            # Only a hook that never returns can get here; the threads are daemons.
            logger.warning("%d sandbox connection threads did not stop", len(stuck))
        self._httpd = self._thread = None

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls

    def queue_faults(self, *kinds: str) -> None:
        """Answer the next ``reporting_events`` requests with these faults, in order."""
        unknown = sorted(set(kinds) - FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind {unknown[0]!r}")
        with self._lock:
            self._queued_faults.extend(kinds)

    def delete_events(self, ids: Iterable[int]) -> int:
        """Remove rows by id (as deleting a conversation does); returns how many went."""
        doomed = set(ids)
        with self._lock:
            kept = [row for row in self.dataset.events if row["id"] not in doomed]
            removed = len(self.dataset.events) - len(kept)
            if removed:
                self.dataset = self.dataset.with_events(kept)
        return removed

    def add_events(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Add rows (as background jobs write them); missing keys are null, ids must be new."""
        new_rows = []
        for row in rows:
            parse_ms(str(row["created_at"]))  # fail here, not in a request thread
            rendered = {key: row.get(key) for key in EVENT_KEYS}
            if rendered["account_id"] is None:
                rendered["account_id"] = self.options.account_id
            if rendered["updated_at"] is None:
                rendered["updated_at"] = rendered["created_at"]
            new_rows.append(rendered)
        with self._lock:
            known = {row["id"] for row in self.dataset.events}
            clash = [row["id"] for row in new_rows if row["id"] in known]
            if clash:
                raise ValueError(f"event id {clash[0]} exists already")
            self.dataset = self.dataset.with_events(self.dataset.events + new_rows)

    # -- request handling

    def _pause(self, seconds: float) -> None:
        if seconds > 0:
            self._stopping.wait(seconds)

    def _handle(self, handler: _Handler, *, routable: bool = True) -> None:
        started = time.monotonic()
        url = urlsplit(handler.path)
        route = self._route(url.path) if routable else None
        reporting = route is not None and route[0] == "reporting_events"
        self.stats.begin(reporting=reporting, at=started)
        handler.answered = False
        try:
            self._respond(handler, route, dict(parse_qsl(url.query, keep_blank_values=True)))
        finally:
            if not handler.answered:  # reset on purpose, or failed before answering
                self.stats.end(None)

    @staticmethod
    def _route(path: str) -> tuple[str, str] | None:
        if match := _ROUTE_V1.match(path):
            return match.group(2), match.group(1)
        if match := _ROUTE_SUMMARY.match(path):
            return "summary", match.group(1)
        return None

    def _respond(
        self, handler: _Handler, route: tuple[str, str] | None, query: dict[str, str]
    ) -> int | None:
        options = self.options
        if self._limiter is not None and not self._limiter.allow(handler.client_address[0]):
            self.stats.count_throttled()
            self._pause(options.latency)
            return handler.send(429, _RETRY_LATER, "text/plain")
        if route is None or (route[0] == "reporting_events" and not options.has_reporting_api):
            self._pause(options.latency)
            return handler.send(404, _NOT_FOUND_PAGE, _HTML)
        endpoint, account = route
        refusal = self._authorize(handler.headers.get("api_access_token"), account, endpoint)
        if refusal is not None:
            self._pause(options.latency)
            return handler.send_json(refusal[0], {"error": refusal[1]})
        if endpoint == "reporting_events":
            return self._reporting_events(handler, query)
        self._pause(options.latency)
        dataset = self.dataset
        if endpoint == "agents":
            return handler.send_json(200, dataset.agents)
        if endpoint == "teams":
            return handler.send_json(200, dataset.teams)
        if endpoint == "inboxes":
            return handler.send_json(200, {"payload": dataset.inboxes})
        if endpoint == "sla_policies":
            return handler.send_json(200, {"payload": dataset.sla_policies})
        return self._summary(handler, dataset, query)

    def _authorize(self, token: str | None, account: str, endpoint: str) -> tuple[int, str] | None:
        """Chatwoot's checks, in its order: token, bot, account, suspension, membership, role."""
        options = self.options
        known = {
            options.admin_token,
            options.agent_token,
            options.bot_token,
            options.other_account_token,
        }
        if token is None or token not in known:
            return 401, "Invalid Access Token"
        if token == options.bot_token:
            return 401, "Access to this endpoint is not authorized for bots"
        if not account.isdigit() or int(account) != options.account_id:
            return 404, "Resource could not be found"
        if options.suspended:
            return 401, "Account is suspended"
        if token == options.other_account_token:
            return 401, "You are not authorized to access this account"
        if token == options.agent_token and endpoint in _ADMIN_ONLY:
            return 401, "You are not authorized to do this action"
        return None

    def _next_fault(self) -> str | None:
        options = self.options
        with self._lock:
            if self._queued_faults:
                return self._queued_faults.popleft()
            if options.fault_rate > 0 and self._fault_rng.random() < options.fault_rate:
                return self._fault_rng.choice(options.faults)
        return None

    def _reporting_events(self, handler: _Handler, query: dict[str, str]) -> int | None:
        options = self.options
        raw_page = query.get("page")
        shown_page = 1 if raw_page is None else ruby_to_i(raw_page)
        page = max(shown_page, 1)
        hook = self.on_reporting_request
        if hook is not None:
            hook(page)
        fault = self._next_fault()
        if fault is not None:
            self.stats.count_fault(fault)
        self._pause(options.latency)
        if fault == "reset":
            handler.close_connection = True
            handler.server.reset_connection(handler.connection)
            return None
        if fault == "stall":
            self._pause(options.stall_seconds)
        elif fault == "429":
            return handler.send(429, _RETRY_LATER, "text/plain")
        elif fault == "500":
            return handler.send(500, _SERVER_ERROR, _JSON)
        elif fault in ("502", "503", "504"):
            status = int(fault)
            return handler.send(status, _GATEWAY_PAGES[status], _HTML)
        elif fault == "html200":
            return handler.send(200, _MAINTENANCE_PAGE, _HTML)
        try:
            since = _epoch_param(query, "since")
            until = _epoch_param(query, "until")
        except _ServerFault:
            return handler.send(500, _SERVER_ERROR, _JSON)
        if since is None or until is None:
            since = until = None
        name = query.get("name") or query.get("event_name") or None
        view = self.dataset.view().select(
            _id_param(query, "inbox_id"), _id_param(query, "user_id"), name
        )
        body = _render_json(self._page_document(view, since, until, page, shown_page))
        if fault == "truncated":
            return handler.send(200, body[: len(body) // 2], _JSON)
        if fault == "cut":
            handler.close_connection = True
            return handler.send(200, body[: len(body) // 2], _JSON, length=len(body))
        return handler.send(200, body, _JSON)

    def _page_document(
        self, view: EventView, since: int | None, until: int | None, page: int, shown_page: int
    ) -> dict[str, Any]:
        start, end = view.window(since, until)
        count = end - start
        rotation = next(self._rotations) if self.options.shuffle_ties else None
        rows = view.page(start, end, (page - 1) * PER_PAGE, rotation)
        return {
            "payload": rows,
            "meta": {
                "count": count,
                "current_page": shown_page,
                "total_pages": math.ceil(count / PER_PAGE),
            },
        }

    def _summary(self, handler: _Handler, dataset: Dataset, query: dict[str, str]) -> int:
        report_type = query.get("type") or "account"
        business = _truthy(query.get("business_hours", query.get("enable_business_hours")))
        try:
            since = _epoch_param(query, "since")
            until = _epoch_param(query, "until")
        except _ServerFault:
            return handler.send(500, _SERVER_ERROR, _JSON)
        if report_type == "account":
            keep: Callable[[dict[str, Any]], bool] = lambda row: True  # noqa: E731
        elif report_type in ("agent", "inbox"):
            raw_id = query.get("id", "")
            wanted = ruby_to_i(raw_id)
            known = (
                {agent["id"] for agent in dataset.agents}
                if report_type == "agent"
                else {inbox["id"] for inbox in dataset.inboxes}
            )
            if wanted not in known:
                return handler.send_json(404, {"error": "Resource could not be found"})
            column = "user_id" if report_type == "agent" else "inbox_id"
            keep = lambda row: row[column] == wanted  # noqa: E731
        else:
            return handler.send(500, _SERVER_ERROR, _JSON)
        view = dataset.view()
        current = _summary_block(view, since, until, keep, business)
        if since is not None and until is not None:
            previous = _summary_block(view, since - (until - since), since, keep, business)
        else:
            previous = _summary_block(view, None, None, keep, business)
        return handler.send_json(200, {**current, "previous": previous})


def _truthy(raw: str | None) -> bool:
    """ActiveModel's boolean cast: blank is false, and so are the usual spellings of false."""
    return raw is not None and raw != "" and raw not in _FALSE_VALUES


def _mean(values: list[float]) -> float | int:
    # Chatwoot answers 0 (not null) when there is nothing to average.
    return math.fsum(values) / len(values) if values else 0


def _summary_block(
    view: EventView,
    since: int | None,
    until: int | None,
    keep: Callable[[dict[str, Any]], bool],
    business: bool,
) -> dict[str, Any]:
    """Chatwoot's summary over the rows created in ``[since, until)``; no window, no rows."""
    rows: list[dict[str, Any]] = []
    if since is not None and until is not None:
        start, end = view.window(since, until)
        rows = [row for row in view.rows[start:end] if keep(row)]
    column = "value_in_business_hours" if business else "value"
    values: dict[str, list[float]] = {
        "first_response": [],
        "conversation_resolved": [],
        "reply_time": [],
    }
    conversations = set()
    for row in rows:
        if row["conversation_id"] is not None:
            conversations.add(row["conversation_id"])
        bucket = values.get(row["name"])
        if bucket is not None and row[column] is not None:
            bucket.append(row[column])
    resolutions = sum(1 for row in rows if row["name"] == "conversation_resolved")
    reply_time = _mean(values["reply_time"])
    return {
        "conversations_count": len(conversations),
        "avg_first_response_time": _mean(values["first_response"]),
        "avg_resolution_time": _mean(values["conversation_resolved"]),
        "resolutions_count": resolutions,
        "reply_time": reply_time,
        "avg_reply_time": reply_time,
    }


def serve(
    options: SandboxOptions | None = None,
    host: str = "127.0.0.1",
    port: int = 0,
    ready: Callable[[str], None] | None = None,
    *,
    stop: threading.Event | None = None,
) -> None:
    """Run the sandbox in the foreground until interrupted (Ctrl-C) or ``stop`` is set."""
    with SandboxServer(options, host=host, port=port) as server:
        if ready is not None:
            ready(server.base_url)
        try:
            (stop if stop is not None else threading.Event()).wait()
        except KeyboardInterrupt:
            logger.info("sandbox stopped")
