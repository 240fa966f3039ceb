"""Throttled server: the sandbox allows R requests a second and answers 429 beyond, as Chatwoot's
Rack::Attack does (plain text, no Retry-After). The client must find and hold a pace close to R:
at most 1.3 × P/R seconds, and at most a quarter of its requests throttled.

Each repetition gets a fresh sandbox process, so no run starts in a window whose allowance the
previous run has spent (that case is in the README: the client recovers, but slowly).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from sla_digest.chatwoot import ChatwootClient

from . import BenchmarkError, Figure, Profile
from ._sandbox import SandboxProcess

__all__ = ["Run", "measure", "throttled_run"]

SLACK = 1.3
THROTTLED_SHARE = 25.0  # percent


@dataclass(frozen=True, slots=True)
class Run:
    """One throttled fetch: its wall time and what the client saw."""

    seconds: float
    pages: int
    requests: int
    throttled: int

    @property
    def throttled_percent(self) -> float:
        return 100.0 * self.throttled / self.requests if self.requests else 0.0


def throttled_run(profile: Profile) -> Run:
    sandbox = SandboxProcess(
        events=profile.throttle_events,
        latency=profile.throttle_latency,
        rate_limit=profile.throttle_rate,
        rate_window=1.0,
    )
    with sandbox as base_url:
        client = ChatwootClient(base_url, sandbox.token, concurrency=profile.concurrency)
        with client:
            started = time.perf_counter()
            result = client.reporting_events(sandbox.options.account_id, sandbox.window)
            elapsed = time.perf_counter() - started
    if not result.complete:
        raise BenchmarkError(f"the throttled fetch is incomplete ({result.missing} missing)")
    stats = result.stats
    return Run(elapsed, len(result.pages), stats.requests, stats.throttled)


def measure(profile: Profile) -> list[Figure]:
    """The median run of ``throttle_repeats`` (throttling varies more than noise does)."""
    runs = sorted(
        (throttled_run(profile) for _ in range(profile.throttle_repeats)),
        key=lambda run: run.seconds,
    )
    run = runs[len(runs) // 2]
    rate = profile.throttle_rate
    setting = (
        f"{run.pages} pages, {rate} requests/s allowed, "
        f"{profile.throttle_latency * 1000:.0f} ms a request, concurrency {profile.concurrency}; "
        f"median of {len(runs)} ({', '.join(f'{r.seconds:.2f}' for r in runs)} s)"
    )
    return [
        Figure(
            key="throttled_seconds",
            label="throttled fetch wall time",
            value=run.seconds,
            unit="s",
            bound=SLACK * run.pages / rate,
            detail=f"{setting}; bound 1.3 × P/R",
        ),
        Figure(
            key="throttled_share",
            label="throttled requests (HTTP 429)",
            value=run.throttled_percent,
            unit="%",
            bound=THROTTLED_SHARE,
            detail=(
                f"{run.throttled} of {run.requests} requests in the median run; all runs: "
                + ", ".join(f"{r.throttled_percent:.1f}" for r in runs)
                + " %"
            ),
        ),
    ]
