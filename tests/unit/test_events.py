"""Which rows count: de-duplication, unknown names, invalid values, the window's edges."""

from __future__ import annotations

from datetime import date
from typing import Any

from sla_digest.chatwoot.events import EVENT_NAMES, classify_rows
from sla_digest.window import Window

# 2026-11-20 in UTC: [1795132800, 1795219200)
WINDOW = Window(day=date(2026, 11, 20), timezone="UTC", since=1795132800, until=1795219200)


def row(row_id: Any, name: str = "first_response", value: Any = 60.0, **extra: Any) -> dict:
    base = {
        "id": row_id,
        "name": name,
        "value": value,
        "value_in_business_hours": extra.pop("vibh", value),
        "account_id": 7,
        "inbox_id": extra.pop("inbox_id", 1),
        "user_id": extra.pop("user_id", 2),
        "conversation_id": 3,
        "created_at": extra.pop("created_at", "2026-11-20T09:00:00.000Z"),
    }
    base.update(extra)
    return base


def test_all_eight_documented_names_are_known_and_resolution_is_not() -> None:
    assert len(EVENT_NAMES) == 8
    assert "resolution" not in EVENT_NAMES


def test_a_row_seen_twice_is_kept_once() -> None:
    # GIVEN the same row on two pages (ties moving between requests)
    result = classify_rows([row(1), row(2), row(1)], WINDOW)
    # THEN it is kept once and counted once
    assert [e.id for e in result.events] == [1, 2]
    assert result.unique_rows == 2


def test_unknown_names_are_ignored_and_counted_but_still_seen() -> None:
    result = classify_rows([row(1, name="conversation_sla_missed"), row(2)], WINDOW)
    assert [e.id for e in result.events] == [2]
    assert result.ignored.unknown_name == 1
    assert result.unique_rows == 2


def test_missing_non_numeric_and_negative_values_are_invalid() -> None:
    rows = [row(1, value=None), row(2, value="abc"), row(3, value=-5.0), row(4, value=True)]
    rows.append(row(5, value=float("nan")))
    rows.append(row(6, value=12))  # an integer is a valid number of seconds
    result = classify_rows(rows, WINDOW)
    assert [e.id for e in result.events] == [6]
    assert result.events[0].value == 12.0
    assert result.ignored.invalid == 5


def test_the_window_includes_its_start_and_excludes_its_end() -> None:
    rows = [
        row(1, created_at="2026-11-20T00:00:00.000Z"),  # == since: kept
        row(2, created_at="2026-11-21T00:00:00.000Z"),  # == until: outside
        row(3, created_at="2026-11-19T23:59:59.999Z"),  # just before: outside
        row(4, created_at="2026-11-20T23:59:59.999Z"),  # just before the end: kept
    ]
    result = classify_rows(rows, WINDOW)
    assert sorted(e.id for e in result.events) == [1, 4]
    assert result.ignored.outside_window == 2


def test_rows_without_an_integer_id_cannot_be_deduplicated_and_are_invalid() -> None:
    result = classify_rows([row(None), row("7"), {"name": "first_response"}, "junk"], WINDOW)
    assert result.events == []
    assert result.ignored.invalid == 4


def test_null_business_hours_and_ids_are_kept_as_none() -> None:
    rows = [
        row(1, name="conversation_captain_inference_resolved", vibh=None, user_id=None),
        row(2, inbox_id=None),
    ]
    result = classify_rows(rows, WINDOW)
    captain, no_inbox = result.events
    assert captain.value_in_business_hours is None
    assert captain.user_id is None
    assert no_inbox.inbox_id is None


def test_classification_accumulates_across_pages() -> None:
    first = classify_rows([row(1), row(2)], WINDOW)
    both = classify_rows([row(2), row(3, name="mystery")], WINDOW, into=first)
    assert both is first
    assert [e.id for e in both.events] == [1, 2]
    assert both.unique_rows == 3
    assert both.ignored.unknown_name == 1


