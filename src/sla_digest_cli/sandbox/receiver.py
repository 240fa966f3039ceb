"""A stand-in for Slack, Teams and a webhook receiver on 127.0.0.1: it records what each got.

Each channel has its hook at ``/<kind>/<token>``; the token makes the URL a secret, as a real
hook URL is, so tests can watch for it leaking. It answers like the real services (Slack
``200 ok``, a Teams Workflow ``202``, a webhook ``204``) and, on demand, with the failures
real hooks give: 5xx, 429 with or without ``Retry-After``, a revoked hook's 404/410/403, 413,
Slack's ``200`` error bodies, a redirect, or no answer in time.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FAULTS", "KINDS", "Received", "Receiver"]

logger = logging.getLogger(__name__)

KINDS = ("slack", "teams", "webhook")
# Fault → (status, body, extra headers). "slow" answers after ``slow_seconds`` instead.
_FAULT_ANSWERS: dict[str, tuple[int, bytes, dict[str, str]]] = {
    "500": (500, b"internal error", {}),
    "503": (503, b"service unavailable", {}),
    "429": (429, b"rate limited", {}),
    "429-retry-after": (429, b"rate limited", {"Retry-After": "1"}),
    "400": (400, b"invalid_payload", {}),
    "403": (403, b"action_prohibited", {}),
    "404": (404, b"no_service", {}),
    "410": (410, b"channel_is_archived", {}),
    "413": (413, b"request entity too large", {}),
    "slack-invalid_payload": (200, b"invalid_payload", {}),
    "slack-no_text": (200, b"no_text", {}),
    "slack-channel_not_found": (200, b"channel_not_found", {}),
    "redirect": (302, b"", {"Location": "/moved"}),
}
FAULTS = frozenset({*_FAULT_ANSWERS, "slow"})
_SUCCESS: dict[str, tuple[int, bytes, str]] = {
    "slack": (200, b"ok", "text/plain"),
    "teams": (202, b"", "text/plain"),
    "webhook": (204, b"", "text/plain"),
}


@dataclass(frozen=True, slots=True)
class Received:
    """One POST as it arrived, and the status it was answered with."""

    kind: str
    headers: dict[str, str]  # names in lower case
    body: bytes
    status: int
    accepted: bool  # answered as the real service answers a message it takes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], receiver: Receiver) -> None:
        self.receiver = receiver
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up on a slow answer hangs up mid-reply: expected in fault tests.
        logger.debug("receiver connection from %s ended with an error", client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _HTTPServer

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.receiver._answer(self, body)

    def do_GET(self) -> None:
        self.server.receiver._answer(self, b"")

    def log_message(self, format: str, *args: Any) -> None:
        # The request line holds the hook's secret path: never logged.
        return

    def reply(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Receiver:
    """``with Receiver() as hooks: hooks.url("slack") …``; ``hooks.received("slack")`` after.

    ``fail(kind, *faults)`` answers the next requests of that kind with those faults, in order.
    ``token`` is the secret part of every hook's path (a random one unless given).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        slow_seconds: float = 2.0,
        token: str | None = None,
    ) -> None:
        self.token = token or secrets.token_urlsafe(18)
        self.slow_seconds = slow_seconds
        self.redirects_followed = 0
        self._host = host
        self._port = port
        self._lock = threading.Lock()
        self._faults: dict[str, deque[str]] = {kind: deque() for kind in KINDS}
        self._received: list[Received] = []
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    @property
    def base_url(self) -> str:
        if self._httpd is None:
            raise RuntimeError("the receiver is not running; call start() first")
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def url(self, kind: str) -> str:
        """The hook URL of ``kind``: a secret, like a real incoming-webhook URL."""
        if kind not in KINDS:
            raise ValueError(f"no hook for {kind!r}; one of {', '.join(KINDS)}")
        return f"{self.base_url}/{kind}/{self.token}"

    def start(self) -> Receiver:
        if self._httpd is None:
            self._httpd = _HTTPServer((self._host, self._port), self)
            self._thread = threading.Thread(
                target=self._httpd.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="hook-receiver",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join()
        self._httpd = self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- test controls

    def fail(self, kind: str, *faults: str) -> None:
        unknown = sorted(set(faults) - FAULTS)
        if unknown:
            raise ValueError(f"unknown fault {unknown[0]!r}; one of {', '.join(sorted(FAULTS))}")
        with self._lock:
            self._faults[kind].extend(faults)

    def requests(self, kind: str | None = None) -> list[Received]:
        """Every request (of ``kind``), answered well or not, in arrival order."""
        with self._lock:
            return [r for r in self._received if kind is None or r.kind == kind]

    def received(self, kind: str) -> list[Received]:
        """What ``kind`` accepted (not the 200s carrying one of Slack's error bodies)."""
        return [r for r in self.requests(kind) if r.accepted]

    def clear(self) -> None:
        with self._lock:
            self._received.clear()

    # -- answering

    def _answer(self, handler: _Handler, body: bytes) -> None:
        parts = handler.path.split("?", 1)[0].strip("/").split("/")
        if parts == ["moved"]:
            with self._lock:
                self.redirects_followed += 1
            handler.reply(200, b"ok", {"Content-Type": "text/plain"})
            return
        if (
            len(parts) != 2
            or parts[0] not in KINDS
            or not secrets.compare_digest(parts[1], self.token)
        ):
            handler.reply(404, b"no_service", {"Content-Type": "text/plain"})
            return
        kind = parts[0]
        with self._lock:
            fault = self._faults[kind].popleft() if self._faults[kind] else None
        if fault == "slow":
            time.sleep(self.slow_seconds)
            fault = None
        if fault is None:
            status, reply, content_type = _SUCCESS[kind]
            headers = {"Content-Type": content_type}
        else:
            status, reply, headers = _FAULT_ANSWERS[fault]
            headers = {"Content-Type": "text/plain", **headers}
        with self._lock:
            headers_in = {name.lower(): value for name, value in handler.headers.items()}
            self._received.append(Received(kind, headers_in, body, status, fault is None))
        handler.reply(status, reply, headers)
