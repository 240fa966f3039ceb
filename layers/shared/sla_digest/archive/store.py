"""Where archived objects live: one small interface, an S3 bucket and a local folder behind it.

:class:`Archive` is a flat key space (``put``, ``get``, ``head``, ``list``, ``delete``, ``uri``);
everything above it (the key layout of a day, the manifest, verify) speaks only this interface,
so the same code archives to S3 in Lambda and to a folder from the CLI.

Each stored object may carry metadata (a page's sha256, row count and query parameters), so a
later run can re-use the pages that still verify instead of asking Chatwoot again:

* in S3 that is user metadata on the object (and S3 keeps its own ChecksumSHA256 beside it);
* in a local folder it is a hidden sidecar ``.<name>.meta.json`` next to the object, written
  atomically after it. Names starting with ``.`` are reserved for sidecars and temporary files
  and are never listed; :meth:`LocalArchive.discard_metadata` removes sidecars once a manifest
  holds the same facts.
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
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, NoReturn, Protocol, runtime_checkable

from sla_digest.exceptions import ArchiveError, ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from mypy_boto3_s3 import S3Client

__all__ = [
    "READ_BATCH",
    "Archive",
    "DiscardsMetadata",
    "LocalArchive",
    "ObjectInfo",
    "S3Archive",
    "map_concurrently",
    "open_archive",
    "sha256_hex",
]

logger = logging.getLogger(__name__)

# Objects read back at a time: S3 latency is paid once per batch, memory stays bounded.
READ_BATCH = 64
_READ_WORKERS = 8


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
class DiscardsMetadata(Protocol):
    """Stores whose per-object metadata is clutter once a manifest holds the same facts."""

    def discard_metadata(self, keys: Iterable[str]) -> None: ...


def sha256_hex(data: bytes) -> str:
    """The checksum every layer above compares: manifests, metadata and verify."""
    return hashlib.sha256(data).hexdigest()


def map_concurrently[T, R](
    function: Callable[[T], R], items: Sequence[T], *, concurrent: bool = True
) -> list[R]:
    """``map`` over a few threads: S3 round trips dominate reading objects back.

    ``concurrent=False`` maps in the calling thread: for a local folder, threads add only
    their own cost (see :func:`reads_concurrently`).
    """
    if len(items) < 2 or not concurrent:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=min(_READ_WORKERS, len(items))) as pool:
        return list(pool.map(function, items))


def reads_concurrently(archive: Archive) -> bool:
    """Whether reading many objects of ``archive`` gains from threads: each S3 read waits a
    round trip, a local file is read faster than a thread can be handed the work."""
    return not isinstance(archive, LocalArchive)


_READ_SIZE = 1 << 16  # a page is about 8 KB: one read and the one that finds the end
# A part of a key that is empty, "." or "..": at the start, between slashes or at the end.
_NOT_A_NAME = re.compile(r"(?:^|/)\.{0,2}(?:/|$)")


def _checked(key: str) -> str:
    # One regular expression: a report checks tens of thousands of page keys.
    if not key or _NOT_A_NAME.search(key):
        raise ArchiveError(f"archive key {key!r} is not a relative path of plain names")
    return key


def _check_key(key: str) -> PurePosixPath:
    return PurePosixPath(_checked(key))


class LocalArchive:
    """An archive in a local folder: atomic writes (temp file + ``os.replace``), folders made
    as needed, metadata in hidden sidecar files."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._root_slash = os.path.join(self.root, "")  # the root as text, one separator after

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
                record = {"metadata": dict(metadata), "sha256": sha256_hex(data)}
                encoded = json.dumps(record, sort_keys=True).encode()
                self._write_atomically(sidecar, encoded, durable=False)
        except OSError as exc:
            raise ArchiveError(f"cannot write {path}: {exc.strerror or exc}") from exc

    def get(self, key: str) -> bytes:
        # Plain strings and file descriptors, not pathlib or file objects: a month's report
        # reads tens of thousands of pages, and a buffered file object costs more than the read.
        path = self._root_slash + _checked(key)
        try:
            fd = os.open(path, os.O_RDONLY)
            try:
                chunks = []
                while chunk := os.read(fd, _READ_SIZE):
                    chunks.append(chunk)
            finally:
                os.close(fd)
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)
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
