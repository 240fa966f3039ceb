"""Which account-days a scheduled run queues: send instants, catch-up, DST and retries.

Every expected instant is worked out by hand in the comments (2026 calendar: the EU changes
clocks on Sun 29 March and Sun 25 October at 01:00 UTC, the US on Sun 8 March and Sun 1 November
at 02:00 local).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from sla_digest.config import Config, load_config
from sla_digest.exceptions import ArchiveError
from sla_digest.jobs.dispatch import plan_scheduled, send_instant


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


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
    config = load_config({"accounts": entries}, source="accounts.json")
    assert config.errors == ()
    return config


def delivered_through(last: date) -> Any:
    """A delivered() that says every day up to ``last`` was sent."""
    return lambda account_id, day: day <= last


def planned(config: Config, at: datetime, delivered: Any) -> list[tuple[int, date]]:
    plan = plan_scheduled(config, at, delivered=delivered)
    return [(job.account_id, job.day) for job in plan.jobs]


# --- the send instant ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "hour", "day", "expected"),
    [
        # 21 Nov 07:00 UTC
        ("UTC", 7, date(2026, 11, 20), "2026-11-21T07:00"),
        # 21 Nov 07:00 CET (+1) = 06:00 UTC
        ("Europe/Berlin", 7, date(2026, 11, 20), "2026-11-21T06:00"),
        # 15 Jul 07:00 CEST (+2) = 05:00 UTC
        ("Europe/Berlin", 7, date(2026, 7, 14), "2026-07-15T05:00"),
        # 29 Mar 07:00 is already CEST (+2) = 05:00 UTC
        ("Europe/Berlin", 7, date(2026, 3, 28), "2026-03-29T05:00"),
        # 25 Oct 07:00 is already CET (+1) = 06:00 UTC
        ("Europe/Berlin", 7, date(2026, 10, 24), "2026-10-25T06:00"),
        # 29 Mar 02:00 never shows: at 01:00 UTC the clock jumps from 02:00 CET to 03:00 CEST
        ("Europe/Berlin", 2, date(2026, 3, 28), "2026-03-29T01:00"),
        # 25 Oct 02:00 shows twice: first at 02:00 CEST (+2) = 00:00 UTC
        ("Europe/Berlin", 2, date(2026, 10, 24), "2026-10-25T00:00"),
        # 21 Nov 08:00 EST (-5) = 13:00 UTC
        ("America/New_York", 8, date(2026, 11, 20), "2026-11-21T13:00"),
        # 15 Jul 08:00 EDT (-4) = 12:00 UTC
        ("America/New_York", 8, date(2026, 7, 14), "2026-07-15T12:00"),
        # 8 Mar 02:00 never shows: at 02:00 EST (07:00 UTC) the clock jumps to 03:00 EDT
        ("America/New_York", 2, date(2026, 3, 7), "2026-03-08T07:00"),
        # 21 Nov 07:00 IST (+5:30) = 01:30 UTC
        ("Asia/Kolkata", 7, date(2026, 11, 20), "2026-11-21T01:30"),
        # 21 Nov 07:00 NPT (+5:45) = 01:15 UTC
        ("Asia/Kathmandu", 7, date(2026, 11, 20), "2026-11-21T01:15"),
        # Samoa skipped 30 Dec 2011: at 29 Dec 24:00 (-10) = 30 Dec 10:00 UTC the clock jumped
        # to 31 Dec 00:00 (+14), so "30 Dec 07:00" was first passed at that jump
        ("Pacific/Apia", 7, date(2011, 12, 29), "2011-12-30T10:00"),
        # send_hour 0: the very end of the report day, 21 Nov 00:00 NPT = 20 Nov 18:15 UTC
        ("Asia/Kathmandu", 0, date(2026, 11, 20), "2026-11-20T18:15"),
    ],
)
def test_the_send_instant_is_when_the_local_clock_first_shows_the_hour(
    zone: str, hour: int, day: date, expected: str
) -> None:
    assert send_instant(day, zone, hour) == utc(expected)


# --- due at the instant, not before ----------------------------------------------------------


@pytest.mark.parametrize(
    ("zone", "due_at"),
    [
        ("UTC", "2026-11-21T07:00"),
        ("Europe/Berlin", "2026-11-21T06:00"),
        ("America/New_York", "2026-11-21T12:00"),  # send_hour 7 EST (-5)
        ("Asia/Kolkata", "2026-11-21T01:30"),
        ("Asia/Kathmandu", "2026-11-21T01:15"),
    ],
)
def test_an_account_is_due_from_its_send_instant_and_not_a_quarter_hour_before(
    zone: str, due_at: str
) -> None:
    # GIVEN an account sending at 07:00 local whose digests up to 19 Nov went out
    config = config_of({"account_id": 7, "timezone": zone, "send_hour": 7})
    delivered = delivered_through(date(2026, 11, 19))

    # WHEN the schedule runs 15 minutes before, and exactly at, the send instant
    before = planned(config, utc(due_at) - timedelta(minutes=15), delivered)
    at = planned(config, utc(due_at), delivered)

    # THEN 20 Nov is queued only at the instant
    assert before == []
    assert at == [(7, date(2026, 11, 20))]


def test_accounts_in_different_zones_are_due_at_different_ticks() -> None:
    # GIVEN Kathmandu (due 01:15 UTC), Kolkata (01:30 UTC) and UTC (07:00) accounts
    config = config_of(
        {"account_id": 1, "timezone": "Asia/Kathmandu"},
        {"account_id": 2, "timezone": "Asia/Kolkata"},
        {"account_id": 3, "timezone": "UTC"},
    )
    delivered = delivered_through(date(2026, 11, 19))

    # WHEN the 01:15 UTC tick runs, THEN only Kathmandu is due
    assert planned(config, utc("2026-11-21T01:15"), delivered) == [(1, date(2026, 11, 20))]


# --- missed runs, retries, no day twice --------------------------------------------------------


def test_a_missed_hour_is_caught_up_by_the_next_run() -> None:
    # GIVEN a Kolkata account due at 01:30 UTC, and no schedule run between 01:15 and 03:00
    config = config_of({"account_id": 7, "timezone": "Asia/Kolkata"})

    # WHEN the 03:00 UTC run comes
    jobs = planned(config, utc("2026-11-21T03:00"), delivered_through(date(2026, 11, 19)))

    # THEN it queues the day the missed run would have queued
    assert jobs == [(7, date(2026, 11, 20))]


def test_a_day_long_outage_queues_every_missed_day_once() -> None:
    # GIVEN a UTC 07:00 account last delivered for 19 Nov, and no run from 20 Nov noon on
    config = config_of({"account_id": 7})

    # WHEN the first run after the outage is 22 Nov 09:00 (20 Nov was due 21 Nov 07:00, 21 Nov
    # was due 22 Nov 07:00)
    jobs = planned(config, utc("2026-11-22T09:00"), delivered_through(date(2026, 11, 19)))

    # THEN both days are queued, each once
    assert jobs == [(7, date(2026, 11, 20)), (7, date(2026, 11, 21))]


def test_days_due_before_the_catch_up_window_are_left_to_a_backfill() -> None:
    # GIVEN the same account, and a run four days later (the window is two days)
    config = config_of({"account_id": 7})

    # WHEN it runs on 24 Nov 09:00: the window is (22 Nov 09:00, 24 Nov 09:00]
    jobs = planned(config, utc("2026-11-24T09:00"), delivered_through(date(2026, 11, 19)))

    # THEN only 22 Nov (due 23 Nov 07:00) and 23 Nov (due 24 Nov 07:00) are queued
    assert jobs == [(7, date(2026, 11, 22)), (7, date(2026, 11, 23))]


def test_a_day_already_delivered_is_skipped_and_says_so() -> None:
    config = config_of({"account_id": 7, "name": "Acme"})

    plan = plan_scheduled(
        config, utc("2026-11-21T07:00"), delivered=delivered_through(date(2026, 11, 20))
    )

    assert plan.jobs == []
    assert "account 7 (Acme) 2026-11-20: already delivered" in plan.skipped


def test_a_retried_invocation_decides_the_same() -> None:
    # GIVEN a plan for one scheduled time
    config = config_of(
        {"account_id": 1, "timezone": "Europe/Berlin"},
        {"account_id": 2, "timezone": "Asia/Kathmandu"},
    )
    delivered = delivered_through(date(2026, 11, 19))
    first = planned(config, utc("2026-11-21T06:00"), delivered)

    # WHEN the same invocation is retried (later, by the scheduler)
    again = planned(config, utc("2026-11-21T06:00"), delivered)

    # THEN the decision is identical
    assert first == again == [(1, date(2026, 11, 20)), (2, date(2026, 11, 20))]


def test_the_decision_depends_on_the_scheduled_time_not_on_the_clock() -> None:
    # GIVEN a scheduled time long past (a replayed event)
    config = config_of({"account_id": 7})

    # WHEN it is planned today
    jobs = planned(config, utc("2026-01-05T07:00"), delivered_through(date(2026, 1, 3)))

    # THEN the day due then is queued, as it would have been then
    assert jobs == [(7, date(2026, 1, 4))]


def simulate(config: Config, start: str, end: str, delivered_until: date) -> dict[Any, str]:
    """Run the schedule every 15 minutes; the digest side delivers each queued job at once."""
    sent: set[tuple[int, date]] = set()
    queued_at: dict[tuple[int, date], str] = {}
    tick, stop = utc(start), utc(end)
    while tick < stop:
        plan = plan_scheduled(
            config,
            tick,
            delivered=lambda account_id, day: day <= delivered_until or (account_id, day) in sent,
        )
        for job in plan.jobs:
            key = (job.account_id, job.day)
            assert key not in queued_at, f"{key} queued twice"
            queued_at[key] = tick.strftime("%m-%dT%H:%M")
            sent.add(key)
        tick += timedelta(minutes=15)
    return queued_at


def test_a_send_hour_in_the_spring_forward_gap_fires_once_per_day() -> None:
    # GIVEN Berlin at 02:00, an hour that does not exist on 29 March
    config = config_of({"account_id": 7, "timezone": "Europe/Berlin", "send_hour": 2})

    # WHEN the schedule runs every 15 minutes from 27 to 31 March
    queued = simulate(config, "2026-03-27T00:00", "2026-03-31T00:00", date(2026, 3, 25))

    # THEN each day is queued once: 02:00 CET = 01:00 UTC, the gap at its end (01:00 UTC, when
    # the clock shows 03:00 CEST), then 02:00 CEST = 00:00 UTC
    assert queued == {
        (7, date(2026, 3, 26)): "03-27T01:00",
        (7, date(2026, 3, 27)): "03-28T01:00",
        (7, date(2026, 3, 28)): "03-29T01:00",
        (7, date(2026, 3, 29)): "03-30T00:00",
    }


def test_a_send_hour_in_the_repeated_fall_back_hour_fires_once() -> None:
    # GIVEN Berlin at 02:00, an hour that shows twice on 25 October
    config = config_of({"account_id": 7, "timezone": "Europe/Berlin", "send_hour": 2})

    # WHEN the schedule runs every 15 minutes from 23 to 27 October
    queued = simulate(config, "2026-10-23T00:15", "2026-10-27T00:00", date(2026, 10, 22))

    # THEN 24 Oct goes at the first 02:00 (CEST, 00:00 UTC) and not again at the second
    # (CET, 01:00 UTC); 25 Oct at 02:00 CET = 01:00 UTC on the 26th
    assert queued == {
        (7, date(2026, 10, 23)): "10-24T00:00",
        (7, date(2026, 10, 24)): "10-25T00:00",
        (7, date(2026, 10, 25)): "10-26T01:00",
    }


def test_a_week_of_runs_queues_every_day_of_every_zone_exactly_once() -> None:
    # GIVEN five zones, through the US clock change on 1 November
    zones = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Asia/Kathmandu"]
    config = config_of(*({"account_id": i + 1, "timezone": z} for i, z in enumerate(zones)))

    # WHEN the schedule runs every 15 minutes for seven days (simulate() fails on a repeat)
    queued = simulate(config, "2026-10-29T00:00", "2026-11-05T00:00", date(2026, 10, 27))

    # THEN every account got each day from 28 Oct to 3 Nov once: 28 Oct is due on 29 Oct at
    # 01:15 UTC at the earliest (Kathmandu), 4 Nov not before 5 Nov 01:15 UTC
    expected = [date(2026, 10, 28) + timedelta(days=n) for n in range(7)]
    for account_id in range(1, 6):
        assert sorted(day for (a, day) in queued if a == account_id) == expected
    # New York after the change (EST, -5): 2 Nov 07:00 local = 12:00 UTC
    assert queued[(3, date(2026, 11, 1))] == "11-02T12:00"
    # ... and before it (EDT, -4): 30 Oct 07:00 local = 11:00 UTC
    assert queued[(3, date(2026, 10, 29))] == "10-30T11:00"


# --- account-level problems -------------------------------------------------------------------


def test_a_disabled_account_is_skipped() -> None:
    config = config_of({"account_id": 7, "enabled": False}, {"account_id": 8})

    plan = plan_scheduled(
        config, utc("2026-11-21T07:00"), delivered=delivered_through(date(2026, 11, 19))
    )

    assert [(j.account_id, j.day) for j in plan.jobs] == [(8, date(2026, 11, 20))]
    assert "account 7: disabled" in plan.skipped


def test_bad_entries_are_counted_and_the_good_ones_still_run() -> None:
    # GIVEN one bad entry beside a good one
    config = load_config(
        {
            "accounts": [
                {"account_id": 9, "timezone": "Mars/Base"},
                {
                    "account_id": 7,
                    "base_url": "https://chat.example.com",
                    "token_secret": "s",
                    "recipients": ["a@example.com"],
                },
            ]
        },
        source="accounts.json",
    )

    # WHEN planned
    plan = plan_scheduled(
        config, utc("2026-11-21T07:00"), delivered=delivered_through(date(2026, 11, 19))
    )

    # THEN the good account is queued and the bad entry is one error line
    assert [(j.account_id, j.day) for j in plan.jobs] == [(7, date(2026, 11, 20))]
    assert len(plan.errors) == 1
    assert plan.errors[0].startswith("accounts[0] (account_id 9):")


def test_an_unreadable_delivery_marker_fails_that_account_only() -> None:
    # GIVEN the archive failing for account 7 only
    config = config_of({"account_id": 7}, {"account_id": 8})

    def delivered(account_id: int, day: date) -> bool:
        if account_id == 7:
            raise ArchiveError("cannot read s3://archive/digests/...: AccessDenied")
        return day <= date(2026, 11, 19)

    # WHEN planned
    plan = plan_scheduled(config, utc("2026-11-21T07:00"), delivered=delivered)

    # THEN account 8 is queued and account 7 is an error naming it
    assert [(j.account_id, j.day) for j in plan.jobs] == [(8, date(2026, 11, 20))]
    assert len(plan.errors) == 1
    assert plan.errors[0].startswith("account 7 2026-11-1")


def test_a_naive_scheduled_time_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_scheduled(config_of({"account_id": 7}), datetime(2026, 11, 21, 7), delivered=bool)
