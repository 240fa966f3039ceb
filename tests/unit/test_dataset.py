"""The events dataset: rows of a hand-worked day, the key layout, rebuild and check."""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.dataset import (
    COLUMNS,
    Names,
    check_day,
    dataset_key,
    dataset_prefix,
    decode_rows,
    rebuild_day,
    write_day,
)
from sla_digest.dataset.table import encode_events
from sla_digest.window import Window

DAY = date(2026, 11, 20)
# Europe/Berlin is UTC+1 in November: the day is 2026-11-19T23:00Z .. 2026-11-20T23:00Z.
WINDOW = Window(day=DAY, timezone="Europe/Berlin", since=1795129200, until=1795215600)
HOSTILE = 'Zoë "100%" <b>\n\\'


def event(event_id: int, name: str, value: Any, created: str, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": event_id,
        "name": name,
        "value": value,
        "value_in_business_hours": None,
        "event_start_time": "2026-11-20T08:00:00.000Z",
        "event_end_time": "2026-11-20T08:01:00.000Z",
        "account_id": 7,
        "inbox_id": 3,
        "user_id": 5,
        "conversation_id": 900,
        "created_at": created,
        "updated_at": created,
    }
    row.update(fields)
    return row


PAGE_1 = [
    event(1, "first_response", 120.0, "2026-11-20T09:02:00.500Z", value_in_business_hours=60.0),
    event(
        2,
        "reply_time",
        "45",  # a number as text: classify_rows reads it as 45.0
        "2026-11-20T09:00:01Z",  # no milliseconds
        event_start_time="2026-11-20T10:00:00+01:00",  # another zone
        event_end_time="not a time",
        user_id=None,
        conversation_id=None,
    ),
    event(1, "first_response", 999.0, "2026-11-20T09:02:00.500Z"),  # repeated id: first wins
    event(4, "first_response", 10.0, "2026-11-19T22:59:59.999Z"),  # before the window
    event(5, "resolution", 10.0, "2026-11-20T10:00:00.000Z"),  # not a Chatwoot event name
    event(6, "conversation_resolved", -1.0, "2026-11-20T10:00:00.000Z"),  # invalid value
]
PAGE_2 = [
    event(
        7,
        "conversation_resolved",
        3600.0,
        "2026-11-20T22:59:59.999Z",  # the window's last millisecond
        value_in_business_hours=0.0,
        event_end_time="2026-02-30T00:00:00.000Z",  # the usual shape, but no such day
        inbox_id=4,
        user_id=9,
        conversation_id=True,  # not an id
    ),
    event(8, "first_response", 30.0, "2026-11-20T12:00:00.000Z", value_in_business_hours=30.0),
]
del PAGE_2[0]["event_start_time"]
NAMES = Names(inboxes={3: 'Support "EU"'}, agents={5: "Ann", 9: HOSTILE})

# The rows worked out by hand from the pages above, by id.
EXPECTED = {
    1: {
        "id": 1,
        "name": "first_response",
        "value": 120.0,
        "value_in_business_hours": 60.0,
        "event_start_time": "2026-11-20T08:00:00.000Z",
        "event_end_time": "2026-11-20T08:01:00.000Z",
        "created_at": "2026-11-20T09:02:00.500Z",
        "inbox_id": 3,
        "inbox_name": 'Support "EU"',
        "user_id": 5,
        "user_name": "Ann",
        "conversation_id": 900,
    },
    2: {
        "id": 2,
        "name": "reply_time",
        "value": 45.0,
        "value_in_business_hours": None,
        "event_start_time": "2026-11-20T09:00:00.000Z",
        "event_end_time": None,
        "created_at": "2026-11-20T09:00:01.000Z",
        "inbox_id": 3,
        "inbox_name": 'Support "EU"',
        "user_id": None,
        "user_name": None,
        "conversation_id": None,
    },
    7: {
        "id": 7,
        "name": "conversation_resolved",
        "value": 3600.0,
        "value_in_business_hours": 0.0,
        "event_start_time": None,
        "event_end_time": None,
        "created_at": "2026-11-20T22:59:59.999Z",
        "inbox_id": 4,
        "inbox_name": None,
        "user_id": 9,
        "user_name": HOSTILE,
        "conversation_id": None,
    },
    8: {
        "id": 8,
        "name": "first_response",
        "value": 30.0,
        "value_in_business_hours": 30.0,
        "event_start_time": "2026-11-20T08:00:00.000Z",
        "event_end_time": "2026-11-20T08:01:00.000Z",
        "created_at": "2026-11-20T12:00:00.000Z",
        "inbox_id": 3,
        "inbox_name": 'Support "EU"',
        "user_id": 5,
        "user_name": "Ann",
        "conversation_id": 900,
    },
}


