"""DayArchive over a local folder: keys, the order of writes, resume and reading back."""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from sla_digest.archive import DayArchive, LocalArchive, PageEntry
from sla_digest.exceptions import ArchiveError
from sla_digest.window import Window

DAY = date(2026, 11, 20)
# Europe/Berlin is UTC+1 in November: 2026-11-20 00:00 CET = 2026-11-19 23:00 UTC.
WINDOW = Window(day=DAY, timezone="Europe/Berlin", since=1795129200, until=1795215600)
QUERY = {"since": 1795129200, "until": 1795215600}


@dataclass(frozen=True)
class FakePage:
    number: int
    body: bytes
    rows: int
    params: dict[str, int | str] = field(default_factory=dict)


def page(number: int, rows: int = 2, **params: int | str) -> FakePage:
    """A page of the main query unless params say otherwise; bodies are distinct per page."""
    body = json.dumps(
        {"payload": [{"id": number * 100 + i} for i in range(rows)], "meta": {"count": 12}}
    ).encode()
    return FakePage(number, body, rows, {**QUERY, "page": number, **params})


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def finish(day: DayArchive, pages: list[FakePage]) -> dict[str, object]:
    entries = [day.write_page(p) for p in pages]
    resources = {"inboxes": day.write_resource("inboxes", b'{"payload":[]}')}
    return day.write_manifest(
        window=WINDOW,
        query=QUERY,
        meta={"count": 12, "total_pages": 6},
        pages=entries,
        resources=resources,
        fetched_at=datetime(2026, 11, 21, 6, 0, 3, tzinfo=UTC),
        complete=True,
        missing=0,
    )


