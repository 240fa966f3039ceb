"""The Chatwoot client against the sandbox over real sockets: completeness under faults and tie
shuffling, on_page bodies, resume, changing data, concurrency and connection reuse."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot import ChatwootClient, Page, RetryPolicy
from sla_digest.window import Window, report_window
from sla_digest_cli.sandbox.server import FAULT_KINDS

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest_cli.sandbox.server import SandboxServer

DAY = date(2026, 11, 20)
TIMEZONE = "Europe/Berlin"
FAST_RETRIES = RetryPolicy(base_delay=0.01, max_delay=0.2)


def window() -> Window:
    return report_window(DAY, TIMEZONE, now=datetime(2026, 11, 22, tzinfo=UTC))


def expected_ids(server: SandboxServer, win: Window) -> set[int]:
    return {row["id"] for row in server.dataset.events_between(win.since, win.until)}


def client_for(server: SandboxServer, **kwargs: Any) -> ChatwootClient:
    kwargs.setdefault("retry", FAST_RETRIES)
    return ChatwootClient(server.base_url, server.options.admin_token, **kwargs)


def test_a_faulty_server_with_shuffled_ties_yields_exactly_the_windows_events(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox answering 15 % of requests with every kind of fault, ties shuffled
    server = sandbox_factory(
        events=600,
        fault_rate=0.15,
        faults=tuple(sorted(FAULT_KINDS)),
        stall_seconds=1.0,
        shuffle_ties=True,
        seed=11,
    )
    win = window()
    # WHEN the day is fetched (timeout short enough that a stall is a timeout)
    with client_for(server, timeout=0.4) as client:
        result = client.reporting_events(server.options.account_id, win)
    # THEN the events are exactly the window's rows, and faults really happened
    assert result.events.seen_ids == expected_ids(server, win)
    assert (result.complete, result.missing) == (True, 0)
    assert result.meta_count == len(expected_ids(server, win))
    assert sum(server.stats.snapshot()["faults"].values()) > 0
    assert result.stats.retries > 0


def test_pages_handed_to_on_page_reconstruct_the_same_events(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox with shuffled ties and a few faults
    server = sandbox_factory(events=400, shuffle_ties=True, fault_rate=0.1, seed=5)
    win = window()
    pages: list[Page] = []
    # WHEN the day is fetched with on_page collecting the pages
    with client_for(server) as client:
        result = client.reporting_events(server.options.account_id, win, on_page=pages.append)
    # THEN the rows in those bodies are the window's rows, and the bodies are what was listed
    rows = [row for page in pages for row in json.loads(page.body)["payload"]]
    assert {row["id"] for row in rows} == expected_ids(server, win)
    assert sorted(page.number for page in pages) == [info.number for info in result.pages]
    assert all(page.rows == len(json.loads(page.body)["payload"]) for page in pages)


def test_resume_requests_only_the_pages_not_given(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN the pages of a first run over a 500-event day (20 pages, no ties shuffled)
    server = sandbox_factory(events=500)
    win = window()
    first: list[Page] = []
    with client_for(server) as client:
        client.reporting_events(server.options.account_id, win, on_page=first.append)
    main_pages = sorted((p for p in first if p.number <= 20), key=lambda p: p.number)
    assert len(main_pages) == 20
    server.stats.reset()
    # WHEN a second run resumes from the first twelve
    with client_for(server) as client:
        result = client.reporting_events(server.options.account_id, win, resume=main_pages[:12])
    # THEN only the eight others were requested, and the result is complete
    assert server.stats.snapshot()["reporting_requests"] == 8
    assert result.complete
    assert result.events.seen_ids == expected_ids(server, win)


def test_rows_deleted_while_paging_are_not_reported(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox that deletes the newest five rows of the day once page 1 has been served
    server = sandbox_factory(events=300)
    win = window()
    newest = [row["id"] for row in server.dataset.events_between(win.since, win.until)[:5]]
    served: list[int] = []

    def delete_after_page_one(page: int) -> None:
        served.append(page)
        if len(served) == 2:
            server.delete_events(newest)

    server.on_reporting_request = delete_after_page_one
    # WHEN the day is fetched
    with client_for(server, concurrency=1) as client:
        result = client.reporting_events(server.options.account_id, win)
    # THEN the result is the rows that exist now, complete against the fresh count
    remaining = expected_ids(server, win)
    assert result.events.seen_ids == remaining
    assert not remaining & set(newest)
    assert (result.complete, result.meta_count) == (True, len(remaining))


def test_concurrency_is_used_and_bounded(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox with 20 ms latency and 24 pages
    server = sandbox_factory(events=600, latency=0.02)
    # WHEN the day is fetched with four requests allowed in flight
    with client_for(server, concurrency=4) as client:
        client.reporting_events(server.options.account_id, window())
    # THEN the server saw several requests at once, but never more than four
    assert 1 < server.stats.snapshot()["max_in_flight"] <= 4


def test_one_keep_alive_pool_serves_the_whole_run(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox with 24 pages and a little latency
    server = sandbox_factory(events=600, latency=0.005)
    # WHEN the day and the context are fetched with four requests in flight
    with client_for(server, concurrency=4) as client:
        client.reporting_events(server.options.account_id, window(), with_context=True)
    # THEN the 27 requests came over at most four connections
    stats = server.stats.snapshot()
    assert stats["requests"] >= 27
    assert stats["connections"] <= 4


def test_the_context_comes_with_the_events_and_matches_the_sandbox(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN a sandbox
    server = sandbox_factory(events=100)
    # WHEN the day is fetched with its context
    with client_for(server) as client:
        result = client.reporting_events(server.options.account_id, window(), with_context=True)
    # THEN inbox and agent names and the SLA policies are the sandbox's
    context = result.context
    assert context is not None
    dataset = server.dataset
    assert {i: inbox.name for i, inbox in context.inboxes.items()} == {
        inbox["id"]: inbox["name"] for inbox in dataset.inboxes
    }
    assert set(context.agents) == {agent["id"] for agent in dataset.agents}
    assert [policy.name for policy in context.sla_policies] == [
        policy["name"] for policy in dataset.sla_policies
    ]