def classified(*pages: list[dict[str, Any]]) -> EventSet:
    events = EventSet(details=True)
    for rows in pages:
        classify_rows(rows, WINDOW, into=events)
    return events


def by_id(data: bytes) -> dict[Any, dict[str, Any]]:
    return {row["id"]: row for row in decode_rows(data)}


@dataclass(frozen=True)
class _Page:
    number: int
    body: bytes
    rows: int
    params: dict[str, int | str]


def archived_day(root: Path, pages: list[list[dict[str, Any]]]) -> DayArchive:
    """An archived account-day in a folder, as a run leaves it (pages, context, manifest)."""
    day = DayArchive(LocalArchive(root), 7, DAY)
    query = {"since": WINDOW.since, "until": WINDOW.until}
    entries = [
        day.write_page(
            _Page(n, json.dumps({"payload": rows}).encode(), len(rows), {**query, "page": n})
        )
        for n, rows in enumerate(pages, start=1)
    ]
    inboxes = {"payload": [{"id": 3, "name": 'Support "EU"'}]}
    agents = [{"id": 5, "name": "Ann"}, {"id": 9, "name": HOSTILE}]
    resources = {
        "inboxes": day.write_resource("inboxes", json.dumps(inboxes).encode()),
        "agents": day.write_resource("agents", json.dumps(agents).encode()),
    }
    day.write_manifest(
        window=WINDOW,
        query=query,
        meta={"count": 8},
        pages=entries,
        resources=resources,
        fetched_at=datetime(2026, 11, 21, 6, tzinfo=UTC),
        complete=True,
        missing=0,
    )
    return day


# --- rows -----------------------------------------------------------------------------------


def test_the_rows_are_the_kept_events_with_names_and_normalized_times() -> None:
    # GIVEN two pages with a repeated id, rows outside the window, an unknown name, an invalid
    # value, times in other forms or broken, and names that are hostile text
    events = classified(PAGE_1, PAGE_2)
    # WHEN the day's file is encoded and read back
    rows = by_id(encode_events(events, NAMES))
    # THEN it holds exactly the hand-worked rows, every column of the contract in each
    assert rows == EXPECTED
    assert all(list(row) == [name for name, _ in COLUMNS] for row in rows.values())


def test_the_file_is_one_json_object_per_line_gzipped() -> None:
    # GIVEN the hand-worked day
    data = encode_events(classified(PAGE_1, PAGE_2), NAMES)
    # WHEN the bytes are opened with nothing but gzip and json
    lines = gzip.decompress(data).decode("utf-8").split("\n")
    # THEN each of the four rows is a line of its own, ended by a newline (a newline inside a
    # name is escaped)
    assert lines[-1] == ""
    assert sorted(json.loads(line)["id"] for line in lines[:-1]) == [1, 2, 7, 8]


def test_a_day_without_events_is_an_empty_file_not_a_missing_one() -> None:
    # GIVEN no events WHEN encoded THEN the file exists and holds no rows
    data = encode_events(EventSet(details=True), NAMES)
    assert gzip.decompress(data) == b""


def test_an_event_set_without_details_cannot_be_written() -> None:
    # GIVEN events classified without keeping details THEN writing them is refused
    events = EventSet()
    classify_rows(PAGE_1, WINDOW, into=events)
    with pytest.raises(ValueError, match="details=True"):
        encode_events(events, NAMES)


def test_keeping_details_changes_nothing_the_summary_reads() -> None:
    # GIVEN the same pages classified with and without details
    plain, detailed = EventSet(), classified(PAGE_1, PAGE_2)
    for rows in (PAGE_1, PAGE_2):
        classify_rows(rows, WINDOW, into=plain)
    # THEN the events and what was ignored are the same
    assert plain.events == detailed.events
    assert plain.ignored == detailed.ignored
    assert plain.unique_rows == detailed.unique_rows


# --- keys -----------------------------------------------------------------------------------


