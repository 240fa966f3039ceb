"""Report periods: weeks and months as runs of local days; instants worked out by hand."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime

import pytest

from sla_digest.exceptions import ConfigError, WindowError
from sla_digest.report.periods import (
    Period,
    digest_name,
    last_complete_period,
    parse_period,
    parse_week_start,
    period_kind,
    period_of,
    period_window,
    periods_ending,
)

LATER = datetime(2030, 1, 1, tzinfo=UTC)
BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def utc(text: str) -> int:
    """Epoch seconds of a UTC wall time written by hand, without any zone logic."""
    return calendar.timegm(datetime.strptime(text, "%Y-%m-%d %H:%M").timetuple())


@pytest.mark.parametrize(
    ("day", "week_start", "start", "end"),
    [
        # 20 November 2026 is a Friday.
        ("2026-11-20", "monday", "2026-11-16", "2026-11-22"),
        ("2026-11-20", "sunday", "2026-11-15", "2026-11-21"),
        # The first and last day of a week belong to it.
        ("2026-11-16", "monday", "2026-11-16", "2026-11-22"),
        ("2026-11-22", "monday", "2026-11-16", "2026-11-22"),
        ("2026-11-22", "sunday", "2026-11-22", "2026-11-28"),
        ("2026-11-21", "sunday", "2026-11-15", "2026-11-21"),
        # Across a year: Thursday 1 January 2027.
        ("2027-01-01", "monday", "2026-12-28", "2027-01-03"),
    ],
)
def test_a_week_is_seven_days_from_the_accounts_week_start(
    day: str, week_start: str, start: str, end: str
) -> None:
    # GIVEN a day WHEN its week is taken THEN it runs from the week start, seven days
    period = period_of(date.fromisoformat(day), "week", week_start)  # type: ignore[arg-type]
    assert (period.start, period.end) == (date.fromisoformat(start), date.fromisoformat(end))
    assert period.days == 7
    assert len(period.dates()) == 7


@pytest.mark.parametrize(
    ("day", "start", "end", "days"),
    [
        ("2026-11-20", "2026-11-01", "2026-11-30", 30),
        ("2026-12-31", "2026-12-01", "2026-12-31", 31),
        ("2027-02-14", "2027-02-01", "2027-02-28", 28),
        ("2028-02-29", "2028-02-01", "2028-02-29", 29),  # a leap year
    ],
)
def test_a_month_is_the_calendar_month(day: str, start: str, end: str, days: int) -> None:
    period = period_of(date.fromisoformat(day), "month")
    assert (period.start.isoformat(), period.end.isoformat(), period.days) == (start, end, days)


@pytest.mark.parametrize(
    ("kind", "start", "week_start", "zone", "since", "until", "hours"),
    [
        # Europe/Berlin: CET (+1), CEST (+2) from 02:00 on 29 March 2026, CET again from
        # 03:00 CEST on 25 October 2026.
        ("week", "2026-11-16", "monday", BERLIN, "2026-11-15 23:00", "2026-11-22 23:00", 168),
        ("week", "2026-03-23", "monday", BERLIN, "2026-03-22 23:00", "2026-03-29 22:00", 167),
        ("week", "2026-10-19", "monday", BERLIN, "2026-10-18 22:00", "2026-10-25 23:00", 169),
        # A Sunday week starting on the change day itself.
        ("week", "2026-03-29", "sunday", BERLIN, "2026-03-28 23:00", "2026-04-04 22:00", 167),
        # America/New_York: EDT (-4) until 1 November 2026, then EST (-5).
        ("week", "2026-11-01", "sunday", NEW_YORK, "2026-11-01 04:00", "2026-11-08 05:00", 169),
        ("month", "2026-11-01", "monday", BERLIN, "2026-10-31 23:00", "2026-11-30 23:00", 720),
        ("month", "2026-10-01", "monday", BERLIN, "2026-09-30 22:00", "2026-10-31 23:00", 745),
        ("month", "2026-03-01", "monday", BERLIN, "2026-02-28 23:00", "2026-03-31 22:00", 743),
    ],
)  # fmt: skip
def test_a_periods_window_runs_from_local_midnight_to_local_midnight(
    kind: str, start: str, week_start: str, zone: str, since: str, until: str, hours: int
) -> None:
    # GIVEN a period in a zone whose midnights were worked out by hand
    period = period_of(date.fromisoformat(start), kind, week_start)  # type: ignore[arg-type]
    # WHEN its window is computed
    window = period_window(period, zone, now=LATER)
    # THEN the bounds are those midnights, a DST week is 167 or 169 hours, and the window's
    # day is the first day of the period
    assert (window.since, window.until) == (utc(since), utc(until))
    assert window.hours == hours
    assert window.day == period.start


def test_consecutive_weeks_share_their_boundary() -> None:
    # GIVEN the DST week and the week after it
    first = period_of(date(2026, 10, 19), "week")
    second = period_of(date(2026, 10, 26), "week")
    # THEN one window ends exactly where the next begins
    assert (
        period_window(first, BERLIN, now=LATER).until
        == period_window(second, BERLIN, now=LATER).since
    )
    assert first.previous() == Period("week", date(2026, 10, 12), date(2026, 10, 18))
    assert second.previous() == first


def test_the_previous_month_is_the_calendar_month_before() -> None:
    assert period_of(date(2026, 3, 5), "month").previous() == Period(
        "month", date(2026, 2, 1), date(2026, 2, 28)
    )
    assert period_of(date(2027, 1, 5), "month").previous().start == date(2026, 12, 1)


def test_a_period_that_has_not_ended_is_refused_unless_partial_is_allowed() -> None:
    # GIVEN the week of 16 November 2026 and Sunday 22 November 23:30 in Berlin
    week = period_of(date(2026, 11, 16), "week")
    sunday_night = datetime(2026, 11, 22, 22, 30, tzinfo=UTC)
    # WHEN its window is asked for THEN it is refused, naming the period
    with pytest.raises(WindowError, match="2026-11-16 to 2026-11-22 has not ended yet"):
        period_window(week, "Europe/Berlin", now=sunday_night)
    # AND allowed when partial, and from midnight on
    assert period_window(week, "Europe/Berlin", now=sunday_night, allow_partial=True)
    assert period_window(week, "Europe/Berlin", now=datetime(2026, 11, 22, 23, 0, tzinfo=UTC))


def test_the_last_complete_period_is_the_one_before_todays() -> None:
    # GIVEN Monday 23 November 2026, 07:00 in Berlin
    now = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
    # THEN the last complete week is the one of 16 November, the last month October
    assert last_complete_period("week", "Europe/Berlin", now).start == date(2026, 11, 16)
    assert last_complete_period("month", "Europe/Berlin", now).start == date(2026, 10, 1)
    # AND at 23:30 UTC on Sunday 22 November it is already Monday in Berlin
    sunday = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)
    assert last_complete_period("week", "Europe/Berlin", sunday).start == date(2026, 11, 16)
    assert last_complete_period("week", "UTC", sunday).start == date(2026, 11, 9)


def test_config_names_and_period_names_map_both_ways() -> None:
    assert [period_kind(name) for name in ("daily", "weekly", "monthly")] == [
        "day",
        "week",
        "month",
    ]
    assert [digest_name(kind) for kind in ("day", "week", "month")] == [
        "daily",
        "weekly",
        "monthly",
    ]


@pytest.mark.parametrize("text", ["fortnight", "Week", "", None, 7])
def test_an_unknown_period_is_refused_naming_the_choices(text: object) -> None:
    with pytest.raises(ConfigError, match="use week or month"):
        parse_period(text)


@pytest.mark.parametrize("text", ["Monday", "saturday", "mon", None])
def test_a_misspelt_week_start_is_refused_naming_the_choices(text: object) -> None:
    with pytest.raises(ConfigError, match="is not one of monday, sunday"):
        parse_week_start(text)


def test_the_period_block_round_trips_and_checks_its_day_count() -> None:
    week = period_of(date(2026, 11, 18), "week")
    doc = week.to_dict()
    assert doc == {"kind": "week", "start": "2026-11-16", "end": "2026-11-22", "days": 7}
    assert Period.from_dict(doc) == week
    with pytest.raises(ValueError, match="has 7 days"):
        Period.from_dict({**doc, "days": 6})


def test_the_periods_ending_on_given_days_are_those_the_digests_name() -> None:
    # GIVEN Sunday 29 and Monday 30 November 2026 (the last day of a week and of a month)
    days = [date(2026, 11, 29), date(2026, 11, 30)]
    # THEN a weekly account has the week of 23 November end, a monthly one November
    assert periods_ending(days, ["daily", "weekly"]) == [
        Period("week", date(2026, 11, 23), date(2026, 11, 29))
    ]
    assert periods_ending(days, ["monthly"]) == [
        Period("month", date(2026, 11, 1), date(2026, 11, 30))
    ]
    # AND with Sunday weeks, the week of 22 November ends on Saturday 28: none here
    assert periods_ending(days, ["weekly"], "sunday") == []
    assert periods_ending(days, ["daily"]) == []
