"""The sandbox's data as it serves it: rows in API order, indexed for windows and filters.

:class:`Dataset` holds everything one account serves (events, inboxes, agents, SLA policies,
teams); :class:`EventView` is its rows in Chatwoot's order (``created_at`` descending, ties in a
fixed order) with the sort keys that find a window or a page by bisection. The seeded content
comes from :mod:`sla_digest_cli.sandbox.generate`.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sla_digest.window import report_window

__all__ = [
    "EVENT_KEYS",
    "PER_PAGE",
    "UNKNOWN_EVENT_NAME",
    "Dataset",
    "EventView",
    "format_ms",
    "parse_ms",
]

PER_PAGE = 25
EVENT_KEYS: tuple[str, ...] = (
    "id",
    "name",
    "value",
    "value_in_business_hours",
    "event_start_time",
    "event_end_time",
    "account_id",
    "inbox_id",
    "user_id",
    "conversation_id",
    "created_at",
    "updated_at",
)
UNKNOWN_EVENT_NAME = "conversation_sla_escalated"  # stands in for a name added after 4.15

_MS_PER_DAY = 86_400_000
_EPOCH = date(1970, 1, 1)
_CLOCK = [f"{h:02d}:{m:02d}:{sec:02d}" for h in range(24) for m in range(60) for sec in range(60)]
_MILLIS = [f".{ms:03d}Z" for ms in range(1000)]
_DAY_PREFIX: dict[int, str] = {}


def format_ms(ms: int) -> str:
    """Chatwoot's timestamp form, ``2026-06-16T09:01:36.412Z``, of epoch milliseconds."""
    day, rem = divmod(ms, _MS_PER_DAY)
    prefix = _DAY_PREFIX.get(day)
    if prefix is None:
        prefix = _DAY_PREFIX[day] = f"{_EPOCH + timedelta(days=day)}T"
    second, milli = divmod(rem, 1000)
    return prefix + _CLOCK[second] + _MILLIS[milli]


def parse_ms(text: str) -> int:
    """Epoch milliseconds of a Chatwoot timestamp (any ISO-8601 form with an offset)."""
    moment = datetime.fromisoformat(text)
    return round(moment.timestamp() * 1000)


@dataclass(slots=True)
class EventView:
    """Rows in API order (``created_at`` descending, ties in a fixed order) with sort keys.

    ``keys`` holds minus the epoch milliseconds of each row, ascending, so a window and the
    group of rows tied on one timestamp are each found by bisection.
    """

    rows: list[dict[str, Any]]
    keys: list[int]
    _selections: dict[tuple[int | None, int | None, str | None], EventView] = field(
        default_factory=dict, init=False, repr=False
    )

    def window(self, since: int | None, until: int | None) -> tuple[int, int]:
        """Index range of the rows with ``since <= created_at < until`` (epoch seconds)."""
        start = 0 if until is None else bisect_right(self.keys, -until * 1000)
        end = len(self.rows) if since is None else bisect_right(self.keys, -since * 1000)
        return start, max(start, end)

    def select(self, inbox_id: int | None, user_id: int | None, name: str | None) -> EventView:
        """The rows matching every given filter, in the same order; cached per filter."""
        key = (inbox_id, user_id, name)
        if key == (None, None, None):
            return self
        cached = self._selections.get(key)
        if cached is not None:
            return cached
        rows: list[dict[str, Any]] = []
        keys: list[int] = []
        for row, sort_key in zip(self.rows, self.keys, strict=True):
            if (
                (inbox_id is None or row["inbox_id"] == inbox_id)
                and (user_id is None or row["user_id"] == user_id)
                and (name is None or row["name"] == name)
            ):
                rows.append(row)
                keys.append(sort_key)
        view = EventView(rows, keys)
        self._selections[key] = view
        return view

    def page(self, start: int, end: int, offset: int, rotation: int | None) -> list[dict[str, Any]]:
        """Up to :data:`PER_PAGE` rows from ``start + offset`` within ``[start, end)``.

        With ``rotation``, every group of rows tied on ``created_at`` that the page touches is
        rotated by that many places first, as a database without a tie-breaker may do.
        """
        first = start + offset
        last = min(first + PER_PAGE, end)
        if first >= last:
            return []
        if rotation is None:
            return self.rows[first:last]
        keys, rows = self.keys, self.rows
        result: list[dict[str, Any]] = []
        position = bisect_left(keys, keys[first])
        while position < last:
            group_end = bisect_right(keys, keys[position])
            group = rows[position:group_end]
            if len(group) > 1:
                turn = rotation % len(group)
                group = group[turn:] + group[:turn]
            lo, hi = max(first, position), min(last, group_end)
            result.extend(group[lo - position : hi - position])
            position = group_end
        return result


@dataclass(slots=True)
class Dataset:
    """Everything the sandbox serves for one account.

    ``events`` holds every row of every day, as the API renders it, in id order. The sorted
    index behind :meth:`view` is built once; a changed dataset is a new :class:`Dataset`.
    """

    account_id: int
    day: date
    timezone: str
    events: list[dict[str, Any]]
    inboxes: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    departed_agent_ids: tuple[int, ...]
    sla_policies: list[dict[str, Any]]
    teams: list[dict[str, Any]]
    index: EventView | None = field(default=None, repr=False, compare=False)
    """The rows in API order, when the maker has them sorted already; else built by
    :meth:`view` on first use."""

    def report_window(self) -> tuple[int, int]:
        """``(since, until)`` of the report day in the account's time zone."""
        window = report_window(self.day, self.timezone, allow_partial=True)
        return window.since, window.until

    def previous_window(self) -> tuple[int, int]:
        """``(since, until)`` of the day before the report day."""
        window = report_window(self.day - timedelta(days=1), self.timezone, allow_partial=True)
        return window.since, window.until

    def view(self) -> EventView:
        """The rows in API order; built on first use."""
        if self.index is None:
            keyed = sorted(
                ((-parse_ms(row["created_at"]), row) for row in self.events),
                key=lambda pair: pair[0],
            )
            self.index = EventView([row for _, row in keyed], [key for key, _ in keyed])
        return self.index

    def events_between(self, since: int, until: int) -> list[dict[str, Any]]:
        """Rows with ``since <= created_at < until`` (epoch seconds), newest first."""
        view = self.view()
        start, end = view.window(since, until)
        return view.rows[start:end]

    def with_events(self, events: list[dict[str, Any]]) -> Dataset:
        """A copy holding ``events`` instead, with its own index built."""
        copy = Dataset(
            account_id=self.account_id,
            day=self.day,
            timezone=self.timezone,
            events=sorted(events, key=lambda row: row["id"]),
            inboxes=self.inboxes,
            agents=self.agents,
            departed_agent_ids=self.departed_agent_ids,
            sla_policies=self.sla_policies,
            teams=self.teams,
        )
        copy.view()
        return copy
