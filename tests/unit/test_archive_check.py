"""check_day: every way archived raw data can disagree with its manifest, one message each."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from sla_digest.archive import DayArchive, LocalArchive, check_day
from sla_digest.window import Window

DAY = date(2026, 11, 20)
WINDOW = Window(day=DAY, timezone="UTC", since=1795132800, until=1795219200)
QUERY = {"since": 1795132800, "until": 1795219200}


@dataclass(frozen=True)
class FakePage:
    number: int
    body: bytes
    rows: int
    params: dict[str, int | str]


def finished_day(root: Path, pages: int = 3, *, flat: bool = False) -> DayArchive:
    """A day whose run finished cleanly: ``pages`` pages plus an agents resource."""
    day = DayArchive(LocalArchive(root), 7, DAY, flat=flat)
    day.start()
    for n in range(1, pages + 1):
        body = json.dumps({"payload": [{"id": n}], "meta": {"count": pages}}).encode()
        day.write_page(FakePage(n, body, 1, {**QUERY, "page": n}))
    day.write_manifest(
        window=WINDOW,
        query=QUERY,
        meta={"count": pages, "total_pages": pages},
        pages=day.entries(),
        resources={"agents": day.write_resource("agents", b"[]")},
        fetched_at=datetime(2026, 11, 21, tzinfo=UTC),
        complete=True,
        missing=0,
    )
    return day


def test_a_clean_day_has_no_problems(tmp_path: Path) -> None:
    # GIVEN a day whose run finished
    day = finished_day(tmp_path)
    # WHEN it is checked / THEN nothing is wrong
    assert check_day(day) == []


def test_a_clean_flat_day_has_no_problems(tmp_path: Path) -> None:
    # GIVEN a finished --out folder
    finished_day(tmp_path, flat=True)
    # WHEN it is checked from a fresh handle / THEN nothing is wrong
    assert check_day(DayArchive(LocalArchive(tmp_path), 7, DAY, flat=True)) == []


def test_a_missing_manifest_says_the_run_did_not_finish(tmp_path: Path) -> None:
    # GIVEN pages of a run that never wrote its manifest
    day = finished_day(tmp_path)
    (tmp_path / day.manifest_key).unlink()
    # WHEN it is checked
    problems = check_day(day)
    # THEN that is the one problem reported
    assert len(problems) == 1
    assert "no manifest" in problems[0]
    assert "did not finish" in problems[0]


def test_a_flipped_byte_is_a_sha256_mismatch_naming_the_page(tmp_path: Path) -> None:
    # GIVEN a finished day whose page 2 had one bit flipped afterwards (same size)
    day = finished_day(tmp_path)
    path = tmp_path / day.page_key(2)
    data = bytearray(path.read_bytes())
    data[3] ^= 0x20
    path.write_bytes(bytes(data))
    # WHEN it is checked
    problems = check_day(day)
    # THEN exactly page 2 is reported as changed
    assert len(problems) == 1
    assert problems[0].startswith("page 2 does not match its sha256")
    assert problems[0].endswith(str(path))


def test_a_truncated_page_is_a_size_mismatch(tmp_path: Path) -> None:
    # GIVEN a finished day whose page 1 lost its last byte
    day = finished_day(tmp_path)
    path = tmp_path / day.page_key(1)
    original = path.read_bytes()
    path.write_bytes(original[:-1])
    # WHEN it is checked
    problems = check_day(day)
    # THEN the sizes are named
    assert problems == [
        f"page 1 has {len(original) - 1} bytes but the manifest says {len(original)}: {path}"
    ]


def test_a_missing_page_is_reported_as_listed_but_missing(tmp_path: Path) -> None:
    # GIVEN a finished day whose page 3 was deleted
    day = finished_day(tmp_path)
    path = tmp_path / day.page_key(3)
    path.unlink()
    # WHEN it is checked / THEN page 3 is missing
    assert check_day(day) == [f"page 3 is listed in the manifest but missing: {path}"]


def test_an_extra_page_is_reported_as_not_listed(tmp_path: Path) -> None:
    # GIVEN a finished day with a page 7 the manifest does not list
    day = finished_day(tmp_path)
    extra = tmp_path / day.page_key(7)
    extra.write_bytes(b"{}")
    # WHEN it is checked / THEN page 7 is named as unlisted
    assert check_day(day) == [f"page 7 is archived but not listed in the manifest: {extra}"]


def test_a_missing_resource_is_reported(tmp_path: Path) -> None:
    # GIVEN a finished day whose agents body was deleted
    day = finished_day(tmp_path)
    path = tmp_path / day.resource_key("agents")
    path.unlink()
    # WHEN it is checked / THEN the resource is missing
    assert check_day(day) == [f"resource 'agents' is listed in the manifest but missing: {path}"]


def test_a_changed_resource_is_reported(tmp_path: Path) -> None:
    # GIVEN a finished day whose agents body changed but kept its size
    day = finished_day(tmp_path)
    path = tmp_path / day.resource_key("agents")
    path.write_bytes(b"{}")
    # WHEN it is checked
    problems = check_day(day)
    # THEN the resource is named as changed
    assert len(problems) == 1
    assert problems[0].startswith("resource 'agents' does not match its sha256")


def test_several_problems_each_get_their_own_message(tmp_path: Path) -> None:
    # GIVEN a day with a flipped byte in page 1, page 2 gone and an unlisted page 9
    day = finished_day(tmp_path)
    page1 = tmp_path / day.page_key(1)
    page1.write_bytes(page1.read_bytes().replace(b'"id": 1', b'"id": 8'))
    (tmp_path / day.page_key(2)).unlink()
    (tmp_path / day.page_key(9)).write_bytes(b"{}")
    # WHEN it is checked
    problems = check_day(day)
    # THEN there are three distinct messages, one per problem
    assert len(problems) == 3
    assert sum("page 1 does not match its sha256" in p for p in problems) == 1
    assert sum("page 2 is listed in the manifest but missing" in p for p in problems) == 1
    assert sum("page 9 is archived but not listed" in p for p in problems) == 1


def test_a_manifest_that_is_not_json_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # GIVEN a day whose manifest was overwritten with garbage
    day = finished_day(tmp_path)
    (tmp_path / day.manifest_key).write_bytes(b"\x00garbage")
    # WHEN it is checked
    problems = check_day(day)
    # THEN the manifest itself is the problem reported
    assert len(problems) == 1
    assert "manifest.json is not valid JSON" in problems[0]


def test_a_manifest_of_another_version_is_reported(tmp_path: Path) -> None:
    # GIVEN a finished day whose manifest claims version 2
    day = finished_day(tmp_path)
    path = tmp_path / day.manifest_key
    doc = json.loads(path.read_bytes())
    doc["version"] = 2
    path.write_text(json.dumps(doc))
    # WHEN it is checked / THEN the version is named
    problems = check_day(day)
    assert len(problems) == 1
    assert "version 2" in problems[0]
