"""A week's report from the archive against the sandbox: days read, never fetched twice.

The sandbox serves 19, 20 and (a few rows of) 21 November 2026; the other days of the week of
Monday 16 November are empty but answer like Chatwoot. It counts every ``reporting_events``
request and, here, records the window each one asked for, so a test can see exactly which days
went to Chatwoot. Expected figures come from the sandbox's own rows (its dataset), through the
naive reference of the daily summary's tests.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.archive.report import ReportArchive
from sla_digest.chatwoot.client import ChatwootClient
from sla_digest.chatwoot.events import classify_rows
from sla_digest.config import SlaTargets
from sla_digest.delivery.channel import Receipt
from sla_digest.exceptions import TimeLimitTooShort, VerificationError, WindowError, is_retryable
from sla_digest.jobs.job import DayRequest
from sla_digest.jobs.report import ReportPorts, ReportRequest, run_account_period
from sla_digest.jobs.run import Ports, run_account_day
from sla_digest.report.periods import Period, period_window
from sla_digest_cli.sandbox.server import SandboxOptions, SandboxServer
from tests.unit.test_summary import assert_matches, ref_block, ref_named

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from sla_digest.delivery.channel import Delivery, Message

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
ZONE = "Europe/Berlin"
WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 22))
MONDAY_MORNING = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)  # 07:00 in Berlin
TARGETS = SlaTargets(first_response=1800.0, reply_time=3600.0)


class RecordingSandbox(SandboxServer):
    """The sandbox, noting the ``since`` of every reporting_events request."""

    def __init__(self, options: SandboxOptions) -> None:
        super().__init__(options)
        self.asked: list[int] = []

    def _reporting_events(self, handler: Any, query: dict[str, str]) -> int | None:
        self.asked.append(int(query.get("since", "0")))
        return super()._reporting_events(handler, query)

    def days_asked(self) -> set[date]:
        starts = {period_window(Period("day", d, d), ZONE).since: d for d in WEEK.dates()}
        return {starts[since] for since in self.asked}


@dataclass
class Recorder:
    """A channel that keeps what it was given."""

    sent: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "recorder"

    def identity(self) -> dict[str, Any]:
        return {}

    def deliver(self, message: Message, delivery: Delivery) -> Receipt:
        self.sent.append((delivery.period, delivery.start.isoformat()))
        return Receipt(self.kind, f"message-{len(self.sent)}")


@pytest.fixture
def server() -> Iterator[RecordingSandbox]:
    with RecordingSandbox(SandboxOptions(events=300)) as running:
        yield running


def request(server: SandboxServer | None = None) -> ReportRequest:
    return ReportRequest(
        account_id=7,
        timezone=ZONE,
        period=WEEK,
        base_url=None if server is None else server.base_url,
        account_name="Sandbox Support",
        targets=TARGETS,
    )


def ports(store: LocalArchive, server: SandboxServer | None, **extra: Any) -> ReportPorts:
    connect = None
    if server is not None:
        token = server.options.admin_token

        def connect() -> ChatwootClient:
            return ChatwootClient(server.base_url, token)

    return ReportPorts(
        store=store, templates_dir=TEMPLATES, connect=connect, clock=lambda: MONDAY_MORNING, **extra
    )


def archive_days(server: SandboxServer, store: LocalArchive, days: list[date]) -> None:
    """Archive days as the daily job does (without delivering them)."""
    with ChatwootClient(server.base_url, server.options.admin_token) as client:
        for day in days:
            run_account_day(
                DayRequest(7, server.base_url, ZONE, day, "Sandbox Support", TARGETS),
                Ports(
                    client=client,
                    archive=DayArchive(store, 7, day),
                    templates_dir=TEMPLATES,
                    clock=lambda: MONDAY_MORNING,
                ),
            )


def reference(server: SandboxServer) -> dict[str, Any]:
    """The week's blocks from the sandbox's own rows, all at once."""
    window = period_window(WEEK, ZONE)
    rows = server.dataset.events_between(window.since, window.until)
    events = classify_rows(rows, window)
    kept = events.events
    inboxes = {box["id"]: box["name"] for box in server.dataset.inboxes}
    agents = {agent["id"]: agent["name"] for agent in server.dataset.agents}
    no_hours = {box["id"] for box in server.dataset.inboxes if not box["working_hours_enabled"]}
    return {
        "overall": ref_block(kept, TARGETS, no_hours),
        "by_inbox": ref_named(kept, "inbox_id", inboxes, TARGETS, no_hours),
        "by_agent": ref_named(kept, "user_id", agents, TARGETS, no_hours),
        "events": len(kept),
    }


def test_a_week_of_archived_days_is_built_without_asking_chatwoot(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN every day of the week archived by the daily job
    store = LocalArchive(tmp_path)
    archive_days(server, store, WEEK.dates())
    server.stats.reset()
    server.asked.clear()
    # WHEN the week's report is built, with the sandbox there to ask
    result = run_account_period(request(server), ports(store, server))
    # THEN Chatwoot was not asked for a single page
    assert server.stats.snapshot()["reporting_requests"] == 0
    assert server.asked == []
    assert result.fetched == ()
    # AND the figures are exact over the sandbox's rows of the whole week
    summary = result.summary.to_dict()
    expected = reference(server)
    for part in ("overall", "by_inbox", "by_agent"):
        assert_matches(summary[part], expected[part], f"$.{part}")
    assert summary["source"]["events"] == expected["events"]
    assert summary["source"]["complete"] is True
    assert [d["date"] for d in summary["source"]["days"]] == [d.isoformat() for d in WEEK.dates()]


def test_missing_days_are_fetched_once_archived_and_not_delivered(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN only Thursday and Friday archived
    store = LocalArchive(tmp_path)
    archive_days(server, store, [date(2026, 11, 19), date(2026, 11, 20)])
    server.asked.clear()
    recorder = Recorder()
    # WHEN the week's report is built
    result = run_account_period(request(server), ports(store, server, channels=[recorder]))
    # THEN exactly the five other days went to Chatwoot, and they are archived now
    fetched = {date(2026, 11, d) for d in (16, 17, 18, 21, 22)}
    assert server.days_asked() == fetched
    assert set(result.fetched) == fetched
    for day in fetched:
        archive = DayArchive(store, 7, day)
        assert archive.manifest() is not None
        assert archive.summary() is not None
        # AND none of them was delivered as a daily digest
        assert archive.read_marker("delivery.json") is None
    # AND the report went out once, as a week
    assert recorder.sent == [("week", "2026-11-16")]
    assert ReportArchive(store, 7, WEEK).read_marker("delivery.json") is not None
    # AND a second report asks Chatwoot for nothing
    server.asked.clear()
    run_account_period(request(server), ports(store, server))
    assert server.asked == []


def test_days_that_cannot_be_had_leave_the_report_incomplete_and_named(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN Thursday and Friday archived, and no Chatwoot to ask for the rest
    store = LocalArchive(tmp_path)
    archive_days(server, store, [date(2026, 11, 19), date(2026, 11, 20)])
    # WHEN the week's report is built from the archive alone
    result = run_account_period(request(), ports(store, None))
    # THEN it is incomplete, names the five days, and says so in the digest
    source = result.summary.to_dict()["source"]
    assert source["complete"] is False
    assert source["missing_days"] == [
        "2026-11-16",
        "2026-11-17",
        "2026-11-18",
        "2026-11-21",
        "2026-11-22",
    ]
    assert "no data for Mon 16 Nov, Tue 17 Nov, Wed 18 Nov, Sat 21 Nov and Sun 22 Nov" in (
        result.digest.text
    )
    assert result.digest.subject.endswith("(incomplete data)")
    # AND the account's Chatwoot URL and name come from the archived days
    assert source["base_url"] == server.base_url


def test_a_day_chatwoot_refuses_is_missing_not_fatal(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN Friday archived and a token Chatwoot rejects for the rest
    store = LocalArchive(tmp_path)
    archive_days(server, store, [date(2026, 11, 20)])
    refused = ReportPorts(
        store=store,
        templates_dir=TEMPLATES,
        connect=lambda: ChatwootClient(server.base_url, "not-a-token"),
        clock=lambda: MONDAY_MORNING,
    )
    # WHEN the report is built THEN the six others are missing, nothing failed
    result = run_account_period(request(server), refused)
    assert len(result.summary.source.missing_days) == 6
    assert result.summary.source.days is not None
    assert [d.day for d in result.summary.source.days] == [date(2026, 11, 20)]


def test_a_day_whose_pages_fail_their_manifest_is_refused_and_nothing_is_written(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN the whole week archived, and one byte of a Friday page changed afterwards
    store = LocalArchive(tmp_path)
    archive_days(server, store, WEEK.dates())
    page = tmp_path / "raw" / "account_id=7" / "date=2026-11-20" / "page-00003.json"
    tampered = page.read_bytes().replace(b'"value":', b'"value" :', 1)
    page.write_bytes(tampered)
    server.asked.clear()
    # WHEN the week's report is built
    with pytest.raises(VerificationError) as caught:
        run_account_period(request(server), ports(store, server))
    # THEN the error names the day and the page, on one line
    message = str(caught.value)
    assert "account 7 2026-11-20 fails verification" in message
    assert "page 3" in message
    assert "\n" not in message
    # AND nothing was written or fetched: no report, the day's page as it was
    assert ReportArchive(store, 7, WEEK).summary() is None
    assert not (tmp_path / "reports").exists()
    assert page.read_bytes() == tampered
    assert server.asked == []


def test_the_trend_compares_with_the_previous_weeks_archived_report(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN the week before built first (its days fetched: all empty in the sandbox)
    store = LocalArchive(tmp_path)
    before = Period("week", date(2026, 11, 9), date(2026, 11, 15))
    first = run_account_period(
        ReportRequest(7, ZONE, before, base_url=server.base_url, targets=TARGETS),
        ports(store, server),
    )
    assert first.summary.previous is None
    # WHEN the week of 16 November is built
    result = run_account_period(request(server), ports(store, server))
    # THEN its previous block is that week's overall block, with its dates
    previous = result.summary.to_dict()["previous"]
    assert (previous["start"], previous["end"]) == ("2026-11-09", "2026-11-15")
    assert previous["overall"] == first.summary.to_dict()["overall"]
    assert "changes compared with week 46" in result.digest.text


def test_a_week_that_has_not_ended_is_refused_unless_partial(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    store = LocalArchive(tmp_path)
    sunday = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
    early = ReportPorts(store=store, templates_dir=TEMPLATES, clock=lambda: sunday)
    with pytest.raises(WindowError, match="has not ended yet"):
        run_account_period(request(server), early)
    # AND a partial week leaves the days not over yet out, naming them
    result = run_account_period(request(server), early, allow_partial=True)
    assert date(2026, 11, 22) in result.missing
    assert date(2026, 11, 21) in result.missing  # nothing archived and nothing to fetch with


def test_the_report_is_archived_under_the_contracts_keys(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    store = LocalArchive(tmp_path)
    run_account_period(request(server), ports(store, server))
    folder = tmp_path / "reports" / "account_id=7" / "period=week" / "start=2026-11-16"
    assert sorted(p.name for p in folder.iterdir()) == [
        "breaches.csv",
        "digest.csv",
        "digest.html",
        "digest.txt",
        "summary.json",
    ]
    stored = json.loads((folder / "summary.json").read_text())
    assert stored["period"] == {
        "kind": "week",
        "start": "2026-11-16",
        "end": "2026-11-22",
        "days": 7,
    }
    assert stored["date"] == "2026-11-16"
    window = period_window(WEEK, ZONE)
    assert stored["window"] == {"since": window.since, "until": window.until}
    assert window.until - window.since == 7 * 24 * 3600
    assert (timedelta(seconds=window.until - window.since)).days == 7


def clock_with(milliseconds: int, asked: list[int]) -> Callable[[], int]:
    """An invocation's remaining time, fixed, noting each time it is asked."""

    def remaining_ms() -> int:
        asked.append(milliseconds)
        return milliseconds

    return remaining_ms


