"""A Chatwoot-compatible HTTP server on 127.0.0.1 for the demo, the tests and the benchmark.

It answers the endpoints the digest uses the way Chatwoot 4.15 does: its authentication errors,
Kaminari paging, ``created_at DESC`` without a tie-breaker and the rate limiter's bare 429.
Latency, faults, tie shuffling, rate limits and data changes between requests can be injected,
so the client is tested against the failures it has to survive rather than against a mock.

:class:`SandboxServer` decides every answer; the HTTP plumbing is in ``httpd``, the faults and
the rate limiter in ``faults``, the options in ``options``, the v2 summary report in ``reports``
and the data in ``data`` and ``generate``. Tests change single answers by overriding
``_respond`` or ``_page_document`` in a subclass.
"""

from __future__ import annotations

import itertools
import logging
import math
import re
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from sla_digest_cli.sandbox.data import EVENT_KEYS, PER_PAGE, Dataset, EventView, parse_ms
from sla_digest_cli.sandbox.faults import (
    DEFAULT_FAULTS,
    EARLY_FAULTS,
    FAULT_KINDS,
    RETRY_LATER,
    SERVER_ERROR,
    FaultPlan,
    RateLimiter,
    send_fault,
)
from sla_digest_cli.sandbox.hostile import answer_page, send_huge_agents
from sla_digest_cli.sandbox.httpd import (
    HTML,
    JSON,
    NOT_FOUND_PAGE,
    Handler,
    SandboxHTTPServer,
    SandboxStats,
    render_json,
)
from sla_digest_cli.sandbox.options import SandboxOptions, generate_dataset
from sla_digest_cli.sandbox.params import (
    ServerFault,
    epoch_param,
    id_param,
    ruby_to_i,
)
from sla_digest_cli.sandbox.reports import summary_report

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

_ROUTE_V1 = re.compile(
    r"^/api/v1/accounts/([^/]+)/(reporting_events|agents|inboxes|teams|sla_policies)"
    r"(?:\.json)?/?$"
)
_ROUTE_SUMMARY = re.compile(r"^/api/v2/accounts/([^/]+)/reports/summary(?:\.json)?/?$")
_ADMIN_ONLY = frozenset({"reporting_events", "summary"})


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
        self._httpd: SandboxHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._faults = FaultPlan(
            rate=self.options.fault_rate, kinds=self.options.faults, seed=self.options.seed
        )
        self._rotations = itertools.count(1)
        self._hostile_requests = itertools.count(1)
        self._limiter = (
            RateLimiter(
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
        self._httpd = SandboxHTTPServer((self._host, self._port), self)
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
        self._faults.queue(*kinds)

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

    def handle(self, handler: Handler, *, routable: bool = True) -> None:
        """Answer one request (called by the HTTP server's connection threads)."""
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
        self, handler: Handler, route: tuple[str, str] | None, query: dict[str, str]
    ) -> int | None:
        options = self.options
        if self._limiter is not None and not self._limiter.allow(handler.client_address[0]):
            self.stats.count_throttled()
            self._pause(options.latency)
            return handler.send(429, RETRY_LATER, "text/plain")
        if route is None or (route[0] == "reporting_events" and not options.has_reporting_api):
            self._pause(options.latency)
            return handler.send(404, NOT_FOUND_PAGE, HTML)
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
            if options.hostile == "huge_agents":
                return send_huge_agents(handler, options.account_id, self._stopping)
            return handler.send_json(200, dataset.agents)
        if endpoint == "teams":
            return handler.send_json(200, dataset.teams)
        if endpoint == "inboxes":
            return handler.send_json(200, {"payload": dataset.inboxes})
        if endpoint == "sla_policies":
            return handler.send_json(200, {"payload": dataset.sla_policies})
        try:
            status, document = summary_report(dataset, query)
        except ServerFault:
            return handler.send(500, SERVER_ERROR, JSON)
        return handler.send_json(status, document)

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

    def _reporting_events(self, handler: Handler, query: dict[str, str]) -> int | None:
        options = self.options
        raw_page = query.get("page")
        shown_page = 1 if raw_page is None else ruby_to_i(raw_page)
        page = max(shown_page, 1)
        hook = self.on_reporting_request
        if hook is not None:
            hook(page)
        fault = self._faults.next()
        if fault is not None:
            self.stats.count_fault(fault)
        self._pause(options.latency)
        if fault == "stall":
            self._pause(options.stall_seconds)
        elif fault in EARLY_FAULTS:
            return send_fault(handler, fault)
        try:
            since = epoch_param(query, "since")
            until = epoch_param(query, "until")
        except ServerFault:
            return handler.send(500, SERVER_ERROR, JSON)
        if since is None or until is None:
            since = until = None
        name = query.get("name") or query.get("event_name") or None
        view = self.dataset.view().select(
            id_param(query, "inbox_id"), id_param(query, "user_id"), name
        )
        document = self._page_document(view, since, until, page, shown_page)
        if options.hostile is not None:
            request = next(self._hostile_requests)
            return answer_page(
                options.hostile,
                handler,
                document,
                page=page,
                request=request,
                stopping=self._stopping,
            )
        body = render_json(document)
        if fault is not None and fault != "stall":
            return send_fault(handler, fault, body)
        return handler.send(200, body, JSON)

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
