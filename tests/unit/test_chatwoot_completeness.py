"""Completeness: offset paging without a tie-breaker, data that changes, and a gap that stays.

The fake orders rows by ``created_at`` descending like Chatwoot, but rotates every group of
rows sharing a timestamp by a different amount on each request, as a database without a
tie-breaker may; so plain paging repeats some rows and skips others.
"""

from __future__ import annotations

import io
import json
import math
import random
import threading
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from sla_digest.chatwoot import ChatwootClient, Page
from sla_digest.window import Window

if TYPE_CHECKING:
    from collections.abc import Callable

ACCOUNT = 7
DAY_START = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
WINDOW = Window(day=date(2026, 11, 20), timezone="UTC", since=DAY_START, until=DAY_START + 86400)
PER_PAGE = 25


def iso(epoch_ms: int) -> str:
    moment = datetime.fromtimestamp(epoch_ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{epoch_ms % 1000:03d}Z"


def row(row_id: int, created_ms: int, name: str = "reply_time", inbox: int = 1) -> dict[str, Any]:
    return {
        "id": row_id,
        "name": name,
        "value": 42.0,
        "value_in_business_hours": 42.0,
        "event_start_time": iso(created_ms - 42_000),
        "event_end_time": iso(created_ms),
        "account_id": ACCOUNT,
        "inbox_id": inbox,
        "user_id": 3,
        "conversation_id": row_id * 10,
        "created_at": iso(created_ms),
        "updated_at": iso(created_ms),
    }


def rows_with_boundary_ties(total: int, tied: dict[int, int]) -> list[dict[str, Any]]:
    """``total`` rows, newest first; ``tied[p] = n`` gives API positions p..p+n-1 one timestamp.

    Positions are 0-based, so a group starting at 23 with 4 rows straddles the 25-row boundary.
    """
    times = [DAY_START * 1000 + 80_000_000 - position * 60_000 for position in range(total)]
    for start, size in tied.items():
        for position in range(start, start + size):
            times[position] = times[start]
    return [row(5000 + position, times[position]) for position in range(total)]


class TieShufflingChatwoot(BaseAdapter):
    """Chatwoot's reporting_events with ties rotated on every request; nothing else."""

    def __init__(self, rows: list[dict[str, Any]], *, phantoms: int = 0) -> None:
        super().__init__()
        self.rows = list(rows)
        self.phantoms = phantoms  # rows in meta.count that are never served (a broken server)
        self.before_request: Callable[[int], None] | None = None
        self.requests: list[dict[str, str]] = []
        self._turn = 0
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        query = dict(parse_qsl(urlsplit(request.url or "").query))
        with self._lock:
            self.requests.append(query)
            self._turn += 1
            turn = self._turn
            if self.before_request is not None:
                self.before_request(turn)
            body = self._page(query, turn)
        response = requests.Response()
        response.status_code = 200
        response.raw = io.BytesIO(body)  # read as a stream, like a socket's body
        response.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
        response.request = request
        return response

    def close(self) -> None:
        pass

    def _page(self, query: dict[str, str], turn: int) -> bytes:
        since, until = int(query["since"]) * 1000, int(query["until"]) * 1000
        stamp = {
            r["id"]: int(datetime.fromisoformat(r["created_at"]).timestamp() * 1000)
            for r in self.rows
        }
        selected = [
            r
            for r in self.rows
            if since <= stamp[r["id"]] < until
            and query.get("name", r["name"]) == r["name"]
            and query.get("inbox_id", str(r["inbox_id"])) == str(r["inbox_id"])
        ]
        selected.sort(key=lambda r: -stamp[r["id"]])
        ordered: list[dict[str, Any]] = []
        for _, group in _groups(selected, stamp):
            shift = turn % len(group)
            ordered.extend(group[shift:] + group[:shift])
        phantoms = self.phantoms if "name" not in query else 0
        count = len(ordered) + phantoms
        page = int(query.get("page", "1"))
        payload = ordered[(page - 1) * PER_PAGE : page * PER_PAGE]
        meta = {"count": count, "current_page": page, "total_pages": math.ceil(count / PER_PAGE)}
        return json.dumps({"payload": payload, "meta": meta}).encode()


def _epoch_ms(text: str) -> int:
    return round(datetime.fromisoformat(text).timestamp() * 1000)


def _groups(
    rows: list[dict[str, Any]], stamp: dict[int, int]
) -> list[tuple[int, list[dict[str, Any]]]]:
    groups: list[tuple[int, list[dict[str, Any]]]] = []
    for r in rows:
        if groups and groups[-1][0] == stamp[r["id"]]:
            groups[-1][1].append(r)
        else:
            groups.append((stamp[r["id"]], [r]))
    return groups


def fetch(fake: TieShufflingChatwoot, **kwargs: Any) -> tuple[Any, list[Page]]:
    session = requests.Session()
    session.mount("https://", fake)
    pages: list[Page] = []
    client = ChatwootClient(
        "https://chat.example", "token", session=session, concurrency=1, rng=random.Random(3)
    )
    result = client.reporting_events(ACCOUNT, WINDOW, on_page=pages.append, **kwargs)
    return result, pages


def ids(rows: list[dict[str, Any]]) -> set[int]:
    return {r["id"] for r in rows}


def page_ids(pages: list[Page]) -> set[int]:
    return {r["id"] for page in pages for r in json.loads(page.body)["payload"]}


# Ties straddling the boundaries 25|26 (positions 23..27) and 50|51 (positions 48..51).
TIES = {23: 5, 48: 4}


def test_plain_paging_of_this_fake_really_skips_tied_rows() -> None:
    # GIVEN 80 rows with ties across two page boundaries
    rows = rows_with_boundary_ties(80, TIES)
    # WHEN the four main pages are fetched
    _, pages = fetch(TieShufflingChatwoot(rows))
    main = [page for page in pages if page.number <= 4]
    # THEN their rows alone lack some ids: the situation the client must repair
    assert len(main) == 4
    assert page_ids(main) < ids(rows)


def test_rows_skipped_by_rotating_ties_are_recovered_exactly() -> None:
    # GIVEN 80 rows with ties across two page boundaries, rotated on every request
    rows = rows_with_boundary_ties(80, TIES)
    # WHEN the day is fetched
    result, pages = fetch(TieShufflingChatwoot(rows))
    # THEN the result holds exactly the 80 ids and says it is complete
    assert result.events.seen_ids == ids(rows)
    assert (result.complete, result.missing, result.meta_count) == (True, 0, 80)
    # AND the pages handed to on_page reconstruct the same set
    assert page_ids(pages) == ids(rows)


def test_repair_pages_are_numbered_after_the_main_query_with_their_own_params() -> None:
    # GIVEN 80 rows with ties across two page boundaries
    rows = rows_with_boundary_ties(80, TIES)
    # WHEN the day is fetched
    result, pages = fetch(TieShufflingChatwoot(rows))
    # THEN pages 1..4 are the main query, and the extra ones follow on with narrower windows
    extra = [page for page in pages if page.number > 4]
    assert extra
    assert sorted(page.number for page in pages) == list(range(1, len(pages) + 1))
    for page in extra:
        since, until = int(page.params["since"]), int(page.params["until"])
        assert WINDOW.since <= since < until <= WINDOW.until
        assert until - since < WINDOW.until - WINDOW.since
    assert [info.number for info in result.pages] == sorted(page.number for page in pages)


def test_more_than_a_page_of_rows_in_one_second_is_narrowed_by_event_name() -> None:
    # GIVEN 100 rows of which positions 10..69 (60 rows, two names) share one timestamp
    rows = rows_with_boundary_ties(100, {10: 60})
    for position in range(10, 70, 2):
        rows[position]["name"] = "first_response"
    fake = TieShufflingChatwoot(rows)
    # WHEN the day is fetched
    result, _ = fetch(fake)
    # THEN the one-second window was narrowed per event name, and every row found
    assert any("name" in query and "inbox_id" not in query for query in fake.requests)
    assert result.events.seen_ids == ids(rows)
    assert result.complete


def test_more_than_a_page_of_one_name_in_one_second_is_narrowed_by_inbox() -> None:
    # GIVEN 120 rows of which positions 10..89 (80 rows, one name, two inboxes) share a second
    rows = rows_with_boundary_ties(120, {10: 80})
    for position in range(10, 90, 2):
        rows[position]["inbox_id"] = 2
    fake = TieShufflingChatwoot(rows)
    # WHEN the day is fetched
    result, _ = fetch(fake)
    # THEN the name's window was narrowed per inbox, and every row found
    assert any("name" in query and "inbox_id" in query for query in fake.requests)
    assert result.events.seen_ids == ids(rows)
    assert result.complete


def test_a_row_deleted_while_paging_starts_a_fresh_pass_that_decides_the_result() -> None:
    # GIVEN 80 rows without ties, and a row on page 1 deleted just after page 1 was read
    rows = rows_with_boundary_ties(80, {})
    fake = TieShufflingChatwoot(rows)
    doomed = rows[3]["id"]

    def delete_after_first(turn: int) -> None:
        if turn == 2:
            fake.rows = [r for r in fake.rows if r["id"] != doomed]

    fake.before_request = delete_after_first
    # WHEN the day is fetched
    result, _ = fetch(fake)
    # THEN the result is the 79 rows that exist, and it is complete against the fresh count
    assert result.events.seen_ids == ids(rows) - {doomed}
    assert (result.complete, result.meta_count) == (True, 79)
    # AND only the fresh pass's pages are listed (page 1 of the stale pass is not)
    assert 1 not in [info.number for info in result.pages]
    assert sum(info.rows for info in result.pages) == 79


def test_data_that_keeps_changing_ends_after_three_passes_marked_incomplete() -> None:
    # GIVEN 60 rows and a new row written before every request (a day still going on)
    rows = rows_with_boundary_ties(60, {})
    fake = TieShufflingChatwoot(rows)

    def write_one(turn: int) -> None:
        fake.rows.append(row(90_000 + turn, DAY_START * 1000 + 85_000_000 + turn))

    fake.before_request = write_one
    # WHEN the day is fetched
    result, _ = fetch(fake)
    # THEN it stopped after three passes over the main query and does not claim completeness
    main_page_ones = [
        q for q in fake.requests if q["page"] == "1" and q["since"] == str(WINDOW.since)
    ]
    assert len(main_page_ones) == 3
    assert result.complete is False


def test_a_gap_that_cannot_be_filled_is_reported_after_a_bounded_search() -> None:
    # GIVEN a server whose count includes one row it never serves, 80 rows served
    rows = rows_with_boundary_ties(80, {})
    fake = TieShufflingChatwoot(rows, phantoms=1)
    # WHEN the day is fetched
    result, _ = fetch(fake)
    # THEN it ends incomplete, one row missing, after at most the main pages plus the allowance
    assert (result.complete, result.missing, result.meta_count) == (False, 1, 81)
    assert result.events.seen_ids == ids(rows)
    main_pages = math.ceil(81 / PER_PAGE)
    assert len(fake.requests) <= main_pages + max(32, 2 * main_pages)


def test_resumed_repair_pages_are_used_instead_of_asking_again() -> None:
    # GIVEN a first run's pages (main and repair) for a day with boundary ties
    rows = rows_with_boundary_ties(80, TIES)
    first_result, archived = fetch(TieShufflingChatwoot(rows))
    assert first_result.complete
    # WHEN a second run resumes from all of them
    fake = TieShufflingChatwoot(rows)
    result, fresh = fetch(fake, resume=archived)
    # THEN nothing at all is requested and the result is the same complete set
    assert fake.requests == []
    assert fresh == []
    assert result.events.seen_ids == ids(rows)
    assert result.complete