def test_each_account_day_has_its_own_hive_style_folder() -> None:
    # GIVEN account 7 on 2026-11-20, in a bucket and under a prefix
    # THEN the folder and the file follow the documented layout
    assert dataset_prefix(7, DAY) == "datasets/events/account_id=7/date=2026-11-20/"
    assert dataset_key(7, DAY, "audit/") == (
        "audit/datasets/events/account_id=7/date=2026-11-20/events.json.gz"
    )


# --- write, rebuild, check ------------------------------------------------------------------


def test_the_job_and_a_rebuild_from_raw_pages_write_the_same_rows(tmp_path: Path) -> None:
    # GIVEN an archived day, and the events the run classified (pages in another order)
    day = archived_day(tmp_path, [PAGE_1, PAGE_2])
    context = _context()
    # WHEN the run writes the dataset, then a rebuild writes it again from the archive alone
    key = write_day(day, classified(PAGE_1, PAGE_2), context)
    written = by_id(LocalArchive(tmp_path).get(key))
    assert rebuild_day(day) == key
    rebuilt = by_id(LocalArchive(tmp_path).get(key))
    # THEN both are the hand-worked rows
    assert written == rebuilt == EXPECTED
    assert key == "datasets/events/account_id=7/date=2026-11-20/events.json.gz"


def test_a_dataset_that_matches_its_raw_pages_has_no_problems(tmp_path: Path) -> None:
    # GIVEN an archived day whose dataset was rebuilt
    day = archived_day(tmp_path, [PAGE_1, PAGE_2])
    rebuild_day(day)
    # WHEN it is checked THEN nothing is reported
    assert check_day(day) == []


def test_a_missing_dataset_is_reported_with_the_command_that_writes_it(tmp_path: Path) -> None:
    # GIVEN a day archived before the dataset existed
    day = archived_day(tmp_path, [PAGE_1, PAGE_2])
    # WHEN it is checked THEN one line names the file and the fix
    [problem] = check_day(day)
    assert "missing" in problem
    assert "account_id=7/date=2026-11-20/events.json.gz" in problem
    assert "sla-digest dataset rebuild" in problem


def test_a_corrupt_dataset_is_reported_and_a_rebuild_replaces_it(tmp_path: Path) -> None:
    # GIVEN an archived day whose dataset file was damaged
    day = archived_day(tmp_path, [PAGE_1, PAGE_2])
    key = rebuild_day(day)
    path = tmp_path / key
    path.write_bytes(path.read_bytes()[:-9])
    # WHEN it is checked THEN one line says it is not gzip NDJSON
    [problem] = check_day(day)
    assert "not gzip NDJSON" in problem
    # AND after a rebuild it matches its pages again
    rebuild_day(day)
    assert check_day(day) == []


def test_rows_that_disagree_with_the_raw_pages_are_named(tmp_path: Path) -> None:
    # GIVEN a dataset where one value was edited, one row removed and one row added
    day = archived_day(tmp_path, [PAGE_1, PAGE_2])
    key = rebuild_day(day)
    rows = by_id((tmp_path / key).read_bytes())
    rows[1]["value"] = 1.0
    del rows[2]
    rows[99] = {**rows[8], "id": 99}
    text = "".join(json.dumps(row) + "\n" for row in rows.values())
    (tmp_path / key).write_bytes(gzip.compress(text.encode()))
    # WHEN it is checked
    problems = check_day(day)
    # THEN the missing row, the extra row and the changed column are each named
    assert any("lacks 1 of the 4 events (ids 2)" in line for line in problems)
    assert any("1 rows that are not kept events" in line and "99" in line for line in problems)
    assert any("row 1 differs in value" in line for line in problems)
    assert len(problems) == 3


def test_a_day_without_a_manifest_cannot_be_checked(tmp_path: Path) -> None:
    # GIVEN an empty archive WHEN a day is checked THEN one line says why
    [problem] = check_day(DayArchive(LocalArchive(tmp_path), 7, DAY))
    assert problem.startswith("the events dataset cannot be checked: no manifest")


def _context() -> Any:
    from sla_digest.chatwoot.client import AccountContext

    return AccountContext.from_raw(
        {
            "inboxes": json.dumps({"payload": [{"id": 3, "name": 'Support "EU"'}]}).encode(),
            "agents": json.dumps([{"id": 5, "name": "Ann"}, {"id": 9, "name": HOSTILE}]).encode(),
        }
    )
