"""One account-day in the archive: its keys, the order they are written in, and resume.

The layout (README, section "Archive"; the same in S3 and in a local folder)::

    raw/account_id=<id>/date=<D>/page-00001.json     the response body exactly as received
    raw/account_id=<id>/date=<D>/<resource>.json     inboxes, agents, sla_policies as received
    raw/account_id=<id>/date=<D>/manifest.json       written last
    summaries/account_id=<id>/date=<D>/summary.json
    digests/account_id=<id>/date=<D>/digest.html     and digest.txt, breaches.csv

A run that dies leaves pages but no manifest, so it is visibly incomplete. Each page is stored
with its sha256, row count and query parameters as object metadata, so the next run re-uses
the pages that still verify instead of asking Chatwoot again. Once the manifest (which holds
the same checksums) is written, a local folder's metadata sidecars are removed, so a finished
day holds exactly the documented files.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.archive.manifest import PageEntry, ResourceEntry, build_manifest, manifest_pages
from sla_digest.archive.store import (
    READ_BATCH,
    DiscardsMetadata,
    map_concurrently,
    reads_concurrently,
    sha256_hex,
)
from sla_digest.exceptions import ArchiveError

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from datetime import date, datetime

    from sla_digest.archive.store import Archive
    from sla_digest.window import Window

__all__ = ["ArchivedPage", "DayArchive", "PageLike", "PageWriter", "finished_days"]

logger = logging.getLogger(__name__)

JSON_TYPE = "application/json"
_PAGE_NAME = re.compile(r"^page-(\d+)\.json$")
_RESOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MARKER_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.json$")
_ATTACHMENT_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.csv$")


class PageLike(Protocol):
    """What the archive needs of a fetched page (``chatwoot.Page`` is one)."""

    @property
    def number(self) -> int: ...
    @property
    def params(self) -> Mapping[str, int | str]: ...
    @property
    def body(self) -> bytes: ...
    @property
    def rows(self) -> int: ...


@dataclass(frozen=True, slots=True)
class ArchivedPage:
    """A page read back for resume: the fields of ``chatwoot.Page``, checksum verified."""

    number: int
    params: dict[str, int | str]
    body: bytes
    rows: int
    count: int | None = None
    total_pages: int | None = None


class DayArchive:
    """The keys of one account-day and the order in which they are written.

    Thread-safe: pages may be written from the fetcher's worker threads.
    """

    def __init__(
        self,
        archive: Archive,
        account_id: int,
        day: date,
        *,
        flat: bool = False,
        prefix: str = "",
    ) -> None:
        """``flat`` is the CLI's ``--out`` layout of one account-day; ``prefix`` is where the
        layout starts inside ``archive`` (empty, or a folder-like prefix ending in ``/``)."""
        if prefix and not prefix.endswith("/"):
            raise ValueError(f"prefix {prefix!r} must be empty or end with '/'")
        self.archive = archive
        self.account_id = account_id
        self.day = day
        self.flat = flat
        self.prefix = prefix
        part = f"account_id={account_id}/date={day.isoformat()}/"
        self.raw_prefix = f"{prefix}raw/" if flat else f"{prefix}raw/{part}"
        self._summary_dir = prefix if flat else f"{prefix}summaries/{part}"
        self._digest_dir = prefix if flat else f"{prefix}digests/{part}"
        self._entries: dict[int, PageEntry] = {}
        self._lock = threading.Lock()

    # keys ------------------------------------------------------------------------------------

    def page_key(self, number: int) -> str:
        if number < 1:
            raise ValueError(f"page numbers start at 1, not {number}")
        return f"{self.raw_prefix}page-{number:05d}.json"

    @property
    def manifest_key(self) -> str:
        return f"{self.raw_prefix}manifest.json"

    @property
    def summary_key(self) -> str:
        return f"{self._summary_dir}summary.json"

    @property
    def digest_keys(self) -> tuple[str, str]:
        """(HTML, plain text)."""
        return f"{self._digest_dir}digest.html", f"{self._digest_dir}digest.txt"

    def marker_key(self, name: str) -> str:
        """A small record kept beside the digest, such as the delivery marker."""
        if not _MARKER_NAME.match(name) or name == "summary.json":
            raise ValueError(f"{name!r} is not a marker name such as 'delivery.json'")
        return f"{self._digest_dir}{name}"

    def attachment_key(self, name: str) -> str:
        """A file sent with the digest and kept beside it, such as ``breaches.csv``."""
        if not _ATTACHMENT_NAME.match(name):
            raise ValueError(f"{name!r} is not an attachment name such as 'breaches.csv'")
        return f"{self._digest_dir}{name}"

    def resource_key(self, name: str) -> str:
        if not _RESOURCE_NAME.match(name) or name == "manifest":
            raise ValueError(f"{name!r} is not a resource name such as 'inboxes'")
        return f"{self.raw_prefix}{name}.json"

    def page_number(self, key: str) -> int | None:
        """The number of the page stored at ``key``, or ``None`` when it is not a page key."""
        match = _PAGE_NAME.match(key.removeprefix(self.raw_prefix))
        return int(match.group(1)) if match and key.startswith(self.raw_prefix) else None

    def location(self) -> str:
        """Where the raw data of this day lives, for the email."""
        return self.archive.uri(self.raw_prefix)

    def __repr__(self) -> str:
        return f"DayArchive({self.archive!r}, {self.account_id}, {self.day}, flat={self.flat})"

    # writing a run ---------------------------------------------------------------------------

    def start(self, *, window: Window | None = None) -> list[ArchivedPage]:
        """Begin a run; return the pages a previous, unfinished run archived and that verify.

        A finished day being re-run loses its manifest first, so a rerun that dies is visibly
        incomplete, and then its pages (S3 versioning keeps the history). With ``window``,
        pages fetched for another window (the account's time zone changed) are dropped too.
        """
        with self._lock:
            self._entries.clear()
        raw = self.archive.list(self.raw_prefix)
        if self.manifest_key in raw:
            logger.info("re-running a finished day: replacing %s", self.location())
            self.archive.delete([self.manifest_key])
            self.archive.delete([key for key in raw if key != self.manifest_key])
            return []
        numbered = [(number, key) for key in raw if (number := self.page_number(key)) is not None]
        loaded = map_concurrently(lambda item: self._load_page(*item, window=window), numbered)
        pages = [page for page in loaded if page is not None]
        dropped = [key for (_, key), page in zip(numbered, loaded, strict=True) if page is None]
        if dropped:
            self.archive.delete(dropped)
        with self._lock:
            for page in pages:
                self._entries[page.number] = PageEntry(
                    page.number, sha256_hex(page.body), len(page.body), page.rows, dict(page.params)
                )
        if numbered:
            logger.info(
                "resuming %s: %d archived pages verified, %d dropped",
                self.location(),
                len(pages),
                len(dropped),
            )
        return pages

    def _load_page(self, number: int, key: str, *, window: Window | None) -> ArchivedPage | None:
        info = self.archive.head(key)
        if info is None:
            return None
        meta = info.metadata
        recorded = meta.get("sha256")
        if not recorded:
            logger.warning("dropping %s: no recorded checksum", self.archive.uri(key))
            return None
        body = self.archive.get(key)
        actual = sha256_hex(body)
        if actual != recorded or (info.sha256 is not None and info.sha256 != actual):
            logger.warning("dropping %s: its sha256 does not match", self.archive.uri(key))
            return None
        try:
            params = json.loads(meta.get("params", "{}"))
            rows = int(meta["rows"])
            count = int(meta["count"]) if meta.get("count") else None
            total = int(meta["total-pages"]) if meta.get("total-pages") else None
        except (KeyError, ValueError) as exc:
            logger.warning("dropping %s: unreadable metadata (%s)", self.archive.uri(key), exc)
            return None
        if not isinstance(params, dict):
            logger.warning("dropping %s: unreadable params", self.archive.uri(key))
            return None
        if window is not None and not _within(params, window):
            logger.warning("dropping %s: fetched for another window", self.archive.uri(key))
            return None
        return ArchivedPage(number, params, body, rows, count, total)

    def write_page(self, page: PageLike) -> PageEntry:
        """Store the body byte for byte, with what a later resume needs to verify and re-use it."""
        body = bytes(page.body)
        digest = sha256_hex(body)
        params = dict(page.params)
        metadata = {
            "sha256": digest,
            "rows": str(page.rows),
            "params": json.dumps(params, sort_keys=True, separators=(",", ":")),
        }
        # chatwoot.Page also carries page 1's meta; keep it so resume needs no JSON parsing.
        for name, attribute in (("count", "count"), ("total-pages", "total_pages")):
            value = getattr(page, attribute, None)
            if isinstance(value, int):
                metadata[name] = str(value)
        self.archive.put(
            self.page_key(page.number), body, content_type=JSON_TYPE, metadata=metadata
        )
        entry = PageEntry(page.number, digest, len(body), page.rows, params)
        with self._lock:
            self._entries[page.number] = entry
        return entry

    def page_writer(self, workers: int = 8) -> PageWriter:
        """A callable for ``on_page`` that writes pages on ``workers`` threads.

        The fetcher hands over pages one at a time on its own thread; with S3 a synchronous
        PutObject per page would stall it for a round trip each. Leaving the ``with`` block
        waits for every write and raises the first failure.
        """
        return PageWriter(self, workers)

    def entries(self) -> list[PageEntry]:
        """Pages written or resumed since :meth:`start`, by number."""
        with self._lock:
            return [self._entries[number] for number in sorted(self._entries)]

    def discard_pages(self, numbers: Iterable[int]) -> None:
        """Remove pages the fetch superseded (a pass discarded because the data changed)."""
        doomed = sorted(set(numbers))
        with self._lock:
            for number in doomed:
                self._entries.pop(number, None)
        self.archive.delete([self.page_key(number) for number in doomed])

    def write_resource(self, name: str, body: bytes) -> ResourceEntry:
        """Store a raw context body (``inboxes``, ``agents``, ``sla_policies``) as received."""
        data = bytes(body)
        self.archive.put(self.resource_key(name), data, content_type=JSON_TYPE)
        return ResourceEntry(name, sha256_hex(data), len(data))

    def prune_resources(self, keep: Iterable[str]) -> None:
        """Remove raw bodies other than pages, the manifest and the resources in ``keep``.

        A run that died may have stored optional bodies (CSAT pages) that this run did not
        get again; left behind, they would be objects the manifest does not list.
        """
        wanted = {self.resource_key(name) for name in keep} | {self.manifest_key}
        stray = [
            key
            for key in self.archive.list(self.raw_prefix)
            if key not in wanted
            and self.page_number(key) is None
            and "/" not in key.removeprefix(self.raw_prefix)
        ]
        if stray:
            self.archive.delete(stray)

    def write_manifest(
        self,
        *,
        window: Window,
        query: Mapping[str, int | str],
        meta: Mapping[str, Any],
        pages: Sequence[PageEntry],
        resources: Mapping[str, ResourceEntry],
        fetched_at: datetime,
        complete: bool,
        missing: int,
    ) -> dict[str, Any]:
        """Write the manifest, last: its presence is what marks the day's raw data finished."""
        if window.day != self.day:
            raise ValueError(f"window of {window.day} given for the archive of {self.day}")
        doc = build_manifest(
            account_id=self.account_id,
            window=window,
            query=query,
            meta=meta,
            pages=pages,
            resources=resources,
            fetched_at=fetched_at,
            complete=complete,
            missing=missing,
        )
        self.archive.put(self.manifest_key, _dump_json(doc), content_type=JSON_TYPE)
        if isinstance(self.archive, DiscardsMetadata):
            self.archive.discard_metadata(self.page_key(e.page) for e in pages)
        return doc

    # reading back ----------------------------------------------------------------------------

    def _optional_json(self, key: str) -> dict[str, Any] | None:
        if self.archive.head(key) is None:
            return None
        return _load_json(self.archive, key)

    def manifest(self) -> dict[str, Any] | None:
        """The manifest, or ``None`` when the run has not finished."""
        return self._optional_json(self.manifest_key)

    def _require_manifest(self) -> dict[str, Any]:
        doc = self.manifest()
        if doc is None:
            raise ArchiveError(
                f"no manifest at {self.archive.uri(self.manifest_key)}: "
                "the run did not finish; run the day again"
            )
        return doc

    def page_bodies(self, manifest: Mapping[str, Any] | None = None) -> Iterator[tuple[int, bytes]]:
        """Every page the manifest lists, in order, each checked against its sha256.

        Pages are read a few dozen at a time on several threads, so S3 latency is paid once
        per batch rather than once per page, while memory stays bounded. A caller that holds
        the manifest already passes it, saving a read.
        """
        items = manifest_pages(manifest or self._require_manifest())
        for start in range(0, len(items), READ_BATCH):
            batch = items[start : start + READ_BATCH]
            keys = [self.page_key(item["page"]) for item in batch]
            bodies = map_concurrently(
                self.archive.get, keys, concurrent=reads_concurrently(self.archive)
            )
            for item, key, body in zip(batch, keys, bodies, strict=True):
                if sha256_hex(body) != item.get("sha256"):
                    raise ArchiveError(
                        f"{self.archive.uri(key)} does not match its manifest; run verify"
                    )
                yield item["page"], body

    def resources(self, manifest: Mapping[str, Any] | None = None) -> dict[str, bytes]:
        """The raw context bodies the manifest lists, each checked against its sha256."""
        listed = (manifest or self._require_manifest()).get("resources") or {}
        bodies: dict[str, bytes] = {}
        for name, item in sorted(listed.items()):
            key = self.resource_key(name)
            body = self.archive.get(key)
            if not isinstance(item, dict) or sha256_hex(body) != item.get("sha256"):
                raise ArchiveError(
                    f"{self.archive.uri(key)} does not match its manifest; run verify"
                )
            bodies[name] = body
        return bodies

    def write_summary(self, doc: Mapping[str, Any]) -> None:
        """JSON, indented by 2, keys sorted: the same summary always gives the same bytes."""
        self.archive.put(self.summary_key, _dump_json(doc), content_type=JSON_TYPE)

    def summary(self) -> dict[str, Any] | None:
        return self._optional_json(self.summary_key)

    def write_digest(self, html: str, text: str) -> None:
        html_key, text_key = self.digest_keys
        self.archive.put(text_key, text.encode(), content_type="text/plain; charset=utf-8")
        self.archive.put(html_key, html.encode(), content_type="text/html; charset=utf-8")

    def write_attachment(self, name: str, data: bytes) -> None:
        self.archive.put(self.attachment_key(name), data, content_type="text/csv; charset=utf-8")

    def attachment(self, name: str) -> bytes | None:
        """The attachment's bytes, or ``None`` when it was never written."""
        key = self.attachment_key(name)
        return self.archive.get(key) if self.archive.head(key) is not None else None

    def write_marker(self, name: str, data: bytes) -> None:
        self.archive.put(self.marker_key(name), data, content_type=JSON_TYPE)

    def read_marker(self, name: str) -> bytes | None:
        """The marker's bytes, or ``None`` when it was never written."""
        key = self.marker_key(name)
        return self.archive.get(key) if self.archive.head(key) is not None else None

    def digest(self) -> tuple[str, str] | None:
        """(HTML, text) of the archived digest, or ``None`` when either is missing."""
        html_key, text_key = self.digest_keys
        if self.archive.head(html_key) is None or self.archive.head(text_key) is None:
            return None
        try:
            return self.archive.get(html_key).decode(), self.archive.get(text_key).decode()
        except UnicodeDecodeError as exc:
            raise ArchiveError(f"the digest at {self.archive.uri(html_key)} is not UTF-8") from exc


class PageWriter:
    """Writes pages in the background, a bounded number at a time (see ``page_writer``)."""

    def __init__(self, day: DayArchive, workers: int) -> None:
        if workers < 1:
            raise ValueError(f"workers must be at least 1, not {workers}")
        self._day = day
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="archive")
        # Back-pressure: a slow store blocks the fetcher instead of piling up page bodies.
        self._slots = threading.BoundedSemaphore(2 * workers)
        self._lock = threading.Lock()
        self._failure: BaseException | None = None

    def __enter__(self) -> PageWriter:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        if exc_type is None:
            self.close()
        else:
            # The block already failed (perhaps because a write did): finish what was queued,
            # so a resume can use it, and let that first error propagate.
            self._pool.shutdown(wait=True)

    def __call__(self, page: PageLike) -> None:
        """Queue ``page``; raises the failure of an earlier write so the fetch stops early."""
        self._raise_failure()
        self._slots.acquire()
        try:
            future = self._pool.submit(self._day.write_page, page)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(self._done)

    def _done(self, future: Future[PageEntry]) -> None:
        with self._lock:
            error = future.exception()
            if error is not None and self._failure is None:
                self._failure = error
        self._slots.release()

    def _raise_failure(self) -> None:
        with self._lock:
            failure = self._failure
        if failure is not None:
            raise failure

    def close(self) -> None:
        """Wait for every queued write; raise the first that failed."""
        self._pool.shutdown(wait=True)
        self._raise_failure()


