"""Adaptive request pacing: find and hold a request rate the server accepts.

Chatwoot throttles per client IP by counting requests per time window and answers a plain 429
without ``Retry-After``. Capping the number of requests in flight cannot keep under such a limit
(one request in flight at 2 ms latency is already 500 requests a second), so the controller
spaces request *starts*:

* Until the first 429 (and without ``max_rate``) it does not pace at all, so an unthrottled
  server is fetched as fast as the concurrency allows.
* On a 429 that is not alone (at least ``corroborate`` of the last ``sample`` answers were
  429: a limiter answers every request beyond its allowance that way, while a lone 429 is
  noise that should not cost a fast run its speed) it cuts the rate: the first time to a
  share of the rate the server just accepted (measured over the last ``lookback`` seconds),
  later by a fixed factor, and at most once per ``cooldown`` (429s of requests sent before the
  cut say nothing new).
* After sustained success while the pace is what holds requests back, it probes upward slowly
  (about 5 % a second), so a limit is found again if it was underestimated or has been raised.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["PacingPolicy", "RateController"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    """Tuning of :class:`RateController`; the defaults hold a limit with under 10 % throttled."""

    min_rate: float = 0.5
    """Requests per second the controller never goes below."""
    headroom: float = 0.9
    """After the first 429: this share of the rate the server accepted."""
    decrease: float = 0.85
    """Later 429s: cut to at most this share of the current rate."""
    max_decrease: float = 0.5
    """... but never below this share of it in one step."""
    growth: float = 0.05
    """Requests/s added per accepted request while pacing binds: about +5 % a second."""
    unknown_growth: float = 0.5
    """Growth while the server's capacity is unknown (throttled before anything was accepted)."""
    unknown_start: float = 1.0
    """Rate to start from in that case."""
    lookback: float = 1.0
    """Seconds of accepted requests that estimate the rate the server allows."""
    cooldown: float = 1.0
    """At most one cut per this many seconds."""
    sample: int = 10
    """Answers remembered to judge whether a 429 is alone."""
    corroborate: int = 2
    """429s among them that make a cut."""

    def __post_init__(self) -> None:
        if not 0 < self.min_rate <= self.unknown_start:
            raise ValueError("min_rate must be positive and at most unknown_start")
        if not 0 < self.max_decrease <= self.decrease < 1 or not 0 < self.headroom <= 1:
            raise ValueError("need 0 < max_decrease <= decrease < 1 and 0 < headroom <= 1")
        if self.lookback <= 0 or self.cooldown < 0 or self.growth < 0 or self.unknown_growth < 0:
            raise ValueError("lookback must be positive; cooldown and growth not negative")
        if not 1 <= self.corroborate <= self.sample:
            raise ValueError("need 1 <= corroborate <= sample")


class RateController:
    """Thread-safe pacing of request starts; the caller does the waiting.

    ``try_acquire()`` returns 0 when a request may start now, else the seconds to wait before
    asking again. Report every answer: ``accepted(started)`` for anything but a 429 (the server
    counted it within its limit), ``throttled()`` for a 429.
    """

    def __init__(
        self,
        max_rate: float | None = None,
        *,
        policy: PacingPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_rate is not None and not max_rate > 0:
            raise ValueError("max_rate must be a positive number of requests per second")
        self._policy = policy if policy is not None else PacingPolicy()
        self._max_rate = max_rate
        self._clock = clock
        self._lock = threading.Lock()
        self._rate: float | None = max_rate
        self._next_slot = float("-inf")
        self._accepted: deque[float] = deque()
        self._answers: deque[bool] = deque(maxlen=self._policy.sample)
        self._last_cut = -math.inf  # no cut yet
        self._binding_at = float("-inf")
        self._capacity_unknown = False

    @property
    def rate(self) -> float | None:
        """Requests per second currently allowed; ``None`` while unpaced."""
        with self._lock:
            return self._rate

    def try_acquire(self) -> float:
        """Take the next start slot (returns 0.0) or say how long until it is free."""
        with self._lock:
            if self._rate is None:
                return 0.0
            now = self._clock()
            if self._next_slot > now:
                self._binding_at = now
                return self._next_slot - now
            interval = 1.0 / self._rate
            if now - self._next_slot <= 0.25 * interval:
                # On schedule (a thread woke a little late): keep the schedule; the pace is
                # what holds requests back.
                self._binding_at = now
                self._next_slot += interval
            else:
                # After idling: no burst to catch up.
                self._next_slot = now + interval
            return 0.0

    def accepted(self, started: float) -> None:
        """A request started at ``started`` got an answer other than 429."""
        policy = self._policy
        with self._lock:
            now = self._clock()
            self._accepted.append(started)
            self._answers.append(False)
            self._forget(now)
            if self._rate is None or now - self._binding_at > policy.lookback:
                return
            if now - self._last_cut < policy.cooldown:
                return
            step = policy.unknown_growth if self._capacity_unknown else policy.growth
            rate = self._rate + step
            self._rate = rate if self._max_rate is None else min(rate, self._max_rate)

    def throttled(self) -> None:
        """A request got 429: slow down, unless it is alone or a cut happened just now."""
        policy = self._policy
        with self._lock:
            now = self._clock()
            self._answers.append(True)
            if sum(self._answers) < policy.corroborate:
                return
            if now - self._last_cut < policy.cooldown:
                return
            self._forget(now)
            measured = len(self._accepted) / policy.lookback
            old = self._rate
            if measured > 0 and (old is None or self._capacity_unknown):
                new = max(policy.min_rate, policy.headroom * measured)
                self._capacity_unknown = False
                if old is None:
                    # The burst that found the limit spent the server's allowance for a while:
                    # resume as if that burst had been paced at the new rate.
                    self._next_slot = self._accepted[0] + len(self._accepted) / new
            elif old is None:
                new = policy.unknown_start
                self._capacity_unknown = True
            else:
                share = policy.headroom * measured / old
                factor = max(policy.max_decrease, min(policy.decrease, share))
                new = max(policy.min_rate, old * factor)
            if self._max_rate is not None:
                new = min(new, self._max_rate)
            self._next_slot = max(self._next_slot, now + 1.0 / new)
            self._rate = new
            self._last_cut = now
        logger.info("throttled (HTTP 429): pacing requests at %.1f/s", new)

    def _forget(self, now: float) -> None:
        horizon = now - self._policy.lookback
        accepted = self._accepted
        while accepted and accepted[0] < horizon:
            accepted.popleft()
