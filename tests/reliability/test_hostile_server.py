"""A broken or hostile server cannot hang or exhaust a run.

Each shape the sandbox can take (``SandboxOptions(hostile=...)``) is run through the whole
pipeline with a short time limit: the run ends within it, with one line that says what the
server did. Expected figures are worked out here by hand from the shape, never read from the
client.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import TYPE_CHECKING

import pytest

from sla_digest.chatwoot import ChatwootClient
from sla_digest.exceptions import DeadlineExceeded, ResponseError
from sla_digest.window import report_window

from .conftest import FAST_RETRIES, TOKEN

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest_cli.sandbox.server import SandboxServer

    from .conftest import DayRun

# Seconds of slack over a run's limit for the threads to wind down on a busy machine.
SLACK = 2.0


def timed_run(
    run_day: Callable[..., DayRun], server: SandboxServer, limit: float
) -> tuple[DayRun, float]:
    started = time.monotonic()
    run = run_day(server, max_seconds=limit, concurrency=4)
    return run, time.monotonic() - started


def one_line(error: BaseException | None) -> str:
    assert error is not None, "the run was expected to end with an error"
    text = str(error)
    assert "\n" not in text
    return text


def test_a_total_pages_that_does_not_follow_from_count_is_refused_on_page_one(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a server with 30 rows that claims a billion pages (30 rows are 2 pages of 25)
    server = servers(hostile="huge_total_pages", events=30)
    # WHEN the day is run with 10 s to spare
    run, elapsed = timed_run(run_day, server, 10.0)
    # THEN it ends at once with one error naming both figures, and page 1 was asked for once
    assert isinstance(run.error, ResponseError)
    message = one_line(run.error)
    assert "meta.total_pages 1000000000 does not follow from meta.count 30" in message
    assert "2 pages of 25 rows" in message
    assert server.stats.snapshot()["reporting_requests"] == 1
    assert elapsed < 10.0


def test_a_count_that_grows_with_every_page_ends_after_three_passes_marked_incomplete(
    servers: Callable[..., SandboxServer],
    run_day: Callable[..., DayRun],
    caplog: pytest.LogCaptureFixture,
) -> None:
    # GIVEN 30 rows, and a count that grows by 25 with every request: request n says 5 + 25n.
    # Pass 1: request 1 says 30 (2 pages); pass 2 starts with request 3, 80 (4 pages: 3..6);
    # pass 3 with request 7, 180 (8 pages: 7..14). No two pages of a pass agree.
    server = servers(hostile="growing_count", events=30)
    # WHEN the day is run
    run, elapsed = timed_run(run_day, server, 20.0)
    # THEN it stopped after the third pass, 14 requests, and says the data is incomplete
    assert run.error is None, run.error
    assert run.result is not None
    assert server.stats.snapshot()["reporting_requests"] == 2 + 4 + 8
    assert run.result.fetch.complete is False
    assert run.summary()["source"]["complete"] is False
    changed = [r.getMessage() for r in caplog.records if "meta.count changed" in r.getMessage()]
    assert changed[:1] == ["meta.count changed while paging account 7 (30 → 55); fetching again"]
    assert elapsed < 20.0


def test_a_body_that_never_ends_is_cut_off_at_five_megabytes(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a server whose reporting-events body never ends
    server = servers(hostile="endless_body", events=30)
    # WHEN the day is run
    run, elapsed = timed_run(run_day, server, 10.0)
    # THEN it ends with one error about the size, without a retry, long before the limit
    assert isinstance(run.error, ResponseError)
    message = one_line(run.error)
    assert "sent more than 5 MB for reporting_events page 1" in message
    assert server.stats.snapshot()["reporting_requests"] == 1
    assert elapsed < 10.0


def test_a_page_that_takes_ten_minutes_ends_the_run_at_its_time_limit(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN 600 rows (24 pages), every page after the first sent a byte at a time over ten
    # minutes, so that no read ever times out
    server = servers(hostile="slow_page", events=600)
    # WHEN the day is run with a limit of 2 s
    run, elapsed = timed_run(run_day, server, 2.0)
    # THEN it stops at the limit with one line naming it, and page 1 is archived for a resume
    assert isinstance(run.error, DeadlineExceeded)
    message = one_line(run.error)
    assert "after 2 s, the time limit of one run" in message
    assert elapsed < 2.0 + SLACK
    assert (run.out / "raw" / "page-00001.json").is_file()


def test_a_page_whose_answer_never_starts_ends_the_run_at_its_time_limit(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a server that answers page 1 only after ten minutes (read timeout 30 s by default)
    server = servers(events=30, stall_seconds=600.0)
    server.queue_faults("stall")
    # WHEN the day is run with a limit of 2 s
    run, elapsed = timed_run(run_day, server, 2.0)
    # THEN the wait for the answer ended at the limit, not after the read timeout
    assert isinstance(run.error, DeadlineExceeded)
    assert "the time limit of one run" in one_line(run.error)
    assert elapsed < 2.0 + SLACK


def test_ten_thousand_agents_with_names_of_a_megabyte_are_refused_unread(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN an /agents answer that announces 10,000 agents with names of 1 MB (about 20 GB)
    server = servers(hostile="huge_agents", events=30)
    # WHEN the day is run
    run, elapsed = timed_run(run_day, server, 10.0)
    # THEN it ends with one error about the agents' size, long before the limit
    assert isinstance(run.error, ResponseError)
    assert "sent more than 5 MB for agents of account 7" in one_line(run.error)
    assert elapsed < 10.0


def test_memory_follows_the_pages_received_not_the_pages_claimed(
    servers: Callable[..., SandboxServer],
) -> None:
    # GIVEN a server that claims 50 million rows (2 million pages) and serves 30
    server = servers(hostile="huge_count", events=30)
    window = report_window(server.options.day, server.options.timezone, allow_partial=True)
    # WHEN it is fetched for 2 s with memory traced
    tracemalloc.start()
    try:
        with (
            ChatwootClient(
                server.base_url, TOKEN, retry=FAST_RETRIES, max_seconds=2.0, concurrency=4
            ) as client,
            pytest.raises(DeadlineExceeded),
        ):
            client.reporting_events(server.options.account_id, window)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # THEN the run ended at its limit, and its peak was a few MB: a plan of 2 million pages
    # held as a list would take more than 150 MB (a tuple and an int per page)
    assert peak < 40_000_000, f"peak {peak / 1e6:.0f} MB"
