"""The audit archive: raw pages byte for byte, a checksummed manifest, summaries and digests.

The same relative layout lives in S3 and in a local folder (README, section "Archive")::

    raw/account_id=<id>/date=<D>/page-00001.json     the response body exactly as received
    raw/account_id=<id>/date=<D>/<resource>.json     inboxes, agents, sla_policies as received
    raw/account_id=<id>/date=<D>/manifest.json       written last
    summaries/account_id=<id>/date=<D>/summary.json
    digests/account_id=<id>/date=<D>/digest.html     and digest.txt

A run that dies leaves pages but no manifest, so it is visibly incomplete. Each page is stored
with its sha256, row count and query parameters as object metadata, so the next run can re-use
the pages that still verify instead of asking Chatwoot again:

* in S3 that is user metadata on the object (and S3 keeps its own ChecksumSHA256 beside it);
* in a local folder it is a hidden sidecar ``.<name>.meta.json`` next to the page, written
  atomically after the page. Once the manifest (which holds the same checksums) is written, the
  sidecars are removed, so a finished day holds exactly the documented files. Names starting
  with ``.`` are reserved for sidecars and temporary files and are never listed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import tempfile
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn, Protocol, runtime_checkable

from sla_digest.exceptions import ArchiveError, ConfigError
from sla_digest.window import utc_text

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
    from datetime import date, datetime

    from mypy_boto3_s3 import S3Client

    from sla_digest.window import Window

__all__ = [
    "MANIFEST_VERSION",
    "Archive",
    "ArchivedPage",
    "DayArchive",
    "LocalArchive",
    "ObjectInfo",
    "PageEntry",
    "PageLike",
    "PageWriter",
    "ResourceEntry",
    "S3Archive",
    "check_day",
    "open_archive",
]

logger = logging.getLogger(__name__)

MANIFEST_VERSION = 1
JSON_TYPE = "application/json"
_READ_WORKERS = 8
_READ_BATCH = 64
_PAGE_NAME = re.compile(r"^page-(\d+)\.json$")
_RESOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MARKER_NAME = re.compile(r"^[a-z][a-z0-9_-]*\.json$")


# --------------------------------------------------------------------------- storage protocol


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What is known about a stored object without reading it."""

    size: int
    metadata: dict[str, str] = field(default_factory=dict)
    sha256: str | None = None  # hex; the checksum the store recorded at write time, if any


class Archive(Protocol):
    """A flat key space of immutable-until-replaced objects (an S3 bucket or a folder)."""

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = ...,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        """Store ``data`` at ``key``, replacing any object there (with its metadata)."""
        ...

    def get(self, key: str) -> bytes:
        """The bytes at ``key``; :class:`ArchiveError` when missing or unreadable."""
        ...

    def head(self, key: str) -> ObjectInfo | None:
        """Size and metadata of ``key``, or ``None`` when there is no such object."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...

    def delete(self, keys: Iterable[str]) -> None:
        """Remove ``keys``; keys that do not exist are ignored."""
        ...

    def uri(self, key: str) -> str:
        """Where ``key`` lives, for people: ``s3://bucket/key`` or a local path."""
        ...


@runtime_checkable
class _DiscardsMetadata(Protocol):
    """Stores whose per-object metadata is clutter once a manifest holds the same facts."""

    def discard_metadata(self, keys: Iterable[str]) -> None: ...


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_key(key: str) -> PurePosixPath:
    path = PurePosixPath(key)
    if not key or key.startswith("/") or any(part in ("", ".", "..") for part in key.split("/")):
        raise ArchiveError(f"archive key {key!r} is not a relative path of plain names")
    return path


