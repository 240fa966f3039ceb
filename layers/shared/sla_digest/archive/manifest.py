"""The manifest of an archived day: what it lists, its version, and how it is read.

``raw/account_id=<id>/date=<D>/manifest.json`` is a public contract (README, section "Archive"):
the window and query, Chatwoot's ``meta.count``, every page with its sha256, size and row count,
the raw context bodies, when the day was fetched and whether it is complete. It is written last
(by :class:`~sla_digest.archive.day.DayArchive`), so its presence is what marks a day finished.
This module only builds and reads the document; it does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ArchiveError
from sla_digest.window import utc_text

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from datetime import datetime

    from sla_digest.window import Window

__all__ = ["MANIFEST_VERSION", "PageEntry", "ResourceEntry", "build_manifest", "manifest_pages"]

MANIFEST_VERSION = 1


@dataclass(frozen=True, slots=True)
class PageEntry:
    """A page as the manifest lists it."""

    page: int
    sha256: str
    bytes: int
    rows: int
    params: dict[str, int | str] | None = None


@dataclass(frozen=True, slots=True)
class ResourceEntry:
    """A raw context body (inboxes, agents, sla_policies) as the manifest lists it."""

    name: str
    sha256: str
    bytes: int


def build_manifest(
    *,
    account_id: int,
    window: Window,
    query: Mapping[str, int | str],
    meta: Mapping[str, Any],
    pages: Sequence[PageEntry],
    resources: Mapping[str, ResourceEntry],
    fetched_at: datetime,
    complete: bool,
    missing: int,
) -> dict[str, Any]:
    """The manifest document of one account-day (version :data:`MANIFEST_VERSION`).

    Pages are listed by number; a page keeps its query parameters only when they are not the
    main query's (a re-fetched or narrowed page), so an ordinary day's manifest stays short.
    """
    fetched = utc_text(fetched_at, name="fetched_at")
    listed = []
    for entry in sorted(pages, key=lambda e: e.page):
        item: dict[str, Any] = {
            "page": entry.page,
            "sha256": entry.sha256,
            "bytes": entry.bytes,
            "rows": entry.rows,
        }
        if entry.params is not None and not _main_query_page(entry.params, query, entry.page):
            item["params"] = dict(entry.params)
        listed.append(item)
    return {
        "version": MANIFEST_VERSION,
        "account_id": account_id,
        "date": window.day.isoformat(),
        "timezone": window.timezone,
        "window": {"since": window.since, "until": window.until},
        "query": dict(query),
        "meta": dict(meta),
        "pages": listed,
        "resources": {
            name: {"sha256": entry.sha256, "bytes": entry.bytes}
            for name, entry in sorted(resources.items())
        },
        "fetched_at": fetched,
        "complete": complete,
        "missing": missing,
    }


def manifest_pages(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The manifest's page entries; :class:`ArchiveError` when they are not a list of pages."""
    items = manifest.get("pages")
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("page"), int) for item in items
    ):
        raise ArchiveError("the manifest's 'pages' is not a list of pages")
    return items


def _main_query_page(params: Mapping[str, Any], query: Mapping[str, Any], page: int) -> bool:
    """Whether ``params`` fetched page ``page`` of the main query (so the manifest can omit them).

    Re-fetched pages carry another page number, narrowed pages a filter the query lacks.
    """
    if str(params.get("page")) != str(page):
        return False
    return all(
        key in query and str(query[key]) == str(value)
        for key, value in params.items()
        if key != "page"
    )
