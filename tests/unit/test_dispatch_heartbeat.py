"""The heartbeat: which enabled account-days are overdue (not delivered by send hour + 2 h)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from sla_digest.config import Config, load_config
from sla_digest.jobs.dispatch import plan_scheduled

DAY = date(2026, 11, 20)


def config_of(*accounts: dict[str, Any]) -> Config:
    entries = [
        {
            "base_url": "https://chat.example.com",
            "token_secret": "sla-digest/example",
            "recipients": ["leads@example.com"],
            **account,
        }
        for account in accounts
    ]
    return load_config({"accounts": entries}, source="accounts.json")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def only_before(day: date) -> Any:
    """A delivered() that says every day before ``day`` went out, and ``day`` did not."""
    return lambda account_id, candidate: candidate < day


def test_an_undelivered_day_becomes_overdue_two_hours_after_its_send_instant() -> None:
    # GIVEN Berlin at 07:00: 20 Nov is sent at 21 Nov 07:00 CET = 06:00 UTC, overdue from
    # 08:00 UTC; nothing was delivered for it
    config = config_of({"account_id": 7, "timezone": "Europe/Berlin", "send_hour": 7})

    # WHEN ticks run just before and at the deadline
    before = plan_scheduled(config, utc("2026-11-21T07:45"), delivered=only_before(DAY))
    at = plan_scheduled(config, utc("2026-11-21T08:00"), delivered=only_before(DAY))

    # THEN it is overdue from 08:00 UTC on, named with its deadline
    assert before.overdue == []
    assert at.overdue == ["account 7 2026-11-20: not delivered by 2026-11-21T08:00:00Z"]


def test_a_delivered_day_is_never_overdue() -> None:
    config = config_of({"account_id": 7, "timezone": "UTC"})

    plan = plan_scheduled(config, utc("2026-11-21T20:00"), delivered=lambda *_: True)

    assert plan.overdue == []


def test_zones_reach_their_deadlines_at_their_own_hours() -> None:
    # GIVEN Kolkata 07:00 (01:30 UTC, due by 03:30 UTC) and New York 08:00 (13:00 UTC, due
    # by 15:00 UTC), neither delivered for 20 Nov
    config = config_of(
        {"account_id": 1, "timezone": "Asia/Kolkata"},
        {"account_id": 2, "timezone": "America/New_York", "send_hour": 8},
    )

    # WHEN the 21 Nov 04:00 UTC tick runs
    plan = plan_scheduled(config, utc("2026-11-21T04:00"), delivered=only_before(DAY))

    # THEN only Kolkata is overdue (New York's 20 Nov is not even due yet)
    assert plan.overdue == ["account 1 2026-11-20: not delivered by 2026-11-21T03:30:00Z"]


def test_a_disabled_account_is_not_overdue() -> None:
    config = config_of({"account_id": 7, "timezone": "UTC", "enabled": False})

    plan = plan_scheduled(config, utc("2026-11-21T12:00"), delivered=only_before(DAY))

    assert plan.overdue == []


def test_a_day_held_back_after_a_permanent_failure_stays_overdue() -> None:
    # GIVEN a UTC account whose 20 Nov failed permanently and is held back
    config = config_of({"account_id": 7, "timezone": "UTC"})

    # WHEN the tick after its deadline (21 Nov 07:00 + 2 h) runs
    plan = plan_scheduled(
        config,
        utc("2026-11-21T09:00"),
        delivered=only_before(DAY),
        held=lambda account, day: "failed permanently",
    )

    # THEN nothing is queued, yet the day counts as overdue: a person has to act
    assert plan.jobs == []
    assert len(plan.overdue) == 1
