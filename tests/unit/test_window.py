"""The report day: expected instants are worked out by hand from each zone's published rules."""

from __future__ import annotations

import calendar
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from sla_digest.exceptions import ConfigError, WindowError
from sla_digest.window import parse_date, previous_day, report_window, utc_text

LATER = datetime(2030, 1, 1, tzinfo=UTC)


def utc(text: str) -> int:
    """Epoch seconds of a UTC wall time written by hand, without any zone logic."""
    return calendar.timegm(datetime.strptime(text, "%Y-%m-%d %H:%M").timetuple())


@pytest.mark.parametrize(
    ("zone", "day", "since", "until", "hours"),
    [
        # Europe/Berlin: CET (+1) until 02:00 on 29 March 2026, then CEST (+2).
        ("Europe/Berlin", "2026-03-29", "2026-03-28 23:00", "2026-03-29 22:00", 23),
        # Back to CET at 03:00 CEST on 25 October 2026.
        ("Europe/Berlin", "2026-10-25", "2026-10-24 22:00", "2026-10-25 23:00", 25),
        # America/New_York: EST (-5) → EDT (-4) on 8 March 2026, back on 1 November 2026.
        ("America/New_York", "2026-03-08", "2026-03-08 05:00", "2026-03-09 04:00", 23),
        ("America/New_York", "2026-11-01", "2026-11-01 04:00", "2026-11-02 05:00", 25),
        # Half- and quarter-hour offsets, no DST.
        ("Asia/Kolkata", "2026-11-20", "2026-11-19 18:30", "2026-11-20 18:30", 24),
        ("Asia/Kathmandu", "2026-11-20", "2026-11-19 18:15", "2026-11-20 18:15", 24),
        # Lord Howe Island moves its clocks by half an hour (+10:30 → +11) on 4 October 2026.
        ("Australia/Lord_Howe", "2026-10-04", "2026-10-03 13:30", "2026-10-04 13:00", 23.5),
        # Havana springs forward at midnight: the day starts at 01:00 CDT (05:00 UTC).
        ("America/Havana", "2026-03-08", "2026-03-08 05:00", "2026-03-09 04:00", 23),
        ("UTC", "2026-11-20", "2026-11-20 00:00", "2026-11-21 00:00", 24),
    ],
)
def test_window_is_the_local_calendar_day_end_exclusive(
    zone: str, day: str, since: str, until: str, hours: float
) -> None:
    # GIVEN a day in a zone whose midnights were worked out by hand
    # WHEN its report window is computed
    window = report_window(date.fromisoformat(day), zone, now=LATER)
    # THEN the bounds are those midnights and the length follows
    assert (window.since, window.until) == (utc(since), utc(until))
    assert window.hours == hours


def test_adjacent_days_share_their_boundary_so_no_event_is_counted_twice() -> None:
    # GIVEN the DST-change day and the day after it in Berlin
    first = report_window(date(2026, 10, 25), "Europe/Berlin", now=LATER)
    second = report_window(date(2026, 10, 26), "Europe/Berlin", now=LATER)
    # THEN one ends exactly where the next begins
    assert first.until == second.since


def test_a_day_not_yet_over_in_its_zone_is_refused() -> None:
    # GIVEN 23:30 UTC on 20 November: already the 21st in Kolkata, still the 20th in New York
    now = datetime(2026, 11, 20, 23, 30, tzinfo=UTC)
    # THEN the 20th is over in Kolkata but not in New York
    assert report_window(date(2026, 11, 20), "Asia/Kolkata", now=now).until <= now.timestamp()
    with pytest.raises(WindowError, match="has not ended yet in America/New_York"):
        report_window(date(2026, 11, 20), "America/New_York", now=now)


def test_a_partial_day_is_allowed_when_asked_for() -> None:
    # GIVEN a moment inside the day
    now = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
    # WHEN a partial day is allowed explicitly
    window = report_window(date(2026, 11, 20), "UTC", now=now, allow_partial=True)
    # THEN the full-day bounds are returned
    assert window.until == utc("2026-11-21 00:00")


def test_the_day_counts_as_over_at_exactly_its_end() -> None:
    now = datetime(2026, 11, 21, 0, 0, tzinfo=UTC)
    assert report_window(date(2026, 11, 20), "UTC", now=now).until == now.timestamp()


@pytest.mark.parametrize("zone", ["Mars/Olympus", "", " Europe/Berlin", "../etc/passwd"])
def test_an_unknown_zone_is_a_config_error_naming_it(zone: str) -> None:
    with pytest.raises(ConfigError, match=r"time zone|IANA"):
        report_window(date(2026, 11, 20), zone, now=LATER)


@pytest.mark.parametrize("text", ["2026-13-01", "20261120", "2026-11-20T00:00", "yesterday", ""])
def test_a_malformed_date_is_refused_with_the_expected_form(text: str) -> None:
    with pytest.raises(WindowError, match="YYYY-MM-DD"):
        parse_date(text)


def test_previous_day_is_taken_in_the_accounts_zone() -> None:
    # GIVEN 01:00 UTC on the 21st: still the 20th in New York, already the 21st in Kolkata
    moment = datetime(2026, 11, 21, 1, 0, tzinfo=UTC)
    assert previous_day(moment, "America/New_York") == date(2026, 11, 19)
    assert previous_day(moment, "Asia/Kolkata") == date(2026, 11, 20)


def test_the_last_day_of_the_calendar_is_a_window_error_not_an_overflow() -> None:
    # GIVEN 9999-12-31, whose end (the next midnight) no date can hold
    with pytest.raises(WindowError, match="outside the range"):
        report_window(date(9999, 12, 31), "UTC", now=LATER, allow_partial=True)


def test_stored_times_are_utc_to_the_second_with_a_z() -> None:
    # GIVEN 07:00:03.999999 in Berlin on a winter day (UTC+1)
    moment = datetime(2026, 11, 21, 7, 0, 3, 999_999, tzinfo=ZoneInfo("Europe/Berlin"))
    # THEN it is stored as 06:00:03 UTC, the fraction dropped
    assert utc_text(moment, name="fetched_at") == "2026-11-21T06:00:03Z"


def test_a_naive_time_is_refused_by_the_name_it_was_given() -> None:
    with pytest.raises(ValueError, match="recorded_at must be timezone-aware"):
        utc_text(datetime(2026, 11, 21, 6, 0), name="recorded_at")
