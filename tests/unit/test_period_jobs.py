"""Weekly and monthly jobs: their SQS bodies and when a scheduled run queues them.

Instants are worked out by hand (2026: Monday 23 November, Tuesday 1 December; Berlin is CET,
UTC+1, in November, and changes back from CEST on Sunday 25 October).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sla_digest.config import Config, load_config
from sla_digest.exceptions import ArchiveError, ConfigError
from sla_digest.jobs.dispatch import CATCH_UP, plan_scheduled
from sla_digest.jobs.job import DigestJob, JobOutcome
from sla_digest.report.periods import Period


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config_of(**account: Any) -> Config:
    entry = {
        "account_id": 7,
        "base_url": "https://chat.example.com",
        "token_secret": "sla-digest/example",
        "recipients": ["leads@example.com"],
        "timezone": "Europe/Berlin",
        "send_hour": 7,
        **account,
    }
    config = load_config({"accounts": [entry]}, source="accounts.json")
    assert config.errors == ()
    return config


def bodies(config: Config, at: datetime, **options: Any) -> list[dict[str, Any]]:
    """The bodies queued at ``at``; by default only what fell due in the hour before it
    (the catch-up of earlier runs is tested on its own)."""
    options.setdefault("delivered", lambda account_id, day: False)
    options.setdefault("catch_up", timedelta(hours=1))
    plan = plan_scheduled(config, at, **options)
    return [json.loads(job.to_body()) for job in plan.jobs]


ALL = ["daily", "weekly", "monthly"]


# --- bodies -----------------------------------------------------------------------------------


def test_a_days_body_is_unchanged_and_old_bodies_still_parse() -> None:
    # GIVEN a body as the first release wrote it
    old = '{"account_id": 7, "date": "2026-11-20", "force": false}'
    # WHEN parsed THEN it is a day's job, and written back exactly as before
    job = DigestJob.from_body(old)
    assert job.period == "day"
    assert job.to_body() == '{"account_id":7,"date":"2026-11-20","force":false}'


def test_a_weeks_body_names_its_period_before_its_first_day() -> None:
    job = DigestJob(7, date(2026, 11, 16), period="week")
    assert job.to_body() == '{"account_id":7,"period":"week","date":"2026-11-16","force":false}'
    assert DigestJob.from_body(job.to_body()) == job
    month = DigestJob.from_body('{"account_id": 7, "period": "month", "date": "2026-11-01"}')
    assert (month.period, month.day, month.force) == ("month", date(2026, 11, 1), False)


@pytest.mark.parametrize("period", ["fortnight", "Week", 7, None, ["week"]])
def test_an_unknown_period_in_a_body_is_refused_in_one_line(period: object) -> None:
    body = json.dumps({"account_id": 7, "period": period, "date": "2026-11-16"})
    with pytest.raises(ConfigError, match=r"job unknown period .*: use day, week or month"):
        DigestJob.from_body(body)


def test_an_outcome_names_its_period_only_when_not_a_day() -> None:
    assert "period" not in JobOutcome(7, "2026-11-20", "sent").as_dict()
    week = JobOutcome(7, "2026-11-16", "sent", period="week").as_dict()
    assert list(week)[:3] == ["account_id", "period", "date"]


# --- when they are due -------------------------------------------------------------------------


def test_the_week_is_queued_on_monday_at_the_send_hour_with_sundays_day() -> None:
    # GIVEN an account with every digest; Monday 23 Nov 07:00 CET = 06:00 UTC
    config = config_of(digests=ALL)
    # WHEN the schedule fires then THEN Sunday's day and the week of 16 Nov are queued
    assert bodies(config, utc("2026-11-23T06:00")) == [
        {"account_id": 7, "date": "2026-11-22", "force": False},
        {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False},
    ]
    # AND a minute earlier (06:59 CET) neither is due yet
    assert bodies(config, utc("2026-11-23T05:59")) == []


def test_the_month_is_queued_on_the_first_at_the_send_hour() -> None:
    # GIVEN Tuesday 1 December 07:00 CET = 06:00 UTC
    config = config_of(digests=ALL)
    # THEN 30 November and the month of November are due (the week of 30 Nov is not over)
    assert bodies(config, utc("2026-12-01T06:00")) == [
        {"account_id": 7, "date": "2026-11-30", "force": False},
        {"account_id": 7, "period": "month", "date": "2026-11-01", "force": False},
    ]


def test_a_sunday_week_is_queued_on_sunday() -> None:
    # GIVEN weeks from Sunday: the week of Sun 15 – Sat 21 Nov ends on Saturday
    config = config_of(digests=["daily", "weekly"], week_start="sunday")
    # THEN it is due on Sunday 22 Nov at 07:00 CET
    queued = bodies(config, utc("2026-11-22T06:00"))
    assert {"account_id": 7, "period": "week", "date": "2026-11-15", "force": False} in queued
    assert not [b for b in bodies(config, utc("2026-11-23T06:00")) if b.get("period")]


def test_a_week_ending_on_a_dst_change_is_due_the_next_morning_in_winter_time() -> None:
    # GIVEN the week of 19 Oct, whose Sunday 25 Oct is the change to CET
    config = config_of(digests=["weekly"])
    # THEN it is due on Monday 26 Oct at 07:00 CET = 06:00 UTC, not at 05:00 UTC
    assert bodies(config, utc("2026-10-26T05:59")) == []
    assert bodies(config, utc("2026-10-26T06:00")) == [
        {"account_id": 7, "period": "week", "date": "2026-10-19", "force": False}
    ]


def test_a_missed_monday_run_is_caught_up_on_tuesday_unless_delivered() -> None:
    # GIVEN an account with weekly digests and Monday's run lost in an outage
    config = config_of(digests=["weekly"])
    tuesday = utc("2026-11-24T06:00")
    # WHEN Tuesday's run comes, looking back two days THEN the week is queued
    assert bodies(config, tuesday, catch_up=CATCH_UP) == [
        {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}
    ]
    # AND not when the archive says it went out already
    seen: list[tuple[int, Period]] = []

    def sent(account_id: int, period: Period) -> bool:
        seen.append((account_id, period))
        return True

    plan = plan_scheduled(config, tuesday, delivered=lambda a, d: False, period_delivered=sent)
    assert plan.jobs == []
    assert seen == [(7, Period("week", date(2026, 11, 16), date(2026, 11, 22)))]
    assert plan.skipped == ["account 7 week/2026-11-16: already delivered"]


def test_only_the_digests_an_account_names_are_queued() -> None:
    monday = utc("2026-11-23T06:00")
    assert [b.get("period", "day") for b in bodies(config_of(), monday)] == ["day"]
    assert [b.get("period", "day") for b in bodies(config_of(digests=["weekly"]), monday)] == [
        "week"
    ]
    first = utc("2026-12-01T06:00")
    assert [b.get("period", "day") for b in bodies(config_of(digests=["monthly"]), first)] == [
        "month"
    ]


def test_the_same_schedule_tick_decides_the_same_jobs() -> None:
    config = config_of(digests=ALL)
    at = utc("2026-12-01T06:00")
    assert bodies(config, at) == bodies(config, at)


def test_an_unreadable_report_marker_is_an_error_for_that_account_only() -> None:
    config = config_of(digests=["weekly"])

    def broken(account_id: int, period: Period) -> bool:
        raise ArchiveError("s3://bucket/reports/…/delivery.json cannot be read")

    plan = plan_scheduled(
        config, utc("2026-11-23T06:00"), delivered=lambda a, d: False, period_delivered=broken
    )
    assert plan.jobs == []
    assert plan.errors == [
        "account 7 week/2026-11-16: s3://bucket/reports/…/delivery.json cannot be read"
    ]