def test_a_report_that_cannot_finish_in_the_time_left_stops_after_one_day_and_names_the_fix(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN the whole week archived, and an invocation with 20 s left: less than the 30 s
    # the summary, the digest and delivery are allowed, whatever the pace of reading
    store = LocalArchive(tmp_path)
    archive_days(server, store, WEEK.dates())
    asked: list[int] = []
    # WHEN the week's report is built
    with pytest.raises(TimeLimitTooShort) as caught:
        run_account_period(request(), ports(store, None, remaining_ms=clock_with(20_000, asked)))
    # THEN it stopped after reading the first day (the pace is unknown before), saying how
    # long it would need, what to change and how to run it again, on one line
    message = str(caught.value)
    assert len(asked) == 1
    assert message.startswith("account 7 week 2026-11-16: its 7 archived days need about ")
    assert "(1 read in " in message
    assert "DigestMemorySize" in message
    assert "sla-digest invoke --period" in message
    assert "\n" not in message
    # AND it is a permanent failure (a retry would take as long), and nothing was written
    assert not is_retryable(caught.value)
    assert ReportArchive(store, 7, WEEK).summary() is None


def test_a_report_with_time_to_spare_asks_the_clock_once_per_day_after_the_first(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN the whole week archived and an invocation with 15 minutes left
    store = LocalArchive(tmp_path)
    archive_days(server, store, WEEK.dates())
    asked: list[int] = []
    # WHEN the week's report is built
    result = run_account_period(
        request(), ports(store, None, remaining_ms=clock_with(900_000, asked))
    )
    # THEN it was built, the time checked before each of the 6 days after the first
    assert result.summary.source.complete is True
    assert len(asked) == 6


class CountingArchive(LocalArchive):
    """A folder archive that counts how often each key is read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: dict[str, int] = {}

    def get(self, key: str) -> bytes:
        self.reads[key] = self.reads.get(key, 0) + 1
        return super().get(key)


def test_a_report_reads_each_archived_object_of_its_days_once(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN the whole week archived
    archive_days(server, LocalArchive(tmp_path), WEEK.dates())
    store = CountingArchive(tmp_path)
    # WHEN the week's report is built
    run_account_period(request(), ports(store, None))
    # THEN every page and every resource of its days (inboxes, CSAT, links, ...) was read once
    raw = {key: count for key, count in store.reads.items() if key.startswith("raw/")}
    resources = [key for key in raw if "/page-" not in key and not key.endswith("manifest.json")]
    assert len(resources) >= 7 * 3  # at least inboxes, agents and SLA policies per day
    assert {key: count for key, count in raw.items() if count != 1} == {}


def test_a_day_whose_archived_resource_was_changed_is_refused(
    server: RecordingSandbox, tmp_path: Path
) -> None:
    # GIVEN the whole week archived, and Wednesday's inboxes edited afterwards
    store = LocalArchive(tmp_path)
    archive_days(server, store, WEEK.dates())
    inboxes = tmp_path / "raw" / "account_id=7" / "date=2026-11-18" / "inboxes.json"
    inboxes.write_bytes(inboxes.read_bytes().replace(b'"name"', b'"name" ', 1))
    # WHEN the week's report is built
    with pytest.raises(VerificationError) as caught:
        run_account_period(request(), ports(store, None))
    # THEN Wednesday is refused by name and nothing is written
    assert "account 7 2026-11-18 fails verification" in str(caught.value)
    assert ReportArchive(store, 7, WEEK).summary() is None
