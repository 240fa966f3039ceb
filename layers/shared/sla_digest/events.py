"""Reporting-event records and the one place that decides which rows count.

The client, ``verify`` and ``render`` all derive events from raw page bodies through
:func:`classify_rows`, so a summary re-derived from the archive is the summary that was sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

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


@dataclass(frozen=True, slots=True)
class ReportingEvent:
    """One row of ``reporting_events``, reduced to what the summary needs."""

    id: int
    name: str
    value: float
    value_in_business_hours: float | None
    inbox_id: int | None
    user_id: int | None
    conversation_id: int | None
    created_at: float  # epoch seconds, UTC


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


def _optional_id(raw: Any) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) else None


def classify_rows(rows: Iterable[Any], window: Window, into: EventSet | None = None) -> EventSet:
    """Add rows to an :class:`EventSet`, de-duplicating by ``id`` and counting what is ignored.

    A row without an integer id cannot be de-duplicated, so it is counted as invalid every time.
    """
    result = into if into is not None else EventSet()
    seen = result.seen_ids
    ignored = result.ignored
    keep = result.events.append
    since, until = window.since, window.until
    for row in rows:
        row_id = row.get("id") if isinstance(row, dict) else None
        if not isinstance(row_id, int) or isinstance(row_id, bool):
            ignored.invalid += 1
            continue
        if row_id in seen:
            continue
        seen.add(row_id)
        name = row.get("name")
        if name not in EVENT_NAMES:
            ignored.unknown_name += 1
            continue
        created = row.get("created_at")
        try:
            created_at = parse_timestamp(created) if isinstance(created, str) else None
        except ValueError:
            created_at = None
        value = _number(row.get("value"))
        if created_at is None or value is None:
            ignored.invalid += 1
            continue
        if not since <= created_at < until:
            ignored.outside_window += 1
            continue
        business = row.get("value_in_business_hours")
        keep(
            ReportingEvent(
                id=row_id,
                name=name,
                value=value,
                value_in_business_hours=None if business is None else _number(business),
                inbox_id=_optional_id(row.get("inbox_id")),
                user_id=_optional_id(row.get("user_id")),
                conversation_id=_optional_id(row.get("conversation_id")),
                created_at=created_at,
            )
        )
    return result
