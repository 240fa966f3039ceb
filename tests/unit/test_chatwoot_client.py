"""The Chatwoot client over an in-process transport: requests, retries, errors, resume, context.

No sockets: a ``requests`` transport adapter answers from a small fake of the API, and sleeps
and clocks are fakes, so every test is instant and deterministic.
"""

from __future__ import annotations

import io
import json
import logging
import math
import random
import threading
from collections import deque
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from sla_digest.chatwoot import (
    AccountContext,
    ChatwootClient,
    Page,
    RetryPolicy,
)
from sla_digest.exceptions import (
    AuthenticationError,
    ChatwootError,
    NotFoundError,
    ResponseError,
    RetryBudgetExhausted,
)
from sla_digest.window import Window

BASE = "https://chat.example"
TOKEN = "tok-7f3a9c1e5b2d8046"  # a fake token; the tests look for leaks of it
ACCOUNT = 7
DAY_START = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
WINDOW = Window(day=date(2026, 11, 20), timezone="UTC", since=DAY_START, until=DAY_START + 86400)
PER_PAGE = 25

Answer = tuple[int, bytes, str] | BaseException


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def make_rows(n: int, *, first_id: int = 1000) -> list[dict[str, Any]]:
    """``n`` rows one minute apart inside the window, newest first (API order)."""
    rows = [
        {
            "id": first_id + i,
            "name": "first_response",
            "value": 60.0 + i,
            "value_in_business_hours": 30.0,
            "event_start_time": iso(DAY_START + 60 * i),
            "event_end_time": iso(DAY_START + 60 * i + 30),
            "account_id": ACCOUNT,
            "inbox_id": 1,
            "user_id": 5,
            "conversation_id": 300 + i,
            "created_at": iso(DAY_START + 60 * i + 30),
            "updated_at": iso(DAY_START + 60 * i + 30),
        }
        for i in range(n)
    ]
    return rows[::-1]


class FakeChatwoot(BaseAdapter):
    """Answers like Chatwoot for one account; ``script`` answers go first, one per request."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        super().__init__()
        self.rows = rows
        self.script: deque[Answer] = deque()
        self.sent: list[requests.PreparedRequest] = []
        self.bodies: dict[int, bytes] = {}
        self.sla_policies: Answer = (200, b'{"payload": []}', "application/json")
        self._lock = threading.Lock()

    # The adapter interface.
    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.sent.append(request)
            scripted = self.script.popleft() if self.script else None
        answer = scripted if scripted is not None else self.answer(request)
        if isinstance(answer, BaseException):
            raise answer
        status, body, content_type = answer
        response = requests.Response()
        response.status_code = status
        response.raw = io.BytesIO(body)  # read as a stream, like a socket's body
        response.headers = CaseInsensitiveDict({"Content-Type": content_type})
        response.url = request.url or ""
        response.request = request
        return response

    def close(self) -> None:
        pass

    def answer(self, request: requests.PreparedRequest) -> Answer:
        url = urlsplit(request.url or "")
        query = dict(parse_qsl(url.query))
        endpoint = url.path.rsplit("/", 1)[-1]
        if endpoint == "inboxes":
            inboxes = [
                {"id": 1, "name": "Email", "working_hours_enabled": True, "timezone": "UTC"},
                {"id": 2, "name": "Chat", "working_hours_enabled": False, "timezone": None},
            ]
            return 200, json.dumps({"payload": inboxes}).encode(), "application/json"
        if endpoint == "agents":
            agents = [{"id": 5, "name": "Ann Lee", "available_name": "Ann", "role": "agent"}]
            return 200, json.dumps(agents).encode(), "application/json"
        if endpoint == "sla_policies":
            return self.sla_policies
        page = int(query.get("page", "1"))
        since, until = int(query["since"]), int(query["until"])
        selected = [
            row
            for row in self.rows
            if since <= datetime.fromisoformat(row["created_at"]).timestamp() < until
        ]
        chunk = selected[(page - 1) * PER_PAGE : page * PER_PAGE]
        meta = {
            "count": len(selected),
            "current_page": page,
            "total_pages": math.ceil(len(selected) / PER_PAGE),
        }
        body = json.dumps({"payload": chunk, "meta": meta}).encode()
        with self._lock:
            self.bodies[page] = body
        return 200, body, "application/json"

    def reporting_requests(self) -> list[dict[str, str]]:
        return [
            dict(parse_qsl(urlsplit(request.url or "").query))
            for request in self.sent
            if "reporting_events" in (request.url or "")
        ]


class FakeSleep:
    """Sleeping advances a fake clock (``now``), so pacing and backoff take no real time."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.now = 5000.0
        self._lock = threading.Lock()

    def __call__(self, seconds: float) -> None:
        with self._lock:
            self.delays.append(seconds)
            self.now += seconds

    def clock(self) -> float:
        with self._lock:
            return self.now


