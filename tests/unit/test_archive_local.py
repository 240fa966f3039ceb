"""LocalArchive: the folder store behind ``--out``."""

from __future__ import annotations

import hashlib
import itertools
import os
from pathlib import Path

import pytest

from sla_digest.archive import LocalArchive, open_archive
from sla_digest.exceptions import ArchiveError, ConfigError

NON_UTF8 = b'\xff\xfe\x00\x80{"payload": []}\r\n\xc3\x28'


def test_a_non_utf8_body_round_trips_byte_for_byte(tmp_path: Path) -> None:
    # GIVEN a folder archive
    archive = LocalArchive(tmp_path)
    # WHEN bytes that are not UTF-8 are stored and read back
    archive.put("raw/x/page-00001.json", NON_UTF8)
    # THEN the same bytes come back, and the file on disk holds exactly them
    assert archive.get("raw/x/page-00001.json") == NON_UTF8
    assert (tmp_path / "raw" / "x" / "page-00001.json").read_bytes() == NON_UTF8


def test_a_one_megabyte_body_round_trips_byte_for_byte(tmp_path: Path) -> None:
    # GIVEN a 1 MB body with every byte value
    body = bytes(range(256)) * 4096
    archive = LocalArchive(tmp_path)
    # WHEN it is stored and read back
    archive.put("big.bin", body)
    # THEN it is unchanged
    assert len(body) == 1024 * 1024
    assert archive.get("big.bin") == body


def test_put_replaces_the_object_at_the_same_key(tmp_path: Path) -> None:
    # GIVEN an object already stored
    archive = LocalArchive(tmp_path)
    archive.put("a/b.json", b"first")
    # WHEN the same key is written again
    archive.put("a/b.json", b"second, longer")
    # THEN only the new content is there
    assert archive.get("a/b.json") == b"second, longer"


def test_a_failed_write_keeps_the_old_object_and_leaves_no_temp_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an object already stored and a disk that fails on the next write
    archive = LocalArchive(tmp_path)
    archive.put("a/b.json", b"old")

    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    # WHEN the object is replaced
    with pytest.raises(ArchiveError, match="No space left on device"):
        archive.put("a/b.json", b"new")
    # THEN the old content is intact and the folder holds nothing else
    assert archive.get("a/b.json") == b"old"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.json"]


def test_head_reports_size_metadata_and_recorded_checksum(tmp_path: Path) -> None:
    # GIVEN an object stored with metadata
    archive = LocalArchive(tmp_path)
    archive.put("k.json", b"12345", metadata={"rows": "3"})
    # WHEN its head is read
    info = archive.head("k.json")
    # THEN size, metadata and the sha256 of the stored bytes are known
    assert info is not None
    assert info.size == 5
    assert info.metadata == {"rows": "3"}
    assert info.sha256 == hashlib.sha256(b"12345").hexdigest()


def test_head_of_a_missing_key_is_none(tmp_path: Path) -> None:
    # GIVEN an empty archive
    archive = LocalArchive(tmp_path)
    # WHEN / THEN a missing key has no head
    assert archive.head("nothing/here.json") is None


def test_writing_without_metadata_drops_the_old_metadata(tmp_path: Path) -> None:
    # GIVEN an object stored with metadata
    archive = LocalArchive(tmp_path)
    archive.put("k.json", b"1", metadata={"sha256": "abc"})
    # WHEN it is replaced without metadata
    archive.put("k.json", b"2")
    # THEN no stale metadata describes the new content
    info = archive.head("k.json")
    assert info is not None
    assert info.metadata == {}
    assert info.sha256 is None


def test_list_returns_sorted_keys_under_the_prefix_without_hidden_files(tmp_path: Path) -> None:
    # GIVEN objects (some with metadata sidecars) in and beside a folder
    archive = LocalArchive(tmp_path)
    archive.put("raw/d=2/page-00002.json", b"2", metadata={"sha256": "x"})
    archive.put("raw/d=2/page-00001.json", b"1", metadata={"sha256": "y"})
    archive.put("raw/d=2/sub/inner.json", b"3")
    archive.put("raw/d=20/page-00001.json", b"other day")
    # WHEN the day's prefix is listed
    keys = archive.list("raw/d=2/")
    # THEN exactly its objects come back, sorted, sidecars excluded
    assert keys == [
        "raw/d=2/page-00001.json",
        "raw/d=2/page-00002.json",
        "raw/d=2/sub/inner.json",
    ]


