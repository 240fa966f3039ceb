"""One weekly or monthly report in the archive: its keys, and writing and reading them.

The layout (README, section "Archive"; the same in S3 and in a local folder)::

    reports/account_id=<id>/period=<week|month>/start=<D>/summary.json
    reports/account_id=<id>/period=<week|month>/start=<D>/digest.html   digest.txt, digest.csv
    reports/account_id=<id>/period=<week|month>/start=<D>/delivery.json  once delivered

A report holds no raw data of its own: it is built from the archived days of its period
(``raw/account_id=<id>/date=<D>/``), which ``verify`` re-derives it from.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ArchiveError
from sla_digest.report.periods import Period, period_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sla_digest.archive.store import Archive

__all__ = ["REPORT_FILES", "ReportArchive", "ReportKey", "parse_report_key", "report_prefix"]

REPORT_FILES = ("summary.json", "digest.html", "digest.txt", "digest.csv")
_JSON = "application/json"
_MARKER_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.json$")
_KEY = re.compile(
    r"^reports/account_id=(?P<account>\d+)/period=(?P<kind>week|month)/"
    r"start=(?P<start>\d{4}-\d{2}-\d{2})/(?P<name>[a-z._-]+)$"
)


@dataclass(frozen=True, slots=True)
class ReportKey:
    """What a key under ``reports/`` names: an account's week or month, and one of its files."""

    account_id: int
    period: Period
    name: str


def parse_report_key(key: str) -> ReportKey | None:
    """The report file ``key`` (relative to the archive's root) names; ``None`` for any other
    key, or one whose start is not a calendar date. The key names only the period's start:
    a week ends six days later, a month with its calendar month."""
    match = _KEY.match(key)
    if match is None:
        return None
    try:
        start = date.fromisoformat(match["start"])
    except ValueError:
        return None
    if match["kind"] == "week":
        period = Period("week", start, start + timedelta(days=6))
    else:
        period = Period("month", start, period_of(start, "month").end)
    return ReportKey(int(match["account"]), period, match["name"])


def report_prefix(account_id: int, period: Period, prefix: str = "") -> str:
    """``reports/account_id=<id>/period=<kind>/start=<D>/`` under ``prefix``."""
    if period.kind == "day":
        raise ValueError("a day is archived under raw/, summaries/ and digests/, not reports/")
    return (
        f"{prefix}reports/account_id={account_id}/period={period.kind}/"
        f"start={period.start.isoformat()}/"
    )


class ReportArchive:
    """The keys of one account's report for one week or month, and their reading and writing.

    ``flat`` writes the files straight under ``prefix`` (the CLI's ``report --out DIR``).
    """

    def __init__(
        self,
        archive: Archive,
        account_id: int,
        period: Period,
        *,
        prefix: str = "",
        flat: bool = False,
    ) -> None:
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"prefix {prefix!r} must be empty or end with '/'")
        self.archive = archive
        self.account_id = account_id
        self.period = period
        self.prefix = prefix
        self.flat = flat
        self.directory = prefix if flat else report_prefix(account_id, period, prefix)

    def key(self, name: str) -> str:
        return f"{self.directory}{name}"

    @property
    def summary_key(self) -> str:
        return self.key("summary.json")

    def location(self) -> str:
        """Where this report lives, for people and the email's footer."""
        return self.archive.uri(self.directory)

    def __repr__(self) -> str:
        return (
            f"ReportArchive({self.archive!r}, {self.account_id}, {self.period}, flat={self.flat})"
        )

    def write_summary(self, doc: Mapping[str, Any]) -> None:
        """JSON, indented by 2, keys sorted: the same summary always gives the same bytes."""
        self.archive.put(self.summary_key, _dump_json(doc), content_type=_JSON)

    def summary(self) -> dict[str, Any] | None:
        """The stored summary, or ``None`` when the report was never built."""
        if self.archive.head(self.summary_key) is None:
            return None
        try:
            doc = json.loads(self.archive.get(self.summary_key))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ArchiveError(f"{self.archive.uri(self.summary_key)} is not valid JSON") from exc
        if not isinstance(doc, dict):
            raise ArchiveError(f"{self.archive.uri(self.summary_key)} is not a JSON object")
        return doc

    def write_digest(self, html: str, text: str, csv: bytes) -> None:
        self.archive.put(self.key("digest.csv"), csv, content_type="text/csv; charset=utf-8")
        self.archive.put(
            self.key("digest.txt"), text.encode(), content_type="text/plain; charset=utf-8"
        )
        self.archive.put(
            self.key("digest.html"), html.encode(), content_type="text/html; charset=utf-8"
        )

    def write_file(self, name: str, data: bytes, *, content_type: str) -> None:
        """Another file beside the digest (the breaches list)."""
        if "/" in name or name in REPORT_FILES:
            raise ValueError(f"{name!r} is not a free file name beside the report")
        self.archive.put(self.key(name), data, content_type=content_type)

    def digest(self) -> tuple[str, str] | None:
        """(HTML, text) of the archived digest, or ``None`` when either is missing."""
        html_key, text_key = self.key("digest.html"), self.key("digest.txt")
        if self.archive.head(html_key) is None or self.archive.head(text_key) is None:
            return None
        try:
            return self.archive.get(html_key).decode(), self.archive.get(text_key).decode()
        except UnicodeDecodeError as exc:
            raise ArchiveError(f"the digest at {self.archive.uri(html_key)} is not UTF-8") from exc

    def marker_key(self, name: str) -> str:
        if not _MARKER_NAME.match(name) or name == "summary.json":
            raise ValueError(f"{name!r} is not a marker name such as 'delivery.json'")
        return self.key(name)

    def write_marker(self, name: str, data: bytes) -> None:
        self.archive.put(self.marker_key(name), data, content_type=_JSON)

    def read_marker(self, name: str) -> bytes | None:
        """The marker's bytes, or ``None`` when it was never written."""
        key = self.marker_key(name)
        return self.archive.get(key) if self.archive.head(key) is not None else None


def _dump_json(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()
