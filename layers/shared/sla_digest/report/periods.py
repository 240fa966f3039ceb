"""Report periods: a day, a week from the account's ``week_start``, a calendar month.

A period is a run of whole local days; its window is ``[since, until)`` from local midnight of
the first day to local midnight after the last, in the account's zone, so a week across a DST
change is 167 or 169 hours and a month keeps exactly its days (design, section 12).

The configuration names digests ``daily``/``weekly``/``monthly``; jobs, deliveries and the
summary name periods ``day``/``week``/``month``. :func:`period_kind` and :func:`digest_name`
are the one place that maps between the two.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from sla_digest.exceptions import ConfigError, WindowError
from sla_digest.window import Window, load_timezone, report_window

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sla_digest.config import DigestName, WeekStart

__all__ = [
    "PERIOD_KINDS",
    "REPORT_PERIODS",
    "WEEK_STARTS",
    "Period",
    "PeriodKind",
    "digest_name",
    "last_complete_period",
    "parse_period",
    "parse_week_start",
    "period_kind",
    "period_of",
    "period_starting_on",
    "period_window",
    "periods_ending",
    "periods_starting",
]

PeriodKind = Literal["day", "week", "month"]
PERIOD_KINDS: tuple[PeriodKind, ...] = ("day", "week", "month")
REPORT_PERIODS: tuple[PeriodKind, ...] = ("week", "month")
"""The periods built from archived days (a day is fetched, not built)."""
WEEK_STARTS: tuple[WeekStart, ...] = ("monday", "sunday")

_KIND_OF_DIGEST: dict[DigestName, PeriodKind] = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
}
_DIGEST_OF_KIND: dict[PeriodKind, DigestName] = {k: d for d, k in _KIND_OF_DIGEST.items()}
_FIRST_WEEKDAY = {"monday": 0, "sunday": 6}  # date.weekday() of the week's first day


def period_kind(digest: DigestName) -> PeriodKind:
    """``daily`` → ``day``, ``weekly`` → ``week``, ``monthly`` → ``month``."""
    return _KIND_OF_DIGEST[digest]


def digest_name(kind: PeriodKind) -> DigestName:
    """``day`` → ``daily``, ``week`` → ``weekly``, ``month`` → ``monthly``."""
    return _DIGEST_OF_KIND[kind]


def parse_period(text: Any, *, allowed: tuple[PeriodKind, ...] = REPORT_PERIODS) -> PeriodKind:
    """A period named by a person or a message; :class:`ConfigError` naming the choices."""
    for kind in allowed:
        if text == kind:
            return kind
    choices = (
        " or ".join(allowed) if len(allowed) < 3 else f"{', '.join(allowed[:-1])} or {allowed[-1]}"
    )
    raise ConfigError(f"unknown period {text!r}: use {choices}")


def parse_week_start(text: Any) -> WeekStart:
    """``monday`` or ``sunday``; anything else is a :class:`ConfigError` saying so."""
    for start in WEEK_STARTS:
        if text == start:
            return start
    raise ConfigError(f"week start {text!r} is not one of {', '.join(WEEK_STARTS)}")


@dataclass(frozen=True, slots=True, order=True)
class Period:
    """A run of whole local days, ``start`` to ``end`` inclusive."""

    kind: PeriodKind
    start: date
    end: date

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"period ends ({self.end}) before it starts ({self.start})")

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def dates(self) -> list[date]:
        """Every day of the period, in order."""
        return [self.start + timedelta(days=n) for n in range(self.days)]

    def contains(self, day: date) -> bool:
        return self.start <= day <= self.end

    def previous(self) -> Period:
        """The period of the same kind just before this one (the trend compares with it)."""
        if self.kind == "week":
            return Period("week", self.start - timedelta(days=7), self.start - timedelta(days=1))
        return period_of(self.start - timedelta(days=1), self.kind)

    def to_dict(self) -> dict[str, Any]:
        """The summary's ``period`` block (schema_version 2)."""
        return {
            "kind": self.kind,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "days": self.days,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Period:
        kind = parse_period(doc["kind"], allowed=PERIOD_KINDS)
        period = cls(kind, date.fromisoformat(doc["start"]), date.fromisoformat(doc["end"]))
        if doc["days"] != period.days:
            raise ValueError(f"period {period.start}..{period.end} has {period.days} days")
        return period

    def __str__(self) -> str:
        return self.start.isoformat() if self.kind == "day" else f"{self.kind} {self.start}"


def period_of(day: date, kind: PeriodKind, week_start: WeekStart = "monday") -> Period:
    """The period of ``kind`` that contains ``day``."""
    if kind == "day":
        return Period("day", day, day)
    if kind == "week":
        first = _FIRST_WEEKDAY[parse_week_start(week_start)]
        start = day - timedelta(days=(day.weekday() - first) % 7)
        return Period("week", start, start + timedelta(days=6))
    if kind == "month":
        start = day.replace(day=1)
        following = (start + timedelta(days=32)).replace(day=1)
        return Period("month", start, following - timedelta(days=1))
    raise ConfigError(f"unknown period {kind!r}: use day, week or month")


def period_starting_on(
    day: date, kind: PeriodKind, week_start: WeekStart = "monday"
) -> Period | None:
    """The period of ``kind`` whose first day is ``day``, or ``None`` when ``day`` starts none
    (a Wednesday and a week; the 18th and a month)."""
    period = period_of(day, kind, week_start)
    return period if period.start == day else None


def period_window(
    period: Period,
    timezone_name: str,
    *,
    now: datetime | None = None,
    allow_partial: bool = False,
) -> Window:
    """``[since, until)`` of ``period`` in ``timezone_name``; refuse one that has not ended.

    ``Window.day`` is the first day, as the summary's ``date`` is.
    """
    first = report_window(period.start, timezone_name, allow_partial=True)
    last = report_window(period.end, timezone_name, allow_partial=True)
    current = now if now is not None else datetime.now(tz=UTC)
    if current.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not allow_partial and current.timestamp() < last.until:
        raise WindowError(
            f"the {period.kind} {period.start.isoformat()} to {period.end.isoformat()} has not "
            f"ended yet in {timezone_name}; choose an earlier date or allow a partial {period.kind}"
        )
    return Window(day=period.start, timezone=timezone_name, since=first.since, until=last.until)


def last_complete_period(
    kind: PeriodKind, timezone_name: str, now: datetime, week_start: WeekStart = "monday"
) -> Period:
    """The latest period of ``kind`` that has ended in ``timezone_name`` at ``now``."""
    today = now.astimezone(load_timezone(timezone_name)).date()
    return period_of(today, kind, week_start).previous()


def periods_ending(
    days: Sequence[date], digests: Iterable[DigestName], week_start: WeekStart = "monday"
) -> list[Period]:
    """The weeks and months among ``digests`` whose last day is one of ``days``: those due
    when those days are (a week on the first day of the next one, a month on the 1st)."""
    wanted = set(digests)
    ending: list[Period] = []
    for kind in REPORT_PERIODS:
        if digest_name(kind) in wanted:
            for day in days:
                period = period_of(day, kind, week_start)
                if period.end == day:
                    ending.append(period)
    return ending


def periods_starting(
    kind: PeriodKind, first: date, last: date, week_start: WeekStart = "monday"
) -> list[Period]:
    """Every period of ``kind`` whose first day lies in ``first``..``last``, oldest first
    (a backfill of weeks or months: each start falls in exactly one range of a split one)."""
    found: list[Period] = []
    period = period_of(first, kind, week_start)
    if period.start < first:
        if period.end >= last:
            return []  # ``first`` and ``last`` inside one period: none starts in between
        period = period_of(period.end + timedelta(days=1), kind, week_start)
    while period.start <= last:
        found.append(period)
        if period.end >= last:
            break  # the next one starts after ``last`` (and may lie past the calendar's end)
        period = period_of(period.end + timedelta(days=1), kind, week_start)
    return found