def make_client(
    fake: FakeChatwoot,
    *,
    concurrency: int = 1,
    retry: RetryPolicy | None = None,
    sleep: FakeSleep | None = None,
    seed: int = 1,
    base_url: str = BASE,
) -> ChatwootClient:
    session = requests.Session()
    session.mount("https://", fake)
    sleeper = sleep if sleep is not None else FakeSleep()
    return ChatwootClient(
        base_url,
        TOKEN,
        session=session,
        concurrency=concurrency,
        retry=retry,
        sleep=sleeper,
        clock=sleeper.clock,
        rng=random.Random(seed),
    )


def json_error(status: int, message: str) -> Answer:
    return status, json.dumps({"error": message}).encode(), "application/json"


# ── requests and pages ─────────────────────────────────────────────────────────────────────────


def test_every_reporting_request_carries_the_windows_since_and_until() -> None:
    # GIVEN 60 rows (three pages)
    fake = FakeChatwoot(make_rows(60))
    # WHEN the day is fetched
    make_client(fake, concurrency=4).reporting_events(ACCOUNT, WINDOW)
    # THEN each of the three requests names the window: without them Chatwoot filters nothing
    sent = fake.reporting_requests()
    assert len(sent) == 3
    assert all(q["since"] == str(DAY_START) and q["until"] == str(DAY_START + 86400) for q in sent)


def test_page_one_is_requested_before_any_other_page() -> None:
    # GIVEN 100 rows (four pages) and eight requests allowed in flight
    fake = FakeChatwoot(make_rows(100))
    # WHEN the day is fetched
    make_client(fake, concurrency=8).reporting_events(ACCOUNT, WINDOW)
    # THEN the first request is page 1 and every page is requested exactly once
    pages = [q["page"] for q in fake.reporting_requests()]
    assert pages[0] == "1"
    assert sorted(pages) == ["1", "2", "3", "4"]


def test_every_page_reaches_on_page_byte_for_byte_with_its_number() -> None:
    # GIVEN 60 rows (three pages)
    fake = FakeChatwoot(make_rows(60))
    received: list[Page] = []
    # WHEN the day is fetched with an on_page callback
    make_client(fake, concurrency=3).reporting_events(ACCOUNT, WINDOW, on_page=received.append)
    # THEN on_page got pages 1..3, each with exactly the bytes the server sent and its params
    assert sorted(page.number for page in received) == [1, 2, 3]
    for page in received:
        assert page.body == fake.bodies[page.number]
        assert page.params == {"since": DAY_START, "until": DAY_START + 86400, "page": page.number}
    assert [page.rows for page in sorted(received, key=lambda p: p.number)] == [25, 25, 10]


