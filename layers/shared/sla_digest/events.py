"""Reporting-event records and the one place that decides which rows count.

The client, ``verify`` and ``render`` all derive events from raw page bodies through
:func:`classify_rows`, so a summary re-derived from the archive is the summary that was sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable

    from .window import Window

__all__ = [
    "COUNTED_NAMES",
    "DURATION_NAMES",
    "EVENT_NAMES",
    "EventSet",
    "Ignored",
    "ReportingEvent",
    "classify_rows",
    "parse_timestamp",
]

DURATION_NAMES: tuple[str, ...] = ("first_response", "reply_time", "conversation_resolved")
COUNTED_NAMES: tuple[str, ...] = (
    "conversation_opened",
    "conversation_bot_resolved",
    "conversation_bot_handoff",
    "conversation_captain_inference_resolved",
    "conversation_captain_inference_handoff",
)
EVENT_NAMES: frozenset[str] = frozenset(DURATION_NAMES + COUNTED_NAMES)


class ReportingEvent(NamedTuple):
    """One row of ``reporting_events``, reduced to what the summary needs.

    A named tuple rather than a dataclass: a day holds 100,000 of these, and a tuple is built
    in a fraction of the time a dataclass's ``__init__`` takes, is immutable, and unpacks fast.
    """

    id: int
    name: str
    value: float
    value_in_business_hours: float | None
    inbox_id: int | None
    user_id: int | None
    conversation_id: int | None
    created_at: str  # as Chatwoot wrote it: ISO-8601 UTC with milliseconds


@dataclass(slots=True)
class Ignored:
    """Rows left out of the summary, by reason (the ``source.ignored`` block)."""

    unknown_name: int = 0
    invalid: int = 0
    outside_window: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "unknown_name": self.unknown_name,
            "invalid": self.invalid,
            "outside_window": self.outside_window,
        }


@dataclass(slots=True)
class EventSet:
    """Unique events kept for a window, plus what was ignored and why."""

    events: list[ReportingEvent] = field(default_factory=list)
    ignored: Ignored = field(default_factory=Ignored)
    seen_ids: set[int] = field(default_factory=set)

    @property
    def unique_rows(self) -> int:
        """Every distinct row id seen, kept or ignored: what ``meta.count`` counts."""
        return len(self.seen_ids)


def parse_timestamp(text: str) -> float:
    """Epoch seconds of Chatwoot's ISO-8601 UTC timestamps (``2026-06-16T09:01:36.412Z``)."""
    return datetime.fromisoformat(text).timestamp()


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, int | float | str):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def classify_rows(rows: Iterable[Any], window: Window, into: EventSet | None = None) -> EventSet:
    """Add rows to an :class:`EventSet`, de-duplicating by ``id`` and counting what is ignored.

    A row without an integer id cannot be de-duplicated, so it is counted as invalid every time.
    ``created_at`` is placed by the instant it names, whatever its ISO-8601 form; one without a
    zone or a date is invalid. This loop runs once per event of the day, so well-formed rows
    take a fast path: fields read by subscript (rows lacking one fall back to ``get``), exact
    type checks, and the C parser ``datetime.fromisoformat`` (faster than a regular expression
    check, and exact) compared with aware bounds.
    """
    result = into if into is not None else EventSet()
    seen = result.seen_ids
    remember = seen.add
    ignored = result.ignored
    keep = result.events.append
    names = EVENT_NAMES
    parse_iso = datetime.fromisoformat
    since = datetime.fromtimestamp(window.since, UTC)
    until = datetime.fromtimestamp(window.until, UTC)
    infinity = math.inf
    # tuple.__new__ skips the named tuple's Python-level __new__: the fields are already in order.
    build, event = tuple.__new__, ReportingEvent
    for row in rows:
        if type(row) is not dict:
            ignored.invalid += 1
            continue
        try:
            row_id = row["id"]
            name = row["name"]
            value = row["value"]
            created = row["created_at"]
            business = row["value_in_business_hours"]
            inbox_id = row["inbox_id"]
            user_id = row["user_id"]
            conversation_id = row["conversation_id"]
        except KeyError:
            get = row.get
            row_id, name, value, created = get("id"), get("name"), get("value"), get("created_at")
            business, inbox_id = get("value_in_business_hours"), get("inbox_id")
            user_id, conversation_id = get("user_id"), get("conversation_id")
        if type(row_id) is not int:
            ignored.invalid += 1
            continue
        if row_id in seen:
            continue
        remember(row_id)
        if type(name) is not str or name not in names:  # a list or object would not hash
            ignored.unknown_name += 1
            continue
        if type(value) is not float or not 0.0 <= value < infinity:
            value = _number(value)
            if value is None:
                ignored.invalid += 1
                continue
        try:
            # Comparing a time without a zone to the aware bounds raises TypeError.
            inside = since <= parse_iso(created) < until
        except (TypeError, ValueError):
            ignored.invalid += 1
            continue
        if not inside:
            ignored.outside_window += 1
            continue
        if business is not None and (type(business) is not float or not 0.0 <= business < infinity):
            business = _number(business)
        keep(
            build(
                event,
                (
                    row_id,
                    name,
                    value,
                    business,
                    inbox_id if type(inbox_id) is int else None,
                    user_id if type(user_id) is int else None,
                    conversation_id if type(conversation_id) is int else None,
                    created,
                ),
            )
        )
    return result
