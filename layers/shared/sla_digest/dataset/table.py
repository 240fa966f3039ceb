"""The events table: its columns, where each day's file lives, and its bytes (gzip NDJSON).

One JSON object per line, keys in column order, gzip-compressed; ``docs/dataset-format.md``
says why this format rather than Parquet. Timestamps are UTC in Chatwoot's own form,
``2026-11-20T09:01:36.412Z`` (millisecond precision), which Athena reads through the table's
``timestamp.formats`` and DuckDB reads as it is. A value that is not a timestamp is written as
``null``: one bad row must not make every query over its day fail.

Encoding runs once per event of the day in the digest job, so it works a cell at a time (the
events of one name, inbox and agent): each row becomes a :class:`_Line` built in C from the
cell's columns, msgspec writes the lines, and ISA-L's gzip compresses them (a quarter of
zlib's CPU at level 1, and a smaller file). Timestamp columns whose values are not all of the
usual shape take a slower path that checks every value.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from itertools import repeat
from typing import TYPE_CHECKING, Any

import msgspec
from isal import isal_zlib

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping

    from sla_digest.chatwoot.client import AccountContext
    from sla_digest.chatwoot.events import CellKey, Columns, EventSet

__all__ = [
    "COLUMNS",
    "CONTENT_TYPE",
    "DATASET_ROOT",
    "FILE_NAME",
    "LOCATION_TEMPLATE",
    "PARTITION_COLUMNS",
    "Names",
    "dataset_key",
    "dataset_prefix",
    "decode_rows",
    "encode_events",
]

COLUMNS: tuple[tuple[str, str], ...] = (
    ("id", "bigint"),
    ("name", "varchar"),
    ("value", "double"),
    ("value_in_business_hours", "double"),
    ("event_start_time", "timestamp"),
    ("event_end_time", "timestamp"),
    ("created_at", "timestamp"),
    ("inbox_id", "bigint"),
    ("inbox_name", "varchar"),
    ("user_id", "bigint"),
    ("user_name", "varchar"),
    ("conversation_id", "bigint"),
)
"""The contract's columns (design §16), in file order, with their SQL types."""

PARTITION_COLUMNS: tuple[tuple[str, str], ...] = (("account_id", "varchar"), ("date", "varchar"))
"""Taken from the key, not the file: ``date`` is the account's report day, YYYY-MM-DD. Text,
as Athena's partition projection gives them, so a query compares them the same way there and
in DuckDB (``account_id = '7'``, ``"date" BETWEEN '2026-11-01' AND '2026-11-30'``)."""

DATASET_ROOT = "datasets/events/"
LOCATION_TEMPLATE = DATASET_ROOT + "account_id=${account_id}/date=${date}/"
"""The partition folder, as Athena's partition projection spells it."""
FILE_NAME = "events.json.gz"
CONTENT_TYPE = "application/gzip"
DATE_FORMAT = "yyyy-MM-dd"
"""The ``date`` partition's format, in the Java pattern syntax partition projection uses."""
TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
"""How timestamps are written, in the Java pattern syntax of the JSON SerDe."""

_LEVEL = 1  # the fastest level: see docs/dataset-format.md
_SEPARATORS = tuple((i, c) for i, c in enumerate("2026-11-20T09:01:36.412Z") if not c.isdigit())
_parse_iso = datetime.fromisoformat


def dataset_prefix(account_id: int, day: date, prefix: str = "") -> str:
    """The folder of one account-day, under an archive that starts at ``prefix``."""
    location = LOCATION_TEMPLATE.replace("${account_id}", str(account_id))
    return prefix + location.replace("${date}", day.isoformat())


def dataset_key(account_id: int, day: date, prefix: str = "") -> str:
    """The key of one account-day's file."""
    return dataset_prefix(account_id, day, prefix) + FILE_NAME


@dataclass(frozen=True, slots=True)
class Names:
    """Inbox and agent names by id, as the account context gave them (``None``: no name)."""

    inboxes: Mapping[int, str | None]
    agents: Mapping[int, str | None]

    @classmethod
    def from_context(cls, context: AccountContext) -> Names:
        return cls(
            inboxes={i: inbox.name for i, inbox in context.inboxes.items()},
            agents={i: agent.name for i, agent in context.agents.items()},
        )


# --------------------------------------------------------------------------------- writing