def test_list_of_a_missing_folder_is_empty(tmp_path: Path) -> None:
    # GIVEN an empty archive
    archive = LocalArchive(tmp_path)
    # WHEN / THEN listing a folder that does not exist finds nothing
    assert archive.list("raw/account_id=1/") == []


def test_delete_removes_objects_with_their_metadata_and_ignores_missing_keys(
    tmp_path: Path,
) -> None:
    # GIVEN an object with metadata
    archive = LocalArchive(tmp_path)
    archive.put("a/p.json", b"1", metadata={"sha256": "x"})
    # WHEN it and a key that never existed are deleted
    archive.delete(["a/p.json", "a/never.json"])
    # THEN the folder is empty, hidden files included
    assert list((tmp_path / "a").iterdir()) == []


@pytest.mark.parametrize("key", ["../escape.json", "/abs.json", "a//b.json", "a/./b", ""])
def test_keys_that_leave_the_folder_are_refused(tmp_path: Path, key: str) -> None:
    # GIVEN a folder archive
    archive = LocalArchive(tmp_path / "root")
    # WHEN / THEN a key that is not a plain relative path is an ArchiveError
    with pytest.raises(ArchiveError, match="not a relative path"):
        archive.put(key, b"x")


def test_reading_a_missing_key_names_the_file(tmp_path: Path) -> None:
    # GIVEN an empty archive
    archive = LocalArchive(tmp_path)
    # WHEN / THEN reading a missing key says which file is missing
    with pytest.raises(ArchiveError, match=r"nope\.json does not exist"):
        archive.get("nope.json")


def test_uri_is_the_local_path(tmp_path: Path) -> None:
    # GIVEN a folder archive
    archive = LocalArchive(tmp_path)
    # WHEN / THEN keys and folder prefixes map to paths under the root
    assert archive.uri("raw/a.json") == str(tmp_path / "raw" / "a.json")
    assert archive.uri("raw/x/") == str(tmp_path / "raw" / "x")


def test_open_archive_of_a_folder_is_a_local_archive_without_prefix(tmp_path: Path) -> None:
    # GIVEN a folder location
    # WHEN it is opened
    archive, prefix = open_archive(str(tmp_path))
    # THEN it is that folder, from its root
    assert isinstance(archive, LocalArchive)
    assert archive.root == tmp_path
    assert prefix == ""


def test_open_archive_refuses_other_url_schemes() -> None:
    # GIVEN / WHEN / THEN a URL that is neither s3:// nor a path is a configuration error
    with pytest.raises(ConfigError, match="neither a folder nor an s3://"):
        open_archive("gs://bucket/prefix")


def _plain_names(key: str) -> bool:
    """The rule, spelt out: a relative path whose every part is a name, not '', '.' or '..'."""
    return bool(key) and all(part not in ("", ".", "..") for part in key.split("/"))


@pytest.mark.parametrize(
    "parts", list(itertools.product(["a", ".", "/", "..", "b.c", "..."], repeat=4))
)
def test_every_key_is_accepted_exactly_when_its_parts_are_plain_names(
    tmp_path: Path, parts: tuple[str, ...]
) -> None:
    # GIVEN a key made of names, dots and slashes in every order (4 pieces of 6)
    key = "".join(parts)
    archive = LocalArchive(tmp_path)
    # WHEN it is written THEN it is refused exactly when a part is empty, "." or ".."
    if _plain_names(key):
        archive.put(key, b"x")
        assert archive.get(key) == b"x"
    else:
        with pytest.raises(ArchiveError, match="not a relative path of plain names"):
            archive.put(key, b"x")


@pytest.mark.parametrize("size", [0, 1, 8_200, 65_536, 200_001])
def test_objects_of_any_size_read_back_byte_for_byte(tmp_path: Path, size: int) -> None:
    # GIVEN an object of that size (empty, a page, exactly one read, several reads)
    archive = LocalArchive(tmp_path)
    data = bytes(range(256)) * (size // 256) + bytes(size % 256)
    archive.put("raw/object.bin", data)
    # WHEN it is read back THEN it is the same bytes
    assert archive.get("raw/object.bin") == data


def test_reading_a_folder_as_an_object_is_one_clear_error(tmp_path: Path) -> None:
    # GIVEN a key that names a folder
    archive = LocalArchive(tmp_path)
    archive.put("raw/page.json", b"{}")
    # WHEN / THEN reading it is an ArchiveError naming the path
    with pytest.raises(ArchiveError, match=r"cannot read .*raw"):
        archive.get("raw")