def test_a_complete_fetch_holds_every_row_of_the_window_once() -> None:
    # GIVEN 60 rows
    rows = make_rows(60)
    fake = FakeChatwoot(rows)
    # WHEN the day is fetched
    result = make_client(fake, concurrency=2).reporting_events(ACCOUNT, WINDOW)
    # THEN the events are exactly those rows, and the result says it is complete
    assert sorted(event.id for event in result.events.events) == sorted(r["id"] for r in rows)
    assert (result.complete, result.missing, result.meta_count) == (True, 0, 60)
    assert [info.number for info in result.pages] == [1, 2, 3]


def test_an_empty_day_takes_one_request_and_is_complete() -> None:
    # GIVEN no rows at all (Chatwoot answers total_pages 0)
    fake = FakeChatwoot([])
    # WHEN the day is fetched
    result = make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN one request was enough and the empty result is complete
    assert len(fake.reporting_requests()) == 1
    assert (result.complete, result.meta_count, len(result.events.events)) == (True, 0, 0)


def test_progress_reports_every_page_up_to_the_total() -> None:
    # GIVEN 80 rows (four pages)
    fake = FakeChatwoot(make_rows(80))
    calls: list[tuple[int, int]] = []
    # WHEN the day is fetched with a progress callback
    make_client(fake, concurrency=2).reporting_events(
        ACCOUNT, WINDOW, progress=lambda done, total: calls.append((done, total))
    )
    # THEN done counts 1..4, never passes total, and ends at 4 of 4
    assert [done for done, _ in calls] == [1, 2, 3, 4]
    assert all(done <= total for done, total in calls)
    assert calls[-1] == (4, 4)


# ── retries ────────────────────────────────────────────────────────────────────────────────────

THROTTLED: Answer = (429, b"Retry later\n", "text/plain")  # Rack::Attack's answer

TRANSIENT: dict[str, Answer] = {
    "500": (500, b'{"status":500,"error":"Internal Server Error"}', "application/json"),
    "502 html": (502, b"<html><body>502 Bad Gateway</body></html>", "text/html"),
    "503": (503, b"", "text/html"),
    "html with 200": (200, b"<!DOCTYPE html><html>Maintenance</html>", "text/html"),
    "truncated json": (200, b'{"payload": [{"id": 1, "na', "application/json"),
    "no meta": (200, b'{"payload": []}', "application/json"),
    "count not an integer": (
        200,
        b'{"payload": [], "meta": {"count": "3", "total_pages": 1}}',
        "application/json",
    ),
    "array": (200, b"[]", "application/json"),
    "connection reset": requests.ConnectionError("connection reset by peer"),
    "timeout": requests.ReadTimeout("read timed out"),
    "body cut": requests.exceptions.ChunkedEncodingError("IncompleteRead"),
}


@pytest.mark.parametrize("failure", list(TRANSIENT.values()), ids=list(TRANSIENT))
def test_a_transient_failure_is_retried_until_the_page_arrives(failure: Answer) -> None:
    # GIVEN a server whose first two answers are the failure
    rows = make_rows(10)
    fake = FakeChatwoot(rows)
    fake.script.extend([failure, failure])
    # WHEN the day is fetched
    result = make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN the third attempt got the page, and two retries were counted
    assert len(result.events.events) == 10
    assert len(fake.reporting_requests()) == 3
    assert result.stats.retries == 2


def test_retries_wait_with_exponential_backoff_and_full_jitter() -> None:
    # GIVEN four failures before success, base delay 0.5 s, cap 3 s, a seeded jitter source
    fake = FakeChatwoot(make_rows(5))
    fake.script.extend([TRANSIENT["503"]] * 4)
    sleep = FakeSleep()
    client = make_client(
        fake, retry=RetryPolicy(base_delay=0.5, max_delay=3.0), sleep=sleep, seed=42
    )
    # WHEN the day is fetched
    client.reporting_events(ACCOUNT, WINDOW)
    # THEN the waits are uniform draws from [0, min(3, 0.5 × 2^(k-1))] for k = 1..4
    reference = random.Random(42)
    expected = [reference.uniform(0, min(3.0, 0.5 * 2 ** (k - 1))) for k in (1, 2, 3, 4)]
    assert sleep.delays == pytest.approx(expected)