class _Line(msgspec.Struct, gc=False):
    """One line of the file: the contract's columns, in file order."""

    id: int
    name: str
    value: float
    value_in_business_hours: float | None
    event_start_time: str | None
    event_end_time: str | None
    created_at: str | None
    inbox_id: int | None
    inbox_name: str | None
    user_id: int | None
    user_name: str | None
    conversation_id: int | None


_encode_lines = msgspec.json.Encoder().encode_lines


def _timestamp(value: object) -> str | None:
    """One timestamp as received, in Chatwoot's UTC form, or ``None``."""
    if type(value) is not str:
        return None
    try:
        moment = _parse_iso(value)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None  # a time without a zone names no instant (classify_rows agrees)
    moment = moment.astimezone(UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"


def _usual_timestamps(column: list[object], *, checked: bool) -> bool:
    """Whether every value of ``column`` is a timestamp in Chatwoot's own form.

    Checked with string slices, which run in C: each value 24 characters with the separators
    of ``2026-11-20T09:01:36.412Z`` in place, and each a real date and time (``2026-02-30``
    is not). ``checked``: each was parsed already (``created_at``, by classify_rows).
    """
    try:
        joined = "".join(column)  # type: ignore[arg-type]  # TypeError: not all are str
    except TypeError:
        return False
    count = len(column)
    if len(joined) != 24 * count:
        return False
    for position, separator in _SEPARATORS:
        if joined[position::24] != separator * count:
            return False
    try:
        for _ in map(_parse_iso, column if not checked else ()):  # type: ignore[arg-type]
            pass  # a C loop; ValueError on 2026-02-30 or a letter among the digits
    except ValueError:
        return False
    return True


def _cell_lines(key: CellKey, cell: Columns, names: Names) -> list[_Line]:
    name, inbox_id, user_id = key
    inbox_name = names.inboxes.get(inbox_id) if inbox_id is not None else None
    user_name = names.agents.get(user_id) if user_id is not None else None
    conversations: list[Any] = cell.conversations
    if not set(map(type, conversations)) <= {int, type(None)}:  # bool is not an id either
        conversations = [value if type(value) is int else None for value in conversations]
    # Timestamps in the usual form go into the line as they are; others one by one.
    columns: tuple[tuple[list[Any], bool], ...] = (
        (cell.starts, False),
        (cell.ends, False),
        (cell.created, True),
    )
    times = [
        column if _usual_timestamps(column, checked=checked) else [*map(_timestamp, column)]
        for column, checked in columns
    ]
    count = len(cell.ids)
    return list(
        map(
            _Line,
            cell.ids,
            repeat(name, count),
            cell.values,
            cell.hours,
            *times,
            repeat(inbox_id, count),
            repeat(inbox_name, count),
            repeat(user_id, count),
            repeat(user_name, count),
            conversations,
        )
    )


def encode_events(events: EventSet, names: Names) -> bytes:
    """The day's file: every kept event of ``events`` (made with ``details=True``), gzipped.

    Cells are written in key order; rows inside a cell keep the order their pages were read
    in, which differs between a run and a rebuild, so readers compare rows by id, not bytes.
    """
    if not events.details:
        raise ValueError("the events dataset needs an EventSet made with details=True")
    compressor = isal_zlib.compressobj(_LEVEL, isal_zlib.DEFLATED, 31)  # 31: a gzip member
    chunks = []
    for key in sorted(events.cells, key=_cell_order):
        lines = _encode_lines(_cell_lines(key, events.cells[key], names))
        chunks.append(compressor.compress(lines))
    chunks.append(compressor.flush())
    return b"".join(chunks)


def _cell_order(key: CellKey) -> tuple[str, int, int]:
    name, inbox_id, user_id = key
    return name, -1 if inbox_id is None else inbox_id, -1 if user_id is None else user_id


# --------------------------------------------------------------------------------- reading


def decode_rows(data: bytes) -> Iterator[dict[str, Any]]:
    """The rows of a day's file (``ValueError`` or ``OSError`` when it is not one)."""
    text = gzip.decompress(data).decode()
    for number, line in enumerate(text.splitlines(), start=1):
        row = json.loads(line)
        if not isinstance(row, dict):
            raise ValueError(f"line {number} is not a JSON object")
        yield row


def rows_by_id(rows: Iterable[dict[str, Any]]) -> dict[object, dict[str, Any]]:
    """Rows keyed by ``id``; a repeated id is a ``ValueError`` (the dataset de-duplicates)."""
    found: dict[object, dict[str, Any]] = {}
    for row in rows:
        key = row.get("id")
        if key in found:
            raise ValueError(f"event {key} is in the file twice")
        found[key] = row
    return found
