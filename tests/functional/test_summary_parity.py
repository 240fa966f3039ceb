"""The summary's means equal the averages of Chatwoot's own summary report.

The rows are fetched from the sandbox with plain ``requests`` paging (no code of ours between
the server and ``classify_rows``); the report comes from the sandbox's
``/api/v2/accounts/{id}/reports/summary``, which averages rows the way Chatwoot does. Both sides
see the same day, so every mean must agree: overall, per inbox and per agent, on the calendar
clock and in business hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest
import requests

from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.config import SlaTargets
from sla_digest.report.summary import build_summary
from sla_digest.window import Window, report_window
from sla_digest_cli.sandbox.server import SandboxOptions, SandboxServer

if TYPE_CHECKING:
    from collections.abc import Iterator

# Chatwoot's report field for each of our duration metrics.
REPORT_FIELDS = {
    "first_response": "avg_first_response_time",
    "reply_time": "avg_reply_time",
    "conversation_resolved": "avg_resolution_time",
}
DAYS = {
    "ordinary-day": SandboxOptions(events=900, seed=3),
    "dst-25h-day": SandboxOptions(events=900, seed=5, day=date(2026, 10, 25)),
}


@dataclass
class Day:
    """One account-day as seen through the API: the summary and a way to ask for reports."""

    server: SandboxServer
    http: requests.Session
    window: Window
    summary: dict[str, Any]

    def get(self, path: str, **params: Any) -> Any:
        response = self.http.get(
            f"{self.server.base_url}{path}",
            params=params,
            headers={"api_access_token": self.server.options.admin_token},
            timeout=10,
        )
        response.raise_for_status()
        return response.json()

    def report(
        self, *, business_hours: bool, kind: str = "account", entity: int | None = None
    ) -> Any:
        params: dict[str, Any] = {
            "since": self.window.since,
            "until": self.window.until,
            "business_hours": "true" if business_hours else "false",
            "type": kind,
        }
        if entity is not None:
            params["id"] = entity
        account = self.server.options.account_id
        return self.get(f"/api/v2/accounts/{account}/reports/summary", **params)


def fetch_rows(day: Day) -> EventSet:
    """Every row of the window, page by page, the way a plain API client would."""
    account = day.server.options.account_id
    path = f"/api/v1/accounts/{account}/reporting_events"
    params = {"since": day.window.since, "until": day.window.until}
    first = day.get(path, page=1, **params)
    events = classify_rows(first["payload"], day.window)
    for page in range(2, first["meta"]["total_pages"] + 1):
        classify_rows(day.get(path, page=page, **params)["payload"], day.window, into=events)
    assert events.unique_rows == first["meta"]["count"]
    return events


@pytest.fixture(scope="module", params=sorted(DAYS), ids=sorted(DAYS))
def day(request: pytest.FixtureRequest) -> Iterator[Day]:
    options = DAYS[request.param]
    window = report_window(options.day, options.timezone, now=datetime(2030, 1, 1, tzinfo=UTC))
    with SandboxServer(options) as server, requests.Session() as http:
        seen = Day(server, http, window, summary={})
        account = options.account_id
        inboxes = seen.get(f"/api/v1/accounts/{account}/inboxes")["payload"]
        agents = seen.get(f"/api/v1/accounts/{account}/agents")
        seen.summary = build_summary(
            account_id=account,
            account_name="Sandbox",
            window=window,
            base_url=server.base_url,
            events=fetch_rows(seen),
            pages=0,
            complete=True,
            targets=SlaTargets(),
            inbox_names={inbox["id"]: inbox["name"] for inbox in inboxes},
            inbox_working_hours={i["id"]: i["working_hours_enabled"] for i in inboxes},
            agent_names={agent["id"]: agent["name"] for agent in agents},
            previous=None,
            generated_at=datetime(2030, 1, 1, tzinfo=UTC),
        ).to_dict()
        yield seen


def our_mean(block: dict[str, Any], metric: str, business_hours: bool) -> float:
    stats = block[metric]["business_hours"] if business_hours else block[metric]
    # Chatwoot reports 0 where there is nothing to average; the summary says null.
    return 0.0 if stats["mean"] is None else stats["mean"]


def assert_same_means(block: dict[str, Any], report: dict[str, Any], business: bool) -> None:
    for metric, field in REPORT_FIELDS.items():
        assert our_mean(block, metric, business) == pytest.approx(report[field], rel=1e-9), metric


@pytest.mark.parametrize("business", [False, True], ids=["calendar", "business-hours"])
def test_overall_means_equal_chatwoots_account_report(day: Day, business: bool) -> None:
    # GIVEN the day's summary / WHEN Chatwoot's account report is asked for the same window
    report = day.report(business_hours=business)
    # THEN first response, reply time and resolution time averages agree
    assert day.summary["overall"]["first_response"]["count"] > 0
    assert_same_means(day.summary["overall"], report, business)


@pytest.mark.parametrize("business", [False, True], ids=["calendar", "business-hours"])
def test_every_inbox_mean_equals_chatwoots_inbox_report(day: Day, business: bool) -> None:
    # GIVEN the inboxes Chatwoot still knows (a null inbox has no report of its own)
    inboxes = [key for key in day.summary["by_inbox"] if key != "none"]
    assert len(inboxes) >= 3
    for key in inboxes:
        # WHEN Chatwoot's report for that inbox is asked for
        report = day.report(business_hours=business, kind="inbox", entity=int(key))
        # THEN its averages are the summary's means for that inbox
        assert_same_means(day.summary["by_inbox"][key], report, business)


@pytest.mark.parametrize("business", [False, True], ids=["calendar", "business-hours"])
def test_every_agent_mean_equals_chatwoots_agent_report(day: Day, business: bool) -> None:
    # GIVEN the agents Chatwoot still lists (departed agents and null assignees have no report)
    agents = [key for key, block in day.summary["by_agent"].items() if block["name"] is not None]
    assert len(agents) >= 3
    for key in agents:
        # WHEN Chatwoot's report for that agent is asked for
        report = day.report(business_hours=business, kind="agent", entity=int(key))
        # THEN its averages are the summary's means for that agent
        assert_same_means(day.summary["by_agent"][key], report, business)


def test_resolutions_count_equals_chatwoots_resolutions_count(day: Day) -> None:
    # GIVEN the day's summary / WHEN Chatwoot's account report is asked for
    report = day.report(business_hours=False)
    # THEN resolutions (conversation_resolved rows, repeats included) agree
    assert day.summary["overall"]["conversation_resolved"]["count"] == report["resolutions_count"]