class RecordingArchive(LocalArchive):
    """A real folder archive that remembers the order of deletes."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.deleted: list[list[str]] = []

    def delete(self, keys):  # type: ignore[no-untyped-def]
        keys = list(keys)
        self.deleted.append(keys)
        super().delete(keys)


# keys --------------------------------------------------------------------------------------


def test_keys_are_hive_style_per_account_and_date(tmp_path: Path) -> None:
    # GIVEN the archive of account 7 on 2026-11-20
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    # WHEN / THEN every key follows the documented layout
    assert day.page_key(1) == "raw/account_id=7/date=2026-11-20/page-00001.json"
    assert day.page_key(123) == "raw/account_id=7/date=2026-11-20/page-00123.json"
    assert day.manifest_key == "raw/account_id=7/date=2026-11-20/manifest.json"
    assert day.resource_key("agents") == "raw/account_id=7/date=2026-11-20/agents.json"
    assert day.summary_key == "summaries/account_id=7/date=2026-11-20/summary.json"
    assert day.digest_keys == (
        "digests/account_id=7/date=2026-11-20/digest.html",
        "digests/account_id=7/date=2026-11-20/digest.txt",
    )
    assert day.marker_key("delivery.json") == "digests/account_id=7/date=2026-11-20/delivery.json"


def test_flat_keys_are_the_single_day_out_folder_layout(tmp_path: Path) -> None:
    # GIVEN the flat archive the CLI writes under --out
    day = DayArchive(LocalArchive(tmp_path), 7, DAY, flat=True)
    # WHEN / THEN the keys are those of the CLI contract
    assert day.page_key(1) == "raw/page-00001.json"
    assert day.manifest_key == "raw/manifest.json"
    assert day.summary_key == "summary.json"
    assert day.digest_keys == ("digest.html", "digest.txt")


def test_a_prefix_places_the_layout_inside_the_archive(tmp_path: Path) -> None:
    # GIVEN an archive whose layout starts under a prefix
    day = DayArchive(LocalArchive(tmp_path), 7, DAY, prefix="team-a/")
    # WHEN / THEN every key starts with it
    assert day.page_key(1) == "team-a/raw/account_id=7/date=2026-11-20/page-00001.json"
    assert day.summary_key == "team-a/summaries/account_id=7/date=2026-11-20/summary.json"


@pytest.mark.parametrize("name", ["manifest", "page-00001", "../x", "Inboxes", ""])
def test_resource_names_that_could_clash_with_pages_or_the_manifest_are_refused(
    tmp_path: Path, name: str
) -> None:
    # GIVEN a day archive
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    # WHEN / THEN a name that is not a plain lower-case word is refused
    with pytest.raises(ValueError, match="not a resource name"):
        day.resource_key(name)


def test_location_is_the_raw_folder_of_the_day(tmp_path: Path) -> None:
    # GIVEN a day archive in a folder
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    # WHEN / THEN its location is where its raw pages are
    assert day.location() == str(tmp_path / "raw" / "account_id=7" / "date=2026-11-20")


# writing a run -----------------------------------------------------------------------------


def test_a_page_body_is_stored_byte_for_byte_at_its_key(tmp_path: Path) -> None:
    # GIVEN a page whose body is not even UTF-8
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    odd = FakePage(1, b"\xff\x00 not json", 0, {**QUERY, "page": 1})
    # WHEN it is written
    entry = day.write_page(odd)
    # THEN the file holds exactly the body, and the entry describes it
    stored = tmp_path / "raw" / "account_id=7" / "date=2026-11-20" / "page-00001.json"
    assert stored.read_bytes() == b"\xff\x00 not json"
    assert entry == PageEntry(1, sha(b"\xff\x00 not json"), 11, 0, {**QUERY, "page": 1})


def test_a_run_that_dies_after_page_3_of_6_leaves_no_manifest(tmp_path: Path) -> None:
    # GIVEN a run over 6 pages that fails after writing the third
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    day.start()

    def run() -> None:
        for p in (page(n) for n in range(1, 7)):
            day.write_page(p)
            if p.number == 3:
                raise RuntimeError("injected failure")
        day.write_manifest(
            window=WINDOW,
            query=QUERY,
            meta={"count": 12},
            pages=day.entries(),
            resources={},
            fetched_at=datetime.now(tz=UTC),
            complete=True,
            missing=0,
        )

    # WHEN it runs
    with pytest.raises(RuntimeError):
        run()
    # THEN three pages are archived and nothing says the day is finished
    assert day.manifest() is None
    assert not (tmp_path / "raw" / "account_id=7" / "date=2026-11-20" / "manifest.json").exists()
    assert [e.page for e in day.entries()] == [1, 2, 3]


def test_resume_returns_exactly_the_pages_a_dead_run_archived(tmp_path: Path) -> None:
    # GIVEN a run that archived pages 1, 2 and a narrowed page 7, then died
    first = DayArchive(LocalArchive(tmp_path), 7, DAY)
    first.start()
    written = [page(1), page(2), page(7, rows=1, name="reply_time", page=1)]
    for p in written:
        first.write_page(p)
    # WHEN the next run starts
    resumed = DayArchive(LocalArchive(tmp_path), 7, DAY).start()
    # THEN it gets those pages back as they were: number, body, rows and params
    assert [(p.number, p.body, p.rows, p.params) for p in resumed] == [
        (p.number, p.body, p.rows, p.params) for p in written
    ]


def test_resume_keeps_a_pages_meta_when_the_page_carried_it(tmp_path: Path) -> None:
    # GIVEN page 1 written with the meta Chatwoot's page 1 carries
    @dataclass(frozen=True)
    class PageWithMeta(FakePage):
        count: int | None = None
        total_pages: int | None = None

    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    first = page(1)
    day.write_page(PageWithMeta(1, first.body, 2, first.params, count=140, total_pages=6))
    # WHEN a new run resumes
    [resumed] = DayArchive(LocalArchive(tmp_path), 7, DAY).start()
    # THEN count and total_pages come back without parsing the body
    assert (resumed.count, resumed.total_pages) == (140, 6)


def test_resume_drops_a_corrupted_page_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a dead run whose page 2 was changed on disk afterwards (one flipped byte)
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    for n in (1, 2, 3):
        day.write_page(page(n))
    path = tmp_path / day.page_key(2)
    data = bytearray(path.read_bytes())
    data[5] ^= 0x01
    path.write_bytes(bytes(data))
    # WHEN the next run starts
    with caplog.at_level(logging.WARNING, logger="sla_digest.archive.day"):
        resumed = DayArchive(LocalArchive(tmp_path), 7, DAY).start()
    # THEN pages 1 and 3 are re-used, page 2 is dropped (and removed) with a warning naming it
    assert [p.number for p in resumed] == [1, 3]
    assert not path.exists()
    assert any("page-00002.json" in r.getMessage() for r in caplog.records)


def test_resume_drops_a_page_whose_checksum_was_never_recorded(tmp_path: Path) -> None:
    # GIVEN a page file without its checksum (the run died between the page and its metadata)
    archive = LocalArchive(tmp_path)
    day = DayArchive(archive, 7, DAY)
    day.write_page(page(1))
    archive.put(day.page_key(2), page(2).body)
    # WHEN the next run starts
    resumed = DayArchive(archive, 7, DAY).start()
    # THEN only the verifiable page is re-used
    assert [p.number for p in resumed] == [1]


def test_rerunning_a_finished_day_deletes_the_manifest_before_the_pages(tmp_path: Path) -> None:
    # GIVEN a finished day
    archive = RecordingArchive(tmp_path)
    day = DayArchive(archive, 7, DAY)
    finish(day, [page(1), page(2)])
    # WHEN it is run again
    resumed = DayArchive(archive, 7, DAY).start()
    # THEN nothing is resumed, the manifest went first, then the old pages and resources
    assert resumed == []
    assert archive.deleted[0] == ["raw/account_id=7/date=2026-11-20/manifest.json"]
    assert sorted(archive.deleted[1]) == [
        "raw/account_id=7/date=2026-11-20/inboxes.json",
        "raw/account_id=7/date=2026-11-20/page-00001.json",
        "raw/account_id=7/date=2026-11-20/page-00002.json",
    ]
    assert archive.list("raw/") == []


def test_a_rerun_replaces_the_pages_at_the_same_keys(tmp_path: Path) -> None:
    # GIVEN a finished day with page 1
    archive = LocalArchive(tmp_path)
    finish(DayArchive(archive, 7, DAY), [page(1)])
    # WHEN a rerun writes a different page 1 and finishes
    rerun = DayArchive(archive, 7, DAY)
    rerun.start()
    new = FakePage(1, b'{"payload":[],"meta":{"count":0}}', 0, {**QUERY, "page": 1})
    manifest = finish(rerun, [new])
    # THEN the key holds the new body and the manifest describes it
    assert archive.get("raw/account_id=7/date=2026-11-20/page-00001.json") == new.body
    assert manifest["pages"] == [{"page": 1, "sha256": sha(new.body), "bytes": 33, "rows": 0}]


def test_the_manifest_lists_window_query_pages_and_resources(tmp_path: Path) -> None:
    # GIVEN two main-query pages and one page re-fetched under number 3
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    refetch = page(3, rows=1, page=2)
    pages = [page(1), page(2), refetch]
    # WHEN the run finishes
    finish(day, pages)
    # THEN the manifest on disk is exactly this (params only on the re-fetched page)
    stored = json.loads((tmp_path / day.manifest_key).read_bytes())
    assert stored == {
        "version": 1,
        "account_id": 7,
        "date": "2026-11-20",
        "timezone": "Europe/Berlin",
        "window": {"since": 1795129200, "until": 1795215600},
        "query": {"since": 1795129200, "until": 1795215600},
        "meta": {"count": 12, "total_pages": 6},
        "pages": [
            {"page": 1, "sha256": sha(pages[0].body), "bytes": len(pages[0].body), "rows": 2},
            {"page": 2, "sha256": sha(pages[1].body), "bytes": len(pages[1].body), "rows": 2},
            {
                "page": 3,
                "sha256": sha(refetch.body),
                "bytes": len(refetch.body),
                "rows": 1,
                "params": {"since": 1795129200, "until": 1795215600, "page": 2},
            },
        ],
        "resources": {"inboxes": {"sha256": sha(b'{"payload":[]}'), "bytes": 14}},
        "fetched_at": "2026-11-21T06:00:03Z",
        "complete": True,
        "missing": 0,
    }


def test_a_narrowed_page_keeps_its_filter_in_the_manifest(tmp_path: Path) -> None:
    # GIVEN a page of a query narrowed to one event name
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    narrowed = page(4, rows=1, name="first_response", page=1)
    # WHEN the run finishes
    manifest = finish(day, [narrowed])
    # THEN its params say how to fetch it again
    [listed] = manifest["pages"]  # type: ignore[misc]
    assert listed["params"] == {**QUERY, "page": 1, "name": "first_response"}


def test_a_finished_day_holds_only_the_documented_files(tmp_path: Path) -> None:
    # GIVEN a finished flat run with summary and digest
    day = DayArchive(LocalArchive(tmp_path), 7, DAY, flat=True)
    finish(day, [page(1), page(2)])
    day.write_summary({"schema_version": 1})
    day.write_digest("<p>hi</p>", "hi")
    # WHEN the folder is looked at, hidden files included
    files = sorted(p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*"))
    # THEN no checksum sidecar or temporary file is left
    assert files == [
        "digest.html",
        "digest.txt",
        "raw",
        "raw/inboxes.json",
        "raw/manifest.json",
        "raw/page-00001.json",
        "raw/page-00002.json",
        "summary.json",
    ]


def test_pages_written_from_several_threads_are_all_recorded(tmp_path: Path) -> None:
    # GIVEN 40 pages delivered by 8 threads at once
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    pages = [page(n) for n in range(1, 41)]
    threads = [
        threading.Thread(target=lambda chunk=pages[i::8]: [day.write_page(p) for p in chunk])
        for i in range(8)
    ]
    # WHEN they all write
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # THEN every page is there, in order, and stored intact
    assert [e.page for e in day.entries()] == list(range(1, 41))
    assert all(day.archive.get(day.page_key(p.number)) == p.body for p in pages)


def test_the_manifest_refuses_a_window_of_another_day(tmp_path: Path) -> None:
    # GIVEN the archive of 2026-11-21
    day = DayArchive(LocalArchive(tmp_path), 7, date(2026, 11, 21))
    # WHEN / THEN writing it with the window of 2026-11-20 is a programming error
    with pytest.raises(ValueError, match="2026-11-20"):
        day.write_manifest(
            window=WINDOW,
            query=QUERY,
            meta={},
            pages=[],
            resources={},
            fetched_at=datetime.now(tz=UTC),
            complete=True,
            missing=0,
        )


# reading back ------------------------------------------------------------------------------


def test_page_bodies_come_back_in_page_order_byte_for_byte(tmp_path: Path) -> None:
    # GIVEN a finished day whose pages arrived out of order
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    pages = [page(3), page(1), page(2)]
    finish(day, pages)
    # WHEN the bodies are read back from a fresh handle
    bodies = list(DayArchive(LocalArchive(tmp_path), 7, DAY).page_bodies())
    # THEN they are in page order and unchanged
    by_number = {p.number: p.body for p in pages}
    assert bodies == [(n, by_number[n]) for n in (1, 2, 3)]


def test_page_bodies_of_a_long_day_keep_page_order(tmp_path: Path) -> None:
    # GIVEN a finished day of 150 pages (more than one read batch)
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    finish(day, [page(n) for n in range(150, 0, -1)])
    # WHEN the bodies are read back
    bodies = list(day.page_bodies())
    # THEN all 150 come back in page order
    assert [(n, body) for n, body in bodies] == [(n, page(n).body) for n in range(1, 151)]


def test_page_bodies_refuse_a_page_that_no_longer_matches(tmp_path: Path) -> None:
    # GIVEN a finished day whose page 2 was edited afterwards
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    finish(day, [page(1), page(2)])
    (tmp_path / day.page_key(2)).write_bytes(b"{}")
    # WHEN / THEN reading the bodies stops at the changed page
    with pytest.raises(ArchiveError, match=r"page-00002\.json does not match its manifest"):
        list(day.page_bodies())


def test_page_bodies_of_an_unfinished_day_say_the_run_did_not_finish(tmp_path: Path) -> None:
    # GIVEN pages without a manifest
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    day.write_page(page(1))
    # WHEN / THEN reading them explains why not
    with pytest.raises(ArchiveError, match="the run did not finish"):
        list(day.page_bodies())


def test_resources_come_back_as_archived(tmp_path: Path) -> None:
    # GIVEN a finished day with three raw context bodies
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    bodies = {"agents": b"[]", "inboxes": b'{"payload":[]}', "sla_policies": b"\xff"}
    resources = {name: day.write_resource(name, body) for name, body in bodies.items()}
    day.write_manifest(
        window=WINDOW,
        query=QUERY,
        meta={"count": 0},
        pages=[],
        resources=resources,
        fetched_at=datetime.now(tz=UTC),
        complete=True,
        missing=0,
    )
    # WHEN / THEN they are read back unchanged
    assert DayArchive(LocalArchive(tmp_path), 7, DAY).resources() == bodies


def test_a_summary_is_stored_as_sorted_indented_json(tmp_path: Path) -> None:
    # GIVEN a summary built in some key order, with a non-ASCII name
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    # WHEN it is written
    day.write_summary({"schema_version": 1, "account_name": "Café", "account_id": 7})
    # THEN the file is stable: keys sorted, indent 2, UTF-8, final newline
    expected = '{\n  "account_id": 7,\n  "account_name": "Café",\n  "schema_version": 1\n}\n'
    assert (tmp_path / day.summary_key).read_bytes() == expected.encode()
    assert day.summary() == {"schema_version": 1, "account_name": "Café", "account_id": 7}


def test_a_missing_summary_is_none(tmp_path: Path) -> None:
    # GIVEN / WHEN / THEN a day without a summary has none
    assert DayArchive(LocalArchive(tmp_path), 7, DAY).summary() is None


def test_the_digest_round_trips(tmp_path: Path) -> None:
    # GIVEN a digest written for the day
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    day.write_digest("<p>Café ✓</p>", "Café ✓\n")
    # WHEN / THEN it is read back as written
    assert day.digest() == ("<p>Café ✓</p>", "Café ✓\n")


def test_a_digest_with_a_missing_half_is_none(tmp_path: Path) -> None:
    # GIVEN only the HTML part of a digest
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    day.archive.put(day.digest_keys[0], b"<p>x</p>")
    # WHEN / THEN there is no digest to re-use
    assert day.digest() is None


def test_a_marker_is_kept_beside_the_digest(tmp_path: Path) -> None:
    # GIVEN a delivery marker written for the day
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    day.write_marker("delivery.json", b'{"sent": true}')
    # WHEN / THEN it is found beside the digest, and an unknown marker is not
    assert (tmp_path / "digests/account_id=7/date=2026-11-20/delivery.json").exists()
    assert day.read_marker("delivery.json") == b'{"sent": true}'
    assert day.read_marker("other.json") is None


def test_resume_for_a_window_drops_pages_fetched_for_another_window(tmp_path: Path) -> None:
    # GIVEN a dead run that fetched page 1 for the UTC day and page 2 for the Berlin day
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    utc_page = FakePage(1, b"{}", 0, {"since": 1795132800, "until": 1795219200, "page": 1})
    day.write_page(utc_page)
    day.write_page(page(2))
    # WHEN the next run resumes for the Berlin window
    resumed = DayArchive(LocalArchive(tmp_path), 7, DAY).start(window=WINDOW)
    # THEN only the page of that window is re-used
    assert [p.number for p in resumed] == [2]


# writing in the background -----------------------------------------------------------------


class FailingArchive(LocalArchive):
    """A real folder archive whose disk fills up at one page."""

    def __init__(self, root: Path, fail_key: str) -> None:
        super().__init__(root)
        self.fail_key = fail_key

    def put(self, key, data, **kwargs):  # type: ignore[no-untyped-def]
        if key == self.fail_key:
            raise ArchiveError(f"cannot write {key}: No space left on device")
        super().put(key, data, **kwargs)


def test_the_page_writer_has_every_page_stored_when_its_block_ends(tmp_path: Path) -> None:
    # GIVEN 30 pages handed to a background writer
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)
    pages = [page(n) for n in range(1, 31)]
    # WHEN the block ends
    with day.page_writer(workers=4) as write:
        for p in pages:
            write(p)
    # THEN every page is stored and recorded, and no writer thread is left
    assert [e.page for e in day.entries()] == list(range(1, 31))
    assert all(day.archive.get(day.page_key(p.number)) == p.body for p in pages)
    assert not [t for t in threading.enumerate() if t.name.startswith("archive")]


def write_in_background(day: DayArchive, numbers: range, *, workers: int) -> None:
    """What the pipeline does: hand pages to the writer as the fetcher produces them."""
    with day.page_writer(workers=workers) as write:
        for n in numbers:
            write(page(n))
            time.sleep(0.001)


def test_the_page_writer_raises_a_failed_write(tmp_path: Path) -> None:
    # GIVEN a store that cannot write page 2
    bad_key = "raw/account_id=7/date=2026-11-20/page-00002.json"
    day = DayArchive(FailingArchive(tmp_path, bad_key), 7, DAY)
    # WHEN pages 1-3 are written in the background
    with pytest.raises(ArchiveError, match="No space left"):
        write_in_background(day, range(1, 4), workers=2)
    # THEN the failure surfaced, and the page queued before it was still stored
    assert 1 in [e.page for e in day.entries()]
    assert 2 not in [e.page for e in day.entries()]


def test_the_page_writer_stops_the_fetch_soon_after_a_failure(tmp_path: Path) -> None:
    # GIVEN a store that cannot write page 1
    bad_key = "raw/account_id=7/date=2026-11-20/page-00001.json"
    day = DayArchive(FailingArchive(tmp_path, bad_key), 7, DAY)
    # WHEN the fetcher hands over up to 199 pages, one a millisecond
    with pytest.raises(ArchiveError):
        write_in_background(day, range(1, 200), workers=1)
    # THEN it was stopped long before handing over everything
    assert len(day.entries()) < 150


def test_a_fetch_that_fails_keeps_the_pages_already_handed_to_the_writer(tmp_path: Path) -> None:
    # GIVEN a background writer given 5 pages, after which the fetch itself fails
    day = DayArchive(LocalArchive(tmp_path), 7, DAY)

    def fetch() -> None:
        with day.page_writer(workers=2) as write:
            for n in range(1, 6):
                write(page(n))
            raise TimeoutError("the fetch stopped")

    # WHEN it runs
    with pytest.raises(TimeoutError, match="the fetch stopped"):
        fetch()
    # THEN the fetch's own error propagates and the 5 pages are stored for a resume
    resumed = DayArchive(LocalArchive(tmp_path), 7, DAY).start()
    assert [p.number for p in resumed] == [1, 2, 3, 4, 5]
