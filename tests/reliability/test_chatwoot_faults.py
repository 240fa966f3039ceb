"""Chatwoot misbehaving over real sockets, through the whole pipeline to the digest.

Every run here either ends with exactly the rows the sandbox holds for the day (ids compared with
``dataset.events_between``, after any change the test made) and an archive that verifies, or it
says plainly that it is incomplete and by how much, in the summary, the manifest, the digest and
the subject. Never a silently wrong number.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from typing import TYPE_CHECKING, Any

from sla_digest.archive import verify_day
from sla_digest.chatwoot import RetryPolicy
from sla_digest.exceptions import DeadlineExceeded, RetryBudgetExhausted
from sla_digest_cli.cli import main
from sla_digest_cli.sandbox.data import format_ms
from sla_digest_cli.sandbox.server import FAULT_KINDS, SandboxOptions, SandboxServer

from .conftest import FAST_RETRIES, expected_ids, expected_rows, kept_rows, window_of

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import DayRun


def assert_exact(run: DayRun) -> None:
    """The run holds exactly the sandbox's rows of the day, and says so everywhere."""
    assert run.error is None, f"the run failed: {run.error}"
    assert run.result is not None
    rows = expected_rows(run.server)
    ids = {row["id"] for row in rows}
    assert run.result.fetch.events.seen_ids == ids
    assert run.archived_ids() == ids
    source = run.summary()["source"]
    assert (source["complete"], source["events"]) == (True, len(kept_rows(rows)))
    assert verify_day(run.archive) == []


def storm_after_page_one(server: SandboxServer, *kinds: str) -> None:
    """Queue ``kinds`` when the first request for a later page arrives (page 1 is served)."""
    armed = [True]

    def hook(page: int) -> None:
        if page >= 2 and armed[0]:
            armed[0] = False
            server.queue_faults(*kinds)

    server.on_reporting_request = hook


def incomplete_warning(run: DayRun, missing: int) -> None:
    """The gap is stated in the summary, the manifest, both digest parts and the subject."""
    noun = "event" if missing == 1 else "events"
    gap = f"{missing:,} {noun} reported by Chatwoot could not be fetched"
    if missing == 0:
        gap = "the data in Chatwoot changed while it was fetched, so some events may be missing"
    source = run.summary()["source"]
    assert (source["complete"], source["missing"]) == (False, missing)
    manifest = json.loads((run.out / "raw" / "manifest.json").read_bytes())
    assert (manifest["complete"], manifest["missing"]) == (False, missing)
    html = (run.out / "digest.html").read_text()
    text = (run.out / "digest.txt").read_text()
    assert "Incomplete data" in html
    assert gap in html
    assert f"INCOMPLETE DATA: {gap}" in text
    assert run.result is not None
    assert run.result.digest.subject.endswith("(incomplete data)")


# --------------------------------------------------------------------------- transient faults