class LocalArchive:
    """An archive in a local folder: atomic writes (temp file + ``os.replace``), folders made
    as needed, metadata in hidden sidecar files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*_check_key(key).parts)

    @staticmethod
    def _sidecar(path: Path) -> Path:
        return path.with_name(f".{path.name}.meta.json")

    @staticmethod
    def _write_atomically(path: Path, data: bytes, *, durable: bool = True) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
            os.replace(temp, path)
        except BaseException:
            # Also on KeyboardInterrupt: never leave a half-written temp file behind.
            Path(temp).unlink(missing_ok=True)
            raise

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        path = self._path(key)
        sidecar = self._sidecar(path)
        try:
            if not metadata:
                sidecar.unlink(missing_ok=True)
            self._write_atomically(path, data)
            if metadata:
                # Written after the data and not synced: a crash in between, or a sidecar lost
                # to a power cut, leaves a page whose checksum cannot be confirmed, which
                # resume treats as missing, never as good.
                record = {"metadata": dict(metadata), "sha256": _sha256(data)}
                encoded = json.dumps(record, sort_keys=True).encode()
                self._write_atomically(sidecar, encoded, durable=False)
        except OSError as exc:
            raise ArchiveError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError as exc:
            raise ArchiveError(f"{path} does not exist") from exc
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        path = self._path(key)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ArchiveError(f"cannot read {path}: {exc.strerror or exc}") from exc
        if not path.is_file():
            return None
        metadata, sha256 = self._read_sidecar(path)
        return ObjectInfo(size=size, metadata=metadata, sha256=sha256)

    def _read_sidecar(self, path: Path) -> tuple[dict[str, str], str | None]:
        try:
            record = json.loads(self._sidecar(path).read_bytes())
        except FileNotFoundError:
            return {}, None
        except (OSError, ValueError) as exc:
            logger.warning("ignoring unreadable metadata of %s: %s", path, exc)
            return {}, None
        if not isinstance(record, dict) or not isinstance(record.get("metadata"), dict):
            logger.warning("ignoring malformed metadata of %s", path)
            return {}, None
        metadata = {str(k): str(v) for k, v in record["metadata"].items()}
        sha256 = record.get("sha256")
        return metadata, sha256 if isinstance(sha256, str) else None

    def list(self, prefix: str) -> list[str]:
        folder = prefix.rpartition("/")[0]
        start = self.root.joinpath(*_check_key(folder).parts) if folder else self.root
        if not start.is_dir():
            return []
        keys: list[str] = []
        try:
            for dirpath, dirnames, filenames in os.walk(start):
                dirnames[:] = [name for name in dirnames if not name.startswith(".")]
                base = Path(dirpath).relative_to(self.root).as_posix()
                for name in filenames:
                    if name.startswith("."):
                        continue
                    key = name if base == "." else f"{base}/{name}"
                    if key.startswith(prefix):
                        keys.append(key)
        except OSError as exc:
            raise ArchiveError(f"cannot list {start}: {exc.strerror or exc}") from exc
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        for key in keys:
            path = self._path(key)
            try:
                path.unlink(missing_ok=True)
                self._sidecar(path).unlink(missing_ok=True)
            except OSError as exc:
                raise ArchiveError(f"cannot delete {path}: {exc.strerror or exc}") from exc

    def discard_metadata(self, keys: Iterable[str]) -> None:
        """Remove the sidecars of ``keys``; the objects themselves stay."""
        for key in keys:
            sidecar = self._sidecar(self._path(key))
            try:
                sidecar.unlink(missing_ok=True)
            except OSError as exc:
                raise ArchiveError(f"cannot delete {sidecar}: {exc.strerror or exc}") from exc

    def uri(self, key: str) -> str:
        key = key.strip("/")
        return str(self._path(key)) if key else str(self.root)

    def __repr__(self) -> str:
        return f"LocalArchive({str(self.root)!r})"


class S3Archive:
    """An archive in an S3 bucket under an optional key prefix.

    Encryption is left to the bucket's default (SSE-S3 or KMS); every object is written with a
    SHA-256 checksum that S3 verifies on upload and botocore verifies again on download.
    botocore is imported inside the methods, so a run that only uses folders never loads it.
    """

    def __init__(self, bucket: str, *, prefix: str = "", s3: S3Client | None = None) -> None:
        if not bucket or "/" in bucket:
            raise ConfigError(f"{bucket!r} is not an S3 bucket name")
        self.bucket = bucket
        prefix = prefix.lstrip("/")
        self.prefix = f"{prefix.rstrip('/')}/" if prefix.strip("/") else ""
        if s3 is None:
            import boto3

            s3 = boto3.client("s3")
        self.client = s3

    def _fail(self, action: str, key: str, exc: Exception) -> NoReturn:
        from botocore.exceptions import ClientError

        where = f"s3://{self.bucket}/{self.prefix}{key}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            code = str(error.get("Code") or "Unknown")
            detail = str(error.get("Message") or "")
            hint = _S3_HINTS.get(code, "")
            text = f"cannot {action} {where}: {code}"
            text += f" ({hint})" if hint else (f" ({detail})" if detail else "")
        else:
            text = f"cannot {action} {where}: {exc}"
        raise ArchiveError(" ".join(text.split())) from exc

    def put(
        self,
        key: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
        try:
            self.client.put_object(
                Bucket=self.bucket,
                Key=self.prefix + key,
                Body=data,
                ContentType=content_type,
                Metadata=dict(metadata or {}),
                ChecksumAlgorithm="SHA256",
                ChecksumSHA256=checksum,
            )
        except (ClientError, BotoCoreError) as exc:
            self._fail("write", key, exc)

    def get(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED"
            )
            return response["Body"].read()
        except (ClientError, BotoCoreError) as exc:
            self._fail("read", key, exc)

    def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            response = self.client.head_object(
                Bucket=self.bucket, Key=self.prefix + key, ChecksumMode="ENABLED"
            )
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in ("404", "NoSuchKey", "NotFound"):
                return None
            self._fail("read", key, exc)
        except BotoCoreError as exc:
            self._fail("read", key, exc)
        return ObjectInfo(
            size=int(response.get("ContentLength", 0)),
            metadata=dict(response.get("Metadata", {})),
            sha256=_hex_checksum(response.get("ChecksumSHA256")),
        )

    def list(self, prefix: str) -> list[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        keys: list[str] = []
        strip = len(self.prefix)
        try:
            paginator = self.client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
                keys.extend(item["Key"][strip:] for item in page.get("Contents", []))
        except (ClientError, BotoCoreError) as exc:
            self._fail("list", prefix, exc)
        return sorted(keys)

    def delete(self, keys: Iterable[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        pending = [self.prefix + key for key in keys]
        for start in range(0, len(pending), 1000):  # DeleteObjects takes at most 1000 keys
            batch = pending[start : start + 1000]
            try:
                response = self.client.delete_objects(
                    Bucket=self.bucket,
                    Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True},
                )
            except (ClientError, BotoCoreError) as exc:
                self._fail("delete", batch[0][len(self.prefix) :], exc)
            errors = response.get("Errors", [])
            if errors:
                first = errors[0]
                key = str(first.get("Key", ""))[len(self.prefix) :]
                code = first.get("Code", "Unknown")
                raise ArchiveError(
                    f"cannot delete s3://{self.bucket}/{self.prefix}{key}: {code}"
                    + (f" (and {len(errors) - 1} more)" if len(errors) > 1 else "")
                )

    def uri(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    def __repr__(self) -> str:
        return f"S3Archive({self.bucket!r}, prefix={self.prefix!r})"


_S3_HINTS = {
    "NoSuchBucket": "the bucket does not exist; check the bucket name",
    "AccessDenied": "access denied; check the role's S3 permissions and the bucket policy",
    "403": "access denied; check the role's S3 permissions and the bucket policy",
    "InvalidAccessKeyId": "the AWS credentials are not valid",
    "ExpiredToken": "the AWS credentials have expired",
    "BadDigest": "the upload was corrupted in transit; try again",
}


def _hex_checksum(value: str | None) -> str | None:
    """S3's base64 ChecksumSHA256 as hex; composite (multipart) checksums are not comparable."""
    if not value or "-" in value:
        return None
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        return None


