"""``sla-digest query``: SQL over the events dataset with DuckDB, ``events`` as a view.

The same SQL runs in Athena over the bucket (``queries/`` holds the shipped ones). Locally the
view reads ``datasets/events/account_id=*/date=*/events.json.gz`` under an archive folder;
from ``s3://BUCKET[/PREFIX]`` the dataset's objects are first downloaded with the user's AWS
credentials into a temporary folder (DuckDB's S3 reader is an extension fetched at run time,
which this tool does not rely on). Partition columns are text in both engines, as Athena's
partition projection gives them: ``account_id = '7'``, ``"date" BETWEEN '2026-11-01' AND …``.
"""

from __future__ import annotations

import csv
import io
import json
import math
import sys
import tempfile
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.dataset.table import COLUMNS, DATASET_ROOT, FILE_NAME, PARTITION_COLUMNS
from sla_digest.exceptions import ConfigError, SlaDigestError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterator

    import duckdb

__all__ = ["QueryError", "QueryResult", "add_query_parser", "connect", "run_query"]

_DUCKDB_TYPES = {
    "bigint": "BIGINT",
    "varchar": "VARCHAR",
    "double": "DOUBLE",
    "timestamp": "TIMESTAMP",
}
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


class QueryError(SlaDigestError):
    """Raised when DuckDB refuses or fails a query; the message is DuckDB's first line."""


class QueryResult:
    """Column names and rows of a finished query."""

    def __init__(self, columns: list[str], rows: list[tuple[Any, ...]]) -> None:
        self.columns = columns
        self.rows = rows


# --------------------------------------------------------------------------------- the view


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _view_sql(root: Path | None) -> str:
    """``events`` over the files under ``root``, or an empty table of the same shape."""
    columns = [(name, _DUCKDB_TYPES[kind]) for name, kind in COLUMNS]
    partitions = [(name, _DUCKDB_TYPES[kind]) for name, kind in PARTITION_COLUMNS]
    if root is None:
        fields = ", ".join(f"CAST(NULL AS {kind}) AS {name}" for name, kind in columns + partitions)
        return f"CREATE VIEW events AS SELECT {fields} WHERE false"
    pattern = (root / DATASET_ROOT / "account_id=*" / "date=*" / FILE_NAME).as_posix()
    struct = ", ".join(f"{_literal(name)}: {_literal(kind)}" for name, kind in columns)
    hive = ", ".join(f"{_literal(name)}: {_literal(kind)}" for name, kind in partitions)
    return (
        "CREATE VIEW events AS SELECT * FROM read_json("  # noqa: S608 - every value quoted
        f"{_literal(pattern)}, format = 'newline_delimited', columns = {{{struct}}}, "
        f"hive_partitioning = true, hive_types = {{{hive}}})"
    )


def connect(root: Path | None) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with the ``events`` view over the dataset under ``root``.

    ``None`` (or a root without any dataset file) gives an empty ``events`` of the same
    columns, so a query over an archive with no dataset yet answers with no rows. The session
    time zone is UTC, as in Athena.
    """
    import duckdb

    has_files = root is not None and any(
        (root / DATASET_ROOT).glob(f"account_id=*/date=*/{FILE_NAME}")
    )
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute(_view_sql(root if has_files else None))
    return connection


def run_query(root: Path | None, sql: str) -> QueryResult:
    """Run ``sql`` over the dataset under ``root``; :class:`QueryError` when DuckDB fails."""
    import duckdb

    connection = connect(root)
    try:
        cursor = connection.execute(sql)
        description = cursor.description
        if description is None:
            raise QueryError("query failed: the statement returns no rows (use a SELECT)")
        return QueryResult([str(item[0]) for item in description], cursor.fetchall())
    except duckdb.Error as exc:
        message = str(exc).strip().splitlines()
        raise QueryError(f"query failed: {message[0] if message else type(exc).__name__}") from exc
    finally:
        connection.close()


# ----------------------------------------------------------------------------- the archive


def _download(location: str, folder: Path) -> None:
    """Copy the dataset's files at an ``s3://`` location into ``folder`` (same layout)."""
    from sla_digest.archive.store import open_archive

    store, prefix = open_archive(location)
    start = prefix + DATASET_ROOT
    for key in store.list(start):
        if key.endswith("/" + FILE_NAME):
            target = folder / DATASET_ROOT / key[len(start) :]
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(store.get(key))


def query_location(location: str, sql: str) -> QueryResult:
    """Run ``sql`` over the dataset at a folder or an ``s3://BUCKET[/PREFIX]`` location."""
    if location.startswith("s3://"):
        with tempfile.TemporaryDirectory(prefix="sla-digest-query-") as folder:
            _download(location, Path(folder))
            return run_query(Path(folder), sql)
    root = Path(location).expanduser()
    if not root.is_dir():
        raise ConfigError(f"{location} is not a folder or an s3://bucket/prefix location")
    return run_query(root, sql)


# ---------------------------------------------------------------------------------- output


def _plain(value: Any) -> Any:
    """A value JSON can hold: dates and times as ISO text, decimals as numbers."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "NULL"
    plain = _plain(value)
    return plain if isinstance(plain, str) else json.dumps(plain, ensure_ascii=False)


def _safe_csv(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    plain = _plain(value)
    if isinstance(plain, str) and plain.startswith(_FORMULA_START):
        return "'" + plain
    return plain


def format_result(result: QueryResult, kind: str) -> str:
    """The result as ``table``, ``csv`` or ``json`` (one array of objects keyed by column)."""
    if kind == "json":
        records = [
            {column: _plain(value) for column, value in zip(result.columns, row, strict=True)}
            for row in result.rows
        ]
        return json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    if kind == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(result.columns)
        writer.writerows([_safe_csv(value) for value in row] for row in result.rows)
        return buffer.getvalue()
    return _table(result)


def _table(result: QueryResult) -> str:
    cells = [[_cell(value).replace("\n", " ") for value in row] for row in result.rows]
    widths = [len(column) for column in result.columns]
    for row in cells:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]
    lines = list(_aligned([result.columns, ["-" * width for width in widths], *cells], widths))
    lines.append(f"({len(cells)} row{'' if len(cells) == 1 else 's'})")
    return "\n".join(lines) + "\n"


def _aligned(rows: list[list[str]], widths: list[int]) -> Iterator[str]:
    for row in rows:
        yield "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


# ------------------------------------------------------------------------------ the command


def _cmd_query(args: argparse.Namespace) -> int:
    if (args.sql is None) == (args.file is None):
        raise ConfigError("query needs either SQL or --file F.sql (not both)")
    if args.file is not None:
        try:
            sql = Path(args.file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read {args.file}: {exc}") from exc
    else:
        sql = args.sql
    result = query_location(args.archive, sql)
    sys.stdout.write(format_result(result, args.format))
    return 0


def add_query_parser(commands: Any) -> None:
    """Register ``query`` on the CLI's sub-command parsers."""
    query = commands.add_parser(
        "query",
        help="run SQL over the events dataset (DuckDB; the table is called events)",
        description="The table `events` has one row per event of every archived day; "
        "account_id and date are text, as in Athena. Reading s3:// uses your AWS credentials.",
    )
    query.add_argument("sql", nargs="?", help="the SQL to run (or --file)")
    query.add_argument("--archive", required=True, help="archive folder or s3://BUCKET[/PREFIX]")
    query.add_argument("--file", help="read the SQL from this file, e.g. queries/….sql")
    query.add_argument(
        "--format", choices=("table", "csv", "json"), default="table", help="default: table"
    )
    query.set_defaults(func=_cmd_query)
