"""The events dataset (design §16): the archive as a table Athena and DuckDB can query.

One gzip NDJSON file per account-day, ``datasets/events/account_id=<id>/date=<D>/events.json.gz``,
one row per event the day's summary counts::

    table.py   the columns, the key layout, the file's bytes
    day.py     write_day (the job), rebuild_day (from raw pages), check_day (for verify)

Names resolve on first use, so importing the package costs nothing until a day is written.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_digest.dataset.day import check_day, rebuild_day, write_day
    from sla_digest.dataset.table import (
        COLUMNS,
        FILE_NAME,
        LOCATION_TEMPLATE,
        PARTITION_COLUMNS,
        Names,
        dataset_key,
        dataset_prefix,
        decode_rows,
    )

__all__ = [
    "COLUMNS",
    "FILE_NAME",
    "LOCATION_TEMPLATE",
    "PARTITION_COLUMNS",
    "Names",
    "check_day",
    "dataset_key",
    "dataset_prefix",
    "decode_rows",
    "rebuild_day",
    "write_day",
]

_HOMES = {"check_day": "day", "rebuild_day": "day", "write_day": "day"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_HOMES.get(name, 'table')}"), name)
