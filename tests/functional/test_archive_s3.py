"""S3Archive and DayArchive against moto's S3: checksums, versioning, resume and errors."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import boto3
import pytest
from botocore.exceptions import EndpointConnectionError
from botocore.stub import Stubber

from sla_digest.archive import DayArchive, S3Archive, check_day, open_archive
from sla_digest.exceptions import ArchiveError
from sla_digest.window import Window

BUCKET = "sla-digest-archive-test"
DAY = date(2026, 11, 20)
WINDOW = Window(day=DAY, timezone="UTC", since=1795132800, until=1795219200)
QUERY = {"since": 1795132800, "until": 1795219200}


@dataclass(frozen=True)
class FakePage:
    number: int
    body: bytes
    rows: int
    params: dict[str, int | str]


def page(n: int) -> FakePage:
    body = json.dumps({"payload": [{"id": n * 10}, {"id": n * 10 + 1}], "meta": {}}).encode()
    return FakePage(n, body, 2, {**QUERY, "page": n})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture
def s3(aws: None) -> Any:
    """A client on moto with one private, versioned bucket."""
    client = boto3.client("s3")
    client.create_bucket(
        Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
    )
    client.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    return client


@pytest.fixture
def archive(s3: Any) -> S3Archive:
    return S3Archive(BUCKET, s3=s3)


def finish(day: DayArchive, pages: list[FakePage]) -> None:
    for p in pages:
        day.write_page(p)
    day.write_manifest(
        window=WINDOW,
        query=QUERY,
        meta={"count": 2 * len(pages)},
        pages=day.entries(),
        resources={"inboxes": day.write_resource("inboxes", b'{"payload":[]}')},
        fetched_at=datetime(2026, 11, 21, tzinfo=UTC),
        complete=True,
        missing=0,
    )


# the store -------------------------------------------------------------------------------


def test_a_non_utf8_body_round_trips_byte_for_byte(archive: S3Archive) -> None:
    # GIVEN bytes that are not UTF-8
    body = b"\xff\xfe\x00\x80\r\n\xc3\x28"
    # WHEN they are stored and read back
    archive.put("raw/odd.json", body)
    # THEN they are unchanged
    assert archive.get("raw/odd.json") == body


def test_a_one_megabyte_body_round_trips_byte_for_byte(archive: S3Archive) -> None:
    # GIVEN a 1 MB body with every byte value
    body = bytes(range(256)) * 4096
    # WHEN it is stored and read back
    archive.put("raw/big.bin", body)
    # THEN it is unchanged
    assert archive.get("raw/big.bin") == body


def test_objects_carry_s3s_own_sha256_checksum(archive: S3Archive, s3: Any) -> None:
    # GIVEN an object written through the archive
    archive.put("raw/p.json", b'{"payload":[]}', content_type="application/json")
    # WHEN S3 is asked for its checksum
    head = s3.head_object(Bucket=BUCKET, Key="raw/p.json", ChecksumMode="ENABLED")
    # THEN it is the SHA-256 of the bytes, and the content type was kept
    expected = base64.b64encode(hashlib.sha256(b'{"payload":[]}').digest()).decode()
    assert head["ChecksumSHA256"] == expected
    assert head["ContentType"] == "application/json"


def test_head_reports_size_metadata_and_checksum(archive: S3Archive) -> None:
    # GIVEN an object stored with metadata
    archive.put("k.json", b"12345", metadata={"rows": "3"})
    # WHEN its head is read
    info = archive.head("k.json")
    # THEN size, metadata and S3's checksum (as hex) are known
    assert info is not None
    assert (info.size, info.metadata, info.sha256) == (5, {"rows": "3"}, sha(b"12345"))


def test_head_of_a_missing_key_is_none(archive: S3Archive) -> None:
    # GIVEN / WHEN / THEN a key never written has no head
    assert archive.head("raw/none.json") is None


def test_list_follows_continuation_tokens(aws: None) -> None:
    # GIVEN a listing that S3 splits into two responses (it returns at most 1,000 keys each)
    client = boto3.client("s3")
    stubber = Stubber(client)
    first = [f"raw/many/page-{n:05d}.json" for n in range(1, 1001)]
    stubber.add_response(
        "list_objects_v2",
        {
            "Contents": [{"Key": key} for key in first],
            "IsTruncated": True,
            "NextContinuationToken": "token-2",
        },
        {"Bucket": BUCKET, "Prefix": "raw/many/"},
    )
    stubber.add_response(
        "list_objects_v2",
        {"Contents": [{"Key": "raw/many/page-01001.json"}], "IsTruncated": False},
        {"Bucket": BUCKET, "Prefix": "raw/many/", "ContinuationToken": "token-2"},
    )
    archive = S3Archive(BUCKET, s3=client)
    # WHEN the prefix is listed
    with stubber:
        listed = archive.list("raw/many/")
    # THEN the keys of both responses come back, in order
    assert listed == [*first, "raw/many/page-01001.json"]
    stubber.assert_no_pending_responses()


def test_delete_sends_at_most_a_thousand_keys_per_request(aws: None) -> None:
    # GIVEN 1,002 keys to delete (DeleteObjects takes at most 1,000 at a time)
    client = boto3.client("s3")
    stubber = Stubber(client)
    keys = [f"raw/d/{n}.json" for n in range(1002)]
    for batch in (keys[:1000], keys[1000:]):
        stubber.add_response(
            "delete_objects",
            {},
            {
                "Bucket": BUCKET,
                "Delete": {"Objects": [{"Key": key} for key in batch], "Quiet": True},
            },
        )
    archive = S3Archive(BUCKET, s3=client)
    # WHEN they are deleted
    with stubber:
        archive.delete(keys)
    # THEN two requests carried them, 1,000 and then 2
    stubber.assert_no_pending_responses()


def test_delete_removes_the_keys_and_ignores_missing_ones(archive: S3Archive, s3: Any) -> None:
    # GIVEN two objects
    for key in ("raw/d/1.json", "raw/d/2.json"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    # WHEN they are deleted, plus one that never existed
    archive.delete(["raw/d/1.json", "raw/d/2.json", "raw/d/never.json"])
    # THEN none is left
    assert s3.list_objects_v2(Bucket=BUCKET, Prefix="raw/d/")["KeyCount"] == 0


def test_a_failed_delete_of_one_key_is_an_archive_error_naming_it(aws: None) -> None:
    # GIVEN a DeleteObjects answer that reports a per-key failure
    client = boto3.client("s3")
    stubber = Stubber(client)
    stubber.add_response(
        "delete_objects",
        {"Errors": [{"Key": "raw/x.json", "Code": "AccessDenied", "Message": "Access Denied"}]},
    )
    archive = S3Archive(BUCKET, s3=client)
    # WHEN / THEN the failure is not silent
    with stubber, pytest.raises(ArchiveError, match=rf"s3://{BUCKET}/raw/x\.json: AccessDenied"):
        archive.delete(["raw/x.json"])


def test_a_prefix_keeps_keys_relative_to_it(s3: Any) -> None:
    # GIVEN an archive under the prefix "team-a"
    archive = S3Archive(BUCKET, prefix="team-a", s3=s3)
    # WHEN an object is written and listed
    archive.put("raw/x.json", b"1")
    # THEN it lives under the prefix in the bucket, and the archive's keys do not show it
    assert s3.get_object(Bucket=BUCKET, Key="team-a/raw/x.json")["Body"].read() == b"1"
    assert archive.list("raw/") == ["raw/x.json"]
    assert archive.uri("raw/x.json") == f"s3://{BUCKET}/team-a/raw/x.json"


def test_open_archive_of_an_s3_location_gives_the_bucket_and_prefix(s3: Any) -> None:
    # GIVEN an s3:// location with a prefix
    # WHEN it is opened
    archive, prefix = open_archive(f"s3://{BUCKET}/exports/daily/", s3=s3)
    # THEN the archive is the bucket and the prefix points inside it
    assert isinstance(archive, S3Archive)
    assert (archive.bucket, prefix) == (BUCKET, "exports/daily/")


# errors ----------------------------------------------------------------------------------


def test_a_missing_bucket_is_an_archive_error_naming_bucket_key_and_code(s3: Any) -> None:
    # GIVEN an archive on a bucket that does not exist
    archive = S3Archive("no-such-bucket-here", s3=s3)
    # WHEN a page is written
    with pytest.raises(ArchiveError) as caught:
        archive.put("raw/p.json", b"{}")
    # THEN one line names the object and the error code
    message = str(caught.value)
    assert "s3://no-such-bucket-here/raw/p.json" in message
    assert "NoSuchBucket" in message
    assert "\n" not in message
    assert caught.value.__cause__ is not None


def test_access_denied_is_an_archive_error_naming_bucket_key_and_code(aws: None) -> None:
    # GIVEN a client whose PutObject is refused with AccessDenied
    client = boto3.client("s3")
    stubber = Stubber(client)
    stubber.add_client_error(
        "put_object",
        service_error_code="AccessDenied",
        service_message="Access Denied",
        http_status_code=403,
    )
    archive = S3Archive(BUCKET, s3=client)
    # WHEN a page is written
    with stubber, pytest.raises(ArchiveError) as caught:
        archive.put("raw/account_id=7/date=2026-11-20/page-00001.json", b"{}")
    # THEN the message names the object and the code, and hints at permissions
    message = str(caught.value)
    assert f"s3://{BUCKET}/raw/account_id=7/date=2026-11-20/page-00001.json" in message
    assert "AccessDenied" in message
    assert "permissions" in message


def test_a_forbidden_head_is_an_archive_error_not_a_missing_object(aws: None) -> None:
    # GIVEN a client whose HeadObject answers 403 (S3 sends no error body on HEAD)
    client = boto3.client("s3")
    stubber = Stubber(client)
    stubber.add_client_error("head_object", service_error_code="403", http_status_code=403)
    archive = S3Archive(BUCKET, s3=client)
    # WHEN / THEN asking for the manifest's head fails loudly rather than returning None
    with stubber, pytest.raises(ArchiveError, match=rf"s3://{BUCKET}/m\.json: 403"):
        archive.head("m.json")


def test_a_connection_failure_is_an_archive_error(aws: None) -> None:
    # GIVEN a client that cannot reach S3
    client = boto3.client("s3")

    def unreachable(**kwargs: Any) -> None:
        raise EndpointConnectionError(endpoint_url="https://s3.eu-west-1.amazonaws.com")

    client.get_object = unreachable  # type: ignore[method-assign,assignment]
    archive = S3Archive(BUCKET, s3=client)
    # WHEN / THEN reading is an ArchiveError naming the object
    with pytest.raises(ArchiveError, match=rf"cannot read s3://{BUCKET}/k\.json: Could not"):
        archive.get("k.json")


# one account-day -------------------------------------------------------------------------


@pytest.fixture
def day(archive: S3Archive) -> DayArchive:
    return DayArchive(archive, 7, DAY)


def test_pages_are_stored_under_hive_style_keys(day: DayArchive, s3: Any) -> None:
    # GIVEN a finished day of two pages
    finish(day, [page(1), page(2)])
    # WHEN the bucket is listed
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
    # THEN the keys are those of the archive contract
    assert sorted(keys) == [
        "raw/account_id=7/date=2026-11-20/inboxes.json",
        "raw/account_id=7/date=2026-11-20/manifest.json",
        "raw/account_id=7/date=2026-11-20/page-00001.json",
        "raw/account_id=7/date=2026-11-20/page-00002.json",
    ]
    assert day.location() == f"s3://{BUCKET}/raw/account_id=7/date=2026-11-20/"


def test_a_run_that_dies_after_page_3_of_6_leaves_no_manifest(day: DayArchive, s3: Any) -> None:
    # GIVEN a run over 6 pages that fails after writing page 3
    def run() -> None:
        day.start()
        for p in map(page, range(1, 7)):
            day.write_page(p)
            if p.number == 3:
                raise RuntimeError("injected failure")
        finish(day, [])

    # WHEN it runs
    with pytest.raises(RuntimeError):
        run()
    # THEN pages 1-3 are in the bucket and no manifest is
    listed = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
    assert sorted(o["Key"].rsplit("/", 1)[1] for o in listed) == [
        "page-00001.json",
        "page-00002.json",
        "page-00003.json",
    ]


def test_resume_returns_the_verified_pages_and_drops_a_corrupted_one(
    day: DayArchive, s3: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a dead run with pages 1-3, page 2 later overwritten with a flipped byte but its
    # original metadata (so only the checksum can tell)
    for p in map(page, (1, 2, 3)):
        day.write_page(p)
    key = day.page_key(2)
    head = s3.head_object(Bucket=BUCKET, Key=key)
    bad = bytearray(page(2).body)
    bad[4] ^= 0x01
    s3.put_object(Bucket=BUCKET, Key=key, Body=bytes(bad), Metadata=head["Metadata"])
    # WHEN the next run starts
    with caplog.at_level(logging.WARNING, logger="sla_digest.archive.day"):
        resumed = DayArchive(S3Archive(BUCKET, s3=s3), 7, DAY).start()
    # THEN exactly pages 1 and 3 come back intact, and page 2's drop is logged
    assert [(p.number, p.body, p.rows, p.params) for p in resumed] == [
        (n, page(n).body, 2, {**QUERY, "page": n}) for n in (1, 3)
    ]
    assert any("page-00002.json" in r.getMessage() for r in caplog.records)


def test_a_rerun_removes_the_manifest_first_and_versioning_keeps_the_old_objects(
    day: DayArchive, s3: Any
) -> None:
    # GIVEN a finished day
    finish(day, [page(1), page(2)])
    # WHEN it is re-run: start, then a new page 1 and the manifest
    rerun = DayArchive(S3Archive(BUCKET, s3=s3), 7, DAY)
    assert rerun.start() == []
    assert rerun.manifest() is None
    new_body = b'{"payload":[],"meta":{"count":0}}'
    finish(rerun, [FakePage(1, new_body, 0, {**QUERY, "page": 1})])
    # THEN page 1 holds the new body, page 2 is gone, and S3 kept both versions of page 1
    assert rerun.archive.get(rerun.page_key(1)) == new_body
    assert rerun.archive.head(rerun.page_key(2)) is None
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=rerun.page_key(1))
    bodies = {
        s3.get_object(Bucket=BUCKET, Key=v["Key"], VersionId=v["VersionId"])["Body"].read()
        for v in versions["Versions"]
    }
    assert bodies == {page(1).body, new_body}
    old_page2 = s3.list_object_versions(Bucket=BUCKET, Prefix=rerun.page_key(2))
    assert len(old_page2["Versions"]) == 1
    assert len(old_page2["DeleteMarkers"]) == 1


def test_check_day_finds_a_flipped_byte_in_s3(day: DayArchive, s3: Any) -> None:
    # GIVEN a finished day whose page 1 was replaced by a copy with one flipped byte
    finish(day, [page(1), page(2)])
    bad = bytearray(page(1).body)
    bad[2] ^= 0x04
    s3.put_object(Bucket=BUCKET, Key=day.page_key(1), Body=bytes(bad))
    # WHEN it is checked / THEN page 1 is named
    assert check_day(day) == [
        f"page 1 does not match its sha256 in the manifest (its content changed): "
        f"s3://{BUCKET}/raw/account_id=7/date=2026-11-20/page-00001.json"
    ]


def test_check_day_of_a_clean_s3_day_finds_nothing(day: DayArchive) -> None:
    # GIVEN a finished day
    finish(day, [page(1), page(2), page(3)])
    # WHEN / THEN checking it finds no problem
    assert check_day(day) == []


def test_page_bodies_read_back_from_s3_byte_for_byte(day: DayArchive) -> None:
    # GIVEN a finished day
    pages = [page(1), page(2)]
    finish(day, pages)
    # WHEN / THEN the bodies come back as archived
    assert list(day.page_bodies()) == [(p.number, p.body) for p in pages]


def test_pages_written_in_the_background_all_reach_the_bucket(day: DayArchive) -> None:
    # GIVEN 12 pages handed to a background writer over S3
    pages = [page(n) for n in range(1, 13)]
    # WHEN the block ends
    with day.page_writer(workers=4) as write:
        for p in pages:
            write(p)
    # THEN each is stored intact and would be resumed by the next run
    resumed = DayArchive(day.archive, 7, DAY).start()
    assert [(p.number, p.body) for p in resumed] == [(p.number, p.body) for p in pages]
