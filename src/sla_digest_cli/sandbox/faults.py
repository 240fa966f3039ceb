"""How the sandbox misbehaves on purpose: injected faults and Chatwoot's rate limiter.

Each fault kind reproduces what a client meets in front of a real Chatwoot: a Rails 500, the
nginx gateway pages, the limiter's bare 429, a maintenance page served with 200, a body cut
short (with or without an honest ``Content-Length``), a reset connection or a stalled answer.
"""

from __future__ import annotations

import random
import threading
from collections import deque
from typing import TYPE_CHECKING

from sla_digest_cli.sandbox.httpd import HTML, JSON

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest_cli.sandbox.httpd import Handler

__all__ = [
    "DEFAULT_FAULTS",
    "EARLY_FAULTS",
    "FAULT_KINDS",
    "RETRY_LATER",
    "SERVER_ERROR",
    "FaultPlan",
    "RateLimiter",
    "send_fault",
]

DEFAULT_FAULTS: tuple[str, ...] = ("500", "502", "503", "429", "truncated", "html200", "reset")
# "cut": the full Content-Length is announced, half the body sent, the connection closed.
# "stall": the answer comes after ``stall_seconds`` (for client timeouts).
FAULT_KINDS: frozenset[str] = frozenset((*DEFAULT_FAULTS, "504", "cut", "stall"))
# Faults answered instead of the page; "truncated" and "cut" need the page's body first.
EARLY_FAULTS: frozenset[str] = frozenset({"reset", "429", "500", "502", "503", "504", "html200"})

SERVER_ERROR = b'{"status":500,"error":"Internal Server Error"}'
RETRY_LATER = b"Retry later\n"
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


class FaultPlan:
    """Which ``reporting_events`` request gets which fault: queued ones first, then at random
    with ``rate`` from ``kinds`` (seeded, so a run can be repeated)."""

    def __init__(self, *, rate: float, kinds: tuple[str, ...], seed: int) -> None:
        self._rate = rate
        self._kinds = kinds
        self._rng = random.Random(seed)
        self._queued: deque[str] = deque()
        self._lock = threading.Lock()

    def queue(self, *kinds: str) -> None:
        unknown = sorted(set(kinds) - FAULT_KINDS)
        if unknown:
            raise ValueError(f"unknown fault kind {unknown[0]!r}")
        with self._lock:
            self._queued.extend(kinds)

    def next(self) -> str | None:
        with self._lock:
            if self._queued:
                return self._queued.popleft()
            if self._rate > 0 and self._rng.random() < self._rate:
                return self._rng.choice(self._kinds)
        return None


def send_fault(handler: Handler, fault: str, body: bytes = b"") -> int | None:
    """Answer with ``fault``; ``body`` is the page it spoils ("truncated", "cut").

    Returns the status sent, or ``None`` when the connection was reset instead.
    """
    if fault == "reset":
        handler.close_connection = True
        handler.server.reset_connection(handler.connection)
        return None
    if fault == "429":
        return handler.send(429, RETRY_LATER, "text/plain")
    if fault == "500":
        return handler.send(500, SERVER_ERROR, JSON)
    if fault in ("502", "503", "504"):
        status = int(fault)
        return handler.send(status, _GATEWAY_PAGES[status], HTML)
    if fault == "html200":
        return handler.send(200, _MAINTENANCE_PAGE, HTML)
    if fault == "truncated":
        return handler.send(200, body[: len(body) // 2], JSON)
    if fault == "cut":
        handler.close_connection = True
        return handler.send(200, body[: len(body) // 2], JSON, length=len(body))
    raise ValueError(f"fault {fault!r} is not answered by send_fault")


class RateLimiter:
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