def open_archive(location: str, *, s3: S3Client | None = None) -> tuple[Archive, str]:
    """The archive a user named, and the key prefix inside it the location points at.

    ``s3://bucket/some/prefix`` gives the bucket and ``"some/prefix/"``; a folder path gives
    the folder and ``""``.
    """
    if location.startswith("s3://"):
        bucket, _, prefix = location.removeprefix("s3://").partition("/")
        if not bucket:
            raise ConfigError(f"{location!r} names no bucket: use s3://BUCKET[/PREFIX]")
        prefix = prefix.strip("/")
        return S3Archive(bucket, s3=s3), f"{prefix}/" if prefix else ""
    if "://" in location:
        raise ConfigError(f"{location!r} is neither a folder nor an s3://BUCKET/PREFIX location")
    return LocalArchive(Path(location).expanduser()), ""


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


# --------------------------------------------------------------------------- one account-day


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

    def resource_key(self, name: str) -> str:
        if not _RESOURCE_NAME.match(name) or name == "manifest":
            raise ValueError(f"{name!r} is not a resource name such as 'inboxes'")
        return f"{self.raw_prefix}{name}.json"

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
        numbered = [
            (int(m.group(1)), key)
            for key in raw
            if (m := _PAGE_NAME.match(key.removeprefix(self.raw_prefix)))
        ]
        loaded = _map(lambda item: self._load_page(*item, window=window), numbered)
        pages = [page for page in loaded if page is not None]
        dropped = [key for (_, key), page in zip(numbered, loaded, strict=True) if page is None]
        if dropped:
            self.archive.delete(dropped)
        with self._lock:
            for page in pages:
                self._entries[page.number] = PageEntry(
                    page.number, _sha256(page.body), len(page.body), page.rows, dict(page.params)
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
        actual = _sha256(body)
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
        digest = _sha256(body)
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
        return ResourceEntry(name, _sha256(data), len(data))

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
        doc: dict[str, Any] = {
            "version": MANIFEST_VERSION,
            "account_id": self.account_id,
            "date": self.day.isoformat(),
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
        self.archive.put(self.manifest_key, _dump_json(doc), content_type=JSON_TYPE)
        if isinstance(self.archive, _DiscardsMetadata):
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
        items = _manifest_items(manifest or self._require_manifest())
        for start in range(0, len(items), _READ_BATCH):
            batch = items[start : start + _READ_BATCH]
            keys = [self.page_key(item["page"]) for item in batch]
            for item, key, body in zip(batch, keys, _map(self.archive.get, keys), strict=True):
                if _sha256(body) != item.get("sha256"):
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
            if not isinstance(item, dict) or _sha256(body) != item.get("sha256"):
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


def _map[T, R](function: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """``map`` over a few threads: S3 round trips dominate reading a day back."""
    if len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(items))) as pool:
        return list(pool.map(function, items))


def _manifest_items(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    items = manifest.get("pages")
    if not isinstance(items, list) or not all(
        isinstance(item, dict) and isinstance(item.get("page"), int) for item in items
    ):
        raise ArchiveError("the manifest's 'pages' is not a list of pages")
    return items


# --------------------------------------------------------------------------- verification


def check_day(
    day: DayArchive,
    *,
    manifest: Mapping[str, Any] | None = None,
    on_page: Callable[[int, bytes], None] | None = None,
) -> list[str]:
    """Every way the archived raw data of ``day`` disagrees with its manifest; [] when none.

    Each problem is its own line naming the object, so a person can see what to fix. A caller
    that has read the manifest passes it. ``on_page`` gets each page whose bytes match the
    manifest, in the manifest's order, so ``verify`` re-derives the summary from the bytes
    this check has just read instead of reading every page a second time.
    """
    archive = day.archive
    if manifest is None:
        try:
            manifest = day.manifest()
        except ArchiveError as exc:
            return [f"{exc}: the manifest cannot be checked against"]
    if manifest is None:
        return [
            f"no manifest at {archive.uri(day.manifest_key)}: the run did not finish "
            "(or this is not an archived day); run the day again"
        ]
    problems: list[str] = []
    if manifest.get("version") != MANIFEST_VERSION:
        problems.append(
            f"{archive.uri(day.manifest_key)} has version {manifest.get('version')!r}; "
            f"this tool reads version {MANIFEST_VERSION}"
        )
    try:
        pages = _manifest_items(manifest)
    except ArchiveError as exc:
        return [*problems, f"{archive.uri(day.manifest_key)}: {exc}"]
    resources = manifest.get("resources") or {}
    if not isinstance(resources, dict):
        problems.append(f"{archive.uri(day.manifest_key)}: 'resources' is not an object")
        resources = {}

    stored = set(archive.list(day.raw_prefix))
    # (label, key, manifest entry, page number or None for a resource)
    expected: list[tuple[str, str, Any, int | None]] = [
        (f"page {item['page']}", day.page_key(item["page"]), item, item["page"]) for item in pages
    ]
    for name, item in sorted(resources.items()):
        try:
            key = day.resource_key(name)
        except ValueError:
            problems.append(f"the manifest lists a resource with the invalid name {name!r}")
            continue
        expected.append((f"resource {name!r}", key, item, None))

    present = [entry for entry in expected if entry[1] in stored]
    for label, key, _, _ in expected:
        if key not in stored:
            problems.append(f"{label} is listed in the manifest but missing: {archive.uri(key)}")
    # In batches, as page_bodies reads, so a 4,000-page day is never in memory at once.
    for start in range(0, len(present), _READ_BATCH):
        batch = present[start : start + _READ_BATCH]
        bodies = _map(lambda entry: archive.get(entry[1]), batch)
        for (label, key, item, number), body in zip(batch, bodies, strict=True):
            listed_size = item.get("bytes") if isinstance(item, dict) else None
            listed_sha = item.get("sha256") if isinstance(item, dict) else None
            if len(body) != listed_size:
                problems.append(
                    f"{label} has {len(body)} bytes but the manifest says {listed_size}: "
                    f"{archive.uri(key)}"
                )
            elif _sha256(body) != listed_sha:
                problems.append(
                    f"{label} does not match its sha256 in the manifest (its content changed): "
                    f"{archive.uri(key)}"
                )
            elif number is not None and on_page is not None:
                on_page(number, body)

    known = {entry[1] for entry in expected} | {day.manifest_key}
    for key in sorted(stored - known):
        match = _PAGE_NAME.match(key.removeprefix(day.raw_prefix))
        what = f"page {int(match.group(1))}" if match else "an object"
        problems.append(f"{what} is archived but not listed in the manifest: {archive.uri(key)}")
    return problems
