"""The limits of one call to Chatwoot: attempts, retries and wall-clock time.

:class:`RetryPolicy` says how hard a client tries (attempts per request, backoff, the retry
budget, patience with 429s); :class:`RunState` carries what the requests of one call share
while they run on several threads: the stop flag, the deadline, the retry budget being spent
and the statistics. Neither sends anything: the transport consults them around each request.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot.records import FetchStats
from sla_digest.exceptions import DeadlineExceeded, RetryBudgetExhausted

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterator

    import requests

__all__ = ["RetryPolicy", "RunState", "Stopped"]


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


class Stopped(Exception):
    """The run ended elsewhere (an error or the caller); workers leave quietly."""


class RunState:
    """Stop flag, deadline, retry budget and statistics shared by the requests of one call.

    ``max_seconds`` is the call's wall-clock limit: once it has passed, :meth:`check` raises
    :class:`~sla_digest.exceptions.DeadlineExceeded` on any thread, requests get no longer
    timeouts than the time left, and :meth:`finish` cuts the bodies still being read.
    """

    def __init__(
        self,
        *,
        budget: int,
        sleep: Callable[[float], object],
        interruptible: bool,
        clock: Callable[[], float],
        max_seconds: float | None,
        where: str,
    ) -> None:
        self.stop = threading.Event()
        self.stats = FetchStats()
        self.failures: Counter[str] = Counter()
        started = clock()
        self.answered_at = started  # when the server last answered other than 429
        self._lock = threading.Lock()
        self._budget = budget
        self._sleep = sleep
        self._interruptible = interruptible
        self._clock = clock
        self._max_seconds = max_seconds
        self._deadline = None if max_seconds is None else started + max_seconds
        self._where = where
        self._reading: set[Any] = set()

    def set_budget(self, budget: int) -> None:
        with self._lock:
            self._budget = budget

    def remaining(self) -> float | None:
        """Seconds left before the deadline (``None``: no deadline)."""
        return None if self._deadline is None else self._deadline - self._clock()

    def check(self) -> None:
        """Raise if the run has ended elsewhere or its deadline has passed."""
        if self.stop.is_set():
            raise Stopped
        left = self.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded(
                f"gave up on {self._where} after {self._max_seconds:g} s, the time limit of "
                "one run: Chatwoot answered too slowly or not at all; try again later"
            )

    def within(self, seconds: float) -> float:
        """``seconds``, or the time left if that is shorter (a timeout, a wait)."""
        left = self.remaining()
        return seconds if left is None else max(0.0, min(seconds, left))

    def pause(self, seconds: float) -> None:
        if seconds <= 0:
            return
        if self._interruptible:
            if self.stop.wait(self.within(seconds)):
                raise Stopped
        else:
            self._sleep(seconds)
        self.check()

    @contextmanager
    def reading(self, response: requests.Response) -> Iterator[None]:
        """While the body of ``response`` is read, :meth:`finish` may cut it."""
        with self._lock:
            self._reading.add(response.raw)
        try:
            yield
        finally:
            with self._lock:
                self._reading.discard(response.raw)

    def finish(self) -> None:
        """End the run: workers stop at their next check, bodies being read are cut now."""
        self.stop.set()
        with self._lock:
            reading = list(self._reading)
        for raw in reading:
            # urllib3's shutdown() wakes a read blocked on a server that sends a byte now and
            # then, which no timeout ends; a body that finished meanwhile says so (ignored).
            shutdown = getattr(raw, "shutdown", None)
            if shutdown is not None:
                with suppress(OSError, ValueError, RuntimeError):
                    shutdown()

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
