"""Pacing against a rate-limited sandbox: find the limit, hold close to it, waste little."""

from __future__ import annotations

import bisect
import time
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

from sla_digest.chatwoot import ChatwootClient, RetryPolicy
from sla_digest.window import report_window

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest_cli.sandbox.server import SandboxServer

WINDOW = report_window(date(2026, 11, 20), "Europe/Berlin", now=datetime(2026, 11, 22, tzinfo=UTC))


def busiest_second(times: list[float]) -> int:
    """The most requests that started within any one-second span."""
    ordered = sorted(times)
    return max(
        (bisect.bisect_left(ordered, start + 1.0) - i for i, start in enumerate(ordered)),
        default=0,
    )


def test_a_rate_limited_server_is_met_with_a_pace_close_to_its_limit(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox allowing 20 requests per second (429 beyond) and 80 pages to fetch
    limit = 20
    server = sandbox_factory(events=2000, rate_limit=limit, seed=3)
    expected = {row["id"] for row in server.dataset.events_between(WINDOW.since, WINDOW.until)}
    # WHEN the day is fetched with eight requests allowed in flight
    started = time.monotonic()
    with ChatwootClient(server.base_url, server.options.admin_token, concurrency=8) as client:
        result = client.reporting_events(server.options.account_id, WINDOW)
        pace = client.rate
    elapsed = time.monotonic() - started
    # THEN the run completes exactly, with at most a quarter of its requests throttled
    stats = server.stats.snapshot()
    answered = stats["requests"] - stats["throttled"]
    assert result.complete
    assert result.events.seen_ids == expected
    assert stats["throttled"] <= 0.25 * stats["requests"]
    # AND the pace it settled on is near the limit, and the run took about as long as the limit
    # allows for its requests (generous margins: the machine is shared)
    assert pace is not None
    assert 0.6 * limit <= pace <= 1.3 * limit
    assert elapsed <= 1.6 * answered / limit


def test_max_rate_caps_requests_per_second_from_the_first_request(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox without a limit, and a client told to send at most 10 requests a second
    server = sandbox_factory(events=500)
    # WHEN 20 pages are fetched with eight requests allowed in flight
    with ChatwootClient(
        server.base_url,
        server.options.admin_token,
        max_rate=10,
        retry=RetryPolicy(base_delay=0.01),
    ) as client:
        result = client.reporting_events(server.options.account_id, WINDOW)
    # THEN no one-second span saw more than 10 requests start (+1 for the span's edges)
    assert result.complete
    assert busiest_second(server.stats.snapshot()["request_times"]) <= 11