def test_a_request_that_keeps_failing_gives_up_after_its_attempts_naming_the_failure() -> None:
    # GIVEN a server that always answers 503, and three attempts per request
    fake = FakeChatwoot(make_rows(5))
    fake.script.extend([TRANSIENT["503"]] * 10)
    client = make_client(fake, retry=RetryPolicy(max_attempts=3))
    # WHEN the day is fetched
    with pytest.raises(RetryBudgetExhausted) as caught:
        client.reporting_events(ACCOUNT, WINDOW)
    # THEN it stopped after three requests and says what failed, how often, where
    message = str(caught.value)
    assert len(fake.reporting_requests()) == 3
    assert "3 times" in message
    assert "HTTP 503" in message
    assert "page 1" in message
    assert BASE in message


def test_the_run_stops_when_its_retry_budget_is_spent() -> None:
    # GIVEN three failures in a row and a budget of two retries for the run
    fake = FakeChatwoot(make_rows(100))
    fake.script.extend([TRANSIENT["500"]] * 3)
    client = make_client(fake, retry=RetryPolicy(budget=2, max_attempts=8))
    # WHEN the day is fetched
    with pytest.raises(RetryBudgetExhausted) as caught:
        client.reporting_events(ACCOUNT, WINDOW)
    # THEN the third failure ended the run with a message about the run's budget
    assert "retry budget" in str(caught.value)
    assert "HTTP 500" in str(caught.value)
    assert len(fake.reporting_requests()) == 3


def test_the_default_retry_budget_grows_with_the_number_of_pages() -> None:
    # GIVEN the default policy  WHEN budgets are asked for small and large runs
    policy = RetryPolicy()
    # THEN a small run gets the floor of 50 and a 400-page run one retry per page
    assert policy.budget_for(3) == 50
    assert policy.budget_for(400) == 400


def test_repeated_429s_make_the_client_pace_its_requests() -> None:
    # GIVEN a server that throttles the first three attempts
    fake = FakeChatwoot(make_rows(5))
    fake.script.extend([THROTTLED] * 3)
    client = make_client(fake)
    assert client.rate is None
    # WHEN the day is fetched
    result = client.reporting_events(ACCOUNT, WINDOW)
    # THEN the client now paces requests and counted the throttled ones
    assert client.rate is not None
    assert result.stats.throttled == 3


def test_429s_are_asked_again_beyond_the_attempts_of_a_failure_and_spend_no_retries() -> None:
    # GIVEN a server that throttles the first five requests, and three attempts per request
    fake = FakeChatwoot(make_rows(5))
    fake.script.extend([THROTTLED] * 5)
    client = make_client(fake, retry=RetryPolicy(max_attempts=3, budget=0))
    # WHEN the day is fetched
    result = client.reporting_events(ACCOUNT, WINDOW)
    # THEN the page arrived: five throttled answers, no failed attempt, no retry spent
    assert sorted(event.id for event in result.events.events) == [1000, 1001, 1002, 1003, 1004]
    assert (result.stats.throttled, result.stats.retries) == (5, 0)


def test_a_run_refused_with_429s_for_longer_than_its_patience_ends_with_a_clear_error() -> None:
    # GIVEN a server that only ever answers 429, and a patience of 30 s
    fake = FakeChatwoot(make_rows(5))
    fake.script.extend([THROTTLED] * 10_000)
    sleep = FakeSleep()
    client = make_client(fake, retry=RetryPolicy(throttle_patience=30.0), sleep=sleep)
    started = sleep.now
    # WHEN the day is fetched
    with pytest.raises(RetryBudgetExhausted) as caught:
        client.reporting_events(ACCOUNT, WINDOW)
    # THEN it gave up once 30 s had passed without another answer, and says so
    message = str(caught.value)
    assert "HTTP 429" in message
    assert "rate limited" in message
    assert BASE in message
    assert 30.0 < sleep.now - started < 40.0


