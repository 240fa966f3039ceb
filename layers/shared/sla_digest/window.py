"""The report day: one calendar day in the account's own time zone, as ``[since, until)``.

Chatwoot filters on ``created_at`` with the end exclusive, so adjacent days never share an event,
and a DST day is simply 23 or 25 hours long.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sla_digest.exceptions import ConfigError, WindowError

__all__ = [
    "Window",
    "load_timezone",
    "parse_date",
    "previous_day",
    "report_window",
    "utc_text",
]


@dataclass(frozen=True, slots=True)
class Window:
    """A report day and its epoch-second bounds."""

    day: date
    timezone: str
    since: int
    until: int

    @property
    def hours(self) -> float:
        return (self.until - self.since) / 3600


def load_timezone(name: str) -> ZoneInfo:
    """The IANA zone ``name``, or a :class:`ConfigError` naming it."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise ConfigError(f"time zone {name!r} is not an IANA name such as 'Europe/Berlin'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(
            f"unknown time zone {name!r}: use an IANA name such as 'Europe/Berlin'"
        ) from exc


def parse_date(text: str) -> date:
    """A ``YYYY-MM-DD`` date, or a :class:`WindowError` saying so."""
    try:
        if len(text) != 10:
            raise ValueError(text)
        return date.fromisoformat(text)
    except (TypeError, ValueError) as exc:
        raise WindowError(f"date {text!r} is not a calendar date in the form YYYY-MM-DD") from exc


def _midnight(day: date, zone: ZoneInfo) -> int:
    # Midnight can fall in a DST gap in a few zones; fold=0 with a round-trip through UTC picks
    # the first instant of the day as the zone's clocks show it.
    local = datetime.combine(day, time(0), tzinfo=zone)
    return int(local.astimezone(UTC).timestamp())


def report_window(
    day: date,
    timezone_name: str,
    *,
    now: datetime | None = None,
    allow_partial: bool = False,
) -> Window:
    """The window of ``day`` in ``timezone_name``; refuse a day that has not ended yet.

    ``now`` must be timezone-aware; it defaults to the current time.
    """
    zone = load_timezone(timezone_name)
    try:
        since = _midnight(day, zone)
        until = _midnight(day + timedelta(days=1), zone)
    except (OverflowError, ValueError) as exc:
        raise WindowError(
            f"{day.isoformat()} is outside the range of dates that can be reported on"
        ) from exc
    current = now if now is not None else datetime.now(tz=UTC)
    if current.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not allow_partial and current.timestamp() < until:
        raise WindowError(
            f"{day.isoformat()} has not ended yet in {timezone_name}; "
            "choose an earlier date or allow a partial day"
        )
    return Window(day=day, timezone=timezone_name, since=since, until=until)


def previous_day(moment: datetime, timezone_name: str) -> date:
    """The calendar day before ``moment`` as seen in ``timezone_name``."""
    zone = load_timezone(timezone_name)
    return moment.astimezone(zone).date() - timedelta(days=1)


def utc_text(moment: datetime, *, name: str) -> str:
    """``moment`` as the archive stores times: ISO-8601 in UTC, to the second, ending in ``Z``.

    A naive time would be taken for the machine's local time, so it is refused, naming ``name``.
    """
    if moment.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
