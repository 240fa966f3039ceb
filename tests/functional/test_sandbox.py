"""The sandbox answers like Chatwoot 4.15, over real sockets with plain ``requests``.

Expected values come from the seeded dataset through small reference computations here (parsing
``created_at`` with the standard library, hand-worked window bounds), never from the server.
"""

from __future__ import annotations

import itertools
import json
import math
import re
import statistics
import threading
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests

from sla_digest.exceptions import ConfigError
from sla_digest_cli.sandbox.server import SandboxOptions, SandboxServer, serve

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

# 2026-11-20 in Europe/Berlin (UTC+1 in November): 2026-11-19T23:00Z to 2026-11-20T23:00Z.
SINCE = 1_795_129_200
UNTIL = 1_795_215_600
DAY = 86_400
EVENT_KEYS = [
    "id",
    "name",
    "value",
    "value_in_business_hours",
    "event_start_time",
    "event_end_time",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "updated_at",
]
KNOWN_NAMES = {
    "first_response",
    "reply_time",
    "conversation_resolved",
    "conversation_bot_resolved",
    "conversation_bot_handoff",
    "conversation_opened",
    "conversation_captain_inference_resolved",
    "conversation_captain_inference_handoff",
}
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")


@pytest.fixture
def http() -> Iterator[requests.Session]:
    with requests.Session() as session:
        yield session


def created(row: dict[str, Any]) -> float:
    return datetime.fromisoformat(row["created_at"]).timestamp()


def in_window(rows: list[dict[str, Any]], since: float, until: float) -> list[dict[str, Any]]:
    return [row for row in rows if since <= created(row) < until]


def events_url(server: SandboxServer, account: int | str | None = None) -> str:
    account = server.options.account_id if account is None else account
    return f"{server.base_url}/api/v1/accounts/{account}/reporting_events"


def admin(server: SandboxServer) -> dict[str, str]:
    return {"api_access_token": server.options.admin_token}


def get_page(http: requests.Session, server: SandboxServer, **params: Any) -> dict[str, Any]:
    response = http.get(events_url(server), params=params, headers=admin(server), timeout=10)
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def fetch_all(http: requests.Session, server: SandboxServer, **params: Any) -> list[dict[str, Any]]:
    first = get_page(http, server, page=1, **params)
    rows = list(first["payload"])
    for page in range(2, first["meta"]["total_pages"] + 1):
        rows += get_page(http, server, page=page, **params)["payload"]
    return rows


# --------------------------------------------------------------------------- authentication