# ── errors a person must fix ───────────────────────────────────────────────────────────────────

AUTH_CASES = {
    "Invalid Access Token": "check the token",
    "You are not authorized to do this action": "administrator's access token",
    "You are not authorized to access this account": "not a member of account 7",
    "Account is suspended": "account 7 at https://chat.example is suspended",
    "Access to this endpoint is not authorized for bots": "belongs to a bot",
}


@pytest.mark.parametrize(("error", "phrase"), list(AUTH_CASES.items()), ids=list(AUTH_CASES))
def test_a_401_ends_the_run_at_once_with_what_to_do(error: str, phrase: str) -> None:
    # GIVEN a server refusing the token with Chatwoot's message
    fake = FakeChatwoot(make_rows(5))
    fake.script.append(json_error(401, error))
    # WHEN the day is fetched
    with pytest.raises(AuthenticationError) as caught:
        make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN one request was made and the message says what to do
    assert len(fake.sent) == 1
    assert phrase in str(caught.value)
    assert caught.value.status == 401


def test_each_401_reason_has_its_own_message() -> None:
    # GIVEN each of Chatwoot's 401 reasons  WHEN each ends a fetch
    messages = set()
    for error in AUTH_CASES:
        fake = FakeChatwoot([])
        fake.script.append(json_error(401, error))
        with pytest.raises(AuthenticationError) as caught:
            make_client(fake).reporting_events(ACCOUNT, WINDOW)
        messages.add(str(caught.value))
    # THEN the five messages differ
    assert len(messages) == len(AUTH_CASES)


def test_an_unknown_401_still_says_to_check_the_token_and_quotes_the_server() -> None:
    # GIVEN a 401 with a message Chatwoot does not use today
    fake = FakeChatwoot([])
    fake.script.append(json_error(401, "Token expired"))
    # WHEN the day is fetched
    with pytest.raises(AuthenticationError) as caught:
        make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN the message quotes it and points at the token
    assert "Token expired" in str(caught.value)
    assert "check the token" in str(caught.value)


def test_an_unknown_account_is_reported_as_not_found_at_the_base_url() -> None:
    # GIVEN Chatwoot's JSON 404 for an account that does not exist
    fake = FakeChatwoot([])
    fake.script.append(json_error(404, "Resource could not be found"))
    # WHEN the day is fetched
    with pytest.raises(NotFoundError) as caught:
        make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN the message names the account and the base URL, after one request
    assert "account 7 not found at https://chat.example" in str(caught.value)
    assert len(fake.sent) == 1


def test_a_404_page_from_reporting_events_means_chatwoot_is_too_old() -> None:
    # GIVEN a Rails 404 page (no route: Chatwoot before 4.8 or without enterprise)
    fake = FakeChatwoot([])
    fake.script.append(
        (404, b"<html><body>The page you were looking for</body></html>", "text/html")
    )
    # WHEN the day is fetched
    with pytest.raises(NotFoundError) as caught:
        make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN the message names the version and edition needed
    assert "4.8" in str(caught.value)
    assert "enterprise" in str(caught.value)


def test_a_redirect_is_not_followed_and_asks_for_the_right_base_url() -> None:
    # GIVEN a server that redirects elsewhere (the token header would travel with it)
    fake = FakeChatwoot([])
    fake.script.append((301, b"", "text/html"))
    # WHEN the day is fetched
    with pytest.raises(ResponseError) as caught:
        make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN nothing else was requested and the message asks to fix base_url
    assert len(fake.sent) == 1
    assert "base_url" in str(caught.value)


def test_an_unusable_url_is_a_clear_error_not_a_retry() -> None:
    # GIVEN a transport that cannot even build the request
    fake = FakeChatwoot([])
    fake.script.append(requests.exceptions.InvalidURL("bad host"))
    # WHEN the day is fetched
    with pytest.raises(ChatwootError) as caught:
        make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN one attempt, and the message points at base_url
    assert len(fake.sent) == 1
    assert "check base_url" in str(caught.value)


