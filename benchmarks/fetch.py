"""Fetch: the client against a sandbox with latency, and the same pages one after another.

The bound is ``L × (1 + ⌈(P−1)/C⌉)``: page 1 alone (it tells how many pages there are), then
the other P−1 pages in waves of C. The design allows 1.2 times that, and asks for at least a
6× speed-up over a plain loop that requests page 1, 2, … P in turn.
"""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING

import requests

from sla_digest.chatwoot import ChatwootClient

from . import BenchmarkError, Figure, Profile
from ._sandbox import SandboxProcess

if TYPE_CHECKING:
    from sla_digest.window import Window

__all__ = ["fetch_bound", "measure", "plain_loop", "timed_fetch"]

SLACK = 1.2
SPEED_UP = 6.0


def fetch_bound(latency: float, pages: int, concurrency: int) -> float:
    """``L × (1 + ⌈(P−1)/C⌉)``: the wall time of perfectly overlapped requests."""
    return latency * (1 + math.ceil(max(0, pages - 1) / concurrency))


def timed_fetch(
    base_url: str, token: str, account_id: int, window: Window, concurrency: int
) -> tuple[float, int, float]:
    """Seconds, pages and CPU seconds (all our threads) of one complete fetch of the day."""
    with ChatwootClient(base_url, token, concurrency=concurrency) as client:
        started, cpu = time.perf_counter(), time.process_time()
        result = client.reporting_events(account_id, window)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    if not result.complete:
        raise BenchmarkError(f"the client fetched an incomplete day ({result.missing} missing)")
    return elapsed, len(result.pages), cpu


def plain_loop(base_url: str, token: str, account_id: int, window: Window) -> tuple[float, int]:
    """Seconds and pages of what a user would write first: page 1, 2, … one after another.

    It keeps its connection open (a ``Session``), so the comparison is about overlapping
    requests, not about connection set-up.
    """
    url = f"{base_url}/api/v1/accounts/{account_id}/reporting_events"
    headers = {"api_access_token": token}
    page, last = 1, 1
    with requests.Session() as session:
        started = time.perf_counter()
        while page <= last:
            params = {"since": window.since, "until": window.until, "page": page}
            response = session.get(url, params=params, headers=headers, timeout=30)
            response.raise_for_status()
            last = response.json()["meta"]["total_pages"]
            page += 1
        elapsed = time.perf_counter() - started
    return elapsed, last


def measure(profile: Profile) -> list[Figure]:
    """Best of ``fetch_repeats`` client runs, one plain loop, and the bounds they meet."""
    latency, concurrency = profile.fetch_latency, profile.concurrency
    sandbox = SandboxProcess(events=profile.fetch_events, latency=latency)
    with sandbox as base_url:
        account, window = sandbox.options.account_id, sandbox.window
        runs = [
            timed_fetch(base_url, sandbox.token, account, window, concurrency)
            for _ in range(profile.fetch_repeats)
        ]
        plain, plain_pages = plain_loop(base_url, sandbox.token, account, window)
    best, pages, cpu = min(runs)
    if pages != plain_pages:
        raise BenchmarkError(f"the client fetched {pages} pages, the plain loop {plain_pages}")
    plain_bound = fetch_bound(latency, pages, concurrency)
    setting = f"{pages} pages, {latency * 1000:.0f} ms a request, concurrency {concurrency}"
    return [
        Figure(
            key="fetch_seconds",
            label="fetch wall time",
            value=best,
            unit="s",
            bound=SLACK * plain_bound,
            detail=f"{setting}; best of {len(runs)}; bound 1.2 × L × (1 + ⌈(P−1)/C⌉)",
        ),
        Figure(
            key="fetch_vs_plain_bound",
            label="fetch wall time / L × (1 + ⌈(P−1)/C⌉)",
            value=best,
            unit="s",
            bound=None if plain_bound == 0 else plain_bound,
            checked=False,
        ),
        Figure(
            key="plain_loop_seconds",
            label="plain requests loop, page after page",
            value=plain,
            unit="s",
        ),
        Figure(
            key="fetch_speed_up",
            label="speed-up over the plain loop",
            value=plain / best if best > 0 else math.nan,
            unit="×",
            bound=SPEED_UP,
            at_least=True,
        ),
        Figure(
            key="client_cpu_ms_per_page",
            label="client CPU per page (request, parse, classify)",
            value=1000 * cpu / max(1, pages),
            unit="ms",
            detail="process CPU of the fastest fetch over its pages: what a page costs the "
            "function besides waiting",
        ),
    ]
