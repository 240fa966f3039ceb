"""A week or month that fails permanently: its marker under the report's prefix, what the
digest queue's record writes and clears, and what it leaves alone.

2026-11-16 is a Monday; its week (Monday start) runs to Sunday 22 Nov.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.archive import LocalArchive
from sla_digest.archive.report import ReportArchive
from sla_digest.config import Config, load_config
from sla_digest.exceptions import ConfigError, DeliveryRejected, SlaDigestError
from sla_digest.jobs.failure import (
    FailureRecord,
    Fingerprint,
    clear_failure,
    holds_back,
    read_failure,
    record_failure,
)
from sla_digest.jobs.record import run_record
from sla_digest.jobs.run import JobServices
from sla_digest.report.periods import Period

if TYPE_CHECKING:
    from collections.abc import Sequence

WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 22))
WEEK_MARKER = "reports/account_id=7/period=week/start=2026-11-16/failure.json"
NOW = datetime(2026, 11, 23, 6, 5, tzinfo=UTC)
BEFORE = Fingerprint(config="etag-1", secrets=(("sla-digest/acme", "v1"),))
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def report(tmp_path: Path) -> ReportArchive:
    return ReportArchive(LocalArchive(tmp_path), 7, WEEK)


# --- the marker ----------------------------------------------------------------------------------


def test_a_weeks_failure_is_recorded_under_its_reports_prefix_naming_the_period(
    report: ReportArchive, tmp_path: Path
) -> None:
    # GIVEN a channel that refused the week's digest
    error = DeliveryRejected("account 7 week 2026-11-16: slack refused the digest (404)")

    # WHEN recorded
    assert record_failure(report, error, BEFORE, now=NOW) is True

    # THEN failure.json lies beside the report, as a day's does beside its digest, with the
    # period named (a day's marker has no such key)
    stored = json.loads((tmp_path / WEEK_MARKER).read_text())
    assert stored == {
        "account_id": 7,
        "period": "week",
        "date": "2026-11-16",
        "error": "DeliveryRejected",
        "message": "account 7 week 2026-11-16: slack refused the digest (404)",
        "recorded_at": "2026-11-23T06:05:00Z",
        "fingerprint": {"config": "etag-1", "secrets": {"sla-digest/acme": "v1"}},
    }


def test_a_weeks_failure_holds_it_back_until_its_fingerprint_changes(
    report: ReportArchive,
) -> None:
    record_failure(report, DeliveryRejected("refused"), BEFORE, now=NOW)
    rotated = Fingerprint(config="etag-1", secrets=(("sla-digest/acme", "v2"),))

    held = holds_back(report, lambda: BEFORE)

    assert held is not None
    assert held.period == "week"
    assert holds_back(report, lambda: rotated) is None


def test_a_weeks_marker_reads_back_and_a_success_removes_it(
    report: ReportArchive, tmp_path: Path
) -> None:
    record_failure(report, ConfigError("secret holds no token"), BEFORE, now=NOW)

    record = read_failure(report)

    assert record is not None
    assert FailureRecord.parse(record.to_bytes()) == record
    assert clear_failure(report) is True
    assert not (tmp_path / WEEK_MARKER).exists()


def test_a_marker_naming_an_unknown_period_is_not_read() -> None:
    record = FailureRecord(7, "2026-11-16", "ConfigError", "x", "2026-11-23T06:05:00Z", BEFORE)
    document = json.loads(record.to_bytes())

    assert FailureRecord.parse(json.dumps({**document, "period": "fortnight"}).encode()) is None
    assert FailureRecord.parse(json.dumps({**document, "period": "month"}).encode()) is not None


# --- what the digest queue's record does with a period job ---------------------------------------


@dataclass
class Telemetry:
    counts: list[tuple[str, float]] = field(default_factory=list)

    def count(self, name: str, value: float, *, unit: str = "Count") -> None:
        self.counts.append((name, value))

    def correlate(self, correlation_id: str) -> None:
        pass

    def tag(self, **keys: str) -> None:
        pass

    def untag(self, *names: str) -> None:
        pass


@dataclass
class Record:
    body: str
    message_id: str = "m-1"


def config_of(**account: Any) -> Config:
    entry = {
        "account_id": 7,
        "base_url": "https://chat.example.com",
        "token_secret": "sla-digest/acme",
        "recipients": ["leads@example.com"],
        "timezone": "Europe/Berlin",
        "digests": ["weekly"],
        **account,
    }
    return load_config({"accounts": [entry]}, source="accounts.json")


def services_for(tmp_path: Path, config: Config) -> JobServices:
    """A digest function whose Chatwoot connection fails: its token secret holds no token."""

    def connect(account: Any) -> Any:
        raise ConfigError("secret 'sla-digest/acme' holds no token")

    def channels(account: Any, lambda_context: Any, period: str = "day") -> Sequence[Any]:
        return ()

    return JobServices(
        store=LocalArchive(tmp_path),
        load_config=lambda: config,
        connect=connect,
        channels=channels,
        templates_dir=ROOT / "templates",
        clock=lambda: NOW,
        fingerprint=lambda names: Fingerprint(
            config="etag-1", secrets=tuple((n, "v1") for n in names)
        ),
    )


def run(body: dict[str, Any], services: JobServices, telemetry: Telemetry) -> None:
    with pytest.raises(SlaDigestError):
        run_record(Record(json.dumps(body)), lambda: services, None, telemetry=telemetry)


def test_a_week_job_that_fails_permanently_writes_the_weeks_marker_and_counts_once(
    tmp_path: Path,
) -> None:
    # GIVEN the week of 16 Nov, no day archived, and a token secret that holds no token
    services = services_for(tmp_path, config_of())
    telemetry = Telemetry()
    body = {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}

    # WHEN the job runs, and SQS retries it
    run(body, services, telemetry)
    run(body, services, telemetry)

    # THEN the week's marker names the error and the account's secret, and the permanent
    # failure counts once over both attempts
    stored = json.loads((tmp_path / WEEK_MARKER).read_text())
    assert (stored["period"], stored["error"]) == ("week", "ConfigError")
    assert stored["fingerprint"]["secrets"] == {"sla-digest/acme": "v1"}
    assert telemetry.counts.count(("PermanentFailures", 1)) == 1
    assert telemetry.counts.count(("DigestFailures", 1)) == 2


def test_a_week_job_on_a_day_that_starts_no_week_leaves_no_marker(tmp_path: Path) -> None:
    # GIVEN a week job dated Wednesday 18 Nov (sent by hand; catch-up never queues one)
    services = services_for(tmp_path, config_of())

    run({"account_id": 7, "period": "week", "date": "2026-11-18"}, services, Telemetry())

    # THEN nothing is held back: there is no such week to hold
    assert not list(tmp_path.rglob("failure.json"))


def test_a_sunday_accounts_week_marker_lies_under_its_sunday(tmp_path: Path) -> None:
    # GIVEN an account whose weeks start on Sunday, and its week of Sunday 15 Nov
    services = services_for(tmp_path, config_of(week_start="sunday"))

    run({"account_id": 7, "period": "week", "date": "2026-11-15"}, services, Telemetry())

    assert [str(p.relative_to(tmp_path)) for p in tmp_path.rglob("failure.json")] == [
        "reports/account_id=7/period=week/start=2026-11-15/failure.json"
    ]


def test_a_later_success_of_the_week_removes_its_marker(tmp_path: Path) -> None:
    # GIVEN the week failed and its marker is on record; then it went out (by hand, say)
    services = services_for(tmp_path, config_of())
    body = {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}
    run(body, services, Telemetry())
    ReportArchive(LocalArchive(tmp_path), 7, WEEK).write_marker("delivery.json", b"{}")

    # WHEN the job comes again and finds the week delivered
    outcome = run_record(Record(json.dumps(body)), lambda: services, None, telemetry=Telemetry())

    # THEN it succeeds and the marker is gone
    assert outcome["status"] == "skipped"
    assert not (tmp_path / WEEK_MARKER).exists()