def test_credentials_in_the_base_url_are_not_shown_in_messages() -> None:
    # GIVEN a base URL with user:password in it
    fake = FakeChatwoot([])
    fake.script.append(json_error(404, "Resource could not be found"))
    client = make_client(fake, base_url="https://admin:hunter2@chat.example")
    # WHEN an error names the base URL
    with pytest.raises(NotFoundError) as caught:
        client.reporting_events(ACCOUNT, WINDOW)
    # THEN the credentials are not in it
    assert "hunter2" not in str(caught.value)
    assert "https://chat.example" in str(caught.value)


# ── the token stays secret ─────────────────────────────────────────────────────────────────────


def test_the_token_is_sent_as_a_header_on_every_request() -> None:
    # GIVEN a client  WHEN a day and the context are fetched
    fake = FakeChatwoot(make_rows(30))
    make_client(fake).reporting_events(ACCOUNT, WINDOW, with_context=True)
    # THEN every request carried the token header, and never in the URL
    assert fake.sent
    assert all(request.headers.get("api_access_token") == TOKEN for request in fake.sent)
    assert all(TOKEN not in (request.url or "") for request in fake.sent)


def test_the_token_appears_in_no_log_line_error_or_repr(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN debug logging, a flaky then refusing server, and a 401 whose text quotes the token
    caplog.set_level(logging.DEBUG)
    fake = FakeChatwoot(make_rows(30))
    fake.script.extend([TRANSIENT["503"], THROTTLED, TRANSIENT["connection reset"]])
    client = make_client(fake)
    client.reporting_events(ACCOUNT, WINDOW, with_context=True)
    fake.script.append(json_error(401, f"token {TOKEN} is revoked"))
    # WHEN the second fetch fails
    with pytest.raises(AuthenticationError) as caught:
        client.reporting_events(ACCOUNT, WINDOW)
    # THEN the token is nowhere: logs, the error, repr, stdout/stderr
    out, err = capsys.readouterr()
    assert caplog.records
    assert TOKEN not in caplog.text
    assert TOKEN not in str(caught.value)
    assert TOKEN not in repr(client)
    assert TOKEN not in out + err


# ── resume ─────────────────────────────────────────────────────────────────────────────────────


def archived_pages(rows: list[dict[str, Any]], numbers: list[int], total: int) -> list[Page]:
    """Pages as an earlier run archived them, built here from the rows."""
    pages = []
    for number in numbers:
        chunk = rows[(number - 1) * PER_PAGE : number * PER_PAGE]
        meta = {"count": len(rows), "current_page": number, "total_pages": total}
        body = json.dumps({"payload": chunk, "meta": meta}).encode()
        params: dict[str, int | str] = {
            "since": DAY_START,
            "until": DAY_START + 86400,
            "page": number,
        }
        pages.append(Page(number, params, body, len(chunk), len(rows), total))
    return pages


def test_resumed_pages_are_not_requested_again() -> None:
    # GIVEN 100 rows (four pages) and pages 1 and 2 archived by an earlier run
    rows = make_rows(100)
    fake = FakeChatwoot(rows)
    resumed = archived_pages(rows, [1, 2], total=4)
    # WHEN the day is fetched with them
    make_client(fake, concurrency=2).reporting_events(ACCOUNT, WINDOW, resume=resumed)
    # THEN only pages 3 and 4 were requested
    assert sorted(q["page"] for q in fake.reporting_requests()) == ["3", "4"]


def test_a_resumed_run_holds_the_rows_of_archived_and_fresh_pages_alike() -> None:
    # GIVEN 100 rows and pages 2 and 4 archived
    rows = make_rows(100)
    fake = FakeChatwoot(rows)
    handed: list[int] = []
    # WHEN the day is fetched with them
    result = make_client(fake).reporting_events(
        ACCOUNT,
        WINDOW,
        resume=archived_pages(rows, [2, 4], total=4),
        on_page=lambda page: handed.append(page.number),
    )
    # THEN the result is complete, lists all four pages, and on_page saw only the fresh ones
    assert result.complete
    assert sorted(event.id for event in result.events.events) == sorted(r["id"] for r in rows)
    assert [info.number for info in result.pages] == [1, 2, 3, 4]
    assert sorted(handed) == [1, 3]


def test_a_corrupt_archived_page_is_fetched_again() -> None:
    # GIVEN page 1 archived, but its body cut short
    rows = make_rows(30)
    fake = FakeChatwoot(rows)
    (page,) = archived_pages(rows, [1], total=2)
    broken = Page(page.number, page.params, page.body[:40], page.rows, page.count, page.total_pages)
    # WHEN the day is fetched with it
    result = make_client(fake).reporting_events(ACCOUNT, WINDOW, resume=[broken])
    # THEN page 1 was requested again and the result is complete
    assert sorted(q["page"] for q in fake.reporting_requests()) == ["1", "2"]
    assert result.complete


def test_a_page_from_another_window_cannot_be_resumed() -> None:
    # GIVEN an archived page whose window is the day before
    rows = make_rows(5)
    (page,) = archived_pages(rows, [1], total=1)
    params: dict[str, int | str] = {**page.params, "since": DAY_START - 86400, "until": DAY_START}
    foreign = Page(1, params, page.body, page.rows, page.count, page.total_pages)
    # WHEN it is handed to a fetch of this day  THEN the fetch refuses it
    with pytest.raises(ValueError, match="not within the window"):
        make_client(FakeChatwoot(rows)).reporting_events(ACCOUNT, WINDOW, resume=[foreign])


# ── account context ────────────────────────────────────────────────────────────────────────────

SLA_BODY = json.dumps(
    {
        "payload": [
            {
                "id": 3,
                "name": "Standard",
                "first_response_time_threshold": 1800,
                "next_response_time_threshold": 3600.0,
                "resolution_time_threshold": None,
                "only_during_business_hours": True,
            }
        ]
    }
).encode()


def test_the_context_holds_inboxes_agents_and_sla_policies() -> None:
    # GIVEN a server with two inboxes, one agent and one SLA policy
    fake = FakeChatwoot([])
    fake.sla_policies = (200, SLA_BODY, "application/json")
    # WHEN the context is fetched
    context = make_client(fake).context(ACCOUNT)
    # THEN each is parsed as the API describes it
    assert context.inboxes[1].name == "Email"
    assert context.inboxes[1].working_hours_enabled is True
    assert context.inboxes[2].working_hours_enabled is False
    assert context.agents[5].name == "Ann"  # the name Chatwoot shows
    (policy,) = context.sla_policies
    assert (policy.name, policy.first_response, policy.reply_time) == ("Standard", 1800.0, 3600.0)
    assert policy.conversation_resolved is None
    assert policy.only_during_business_hours is True


def test_a_community_edition_without_sla_policies_gives_an_empty_list() -> None:
    # GIVEN sla_policies answering 404 (no enterprise folder)
    fake = FakeChatwoot([])
    fake.sla_policies = (404, b"<html>not found</html>", "text/html")
    # WHEN the context is fetched
    context = make_client(fake).context(ACCOUNT)
    # THEN there are no policies, no error, and no raw body for them
    assert context.sla_policies == []
    assert "sla_policies" not in context.raw


def test_the_context_rebuilds_from_its_raw_bodies_alone() -> None:
    # GIVEN a fetched context
    fake = FakeChatwoot([])
    fake.sla_policies = (200, SLA_BODY, "application/json")
    context = make_client(fake).context(ACCOUNT)
    # WHEN it is rebuilt from the archived bodies
    rebuilt = AccountContext.from_raw(context.raw)
    # THEN it equals the original
    assert rebuilt == context
    assert set(context.raw) == {"inboxes", "agents", "sla_policies"}


def test_an_archived_context_without_inboxes_is_refused() -> None:
    # GIVEN raw bodies lacking inboxes  WHEN rebuilt  THEN a clear error
    with pytest.raises(ResponseError, match="inboxes"):
        AccountContext.from_raw({"agents": b"[]"})


def test_with_context_fetches_the_context_alongside_the_events() -> None:
    # GIVEN a server with rows and an account context
    fake = FakeChatwoot(make_rows(30))
    # WHEN the day is fetched with_context
    result = make_client(fake, concurrency=4).reporting_events(ACCOUNT, WINDOW, with_context=True)
    # THEN the result carries the context, and the three context endpoints were asked once
    assert result.context is not None
    assert result.context.inboxes[1].name == "Email"
    endpoints = sorted(urlsplit(r.url or "").path.rsplit("/", 1)[-1] for r in fake.sent)
    assert endpoints == [
        "agents",
        "inboxes",
        "reporting_events",
        "reporting_events",
        "sla_policies",
    ]


def test_a_context_endpoint_that_is_not_json_is_retried() -> None:
    # GIVEN agents answering an HTML page once (a proxy hiccup)
    fake = FakeChatwoot([])
    original = fake.answer
    hiccups = deque([(200, b"<html>busy</html>", "text/html")])

    def answer(request: requests.PreparedRequest) -> Answer:
        if (request.url or "").endswith("/agents") and hiccups:
            return hiccups.popleft()
        return original(request)

    fake.answer = answer  # type: ignore[method-assign]
    # WHEN the context is fetched
    context = make_client(fake).context(ACCOUNT)
    # THEN the agent arrived anyway
    assert context.agents[5].name == "Ann"


# ── construction ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("kwargs", [{"concurrency": 0}, {"timeout": 0}])
def test_impossible_settings_are_refused(kwargs: dict[str, Any]) -> None:
    # GIVEN / WHEN a client with an impossible setting  THEN it is refused
    with pytest.raises(ValueError, match=r"concurrency|timeout"):
        ChatwootClient(BASE, TOKEN, **kwargs)


def test_a_client_closes_only_the_session_it_created() -> None:
    # GIVEN a session given by the caller
    session = requests.Session()
    closed: list[bool] = []
    session.close = lambda: closed.append(True)  # type: ignore[method-assign]
    # WHEN the client is used as a context manager
    with ChatwootClient(BASE, TOKEN, session=session):
        pass
    # THEN the caller's session is left open
    assert closed == []


class RepeatingChatwoot(FakeChatwoot):
    """Page 2 also carries page 1's first row again, its ``created_at`` mangled into a list."""

    def answer(self, request: requests.PreparedRequest) -> Answer:
        answer = super().answer(request)
        query = dict(parse_qsl(urlsplit(request.url or "").query))
        if "reporting_events" not in (request.url or "") or query.get("page") != "2":
            return answer
        assert not isinstance(answer, BaseException)
        status, body, content_type = answer
        document = json.loads(body)
        document["payload"].append(dict(self.rows[0], created_at=[self.rows[0]["created_at"]]))
        return status, json.dumps(document).encode(), content_type


def test_a_repeated_row_with_a_mangled_timestamp_is_counted_once_not_a_crash() -> None:
    # GIVEN 30 rows, and page 2 repeating a row of page 1 with a created_at that is a list
    rows = make_rows(30)
    fake = RepeatingChatwoot(rows)
    # WHEN the day is fetched
    result = make_client(fake).reporting_events(ACCOUNT, WINDOW)
    # THEN the row counts once and the day is complete with every row
    assert sorted(event.id for event in result.events.events) == sorted(r["id"] for r in rows)
    assert (result.complete, result.missing) == (True, 0)
