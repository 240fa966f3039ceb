"""Archive-only runs: ``"deliver": false`` on manual and backfill events, carried by the job."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from sla_digest.config import load_config
from sla_digest.exceptions import ConfigError
from sla_digest.jobs.dispatch import parse_event, plan_requested
from sla_digest.jobs.job import DigestJob

CONFIG = load_config(
    {
        "accounts": [
            {
                "account_id": 7,
                "base_url": "https://chat.example.com",
                "token_secret": "sla-digest/example",
                "recipients": ["leads@example.com"],
            }
        ]
    },
    source="accounts.json",
)
NOW = datetime(2026, 11, 22, tzinfo=UTC)


def test_a_backfill_with_deliver_false_queues_archive_only_jobs() -> None:
    # GIVEN a two-day backfill that asks for no delivery
    event = {"accounts": [7], "from": "2026-11-01", "to": "2026-11-02", "deliver": False}

    # WHEN planned
    plan = plan_requested(CONFIG, parse_event(event), now=NOW)

    # THEN both days are queued with deliver false
    assert [(job.day, job.deliver) for job in plan.jobs] == [
        (date(2026, 11, 1), False),
        (date(2026, 11, 2), False),
    ]


def test_a_manual_event_with_deliver_false_queues_an_archive_only_job() -> None:
    plan = plan_requested(
        CONFIG, parse_event({"accounts": [7], "date": "2026-11-20", "deliver": False}), now=NOW
    )

    assert [(job.day, job.force, job.deliver) for job in plan.jobs] == [
        (date(2026, 11, 20), False, False)
    ]


def test_events_without_deliver_still_deliver() -> None:
    plan = plan_requested(CONFIG, parse_event({"date": "2026-11-20"}), now=NOW)

    assert [job.deliver for job in plan.jobs] == [True]


@pytest.mark.parametrize("value", ["false", 0, None])
def test_deliver_must_be_a_boolean(value: object) -> None:
    with pytest.raises(ConfigError, match=r"^deliver .* must be true or false$"):
        parse_event({"date": "2026-11-20", "deliver": value})


def test_a_schedule_event_does_not_take_deliver() -> None:
    with pytest.raises(ConfigError, match="unknown key 'deliver'"):
        parse_event({"scheduled_time": "2026-11-21T06:00:00Z", "deliver": False})


def test_a_delivering_job_body_is_exactly_the_documented_one() -> None:
    # GIVEN the body design §9 documents, written out by hand
    documented = '{"account_id":7,"date":"2026-11-20","force":false}'

    # WHEN a delivering job is serialised
    body = DigestJob(account_id=7, day=date(2026, 11, 20)).to_body()

    # THEN nothing was added to it, so queued bodies of older versions stay identical
    assert body == documented


def test_an_archive_only_job_body_says_deliver_false_and_reads_back() -> None:
    job = DigestJob(account_id=7, day=date(2026, 11, 20), deliver=False)

    body = job.to_body()

    assert json.loads(body) == {
        "account_id": 7,
        "date": "2026-11-20",
        "force": False,
        "deliver": False,
    }
    assert DigestJob.from_body(body) == job


def test_a_job_body_with_a_non_boolean_deliver_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^job deliver must be true or false$"):
        DigestJob.from_body('{"account_id": 7, "date": "2026-11-20", "deliver": "no"}')
