"""The client's limits against a server that lies: page counts, body sizes, wall-clock time.

An in-process transport answers from a script; sleeping advances a fake clock, so a limit of
minutes is reached in milliseconds.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

import pytest
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from sla_digest.chatwoot import ChatwootClient, RetryPolicy
from sla_digest.exceptions import DeadlineExceeded, ResponseError
from sla_digest.window import Window

BASE = "https://chat.example"
TOKEN = "tok-limits-5c1e9a"  # a fake token
ACCOUNT = 7
DAY_START = int(datetime(2026, 11, 20, tzinfo=UTC).timestamp())
WINDOW = Window(day=date(2026, 11, 20), timezone="UTC", since=DAY_START, until=DAY_START + 86400)

Answer = Callable[[requests.PreparedRequest], requests.Response]


class Scripted(BaseAdapter):
    """Answers every request with ``answer``; counts the reporting-events requests."""

    def __init__(self, answer: Answer) -> None:
        super().__init__()
        self.answer = answer
        self.reporting = 0
        self._lock = threading.Lock()

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            self.reporting += "reporting_events" in (request.url or "")
        return self.answer(request)

    def close(self) -> None:
        pass


def response(
    request: requests.PreparedRequest,
    status: int,
    raw: Any,
    headers: dict[str, str] | None = None,
) -> requests.Response:
    answer = requests.Response()
    answer.status_code = status
    answer.raw = raw
    answer.headers = CaseInsensitiveDict({"Content-Type": "application/json", **(headers or {})})
    answer.request = request
    return answer


def page(count: int, total_pages: int) -> Answer:
    body = json.dumps({"payload": [], "meta": {"count": count, "total_pages": total_pages}})
    return lambda request: response(request, 200, io.BytesIO(body.encode()))


class Clock:
    """A clock that only sleeping moves."""

    def __init__(self) -> None:
        self.now = 100.0
        self._lock = threading.Lock()

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.now += seconds

    def __call__(self) -> float:
        with self._lock:
            return self.now


def client(adapter: Scripted, clock: Clock | None = None, **options: Any) -> ChatwootClient:
    session = requests.Session()
    session.mount("https://", adapter)
    clock = clock if clock is not None else Clock()
    return ChatwootClient(BASE, TOKEN, session=session, sleep=clock.sleep, clock=clock, **options)


@pytest.mark.parametrize(
    ("count", "total_pages", "should_be"),
    [(30, 1_000_000_000, 2), (30, 1, 2), (0, 1, 0), (26, 1, 2), (25, 2, 1), (1, 0, 1)],
)
def test_a_total_pages_other_than_count_over_25_rounded_up_is_refused_without_a_retry(
    count: int, total_pages: int, should_be: int
) -> None:
    # GIVEN a server whose meta claims total_pages pages for count rows
    adapter = Scripted(page(count, total_pages))
    # WHEN the day is fetched  THEN one request is made and the error names all three figures
    with pytest.raises(ResponseError) as caught:
        client(adapter).reporting_events(ACCOUNT, WINDOW)
    assert adapter.reporting == 1
    message = str(caught.value)
    assert f"meta.total_pages {total_pages} does not follow from meta.count {count}" in message
    assert f"(that is {should_be} pages of 25 rows)" in message


@pytest.mark.parametrize(("count", "total_pages"), [(0, 0), (25, 1), (26, 2)])
def test_a_total_pages_that_follows_from_count_is_accepted(count: int, total_pages: int) -> None:
    # GIVEN a server whose pages are empty but whose meta is consistent
    adapter = Scripted(page(count, total_pages))
    # WHEN the day is fetched
    result = client(adapter).reporting_events(ACCOUNT, WINDOW)
    # THEN every claimed page was asked for (at least one), and none of this was refused
    assert adapter.reporting >= max(1, total_pages)
    assert result.meta_count == count


def test_a_body_of_more_than_five_megabytes_is_refused_without_a_retry() -> None:
    # GIVEN a server that sends 5,000,001 bytes without announcing a length
    adapter = Scripted(lambda request: response(request, 200, io.BytesIO(b" " * 5_000_001)))
    # WHEN the day is fetched  THEN one request is made and the error says why
    with pytest.raises(ResponseError, match="sent more than 5 MB for reporting_events page 1"):
        client(adapter).reporting_events(ACCOUNT, WINDOW)
    assert adapter.reporting == 1


class Unreadable(io.RawIOBase):
    """A body that must not be read."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        raise AssertionError("the body was read")


def test_a_body_announced_as_larger_than_five_megabytes_is_refused_unread() -> None:
    # GIVEN a server announcing a body of 20 GB
    adapter = Scripted(
        lambda request: response(request, 200, Unreadable(), {"Content-Length": "20000000000"})
    )
    # WHEN the day is fetched  THEN it is refused on the header alone
    with pytest.raises(ResponseError, match="sent more than 5 MB"):
        client(adapter).reporting_events(ACCOUNT, WINDOW)


def test_a_body_of_exactly_five_megabytes_is_read() -> None:
    # GIVEN a page padded with spaces to exactly 5,000,000 bytes
    body = json.dumps({"payload": [], "meta": {"count": 0, "total_pages": 0}}).encode()
    padded = body + b" " * (5_000_000 - len(body))
    adapter = Scripted(lambda request: response(request, 200, io.BytesIO(padded)))
    # WHEN the day is fetched  THEN it is accepted
    assert client(adapter).reporting_events(ACCOUNT, WINDOW).meta_count == 0


def test_a_server_that_throttles_for_ever_is_left_at_the_time_limit() -> None:
    # GIVEN a server that answers every request with 429, patience with 429s of a day, and a
    # time limit of 5 minutes
    adapter = Scripted(lambda request: response(request, 429, io.BytesIO(b"Retry later\n")))
    clock = Clock()
    started = clock()
    patient = RetryPolicy(throttle_patience=86_400.0)
    # WHEN the day is fetched
    with pytest.raises(DeadlineExceeded) as caught:
        client(adapter, clock, retry=patient, max_seconds=300.0).reporting_events(ACCOUNT, WINDOW)
    # THEN it gave up at the limit (give or take one pause of the pacer) with one line
    assert 300.0 <= clock() - started < 330.0
    assert str(caught.value) == (
        "gave up on account 7 at https://chat.example after 300 s, the time limit of one run: "
        "Chatwoot answered too slowly or not at all; try again later"
    )


def test_a_time_limit_that_is_not_positive_is_refused() -> None:
    # GIVEN a limit of 0 s  WHEN a client is made  THEN it says what is wrong
    with pytest.raises(ValueError, match="max_seconds"):
        client(Scripted(page(0, 0)), max_seconds=0)