def _within(params: Mapping[str, Any], window: Window) -> bool:
    since, until = params.get("since"), params.get("until")
    if not isinstance(since, int) or not isinstance(until, int):
        return False
    return window.since <= since < until <= window.until


def _load_json(archive: Archive, key: str) -> dict[str, Any]:
    try:
        doc = json.loads(archive.get(key))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ArchiveError(f"{archive.uri(key)} is not valid JSON") from exc
    if not isinstance(doc, dict):
        raise ArchiveError(f"{archive.uri(key)} is not a JSON object")
    return doc


def _dump_json(doc: Mapping[str, Any]) -> bytes:
    # Sorted keys: identical documents give identical bytes whatever order they were built in.
    return (json.dumps(doc, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode()


def finished_days(store: Archive, prefix: str = "") -> Iterator[tuple[int, date]]:
    """``(account_id, day)`` of every finished day of an archive root under ``prefix``: one
    for each ``raw/account_id=<id>/date=<D>/manifest.json`` (other keys are passed over)."""
    from datetime import date as calendar_date

    for key in store.list(f"{prefix}raw/"):
        parts = key[len(prefix) :].split("/")
        if len(parts) != 4 or parts[3] != "manifest.json":
            continue
        try:
            account_id = int(parts[1].removeprefix("account_id="))
            day = calendar_date.fromisoformat(parts[2].removeprefix("date="))
        except ValueError:
            continue
        yield account_id, day