def test_a_rate_limited_server_answering_bare_429s_still_yields_the_exact_day(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a Chatwoot that allows 10 requests a second and answers the rest with a bare 429
    # (text/plain, no Retry-After), as its rate limiter does. The day's 27 requests could
    # escape a limit of 15 by straddling two one-second windows; they cannot escape 10 unless
    # they take more than a second, which unthrottled they do not.
    server = servers(events=600, rate_limit=10)
    # WHEN the day is run with 8 requests in flight
    run = run_day(server, concurrency=8)
    # THEN the day is exact, the client was throttled and answered by pacing itself
    assert_exact(run)
    assert run.result is not None
    stats = run.result.fetch.stats
    assert stats.throttled > 0
    assert server.stats.snapshot()["throttled"] == stats.throttled
    assert stats.rate is not None


def test_a_day_larger_than_one_rate_window_waits_out_the_refused_stretches_and_is_exact(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a limiter counting in long windows, as Chatwoot's does (per minute; here 10 requests
    # per 3 s), and a day of 23 requests: once a window's allowance is spent, every request is
    # refused until the next window opens, however it is retried
    server = servers(events=500, rate_limit=10, rate_window=3.0)
    # WHEN the day is run with retries that give up on a failing request within a second
    run = run_day(server, concurrency=8)
    # THEN the refused stretches were waited out, not counted as failures, and the day is exact
    assert_exact(run)
    assert run.result is not None
    stats = run.result.fetch.stats
    assert stats.throttled > 0
    assert stats.retries == 0
    assert server.stats.snapshot()["throttled"] == stats.throttled


class FrozenWindowSandbox(SandboxServer):
    """A sandbox whose rate-limit clock stands still: a spent allowance never comes back."""

    def __init__(self, options: SandboxOptions) -> None:
        super().__init__(options, clock=lambda: 1000.5)


def test_a_run_held_back_by_the_rate_limiter_still_stops_for_the_time_limit(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a limiter that allows 6 requests and then refuses every request (its window never
    # ends), and an invocation that runs short of time after its fifth look at the clock
    server = servers(cls=FrozenWindowSandbox, events=600, rate_limit=6)
    looks = itertools.count()

    def remaining_ms() -> int:
        return 300_000 if next(looks) < 5 else 20_000

    # WHEN the day is run
    started = time.monotonic()
    run = run_day(server, remaining_ms=remaining_ms)
    elapsed = time.monotonic() - started
    # THEN it stopped for the time limit while waiting on the limiter, in seconds, not after
    # the client's patience with 429s (3 minutes) or Lambda's timeout
    assert isinstance(run.error, DeadlineExceeded)
    assert "to stay inside the time limit; the retry resumes from the archive" in str(run.error)
    assert server.stats.snapshot()["throttled"] > 0
    assert elapsed < 30


def test_a_burst_of_5xx_answers_is_retried_and_the_day_is_exact(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN seven server errors in a row once paging has started (JSON 500, nginx 502/503/504)
    server = servers(events=600)
    burst = ("500", "502", "503", "504", "500", "502", "503")
    storm_after_page_one(server, *burst)
    # WHEN the day is run
    run = run_day(server)
    # THEN every one of them was served and retried, and the day is exact
    assert server.stats.snapshot()["faults"] == {"500": 2, "502": 2, "503": 2, "504": 1}
    assert run.result is not None
    assert run.result.fetch.stats.retries == len(burst)
    assert_exact(run)


def test_connection_resets_are_retried_and_the_day_is_exact(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN six connections reset (RST) instead of answered
    server = servers(events=600)
    storm_after_page_one(server, *["reset"] * 6)
    # WHEN the day is run
    run = run_day(server)
    # THEN the resets happened, were retried, and the day is exact
    assert server.stats.snapshot()["faults"] == {"reset": 6}
    assert run.result is not None
    assert run.result.fetch.stats.retries == 6
    assert_exact(run)


def test_answers_slower_than_the_client_timeout_are_retried_and_the_day_is_exact(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN four answers that stall for 1.5 s, and a client that waits at most 0.3 s
    server = servers(events=600, stall_seconds=1.5)
    storm_after_page_one(server, *["stall"] * 4)
    # WHEN the day is run
    run = run_day(server, timeout=0.3)
    # THEN each stall was a timeout that cost one retry, and the day is exact
    assert server.stats.snapshot()["faults"] == {"stall": 4}
    assert run.result is not None
    assert run.result.fetch.stats.retries == 4
    assert_exact(run)


def test_truncated_and_cut_bodies_are_never_archived_and_the_day_is_exact(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN half-bodies: two with a matching Content-Length, two cut before the announced one
    server = servers(events=600)
    storm_after_page_one(server, "truncated", "cut", "truncated", "cut")
    # WHEN the day is run
    run = run_day(server)
    # THEN every archived page is a whole JSON document, and the day is exact
    assert server.stats.snapshot()["faults"] == {"truncated": 2, "cut": 2}
    for page in sorted((run.out / "raw").glob("page-*.json")):
        document = json.loads(page.read_bytes())
        assert set(document) == {"payload", "meta"}, page.name
    assert_exact(run)


def test_html_error_pages_with_status_200_are_retried_and_never_archived(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a maintenance page served as "200 OK" three times
    server = servers(events=600)
    storm_after_page_one(server, "html200", "html200", "html200")
    # WHEN the day is run
    run = run_day(server)
    # THEN no archived page is HTML, and the day is exact
    assert server.stats.snapshot()["faults"] == {"html200": 3}
    for page in (run.out / "raw").glob("page-*.json"):
        assert not page.read_bytes().lstrip().startswith(b"<"), page.name
    assert_exact(run)


class FlakyContextSandbox(SandboxServer):
    """The agents and inboxes endpoints fail once each (HTML 200, then a 502) before answering."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.pending = {"agents": "html200", "inboxes": "502"}

    def _respond(self, handler: Any, route: Any, query: dict[str, str]) -> int | None:
        fault = self.pending.pop(route[0], None) if route is not None else None
        if fault == "html200":
            return int(handler.send(200, b"<html><body>Maintenance</body></html>", "text/html"))
        if fault == "502":
            return int(handler.send(502, b"<html>502 Bad Gateway</html>", "text/html"))
        return super()._respond(handler, route, query)


def test_names_from_endpoints_that_fail_once_still_reach_the_summary(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN /agents and /inboxes each fail once before answering
    server = servers(FlakyContextSandbox, events=300)
    # WHEN the day is run
    run = run_day(server)
    # THEN the faults were served, the day is exact and every name is the sandbox's
    assert isinstance(server, FlakyContextSandbox)
    assert server.pending == {}
    assert_exact(run)
    summary = run.summary()
    inboxes = {str(inbox["id"]): inbox["name"] for inbox in server.dataset.inboxes}
    agents = {str(agent["id"]): agent["available_name"] for agent in server.dataset.agents}
    for key, block in summary["by_inbox"].items():
        assert block["name"] == inboxes.get(key), key
    for key, block in summary["by_agent"].items():
        assert block["name"] == agents.get(key), key


def test_every_fault_kind_at_a_twenty_percent_rate_still_yields_an_archive_that_verifies(
    servers: Callable[..., SandboxServer],
    run_day: Callable[..., DayRun],
    output: Callable[[], Any],
    tmp_path: Any,
) -> None:
    # GIVEN a sandbox faulting one reporting request in five with every kind, ties shuffled
    server = servers(
        events=1000,
        fault_rate=0.2,
        faults=tuple(sorted(FAULT_KINDS)),
        stall_seconds=0.6,
        shuffle_ties=True,
        seed=3,
    )
    # WHEN the day is run with a short timeout
    run = run_day(server, timeout=0.25)
    # THEN the day is exact, and the archive alone reproduces the digest byte for byte
    assert_exact(run)
    assert main(["render", str(run.out), "--check", "--out", str(tmp_path / "again")]) == 0
    assert "is identical to the archived one" in output().out


# --------------------------------------------------------------------------- data that changes


def test_rows_deleted_mid_run_give_the_fresh_count_and_exactly_the_remaining_rows(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN 30 rows from all over the day deleted once eight pages have been requested
    server = servers(events=800)
    doomed = [row["id"] for row in expected_rows(server)[::26]][:30]
    requests: list[int] = []

    def delete_mid_run(page: int) -> None:
        requests.append(page)
        if len(requests) == 8:
            assert server.delete_events(doomed) == len(doomed)

    server.on_reporting_request = delete_mid_run
    # WHEN the day is run with pages in flight
    run = run_day(server, concurrency=8)
    # THEN it holds exactly the rows that exist now, against the count of now
    assert len(expected_rows(server)) == 800 - len(doomed)
    assert not expected_ids(server) & set(doomed)
    assert_exact(run)
    manifest = json.loads((run.out / "raw" / "manifest.json").read_bytes())
    assert manifest["meta"]["count"] == 800 - len(doomed)


def late_rows(server: SandboxServer, count: int, first_id: int) -> list[dict[str, Any]]:
    """Rows written late into the report day (ids past every existing one)."""
    since, until = window_of(server)
    return [
        {
            "id": first_id + n,
            "name": "reply_time",
            "value": 60.0 + n,
            "value_in_business_hours": 0.0,
            "inbox_id": 8,
            "user_id": 4,
            "conversation_id": 99_000 + n,
            "created_at": format_ms((since + (until - since) * (n + 1) // (count + 1)) * 1000),
        }
        for n in range(count)
    ]


def test_rows_written_mid_run_are_fetched_with_the_rest(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN 20 rows written into the day once six pages have been requested
    server = servers(events=800)
    fresh = late_rows(server, 20, first_id=9_000_000)
    requests: list[int] = []

    def write_mid_run(page: int) -> None:
        requests.append(page)
        if len(requests) == 6:
            server.add_events(fresh)

    server.on_reporting_request = write_mid_run
    # WHEN the day is run
    run = run_day(server, concurrency=8)
    # THEN the new rows are in, and the day is exact against the data of now
    assert {row["id"] for row in fresh} <= expected_ids(server)
    assert_exact(run)


def test_rows_that_move_between_pages_are_each_counted_once(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN rows with equal created_at rotated on every request (no tie-breaker in the ORDER BY)
    server = servers(events=1500, shuffle_ties=True, seed=21)
    # WHEN the day is run
    run = run_day(server, concurrency=8)
    # THEN every row is there once: nothing repeated, nothing skipped
    assert_exact(run)
    assert run.result is not None
    kept = run.result.fetch.events.events
    assert len(kept) == len({event.id for event in kept})


def test_a_day_that_keeps_changing_ends_incomplete_and_the_digest_says_by_how_much(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a day still being written: a new row before every reporting request
    server = servers(events=300)
    _, until = window_of(server)
    written: list[int] = []

    def write_one(page: int) -> None:
        row_id = 9_500_000 + len(written)
        written.append(row_id)
        created = until * 1000 - 10_000 + len(written)  # newest first: shifts every offset
        server.add_events(
            [
                {
                    "id": row_id,
                    "name": "first_response",
                    "value": 30.0,
                    "created_at": format_ms(created),
                }
            ]
        )

    server.on_reporting_request = write_one
    # WHEN the day is run
    run = run_day(server, concurrency=4)
    # THEN it ends (three passes at most), marked incomplete with the gap it could measure
    assert run.error is None, run.error
    assert run.result is not None
    fetch = run.result.fetch
    assert fetch.complete is False
    # The gap is a lower bound: rows written after the last count can leave it at 0, and then
    # the digest says the data changed instead of naming a number
    assert fetch.missing == max(0, fetch.meta_count - fetch.events.unique_rows)
    incomplete_warning(run, fetch.missing)
    pages = math.ceil((300 + len(written)) / 25)
    assert len(written) <= 3 * (pages + max(32, 2 * pages))


class PhantomRowSandbox(SandboxServer):
    """Counts one row more than it ever serves (a row deleted between COUNT and SELECT)."""

    def _page_document(self, view: Any, *args: Any) -> dict[str, Any]:
        document = super()._page_document(view, *args)
        meta = document["meta"]
        meta["count"] += 1
        meta["total_pages"] = math.ceil(meta["count"] / 25)
        return document


def test_a_gap_that_cannot_be_filled_ends_after_a_bounded_search_and_is_reported(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a Chatwoot whose meta.count is always one more than the rows it serves
    server = servers(PhantomRowSandbox, events=600)
    # WHEN the day is run
    run = run_day(server)
    # THEN every row that exists is kept, one is reported missing everywhere, and the search
    # for it stayed within the page allowance (pages + max(32, 2 × pages))
    assert run.error is None, run.error
    assert run.result is not None
    assert run.result.fetch.events.seen_ids == expected_ids(server)
    assert run.summary()["source"]["events"] == len(kept_rows(expected_rows(server)))
    incomplete_warning(run, missing=1)
    pages = math.ceil(601 / 25)
    assert server.stats.snapshot()["reporting_requests"] <= pages + max(32, 2 * pages)


# --------------------------------------------------------------------------- the retry budget


def test_a_spent_retry_budget_is_one_clear_error_and_the_rerun_resumes_from_the_archive(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN a Chatwoot that answers 503 to every request for page 10 and later
    server = servers(events=600)

    def unavailable_from_page_ten(page: int) -> None:
        if page >= 10:
            server.queue_faults("503")

    server.on_reporting_request = unavailable_from_page_ten
    # WHEN the day is run with a retry budget of 12
    first = run_day(server, retry=RetryPolicy(base_delay=0.001, max_delay=0.01, budget=12))
    # THEN it fails with one line naming the budget and the failure, and leaves no manifest
    assert isinstance(first.error, RetryBudgetExhausted)
    message = str(first.error)
    assert "\n" not in message
    assert "retry budget" in message
    assert "HTTP 503" in message
    assert not (first.out / "raw" / "manifest.json").exists()
    assert not (first.out / "summary.json").exists()
    archived = {
        int(path.stem.removeprefix("page-")) for path in (first.out / "raw").glob("page-*.json")
    }
    assert archived
    assert max(archived) <= 9
    # WHEN Chatwoot recovers and the day is run again into the same folder
    server.on_reporting_request = None
    server.stats.reset()
    again = run_day(server, out=first.out, retry=FAST_RETRIES)
    # THEN only the pages not archived were requested, and the day is exact
    assert server.stats.snapshot()["reporting_requests"] == 24 - len(archived)
    assert_exact(again)


def test_the_main_query_keeps_page_numbers_1_to_n_when_a_repair_page_arrives_first(
    servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]
) -> None:
    # GIVEN shuffled ties (so repeated rows send one-second repair queries while paging) and
    # the day's last page answered slowly, after those repairs
    server = servers(events=600, shuffle_ties=True, seed=5)

    def last_page_slowly(page: int) -> None:
        if page == 24:
            time.sleep(0.3)

    server.on_reporting_request = last_page_slowly
    # WHEN the day is run
    run = run_day(server, concurrency=8)
    # THEN pages 1..24 are the main query's, by their own number; repairs come after
    assert_exact(run)
    manifest = json.loads((run.out / "raw" / "manifest.json").read_bytes())
    numbers = [entry["page"] for entry in manifest["pages"]]
    main = [entry for entry in manifest["pages"] if "params" not in entry]
    repairs = [entry for entry in manifest["pages"] if "params" in entry]
    assert repairs, "no repair query was needed: the test shows nothing"
    assert [entry["page"] for entry in main] == list(range(1, 25))
    assert min(entry["page"] for entry in repairs) == 25
    assert numbers == list(range(1, len(numbers) + 1))
