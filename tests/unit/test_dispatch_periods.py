"""Manual runs and backfills of weeks and months, and the heartbeat over them.

Dates are worked out by hand from a 2026 calendar: 1 Nov is a Sunday, so Mondays fall on
2, 9, 16, 23 and 30 Nov and Sundays on 1, 8, 15, 22 and 29 Nov; 1 Dec is a Tuesday. Berlin is
CET (UTC+1) from Sunday 25 Oct 03:00 CEST on, so a Berlin midnight in November is 23:00 UTC
the evening before, and its 07:00 is 06:00 UTC.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sla_digest.config import Config, load_config
from sla_digest.exceptions import ConfigError
from sla_digest.jobs.dispatch import (
    BACKFILL_LIMIT_DAYS,
    DispatchRequest,
    parse_event,
    plan_requested,
    plan_scheduled,
)
from sla_digest.report.periods import Period


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config_of(*accounts: dict[str, Any]) -> Config:
    entries = [
        {
            "base_url": "https://chat.example.com",
            "token_secret": "sla-digest/example",
            "recipients": ["leads@example.com"],
            "timezone": "Europe/Berlin",
            **account,
        }
        for account in accounts
    ]
    config = load_config({"accounts": entries}, source="accounts.json")
    assert config.errors == ()
    return config


MONDAY = {"account_id": 7}
SUNDAY = {"account_id": 8, "week_start": "sunday"}
LATER = "2026-12-06T12:00"  # every period of November has ended by then


def bodies(config: Config, event: dict[str, Any], *, now: str = LATER) -> list[dict[str, Any]]:
    """The job bodies a manual or backfill event queues, as SQS would carry them."""
    plan = plan_requested(config, parse_event(event), now=utc(now))
    return [json.loads(job.to_body()) for job in plan.jobs]


# --- the event ----------------------------------------------------------------------------------


def test_an_event_without_a_period_still_means_days() -> None:
    request = parse_event({"accounts": [7], "date": "2026-11-20"})

    assert request.period == "day"


def test_a_manual_event_may_name_a_week() -> None:
    request = parse_event({"accounts": [7], "period": "week", "date": "2026-11-16"})

    assert request == DispatchRequest(
        kind="manual",
        accounts=(7,),
        first=date(2026, 11, 16),
        last=date(2026, 11, 16),
        period="week",
    )


def test_a_backfill_event_may_name_months_with_force_and_deliver() -> None:
    event = {"from": "2026-09-01", "to": "2026-11-30", "period": "month", "deliver": False}

    request = parse_event({**event, "force": True})

    assert (request.kind, request.period, request.force, request.deliver) == (
        "backfill",
        "month",
        True,
        False,
    )


@pytest.mark.parametrize("period", ["fortnight", "Week", "weekly", 7, None, ["week"]])
def test_an_unknown_period_is_one_clear_line(period: object) -> None:
    # GIVEN a manual event whose period is not day, week or month
    event = {"accounts": [7], "period": period, "date": "2026-11-16"}

    # THEN the one line names the value and the three choices
    with pytest.raises(
        ConfigError, match=r"^dispatch event: unknown period .+: use day, week or month$"
    ):
        parse_event(event)


def test_a_schedule_event_takes_no_period() -> None:
    with pytest.raises(ConfigError, match="unknown key 'period'"):
        parse_event({"scheduled_time": "2026-11-23T06:00:00Z", "period": "week"})


def test_the_backfill_limit_counts_the_days_from_from_to_to_for_months_too() -> None:
    # GIVEN 1 Sep .. 2 Dec: 30 + 31 + 30 + 2 = 93 days, one more than an event may hold
    event = {"from": "2026-09-01", "to": "2026-12-02", "period": "month"}

    # THEN it is refused, saying how many months fit
    with pytest.raises(ConfigError, match=r"^backfill of 93 days is too long: .*3 months"):
        parse_event(event)
    # AND one day less is accepted
    assert parse_event({**event, "to": "2026-12-01"}).last == date(2026, 12, 1)
    assert BACKFILL_LIMIT_DAYS == 92


# --- a manual week or month ---------------------------------------------------------------------


def test_a_manual_week_from_its_monday_queues_the_weeks_body() -> None:
    # GIVEN 2026-11-16, a Monday, and an account whose weeks start on Monday
    config = config_of(MONDAY)

    queued = bodies(config, {"accounts": [7], "period": "week", "date": "2026-11-16"})

    # THEN the job is the week's, as design section 12 writes its body
    assert queued == [{"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}]


def test_a_manual_week_from_its_sunday_for_an_account_whose_weeks_start_on_sunday() -> None:
    # GIVEN 2026-11-15, a Sunday
    config = config_of(SUNDAY)

    queued = bodies(config, {"accounts": [8], "period": "week", "date": "2026-11-15"})

    assert queued == [{"account_id": 8, "period": "week", "date": "2026-11-15", "force": False}]


@pytest.mark.parametrize(
    ("account", "day", "expected"),
    [
        # a Wednesday; that week's Monday is the 16th
        (MONDAY, "2026-11-18", "weeks start on monday: 2026-11-16"),
        # a Monday, but this account's week began the Sunday before
        (SUNDAY, "2026-11-16", "weeks start on sunday: 2026-11-15"),
        # a Sunday, but for a Monday account it is the last day of the week of the 9th
        (MONDAY, "2026-11-15", "weeks start on monday: 2026-11-09"),
    ],
)
def test_a_manual_week_not_named_by_its_first_day_is_refused_naming_that_day(
    account: dict[str, Any], day: str, expected: str
) -> None:
    config = config_of(account)
    account_id = account["account_id"]

    with pytest.raises(ConfigError) as caught:
        bodies(config, {"accounts": [account_id], "period": "week", "date": day})

    assert str(caught.value) == (
        f"{day} is not the first day of a week for account {account_id} ({expected})"
    )


def test_a_manual_month_not_named_by_its_first_day_is_refused_naming_the_first() -> None:
    config = config_of(MONDAY)

    with pytest.raises(ConfigError) as caught:
        bodies(config, {"accounts": [7], "period": "month", "date": "2026-11-18"})

    assert str(caught.value) == (
        "2026-11-18 is not the first day of a month for account 7 "
        "(months start on the 1st: 2026-11-01)"
    )


def test_a_month_is_refused_until_its_last_day_has_ended_in_the_accounts_zone() -> None:
    # GIVEN November in Berlin: it ends at 1 Dec 00:00 CET = 30 Nov 23:00 UTC
    config = config_of(MONDAY)
    event = {"accounts": [7], "period": "month", "date": "2026-11-01"}

    # WHEN asked for a minute before, THEN it is refused like an unfinished day
    with pytest.raises(ConfigError, match=r"^account 7: the month 2026-11-01 to 2026-11-30 has"):
        bodies(config, event, now="2026-11-30T22:59")
    # AND at the minute it ends it is queued
    assert bodies(config, event, now="2026-11-30T23:00") == [
        {"account_id": 7, "period": "month", "date": "2026-11-01", "force": False}
    ]


def test_a_week_ending_on_the_dst_change_ends_at_winter_midnight() -> None:
    # GIVEN the week of Monday 19 Oct; its Sunday 25 Oct is the change from CEST to CET, so
    # the week ends at 26 Oct 00:00 CET = 25 Oct 23:00 UTC (22:00 UTC would be CEST's midnight)
    config = config_of(MONDAY)
    event = {"accounts": [7], "period": "week", "date": "2026-10-19"}

    with pytest.raises(ConfigError, match="has not ended yet in Europe/Berlin"):
        bodies(config, event, now="2026-10-25T22:30")
    assert len(bodies(config, event, now="2026-10-25T23:00")) == 1


def test_force_and_deliver_travel_with_a_manual_week() -> None:
    config = config_of(MONDAY)
    event = {"accounts": [7], "period": "week", "date": "2026-11-16", "force": True}

    queued = bodies(config, {**event, "deliver": False})

    assert queued == [
        {"account_id": 7, "period": "week", "date": "2026-11-16", "force": True, "deliver": False}
    ]


# --- backfills of weeks and months ----------------------------------------------------------------


def test_a_backfill_of_weeks_queues_each_week_starting_in_the_range_by_each_accounts_start() -> (
    None
):
    # GIVEN Sunday 1 Nov .. Sunday 22 Nov, and one Monday and one Sunday account
    config = config_of(MONDAY, SUNDAY)

    queued = bodies(config, {"from": "2026-11-01", "to": "2026-11-22", "period": "week"})

    # THEN the Monday account gets the weeks of the Mondays inside (2, 9, 16; the 23rd is
    # after the range) and the Sunday account those of its Sundays (1, 8, 15, 22)
    assert [(b["account_id"], b["date"]) for b in queued] == [
        (7, "2026-11-02"),
        (7, "2026-11-09"),
        (7, "2026-11-16"),
        (8, "2026-11-01"),
        (8, "2026-11-08"),
        (8, "2026-11-15"),
        (8, "2026-11-22"),
    ]
    assert {b["period"] for b in queued} == {"week"}


def test_a_backfill_of_months_takes_the_months_whose_first_day_is_inside() -> None:
    # GIVEN 15 Sep .. 1 Nov: the 1sts inside are 1 Oct and 1 Nov (1 Sep is before the range)
    config = config_of(MONDAY)

    queued = bodies(config, {"accounts": [7], "from": "2026-09-15", "to": "2026-11-01",
                             "period": "month"})  # fmt: skip

    assert queued == [
        {"account_id": 7, "period": "month", "date": "2026-10-01", "force": False},
        {"account_id": 7, "period": "month", "date": "2026-11-01", "force": False},
    ]


def test_a_backfill_whose_last_week_has_not_ended_is_refused() -> None:
    # GIVEN Monday 30 Nov inside the range: its week runs to Sunday 6 Dec, not over on 3 Dec
    config = config_of(MONDAY)
    event = {"accounts": [7], "from": "2026-11-16", "to": "2026-11-30", "period": "week"}

    with pytest.raises(
        ConfigError,
        match=r"^account 7: the week 2026-11-30 to 2026-12-06 has not ended yet in Europe/Berlin",
    ):
        bodies(config, event, now="2026-12-03T12:00")


def test_a_backfill_in_which_no_week_starts_queues_nothing_and_says_why() -> None:
    # GIVEN Tuesday 17 .. Thursday 19 Nov: no Monday inside
    config = config_of(MONDAY)
    request = parse_event({"accounts": [7], "from": "2026-11-17", "to": "2026-11-19",
                           "period": "week"})  # fmt: skip

    plan = plan_requested(config, request, now=utc(LATER))

    assert plan.jobs == []
    assert plan.skipped == [
        "account 7: no week starts from 2026-11-17 to 2026-11-19 (weeks start on monday)"
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"accounts": [7], "period": "month", "date": "9999-12-01"},
        {"accounts": [7], "period": "month", "from": "9999-11-01", "to": "9999-12-31"},
    ],
    ids=["manual", "backfill"],
)
def test_a_month_past_the_end_of_the_calendar_is_one_line(event: dict[str, Any]) -> None:
    # GIVEN December 9999, whose end (1 Jan 10000) no date can hold
    config = config_of(MONDAY)

    with pytest.raises(ConfigError) as caught:
        bodies(config, event)

    assert str(caught.value).startswith("account 7: a month from 9999-")
    assert str(caught.value).endswith(" reaches past the calendar's end")


def test_a_backfill_of_days_is_unchanged_by_periods() -> None:
    config = config_of(MONDAY)

    queued = bodies(config, {"accounts": [7], "from": "2026-11-29", "to": "2026-12-01"})

    assert queued == [
        {"account_id": 7, "date": "2026-11-29", "force": False},
        {"account_id": 7, "date": "2026-11-30", "force": False},
        {"account_id": 7, "date": "2026-12-01", "force": False},
    ]


# --- the heartbeat and held-back periods ---------------------------------------------------------


WEEK = Period("week", date(2026, 11, 16), date(2026, 11, 22))
MONTH = Period("month", date(2026, 11, 1), date(2026, 11, 30))


def plan_at(config: Config, at: str, **options: Any) -> Any:
    options.setdefault("delivered", lambda account_id, day: True)
    options.setdefault("period_delivered", lambda account_id, period: False)
    return plan_scheduled(config, utc(at), **options)


def test_an_undelivered_week_is_overdue_two_hours_after_its_monday_send_instant() -> None:
    # GIVEN weekly digests at 07:00 Berlin: the week of 16 Nov is sent Monday 23 Nov 07:00 CET
    # = 06:00 UTC, so it is overdue from 08:00 UTC; the days are all delivered
    config = config_of({**MONDAY, "digests": ["daily", "weekly"]})

    before = plan_at(config, "2026-11-23T07:45")
    at = plan_at(config, "2026-11-23T08:00")

    assert before.overdue == []
    assert at.overdue == ["account 7 week/2026-11-16: not delivered by 2026-11-23T08:00:00Z"]


def test_an_undelivered_month_is_overdue_two_hours_after_the_first() -> None:
    # GIVEN monthly digests: November is sent Tuesday 1 Dec 07:00 CET = 06:00 UTC
    config = config_of({**MONDAY, "digests": ["monthly"]})

    plan = plan_at(config, "2026-12-01T09:00")

    assert plan.overdue == ["account 7 month/2026-11-01: not delivered by 2026-12-01T08:00:00Z"]


def test_a_delivered_week_is_not_overdue_and_an_unknown_one_is_not_claimed() -> None:
    config = config_of({**MONDAY, "digests": ["weekly"]})

    delivered = plan_at(config, "2026-11-23T09:00", period_delivered=lambda a, p: True)
    unknown = plan_scheduled(config, utc("2026-11-23T09:00"), delivered=lambda a, d: True)

    assert delivered.overdue == []
    # without period_delivered the week is queued (the digest side skips a sent one), but
    # nothing says it is missing, so the heartbeat does not count it
    assert unknown.overdue == []
    assert [job.name for job in unknown.jobs] == ["7/week/2026-11-16"]


def test_a_held_back_week_is_left_out_with_its_reason_and_stays_overdue() -> None:
    # GIVEN a week that failed permanently and is held back, past its deadline
    config = config_of({**MONDAY, "digests": ["weekly"]})
    asked: list[Period] = []

    def held(account: object, period: Period) -> str | None:
        asked.append(period)
        return "failed permanently (bad secret)"

    plan = plan_at(config, "2026-11-23T09:00", period_held=held)

    # THEN nothing is queued, the skip line says why, and a person still sees it overdue
    assert asked == [WEEK]
    assert plan.jobs == []
    assert plan.skipped == ["account 7 week/2026-11-16: failed permanently (bad secret)"]
    assert len(plan.overdue) == 1


def test_a_delivered_month_is_not_asked_whether_it_is_held_back() -> None:
    config = config_of({**MONDAY, "digests": ["monthly"]})

    def held(account: object, period: Period) -> str | None:
        raise AssertionError("a delivered month needs no failure lookup")

    plan = plan_at(
        config, "2026-12-01T06:00", period_delivered=lambda a, p: p == MONTH, period_held=held
    )

    assert plan.skipped == ["account 7 month/2026-11-01: already delivered"]
