"""Reporting-event records and the one place that decides which rows count.

The client, ``verify`` and ``render`` all derive events from raw page bodies through
:func:`classify_rows`, so a summary re-derived from the archive is the summary that was sent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from operator import attrgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sla_digest.chatwoot.rows import Row, row_from_dict

if TYPE_CHECKING:
    from collections.abc import Iterable

    from sla_digest.window import Window

__all__ = [
    "COUNTED_NAMES",
    "DURATION_NAMES",
    "EVENT_NAMES",
    "CellKey",
    "Columns",
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
    """One row of ``reporting_events``, reduced to what the summary and the breach list need.

    A named tuple rather than a dataclass: a day holds 100,000 of these, and a tuple is built
    in a fraction of the time a dataclass's ``__init__`` takes and is immutable. Besides the
    figures it keeps only the conversation id and ``created_at`` (the text as received): the
    list of conversations to act on names them, and they are objects the row already holds.
    """

    id: int
    name: str
    value: float
    value_in_business_hours: float | None
    inbox_id: int | None
    user_id: int | None
    conversation_id: int | None = None
    created_at: str | None = None


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


type CellKey = tuple[str, int | None, int | None]
"""``(name, inbox_id, user_id)``: the finest grouping the summary reports on."""


@dataclass(slots=True)
class Columns:
    """The kept events of one :data:`CellKey` as parallel lists, in arrival order.

    ``conversations`` and ``created`` (``created_at`` as received) are only read for the rows
    over a target, but kept for every row: two appends of objects the row holds anyway cost
    less than a second pass over the pages to find them again.
    """

    ids: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    hours: list[float | None] = field(default_factory=list)  # value_in_business_hours
    conversations: list[int | None] = field(default_factory=list)  # conversation_id
    created: list[str | None] = field(default_factory=list)  # created_at
    # Filled only for an EventSet(details=True), for the events dataset: the row's fields as
    # received (not checked at all).
    starts: list[object] = field(default_factory=list)  # event_start_time
    ends: list[object] = field(default_factory=list)  # event_end_time


_by_id = attrgetter("id")


class EventSet:
    """Unique events kept for a window, plus what was ignored and why.

    Kept events are stored as :class:`Columns` per (name, inbox_id, user_id) cell, filled by
    :func:`classify_rows` while each row is still in the CPU cache: holding a record object
    per event, or reading 100,000 scattered records again later, costs more than parsing the
    rows did. :attr:`events` gives them as :class:`ReportingEvent` records, ordered by id,
    built when asked for.

    With ``details``, each kept event also keeps the fields only the events dataset needs
    (start and end time, created_at, conversation id), so the dataset is written from the
    same pass over the rows as the summary. Off by default: holding them costs memory (about
    30 MB for 100,000 events) that a report over archived days has no use for.
    """

    __slots__ = ("cells", "details", "ignored", "seen_ids")

    def __init__(
        self,
        events: Iterable[ReportingEvent] = (),
        ignored: Ignored | None = None,
        seen_ids: set[int] | None = None,
        *,
        details: bool = False,
    ) -> None:
        self.cells: dict[CellKey, Columns] = {}
        self.details = details
        self.ignored = ignored if ignored is not None else Ignored()
        self.seen_ids = seen_ids if seen_ids is not None else set()
        for event in events:
            self.add(event)

    def __repr__(self) -> str:
        return f"EventSet(kept={self.kept}, unique_rows={self.unique_rows}, {self.ignored})"

    def add(self, event: ReportingEvent) -> None:
        """Keep one event as given (:func:`classify_rows` does this inline, after its checks)."""
        key = (event.name, event.inbox_id, event.user_id)
        cell = self.cells.get(key)
        if cell is None:
            cell = self.cells[key] = Columns()
        cell.ids.append(event.id)
        cell.values.append(event.value)
        cell.hours.append(event.value_in_business_hours)
        cell.conversations.append(event.conversation_id)
        cell.created.append(event.created_at)
        if self.details:  # a record carries neither: keep the columns aligned
            cell.starts.append(None)
            cell.ends.append(None)

    @property
    def kept(self) -> int:
        """How many events are kept."""
        return sum(len(cell.ids) for cell in self.cells.values())

    @property
    def unique_rows(self) -> int:
        """Every distinct row id seen, kept or ignored: what ``meta.count`` counts."""
        return len(self.seen_ids)

    @property
    def events(self) -> list[ReportingEvent]:
        """The kept events as records, by id: a new list each time (the cells stay the truth)."""
        records = [
            ReportingEvent(event_id, name, value, hours, inbox_id, user_id, conversation, created)
            for (name, inbox_id, user_id), cell in self.cells.items()
            for event_id, value, hours, conversation, created in zip(
                cell.ids, cell.values, cell.hours, cell.conversations, cell.created, strict=True
            )
        ]
        records.sort(key=_by_id)
        return records


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


def classify_rows(
    rows: Iterable[Any],
    window: Window,
    into: EventSet | None = None,
    *,
    positions: list[tuple[object, object, object]] | None = None,
    repeats: set[str] | None = None,
) -> EventSet:
    """Add rows to an :class:`EventSet`, de-duplicating by ``id`` and counting what is ignored.

    A row without an integer id cannot be de-duplicated, so it is counted as invalid every time.
    ``created_at`` is placed by the instant it names, whatever its ISO-8601 form; one without a
    zone or a date is invalid. This loop runs once per event of the day, so well-formed rows
    take a fast path: rows arrive as :class:`~sla_digest.chatwoot.rows.Row` (a dict, as
    ``json.loads`` gives it, is converted first), fields read as attributes, exact type
    checks, and the C parser ``datetime.fromisoformat`` (faster than a regular expression
    check, and exact) compared with aware bounds. Each kept event is filed under its cell's
    :class:`Columns` in the same pass.

    The Chatwoot client's completeness search needs to know where rows sit, and learns it in
    this pass too: ``positions`` gets ``(created_at, name, inbox_id)``, as received, of each row
    with a new id, and ``repeats`` the ``created_at`` text of each row met again. An EventSet
    made with ``details=True`` also keeps each kept row's fields for the events dataset.
    """
    result = into if into is not None else EventSet()
    seen = result.seen_ids
    remember = seen.add
    ignored = result.ignored
    names = EVENT_NAMES
    parse_iso = datetime.fromisoformat
    since = datetime.fromtimestamp(window.since, UTC)
    until = datetime.fromtimestamp(window.until, UTC)
    infinity = math.inf
    cells = result.cells
    find_cell = cells.get
    details = result.details
    for row in rows:
        if type(row) is not Row:
            if type(row) is not dict:
                ignored.invalid += 1
                continue
            row = row_from_dict(row)
        row_id = row.id
        if type(row_id) is not int:
            ignored.invalid += 1
            continue
        if row_id in seen:
            if repeats is not None and type(row.created_at) is str:
                repeats.add(row.created_at)
            continue
        remember(row_id)
        name = row.name
        created = row.created_at
        if positions is not None:
            positions.append((created, name, row.inbox_id))
        if type(name) is not str or name not in names:  # a list or object would not hash
            ignored.unknown_name += 1
            continue
        value = row.value
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
        business = row.value_in_business_hours
        if business is not None and (type(business) is not float or not 0.0 <= business < infinity):
            business = _number(business)
        inbox_id = row.inbox_id
        if type(inbox_id) is not int:
            inbox_id = None
        user_id = row.user_id
        if type(user_id) is not int:
            user_id = None
        conversation = row.conversation_id
        if type(conversation) is not int:
            conversation = None
        key = (name, inbox_id, user_id)
        cell = find_cell(key)
        if cell is None:
            cell = cells[key] = Columns()
        cell.ids.append(row_id)
        cell.values.append(value)
        cell.hours.append(business)
        cell.conversations.append(conversation)
        cell.created.append(created)  # a str: fromisoformat accepted it
        if details:
            cell.starts.append(row.event_start_time)
            cell.ends.append(row.event_end_time)
    return result
