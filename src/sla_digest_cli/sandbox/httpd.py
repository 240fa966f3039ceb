"""The sandbox's HTTP plumbing: a threading server that can reset and join its connections,
the request handler, Rails-style JSON, and the counters the tests and the benchmark read.

Requests are handed to a :class:`RequestSink` (the :class:`~sla_digest_cli.sandbox.server.
SandboxServer`), which decides every answer.
"""

from __future__ import annotations

import json
import logging
import socket
import struct
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Protocol

__all__ = [
    "HTML",
    "JSON",
    "NOT_FOUND_PAGE",
    "Handler",
    "RequestSink",
    "SandboxHTTPServer",
    "SandboxStats",
    "render_json",
]

logger = logging.getLogger(__name__)

JSON = "application/json; charset=utf-8"
HTML = "text/html; charset=utf-8"
NOT_FOUND_PAGE = (
    b"<!DOCTYPE html>\n<html>\n<head>\n  <title>The page you were looking for doesn't exist "
    b"(404)</title>\n</head>\n<body>\n  <h1>The page you were looking for doesn't exist.</h1>\n"
    b"  <p>You may have mistyped the address or the page may have moved.</p>\n</body>\n</html>\n"
)


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


class RequestSink(Protocol):
    """What the HTTP server hands its requests to."""

    stats: SandboxStats

    def handle(self, handler: Handler, *, routable: bool = True) -> None: ...


class SandboxHTTPServer(ThreadingHTTPServer):
    """A daemon thread per connection; keeps the connections and threads so that the sandbox's
    ``stop`` can end and join them (the standard library does not join daemon threads)."""

    daemon_threads = True
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], sandbox: RequestSink) -> None:
        self.sandbox = sandbox
        self._open: set[socket.socket] = set()
        self._to_reset: set[socket.socket] = set()
        self._workers: set[threading.Thread] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, Handler)

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


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nginx"
    sys_version = ""
    disable_nagle_algorithm = True
    timeout = 60  # idle keep-alive connections end after this
    server: SandboxHTTPServer
    answered = False

    def do_GET(self) -> None:
        self.server.sandbox.handle(self)

    def _no_route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.sandbox.handle(self, routable=False)

    do_POST = do_PUT = do_PATCH = do_DELETE = _no_route

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("sandbox %s " + format, self.address_string(), *args)

    def version_string(self) -> str:
        return self.server_version

    def send(
        self, status: int, body: bytes, content_type: str, *, length: int | None = None
    ) -> int:
        """Answer with ``body``; ``length`` announces another Content-Length (a cut body)."""
        self.start(status, content_type, length=len(body) if length is None else length)
        self.wfile.write(body)
        return status

    def start(self, status: int, content_type: str, *, length: int | None) -> None:
        """Send the status and headers of an answer whose body follows in pieces: ``length``
        bytes of it, or chunks (``write_chunk``) when ``None``."""
        self.answered = True
        self.server.sandbox.stats.end(status)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        if length is None:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(length))
        self.end_headers()

    def write_chunk(self, data: bytes) -> None:
        """One piece of a chunked body (``start(..., length=None)``)."""
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def send_json(self, status: int, document: Any) -> int:
        return self.send(status, render_json(document), JSON)


def render_json(document: Any) -> bytes:
    """Compact JSON with HTML characters escaped, as Rails renders it."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False)
    for raw, escaped in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        text = text.replace(raw, escaped)
    return text.encode("utf-8")
