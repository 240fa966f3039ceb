"""Reporting-event records and the one place that decides which rows count.

The client, ``verify`` and ``render`` all derive events from raw page bodies through
:func:`classify_rows`, so a summary re-derived from the archive is the summary that was sent.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
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


@dataclass(slots=True)
class ReportingEvent:
    """One row of ``reporting_events``, reduced to what the summary needs.

    Not frozen: a frozen dataclass pays for ``object.__setattr__`` on every field, and a day
    holds 100,000 of these.
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


def _iso(epoch: int) -> str:
    """An epoch second in Chatwoot's exact timestamp form, for comparing as text."""
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


# Chatwoot's own form: fixed width, so such strings order exactly as the instants they name.
_CHATWOOT_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


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


def _inside(created: Any, since: int, until: int) -> bool | None:
    """Whether a ``created_at`` not in Chatwoot's exact form is inside; ``None`` if unreadable."""
    if not isinstance(created, str):
        return None
    try:
        moment = datetime.fromisoformat(created)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return since <= moment.timestamp() < until


def classify_rows(rows: Iterable[Any], window: Window, into: EventSet | None = None) -> EventSet:
    """Add rows to an :class:`EventSet`, de-duplicating by ``id`` and counting what is ignored.

    A row without an integer id cannot be de-duplicated, so it is counted as invalid every time.
    This loop runs once per event of the day, so well-formed rows take a fast path: exact type
    checks, and ``created_at`` compared as text with the window's bounds in the same form.
    """
    result = into if into is not None else EventSet()
    seen = result.seen_ids
    remember = seen.add
    ignored = result.ignored
    keep = result.events.append
    names = EVENT_NAMES
    exact_time = _CHATWOOT_TIME.fullmatch
    since_text, until_text = _iso(window.since), _iso(window.until)
    since, until = window.since, window.until
    infinity = math.inf
    for row in rows:
        if type(row) is not dict:
            ignored.invalid += 1
            continue
        get = row.get
        row_id = get("id")
        if type(row_id) is not int:
            ignored.invalid += 1
            continue
        if row_id in seen:
            continue
        remember(row_id)
        name = get("name")
        if name not in names:
            ignored.unknown_name += 1
            continue
        value = get("value")
        if type(value) is not float or not 0.0 <= value < infinity:
            value = _number(value)
            if value is None:
                ignored.invalid += 1
                continue
        created = get("created_at")
        if type(created) is str and exact_time(created):
            inside: bool | None = since_text <= created < until_text
        else:
            inside = _inside(created, since, until)
        if inside is None:
            ignored.invalid += 1
            continue
        if not inside:
            ignored.outside_window += 1
            continue
        business = get("value_in_business_hours")
        if business is not None and (type(business) is not float or not 0.0 <= business < infinity):
            business = _number(business)
        inbox_id = get("inbox_id")
        user_id = get("user_id")
        conversation_id = get("conversation_id")
        keep(
            ReportingEvent(
                row_id,
                name,
                value,
                business,
                inbox_id if type(inbox_id) is int else None,
                user_id if type(user_id) is int else None,
                conversation_id if type(conversation_id) is int else None,
                str(created),
            )
        )
    return result