def test_an_unknown_token_is_refused_with_invalid_access_token(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a token Chatwoot does not know
    # WHEN it asks for reporting events
    response = http.get(events_url(sandbox), headers={"api_access_token": "nope"}, timeout=10)
    # THEN the answer is 401 with Chatwoot's message
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Access Token"}


def test_a_request_without_a_token_is_refused_like_an_unknown_token(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN no api_access_token header at all
    # WHEN reporting events are requested
    response = http.get(events_url(sandbox), timeout=10)
    # THEN it is the same 401
    assert response.status_code == 401
    assert response.json() == {"error": "Invalid Access Token"}


def test_an_agent_token_may_not_read_reporting_events(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the token of an agent who is not an administrator
    headers = {"api_access_token": sandbox.options.agent_token}
    # WHEN it asks for reporting events
    response = http.get(events_url(sandbox), headers=headers, timeout=10)
    # THEN Pundit's refusal comes back as 401
    assert response.status_code == 401
    assert response.json() == {"error": "You are not authorized to do this action"}


def test_an_agent_token_may_list_the_agents(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN the token of an agent
    headers = {"api_access_token": sandbox.options.agent_token}
    # WHEN it lists the account's agents
    response = http.get(f"{sandbox.base_url}/api/v1/accounts/7/agents", headers=headers, timeout=10)
    # THEN that is allowed
    assert response.status_code == 200


def test_a_user_of_another_account_is_refused_access_to_this_account(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a valid token of a user who is not a member of account 7
    headers = {"api_access_token": sandbox.options.other_account_token}
    # WHEN it asks for account 7's events
    response = http.get(events_url(sandbox), headers=headers, timeout=10)
    # THEN the answer names the account
    assert response.status_code == 401
    assert response.json() == {"error": "You are not authorized to access this account"}


def test_a_suspended_account_is_refused_even_to_its_administrator(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a suspended account
    server = sandbox_factory(suspended=True, events=30)
    # WHEN its administrator asks for events
    response = http.get(events_url(server), headers=admin(server), timeout=10)
    # THEN the account's suspension is the reason
    assert response.status_code == 401
    assert response.json() == {"error": "Account is suspended"}


def test_a_bot_token_is_refused_on_the_reporting_endpoint(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN an agent-bot token
    headers = {"api_access_token": sandbox.options.bot_token}
    # WHEN it asks for reporting events
    response = http.get(events_url(sandbox), headers=headers, timeout=10)
    # THEN bots are refused by name
    assert response.status_code == 401
    assert response.json() == {"error": "Access to this endpoint is not authorized for bots"}


@pytest.mark.parametrize("account", ["8", "abc"])
def test_an_unknown_account_is_not_found(
    sandbox: SandboxServer, http: requests.Session, account: str
) -> None:
    # GIVEN an administrator token and an account id that does not exist
    # WHEN that account's events are requested
    response = http.get(events_url(sandbox, account), headers=admin(sandbox), timeout=10)
    # THEN the answer is Chatwoot's JSON 404
    assert response.status_code == 404
    assert response.json() == {"error": "Resource could not be found"}


def test_before_4_8_reporting_events_is_an_html_404(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a Chatwoot 4.7, which has no reporting-events route
    server = sandbox_factory(version="4.7", events=30)
    # WHEN an administrator asks for reporting events
    response = http.get(events_url(server), headers=admin(server), timeout=10)
    # THEN Rails answers with its HTML not-found page
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<html>" in response.text


def test_before_4_8_the_other_endpoints_still_answer(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a Chatwoot 4.7
    server = sandbox_factory(version="4.7", events=30)
    # WHEN an administrator lists the inboxes
    response = http.get(
        f"{server.base_url}/api/v1/accounts/7/inboxes", headers=admin(server), timeout=10
    )
    # THEN they come back as usual
    assert response.status_code == 200
    assert len(response.json()["payload"]) == len(server.dataset.inboxes)


# --------------------------------------------------------------------------- reporting events


def test_a_window_returns_exactly_the_rows_created_inside_it(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the report day's bounds, worked out by hand
    expected = {row["id"] for row in in_window(sandbox.dataset.events, SINCE, UNTIL)}
    # WHEN every page of that window is fetched
    rows = fetch_all(http, sandbox, since=SINCE, until=UNTIL)
    # THEN the pages hold exactly the seeded day: the configured 600 rows, none twice
    assert len(expected) == sandbox.options.events
    assert len(rows) == len(expected)
    assert {row["id"] for row in rows} == expected


def test_meta_counts_the_window_and_its_pages_of_25(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a day of 600 rows
    # WHEN page 3 is requested
    document = get_page(http, sandbox, since=SINCE, until=UNTIL, page=3)
    # THEN meta counts all rows, pages of 25, and page 3 is full
    assert document["meta"] == {"count": 600, "current_page": 3, "total_pages": 24}
    assert len(document["payload"]) == 25


def test_a_row_created_exactly_at_since_is_included(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a seeded row created at exactly since
    at_since = [row["id"] for row in sandbox.dataset.events if created(row) == SINCE]
    assert at_since
    # WHEN the window is fetched
    ids = {row["id"] for row in fetch_all(http, sandbox, since=SINCE, until=UNTIL)}
    # THEN that row is in it
    assert set(at_since) <= ids


def test_a_row_created_exactly_at_until_is_excluded(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a seeded row created at exactly until (the next day's first)
    at_until = [row["id"] for row in sandbox.dataset.events if created(row) == UNTIL]
    assert at_until
    # WHEN the window is fetched
    ids = {row["id"] for row in fetch_all(http, sandbox, since=SINCE, until=UNTIL)}
    # THEN that row is not in it
    assert not set(at_until) & ids


@pytest.mark.parametrize("params", [{}, {"since": SINCE}, {"until": UNTIL}, {"since": ""}])
def test_without_both_bounds_no_date_filter_is_applied(
    sandbox: SandboxServer, http: requests.Session, params: dict[str, Any]
) -> None:
    # GIVEN a query that lacks since or until (or leaves one blank)
    # WHEN page 1 is requested
    document = get_page(http, sandbox, **params)
    # THEN every event of the account counts: all three seeded days
    assert document["meta"]["count"] == len(sandbox.dataset.events)


def test_a_non_numeric_since_is_a_server_error(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN since that is not epoch seconds
    params = {"since": "2026-11-20", "until": UNTIL}
    # WHEN events are requested
    response = http.get(events_url(sandbox), params=params, headers=admin(sandbox), timeout=10)
    # THEN Chatwoot fails with 500 (DateTime.strptime raises)
    assert response.status_code == 500


@pytest.mark.parametrize(("page", "echoed"), [("0", 0), ("-3", -3), ("abc", 0), ("", 0), (" 1", 1)])
def test_pages_below_one_or_not_numbers_return_page_one_and_echo_the_parsed_number(
    sandbox: SandboxServer, http: requests.Session, page: str, echoed: int
) -> None:
    # GIVEN page 1 as the reference
    reference = get_page(http, sandbox, since=SINCE, until=UNTIL, page=1)
    # WHEN an odd page value is sent
    document = get_page(http, sandbox, since=SINCE, until=UNTIL, page=page)
    # THEN the rows are page 1's and current_page is Ruby's to_i of the value
    assert document["payload"] == reference["payload"]
    assert document["meta"]["current_page"] == echoed


def test_a_page_with_trailing_garbage_is_read_like_ruby_to_i(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN page 2 as the reference
    reference = get_page(http, sandbox, since=SINCE, until=UNTIL, page=2)
    # WHEN page "2abc" is asked for
    document = get_page(http, sandbox, since=SINCE, until=UNTIL, page="2abc")
    # THEN it is page 2
    assert document["payload"] == reference["payload"]
    assert document["meta"]["current_page"] == 2


def test_a_page_past_the_end_is_empty_but_keeps_the_count(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a day of 24 pages
    # WHEN page 25 is requested
    document = get_page(http, sandbox, since=SINCE, until=UNTIL, page=25)
    # THEN the payload is empty and meta is unchanged
    assert document["payload"] == []
    assert document["meta"] == {"count": 600, "current_page": 25, "total_pages": 24}


def test_an_empty_window_has_zero_pages(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN a window long before any seeded row
    # WHEN it is requested
    document = get_page(http, sandbox, since=SINCE - 400 * DAY, until=SINCE - 399 * DAY)
    # THEN there are no rows and total_pages is 0, not 1
    assert document == {"payload": [], "meta": {"count": 0, "current_page": 1, "total_pages": 0}}


def test_rows_come_newest_first_across_pages(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the whole report day, page by page
    rows = fetch_all(http, sandbox, since=SINCE, until=UNTIL)
    # WHEN their creation times are read in order
    times = [created(row) for row in rows]
    # THEN they never increase
    assert times == sorted(times, reverse=True)


def test_event_keys_come_in_chatwoots_order(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN page 1 of the report day
    response = http.get(
        events_url(sandbox),
        params={"since": SINCE, "until": UNTIL},
        headers=admin(sandbox),
        timeout=10,
    )
    # WHEN the body is decoded into ordered (key, value) pairs
    document = dict(json.loads(response.text, object_pairs_hook=list))
    rows = document["payload"]
    # THEN every row lists its keys in the documented order
    assert rows
    assert all([key for key, _ in row] == EVENT_KEYS for row in rows)


def test_times_are_utc_with_milliseconds_and_values_are_floats(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the whole report day
    rows = fetch_all(http, sandbox, since=SINCE, until=UNTIL)
    # WHEN the times and values are inspected
    stamps = [row[key] for row in rows for key in ("created_at", "updated_at", "event_end_time")]
    values = [row["value"] for row in rows]
    business = [row["value_in_business_hours"] for row in rows]
    # THEN times are ISO-8601 UTC with milliseconds and the values are JSON floats or null
    assert all(TIMESTAMP.match(stamp) for stamp in stamps)
    assert all(isinstance(value, float) for value in values)
    assert all(value is None or isinstance(value, float) for value in business)


@pytest.mark.parametrize(
    ("param", "value", "key"),
    [
        ("inbox_id", "3", "inbox_id"),
        ("user_id", "6", "user_id"),
        ("name", "first_response", "name"),
        ("event_name", "reply_time", "name"),
    ],
)
def test_a_filter_keeps_exact_matches_only(
    sandbox: SandboxServer, http: requests.Session, param: str, value: str, key: str
) -> None:
    # GIVEN the rows of the day whose field equals the filter value
    wanted = value if key == "name" else int(value)
    expected = {
        row["id"] for row in in_window(sandbox.dataset.events, SINCE, UNTIL) if row[key] == wanted
    }
    # WHEN the day is fetched with that filter
    rows = fetch_all(http, sandbox, since=SINCE, until=UNTIL, **{param: value})
    # THEN exactly those rows come back
    assert expected
    assert {row["id"] for row in rows} == expected


def test_a_non_numeric_id_filter_matches_nothing(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN inbox_id=abc, which Rails casts to 0
    # WHEN the day is requested
    document = get_page(http, sandbox, since=SINCE, until=UNTIL, inbox_id="abc")
    # THEN no row matches
    assert document["meta"]["count"] == 0


def test_equal_timestamps_straddle_the_first_page_boundary(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN pages 1 and 2 of the report day
    first = get_page(http, sandbox, since=SINCE, until=UNTIL, page=1)["payload"]
    second = get_page(http, sandbox, since=SINCE, until=UNTIL, page=2)["payload"]
    # WHEN the rows on either side of the boundary are compared
    # THEN they share a created_at, so offset paging can repeat or skip them
    assert first[-1]["created_at"] == second[0]["created_at"]


def test_without_shuffling_repeated_requests_agree(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the default sandbox, which keeps a fixed order for ties
    # WHEN page 1 is requested twice
    once = get_page(http, sandbox, since=SINCE, until=UNTIL, page=1)
    twice = get_page(http, sandbox, since=SINCE, until=UNTIL, page=1)
    # THEN both answers are identical
    assert once == twice


def test_shuffled_ties_move_between_two_consecutive_requests(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a sandbox that reorders rows with equal created_at on every request
    server = sandbox_factory(shuffle_ties=True)
    # WHEN page 1 is requested twice in a row
    once = get_page(http, server, since=SINCE, until=UNTIL, page=1)["payload"]
    twice = get_page(http, server, since=SINCE, until=UNTIL, page=1)["payload"]
    # THEN the tied rows across the boundary changed places (a different row is last) while
    # the order by created_at still holds
    assert once[-1]["id"] != twice[-1]["id"]
    assert once[-1]["created_at"] == twice[-1]["created_at"]
    assert [row["created_at"] for row in once] == [row["created_at"] for row in twice]


def test_shuffled_ties_make_offset_paging_repeat_and_skip_rows(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN shuffled ties
    server = sandbox_factory(shuffle_ties=True)
    # WHEN every page is fetched once
    rows = fetch_all(http, server, since=SINCE, until=UNTIL)
    # THEN some row came twice and so some row never came: the hazard the client must handle
    ids = [row["id"] for row in rows]
    assert len(ids) == 600
    assert len(set(ids)) < len(ids)


# --------------------------------------------------------------------------- other endpoints


def test_agents_are_a_bare_array_without_the_departed_agent(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN an account with an agent who has left (their rows remain)
    departed = set(sandbox.dataset.departed_agent_ids)
    # WHEN the agents are listed
    agents = http.get(
        f"{sandbox.base_url}/api/v1/accounts/7/agents", headers=admin(sandbox), timeout=10
    ).json()
    # THEN the list is a bare array of current agents only
    assert isinstance(agents, list)
    assert {"id", "name", "available_name", "email", "role"} <= set(agents[0])
    assert departed
    assert not departed & {agent["id"] for agent in agents}


def test_inboxes_come_in_a_payload_with_working_hours_and_time_zone(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the seeded inboxes
    # WHEN they are listed
    body = http.get(
        f"{sandbox.base_url}/api/v1/accounts/7/inboxes", headers=admin(sandbox), timeout=10
    ).json()
    inboxes = body["payload"]
    # THEN there are four or more, some with working hours and some without, each with a zone
    assert len(inboxes) >= 4
    assert {inbox["working_hours_enabled"] for inbox in inboxes} == {True, False}
    assert all(inbox["timezone"] for inbox in inboxes)


def test_teams_are_a_bare_array(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN the seeded teams
    # WHEN they are listed
    teams = http.get(
        f"{sandbox.base_url}/api/v1/accounts/7/teams", headers=admin(sandbox), timeout=10
    ).json()
    # THEN the answer is an array of teams
    assert isinstance(teams, list)
    assert {"id", "name", "description"} <= set(teams[0])


def test_sla_policies_come_in_a_payload_with_thresholds_in_seconds(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the seeded SLA policies
    # WHEN they are listed
    body = http.get(
        f"{sandbox.base_url}/api/v1/accounts/7/sla_policies", headers=admin(sandbox), timeout=10
    ).json()
    standard = next(policy for policy in body["payload"] if policy["name"] == "Standard")
    # THEN the thresholds are seconds
    assert standard["first_response_time_threshold"] == 30 * 60
    assert standard["next_response_time_threshold"] == 60 * 60
    assert standard["resolution_time_threshold"] == 24 * 60 * 60


def test_an_unknown_route_is_an_html_404(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN a path Chatwoot has no route for
    # WHEN it is requested
    response = http.get(
        f"{sandbox.base_url}/api/v1/accounts/7/nothing", headers=admin(sandbox), timeout=10
    )
    # THEN the answer is the HTML 404
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/html")


# --------------------------------------------------------------------------- v2 summary


def summary(http: requests.Session, server: SandboxServer, **params: Any) -> dict[str, Any]:
    response = http.get(
        f"{server.base_url}/api/v2/accounts/7/reports/summary",
        params=params,
        headers=admin(server),
        timeout=10,
    )
    assert response.status_code == 200, response.text
    document: dict[str, Any] = response.json()
    return document


def reference_mean(rows: list[dict[str, Any]], name: str, column: str) -> float:
    values = [row[column] for row in rows if row["name"] == name and row[column] is not None]
    return statistics.fmean(values)


def test_the_summary_means_are_plain_means_of_the_days_rows(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the report day's rows, averaged here
    rows = in_window(sandbox.dataset.events, SINCE, UNTIL)
    # WHEN Chatwoot's summary for the day is requested
    document = summary(http, sandbox, since=SINCE, until=UNTIL, business_hours="false")
    # THEN its averages and resolution count are those of the rows
    assert document["avg_first_response_time"] == pytest.approx(
        reference_mean(rows, "first_response", "value"), rel=1e-12
    )
    assert document["avg_resolution_time"] == pytest.approx(
        reference_mean(rows, "conversation_resolved", "value"), rel=1e-12
    )
    assert document["avg_reply_time"] == pytest.approx(
        reference_mean(rows, "reply_time", "value"), rel=1e-12
    )
    assert document["resolutions_count"] == sum(
        row["name"] == "conversation_resolved" for row in rows
    )


def test_the_business_hours_summary_averages_business_values_skipping_nulls(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the report day's business-hours values, averaged here
    rows = in_window(sandbox.dataset.events, SINCE, UNTIL)
    column = "value_in_business_hours"
    # WHEN the summary is requested in business hours
    document = summary(http, sandbox, since=SINCE, until=UNTIL, business_hours="true")
    # THEN it averages value_in_business_hours (zeros included)
    assert document["avg_first_response_time"] == pytest.approx(
        reference_mean(rows, "first_response", column), rel=1e-12
    )
    assert document["avg_resolution_time"] == pytest.approx(
        reference_mean(rows, "conversation_resolved", column), rel=1e-12
    )
    assert document["reply_time"] == pytest.approx(
        reference_mean(rows, "reply_time", column), rel=1e-12
    )


def test_the_summary_previous_block_covers_the_window_just_before(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN the previous day's rows (same length: no DST change on 2026-11-19)
    rows = in_window(sandbox.dataset.events, SINCE - DAY, SINCE)
    # WHEN the summary of the report day is requested
    previous = summary(http, sandbox, since=SINCE, until=UNTIL)["previous"]
    # THEN its previous block is that day's
    assert previous["avg_first_response_time"] == pytest.approx(
        reference_mean(rows, "first_response", "value"), rel=1e-12
    )
    assert previous["resolutions_count"] == sum(
        row["name"] == "conversation_resolved" for row in rows
    )


@pytest.mark.parametrize(
    ("report_type", "key", "report_id"), [("agent", "user_id", 4), ("inbox", "inbox_id", 3)]
)
def test_an_agent_or_inbox_summary_groups_by_that_id(
    sandbox: SandboxServer,
    http: requests.Session,
    report_type: str,
    key: str,
    report_id: int,
) -> None:
    # GIVEN the day's rows of one agent (or inbox)
    rows = [row for row in in_window(sandbox.dataset.events, SINCE, UNTIL) if row[key] == report_id]
    # WHEN its summary is requested
    document = summary(http, sandbox, since=SINCE, until=UNTIL, type=report_type, id=report_id)
    # THEN the means are over its rows only
    assert document["avg_first_response_time"] == pytest.approx(
        reference_mean(rows, "first_response", "value"), rel=1e-12
    )
    assert document["resolutions_count"] == sum(
        row["name"] == "conversation_resolved" for row in rows
    )


def test_the_summary_of_a_departed_agent_is_not_found(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN an agent who has left the account
    departed = sandbox.dataset.departed_agent_ids[0]
    # WHEN their summary is requested
    response = http.get(
        f"{sandbox.base_url}/api/v2/accounts/7/reports/summary",
        params={"since": SINCE, "until": UNTIL, "type": "agent", "id": departed},
        headers=admin(sandbox),
        timeout=10,
    )
    # THEN Chatwoot cannot find the user
    assert response.status_code == 404


# --------------------------------------------------------------------------- rate limit


def test_requests_beyond_the_rate_limit_get_a_bare_429(http: requests.Session) -> None:
    # GIVEN a limit of 3 requests per window and a clock that stands still
    options = SandboxOptions(events=30, rate_limit=3, rate_window=1.0)
    with SandboxServer(options, clock=lambda: 1000.5) as server:
        # WHEN a fourth request comes in the same window
        statuses = [
            http.get(events_url(server), headers=admin(server), timeout=10) for _ in range(4)
        ]
    # THEN it is refused like Rack::Attack does: text/plain "Retry later", no Retry-After
    throttled = statuses[-1]
    assert [response.status_code for response in statuses] == [200, 200, 200, 429]
    assert throttled.headers["Content-Type"] == "text/plain"
    assert throttled.text == "Retry later\n"
    assert "Retry-After" not in throttled.headers
    assert server.stats.throttled == 1


def test_the_rate_limit_counts_again_in_the_next_window(http: requests.Session) -> None:
    # GIVEN a limit of 1 request per 2-second window and a clock the test moves
    now = [10.0]
    options = SandboxOptions(events=30, rate_limit=1, rate_window=2.0)
    with SandboxServer(options, clock=lambda: now[0]) as server:
        first = http.get(events_url(server), headers=admin(server), timeout=10)
        second = http.get(events_url(server), headers=admin(server), timeout=10)
        # WHEN the clock enters the next window
        now[0] = 12.0
        third = http.get(events_url(server), headers=admin(server), timeout=10)
    # THEN the first request of the new window passes again
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)


def test_the_rate_limit_counts_every_endpoint(http: requests.Session) -> None:
    # GIVEN a limit of 2 requests per window
    options = SandboxOptions(events=30, rate_limit=2)
    with SandboxServer(options, clock=lambda: 5.0) as server:
        # WHEN two requests go to other endpoints first
        for endpoint in ("agents", "inboxes"):
            http.get(
                f"{server.base_url}/api/v1/accounts/7/{endpoint}", headers=admin(server), timeout=10
            )
        response = http.get(events_url(server), headers=admin(server), timeout=10)
    # THEN the reporting request is over the limit
    assert response.status_code == 429


# --------------------------------------------------------------------------- HTTP behaviour


def test_a_session_reuses_one_keep_alive_connection(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN one requests session
    # WHEN it sends five requests one after another
    for page in range(1, 6):
        get_page(http, sandbox, since=SINCE, until=UNTIL, page=page)
    # THEN the server accepted a single connection
    assert sandbox.stats.connections == 1
    assert sandbox.stats.requests == 5


@pytest.mark.parametrize("token_kind", ["admin", "unknown"], ids=["success", "error"])
def test_every_answer_carries_a_content_length(
    sandbox: SandboxServer, http: requests.Session, token_kind: str
) -> None:
    # GIVEN a successful and a refused request
    token = sandbox.options.admin_token if token_kind == "admin" else "unknown"
    # WHEN the response arrives
    response = http.get(events_url(sandbox), headers={"api_access_token": token}, timeout=10)
    # THEN its length is announced, as keep-alive requires
    assert int(response.headers["Content-Length"]) == len(response.content)


def test_concurrent_requests_are_served_at_the_same_time(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN 0.3 s of latency per answer
    server = sandbox_factory(latency=0.3, events=100)
    barrier = threading.Barrier(4)

    def fetch(page: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            get_page(session, server, since=SINCE, until=UNTIL, page=page)

    # WHEN four clients ask at once
    started = time.monotonic()
    workers = [threading.Thread(target=fetch, args=(page,)) for page in range(1, 5)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.monotonic() - started
    # THEN their requests overlapped instead of queueing (serially it would take 1.2 s)
    assert server.stats.max_in_flight >= 2
    assert elapsed < 4 * 0.3


def test_latency_is_added_to_every_answer(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN 0.2 s of latency
    server = sandbox_factory(latency=0.2, events=30)
    # WHEN one request is timed
    started = time.monotonic()
    http.get(f"{server.base_url}/api/v1/accounts/7/agents", headers=admin(server), timeout=10)
    # THEN it took at least that long
    assert time.monotonic() - started >= 0.2


def test_stop_ends_idle_keep_alive_connections_and_their_threads() -> None:
    # GIVEN a server with a client that keeps its connection open
    before = set(threading.enumerate())
    server = SandboxServer(SandboxOptions(events=30)).start()
    session = requests.Session()
    session.get(f"{server.base_url}/api/v1/accounts/7/teams", headers=admin(server), timeout=10)
    # WHEN the server is stopped
    started = time.monotonic()
    server.stop()
    elapsed = time.monotonic() - started
    session.close()
    # THEN it stops promptly and leaves no thread behind
    assert elapsed < 5
    assert [thread for thread in threading.enumerate() if thread not in before] == []


def test_stop_interrupts_a_stalled_answer(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a request stalled for a minute
    server = sandbox_factory(events=30, stall_seconds=60.0)
    server.queue_faults("stall")
    with pytest.raises(requests.exceptions.ReadTimeout):
        http.get(events_url(server), headers=admin(server), timeout=0.3)
    # WHEN the server is stopped
    started = time.monotonic()
    server.stop()
    # THEN it does not wait for the stall to end
    assert time.monotonic() - started < 10


# --------------------------------------------------------------------------- faults


@pytest.mark.parametrize(
    ("fault", "status", "content_type"),
    [
        ("500", 500, "application/json"),
        ("502", 502, "text/html"),
        ("503", 503, "text/html"),
        ("504", 504, "text/html"),
        ("429", 429, "text/plain"),
        ("html200", 200, "text/html"),
    ],
)
def test_a_queued_fault_answers_the_next_reporting_request(
    sandbox: SandboxServer, http: requests.Session, fault: str, status: int, content_type: str
) -> None:
    # GIVEN a fault queued for the next reporting request
    sandbox.queue_faults(fault)
    # WHEN events are requested
    response = http.get(events_url(sandbox), headers=admin(sandbox), timeout=10)
    # THEN the fault's status and content type come back
    assert response.status_code == status
    assert response.headers["Content-Type"].startswith(content_type)
    assert sandbox.stats.faults == {fault: 1}


def test_a_truncated_answer_is_cut_json_with_a_matching_length(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a truncation queued
    sandbox.queue_faults("truncated")
    # WHEN events are requested
    response = http.get(events_url(sandbox), headers=admin(sandbox), timeout=10)
    # THEN the status is 200 but the body is not JSON
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_a_reset_fault_drops_the_connection(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN a reset queued
    sandbox.queue_faults("reset")
    # WHEN events are requested
    # THEN the client sees a connection error, not a response
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(events_url(sandbox), headers=admin(sandbox), timeout=10)


def test_a_cut_answer_ends_before_its_announced_length(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a cut answer queued
    sandbox.queue_faults("cut")
    # WHEN events are requested
    # THEN reading the body fails
    with pytest.raises(
        (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)
    ):
        http.get(events_url(sandbox), headers=admin(sandbox), timeout=10)


def test_the_session_recovers_after_a_fault(sandbox: SandboxServer, http: requests.Session) -> None:
    # GIVEN a reset that killed the pooled connection
    sandbox.queue_faults("reset")
    with pytest.raises(requests.exceptions.ConnectionError):
        http.get(events_url(sandbox), headers=admin(sandbox), timeout=10)
    # WHEN the same session asks again
    response = http.get(events_url(sandbox), headers=admin(sandbox), timeout=10)
    # THEN the answer is normal
    assert response.status_code == 200


def test_a_fault_rate_of_one_faults_every_reporting_request(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN every reporting request faulting with 503
    server = sandbox_factory(events=30, fault_rate=1.0, faults=("503",))
    # WHEN events are requested three times, and the agents once
    statuses = [
        http.get(events_url(server), headers=admin(server), timeout=10).status_code
        for _ in range(3)
    ]
    agents = http.get(
        f"{server.base_url}/api/v1/accounts/7/agents", headers=admin(server), timeout=10
    )
    # THEN each reporting request failed and the other endpoint did not
    assert statuses == [503, 503, 503]
    assert agents.status_code == 200


def test_a_partial_fault_rate_faults_some_requests_only(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN half of the reporting requests faulting with 500
    server = sandbox_factory(events=30, fault_rate=0.5, faults=("500",))
    # WHEN 40 requests are sent
    statuses = [
        http.get(events_url(server), headers=admin(server), timeout=10).status_code
        for _ in range(40)
    ]
    # THEN both outcomes occur (the seeded draw makes this deterministic)
    assert set(statuses) == {200, 500}


def test_an_unknown_fault_kind_is_a_config_error() -> None:
    # GIVEN a fault kind the sandbox does not know
    # WHEN options are built with it
    # THEN the error names it
    with pytest.raises(ConfigError, match="teapot"):
        SandboxOptions(faults=("teapot",))


# --------------------------------------------------------------------------- data changes


def test_the_hook_sees_every_reporting_page_number(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a hook recording page numbers
    seen: list[int] = []
    sandbox.on_reporting_request = seen.append
    # WHEN pages 1, 2 and 0 are requested
    for page in (1, 2, 0):
        get_page(http, sandbox, since=SINCE, until=UNTIL, page=page)
    # THEN the hook saw the pages served (0 reads as 1)
    assert seen == [1, 2, 1]


def test_a_row_deleted_between_pages_shifts_the_next_page(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN pages 1 and 2 as they are now
    before = get_page(http, sandbox, since=SINCE, until=UNTIL, page=1)["payload"]
    before += get_page(http, sandbox, since=SINCE, until=UNTIL, page=2)["payload"]
    doomed = before[0]["id"]

    def delete_on_page_two(page: int) -> None:
        if page == 2:
            sandbox.delete_events([doomed])

    sandbox.on_reporting_request = delete_on_page_two
    # WHEN page 2 is requested and a row of page 1 is deleted just before it is answered
    after = get_page(http, sandbox, since=SINCE, until=UNTIL, page=2)
    # THEN every row moved up one place: page 2 starts with the row that was 27th
    assert after["meta"]["count"] == 599
    assert after["payload"][0]["id"] == before[26]["id"]


def test_added_rows_are_served_in_their_place(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN a new row created one second before the end of the day
    new_id = max(row["id"] for row in sandbox.dataset.events) + 1
    sandbox.add_events(
        [
            {
                "id": new_id,
                "name": "first_response",
                "value": 60.0,
                "value_in_business_hours": 0.0,
                "event_start_time": "2026-11-20T22:58:59.000Z",
                "event_end_time": "2026-11-20T22:59:59.000Z",
                "inbox_id": 3,
                "user_id": 4,
                "conversation_id": 1,
                "created_at": "2026-11-20T22:59:59.000Z",
            }
        ]
    )
    # WHEN page 1 is requested
    document = get_page(http, sandbox, since=SINCE, until=UNTIL, page=1)
    # THEN the count grew and the row is second (only the 23:59:59.999 row is newer)
    assert document["meta"]["count"] == 601
    assert document["payload"][1]["id"] == new_id
    assert list(document["payload"][1]) == EVENT_KEYS


# --------------------------------------------------------------------------- seeded data


@pytest.fixture
def report_day(sandbox: SandboxServer, http: requests.Session) -> list[dict[str, Any]]:
    return fetch_all(http, sandbox, since=SINCE, until=UNTIL)


def test_the_day_holds_every_event_name_and_an_unknown_one(
    report_day: list[dict[str, Any]],
) -> None:
    # GIVEN the served report day
    # WHEN its names are collected
    names = {row["name"] for row in report_day}
    # THEN all eight documented names occur, plus at least one name nobody documented
    assert names >= KNOWN_NAMES
    assert names - KNOWN_NAMES


def test_the_day_holds_rows_of_an_agent_who_left(
    sandbox: SandboxServer, report_day: list[dict[str, Any]]
) -> None:
    # GIVEN the current agents
    current = {agent["id"] for agent in sandbox.dataset.agents}
    # WHEN the day's user ids are compared with them
    strangers = {row["user_id"] for row in report_day} - current - {None}
    # THEN some rows belong to someone no longer listed
    assert strangers


def test_the_day_holds_rows_without_user_and_without_inbox(
    report_day: list[dict[str, Any]],
) -> None:
    # GIVEN the served report day
    # WHEN null ids are looked for
    # THEN both kinds occur
    assert any(row["user_id"] is None for row in report_day)
    assert any(row["inbox_id"] is None for row in report_day)


def test_the_day_holds_one_negative_value(report_day: list[dict[str, Any]]) -> None:
    # GIVEN the served report day
    # WHEN negative values are counted
    negatives = [row for row in report_day if row["value"] < 0]
    # THEN exactly one is there, for the client to ignore
    assert len(negatives) == 1


def test_captain_rows_have_no_business_hours_value(report_day: list[dict[str, Any]]) -> None:
    # GIVEN the Captain rows of the day
    captain = [row for row in report_day if row["name"].startswith("conversation_captain")]
    # WHEN their business-hours values are read
    # THEN all are null
    assert captain
    assert all(row["value_in_business_hours"] is None for row in captain)


def test_business_values_follow_each_inboxs_working_hours(
    sandbox: SandboxServer, report_day: list[dict[str, Any]]
) -> None:
    # GIVEN which inboxes keep working hours
    with_hours = {i["id"] for i in sandbox.dataset.inboxes if i["working_hours_enabled"]}
    without = {i["id"] for i in sandbox.dataset.inboxes if not i["working_hours_enabled"]}
    measured = [row for row in report_day if row["value_in_business_hours"] is not None]
    # WHEN business values are compared with calendar values
    # THEN inboxes without hours write 0, and inboxes with hours have some below the value
    assert all(
        row["value_in_business_hours"] == 0.0 for row in measured if row["inbox_id"] in without
    )
    assert any(
        row["value_in_business_hours"] < row["value"]
        for row in measured
        if row["inbox_id"] in with_hours and row["value"] > 0
    )
    assert all(row["value_in_business_hours"] <= max(row["value"], 0.0) for row in measured)


def test_many_rows_share_a_created_at(report_day: list[dict[str, Any]]) -> None:
    # GIVEN the served report day
    # WHEN neighbouring rows with equal created_at are counted
    ties = sum(a["created_at"] == b["created_at"] for a, b in itertools.pairwise(report_day))
    # THEN there are many
    assert ties >= 20


def test_ids_are_not_in_created_at_order(report_day: list[dict[str, Any]]) -> None:
    # GIVEN the day newest first
    ids = [row["id"] for row in report_day]
    # WHEN ids are checked for descending order
    # THEN they are not: ids follow the real moment, created_at follows the background job
    assert ids != sorted(ids, reverse=True)


def test_the_previous_day_has_a_similar_volume_and_the_next_day_a_few_rows(
    sandbox: SandboxServer,
) -> None:
    # GIVEN the seeded events of all days
    events = sandbox.dataset.events
    # WHEN they are counted per day
    previous = len(in_window(events, SINCE - DAY, SINCE))
    following = len(in_window(events, UNTIL, UNTIL + DAY))
    # THEN the previous day is within 20 % of the report day, and a few rows follow it
    assert 0.8 * 600 <= previous <= 1.2 * 600
    assert 1 <= following <= 10
    assert previous + 600 + following == len(events)


def test_the_same_seed_gives_the_same_data_and_another_seed_other_data() -> None:
    # GIVEN three sandboxes, two with the same seed
    first = SandboxServer(SandboxOptions(seed=3, events=50)).dataset.events
    again = SandboxServer(SandboxOptions(seed=3, events=50)).dataset.events
    other = SandboxServer(SandboxOptions(seed=4, events=50)).dataset.events
    # WHEN their events are compared
    # THEN the seed alone decides the data
    assert first == again
    assert first != other


def test_values_look_like_support_work(report_day: list[dict[str, Any]]) -> None:
    # GIVEN the day's durations
    def median(name: str) -> float:
        return statistics.median(row["value"] for row in report_day if row["name"] == name)

    # WHEN their medians are taken
    # THEN first responses take minutes and resolutions hours
    assert 60 <= median("first_response") <= 30 * 60
    assert 3600 <= median("conversation_resolved") <= 24 * 3600


def test_a_day_without_events_still_serves_its_neighbours(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a sandbox whose report day is empty
    server = sandbox_factory(events=0)
    # WHEN the report day is requested
    document = get_page(http, server, since=SINCE, until=UNTIL)
    # THEN it has no rows and no pages
    assert document["meta"] == {"count": 0, "current_page": 1, "total_pages": 0}


@pytest.mark.slow
def test_a_day_of_100000_events_is_generated_quickly_and_paged_in_constant_time(
    http: requests.Session,
) -> None:
    # GIVEN 100,000 events in the report day
    started = time.monotonic()
    server = SandboxServer(SandboxOptions(events=100_000)).start()
    generated = time.monotonic() - started
    try:
        pages = math.ceil(100_000 / 25)

        def timed(page: int) -> float:
            begin = time.perf_counter()
            get_page(http, server, since=SINCE, until=UNTIL, page=page)
            return time.perf_counter() - begin

        # WHEN the first and the last page are each fetched a few times
        timed(1)
        first = min(timed(1) for _ in range(5))
        last = min(timed(pages) for _ in range(5))
    finally:
        server.stop()
    # THEN generation took seconds at most and the last page costs about what the first does
    assert generated < 6
    assert last < max(5 * first, 0.05)


# --------------------------------------------------------------------------- serve and stats


def test_serve_reports_its_address_and_answers_until_stopped(http: requests.Session) -> None:
    # GIVEN serve() running in a thread with a stop event
    urls: list[str] = []
    ready = threading.Event()
    stop = threading.Event()

    def announce(url: str) -> None:
        urls.append(url)
        ready.set()

    runner = threading.Thread(
        target=serve, args=(SandboxOptions(events=30),), kwargs={"ready": announce, "stop": stop}
    )
    runner.start()
    try:
        assert ready.wait(10)
        # WHEN the announced address is asked for the teams
        response = http.get(
            f"{urls[0]}/api/v1/accounts/7/teams",
            headers={"api_access_token": SandboxOptions().admin_token},
            timeout=10,
        )
    finally:
        stop.set()
        runner.join(10)
    # THEN it answered on loopback and serve() returned once stopped
    assert urls[0].startswith("http://127.0.0.1:")
    assert response.status_code == 200
    assert not runner.is_alive()


def test_a_stalled_answer_arrives_after_the_stall(
    sandbox_factory: Callable[..., SandboxServer], http: requests.Session
) -> None:
    # GIVEN a stall of 0.3 s queued
    server = sandbox_factory(events=30, stall_seconds=0.3)
    server.queue_faults("stall")
    # WHEN events are requested with a patient client
    started = time.monotonic()
    response = http.get(events_url(server), headers=admin(server), timeout=10)
    # THEN the normal answer comes, late
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_stats_count_by_status_and_reset_to_zero(
    sandbox: SandboxServer, http: requests.Session
) -> None:
    # GIVEN one successful and one refused reporting request
    get_page(http, sandbox)
    http.get(events_url(sandbox), headers={"api_access_token": "nope"}, timeout=10)
    counted = sandbox.stats.snapshot()
    # WHEN the counters are reset
    sandbox.stats.reset()
    # THEN both requests were counted by status, and afterwards nothing is
    assert counted["by_status"] == {200: 1, 401: 1}
    assert counted["reporting_requests"] == 2
    assert len(counted["request_times"]) == 2
    assert sandbox.stats.snapshot()["requests"] == 0
    assert sandbox.stats.by_status == {}