def test_timestamps_in_other_iso_forms_are_still_placed_by_their_instant() -> None:
    # GIVEN rows whose created_at is not in Chatwoot's exact millisecond form
    rows = [
        row(1, created_at="2026-11-20T09:00:00Z"),  # no milliseconds: inside
        row(2, created_at="2026-11-20T23:30:00-01:00"),  # an offset: 00:30 on the 21st, outside
        row(3, created_at="2026-11-20T09:00:00"),  # no zone at all: unreadable
        row(4, created_at="2026-11-20T09:0X:00.000Z"),  # garbage in the fixed form: unreadable
    ]
    # WHEN classified
    result = classify_rows(rows, WINDOW)
    # THEN each is judged by the instant it names, or counted invalid
    assert [e.id for e in result.events] == [1]
    assert result.ignored.outside_window == 1
    assert result.ignored.invalid == 2


def test_a_name_that_is_not_a_string_counts_as_unknown_not_a_crash() -> None:
    rows = [row(1, name=["first_response"]), row(2, name={"x": 1}), row(3)]  # type: ignore[arg-type]
    result = classify_rows(rows, WINDOW)
    assert result.kept == 1
    assert result.ignored.unknown_name == 2


def test_positions_hold_every_new_row_with_an_id_as_received_kept_or_not() -> None:
    # GIVEN a kept row, an unknown name, a row outside the window, a bad value, no id, a repeat
    rows = [
        row(1, inbox_id=4),
        row(2, name="conversation_sla_missed", inbox_id=None),
        row(3, created_at="2026-11-21T00:00:00.000Z"),
        row(4, value="abc", inbox_id="5"),
        row("x"),
        row(1, created_at="2026-11-20T10:00:00.000Z"),
    ]
    positions: list[tuple[object, object, object]] = []
    # WHEN they are classified with a positions map
    classify_rows(rows, WINDOW, positions=positions)
    # THEN each id is there once, with its first sighting's created_at, name and inbox as sent
    assert positions == [
        ("2026-11-20T09:00:00.000Z", "first_response", 4),
        ("2026-11-20T09:00:00.000Z", "conversation_sla_missed", None),
        ("2026-11-21T00:00:00.000Z", "first_response", 1),
        ("2026-11-20T09:00:00.000Z", "first_response", "5"),
    ]


def test_repeats_collect_the_created_at_text_of_rows_met_again() -> None:
    # GIVEN rows 1 and 2 met again, one of them with a created_at that is not text
    first = [row(1), row(2, created_at="2026-11-20T11:00:00.000Z"), row(3)]
    again = [
        row(2, created_at="2026-11-20T11:00:00.000Z"),
        row(1, created_at=["2026-11-20T09:00:00.000Z"]),
    ]
    events = classify_rows(first, WINDOW)
    repeats: set[str] = set()
    # WHEN the second page is classified into the same set with a repeats set
    classify_rows(again, WINDOW, into=events, repeats=repeats)
    # THEN only the text timestamp is collected (a list cannot be placed, nor hashed)
    assert repeats == {"2026-11-20T11:00:00.000Z"}
    assert events.unique_rows == 3


def test_kept_rows_keep_their_conversation_id_and_created_at_as_received() -> None:
    # GIVEN rows with an internal conversation id, one null and one that is not a number
    rows = [
        row(1, created_at="2026-11-20T09:00:00.000Z"),
        row(2, conversation_id=None, created_at="2026-11-20T10:00:00+00:00"),
        row(3, conversation_id="17"),
    ]
    # WHEN they are classified
    events = classify_rows(rows, WINDOW).events
    # THEN the breach list can name each row's conversation; a non-integer id is no id
    assert [(e.id, e.conversation_id) for e in events] == [(1, 3), (2, None), (3, None)]
    assert [e.created_at for e in events][:2] == [
        "2026-11-20T09:00:00.000Z",
        "2026-11-20T10:00:00+00:00",
    ]


def test_a_row_without_a_conversation_key_is_still_kept() -> None:
    # GIVEN a row lacking the conversation_id key altogether
    bare = row(1)
    del bare["conversation_id"]
    # WHEN it is classified
    events = classify_rows([bare], WINDOW).events
    # THEN it counts, with no conversation to link to
    assert [(e.id, e.conversation_id) for e in events] == [(1, None)]
