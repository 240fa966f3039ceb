"""The fast page decoder agrees with ``json.loads``: same rows, same classification, same errors.

Every summary, verification and dataset is derived from pages through ``page_rows``; the
reference it must match is the plain reading ``json.loads(body)["payload"]`` with rows as dicts.
"""

from __future__ import annotations

import json
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.chatwoot.records import BadBody, parse_events
from sla_digest.chatwoot.rows import Row, created_at_of, page_rows
from sla_digest.window import report_window

WINDOW = report_window(date(2026, 11, 20), "Europe/Berlin")
FIELDS = (
    "id",
    "name",
    "value",
    "value_in_business_hours",
    "event_start_time",
    "event_end_time",
    "created_at",
    "inbox_id",
    "user_id",
    "conversation_id",
)

# Values of every JSON kind, including the ones a hostile server would send.
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8)
    | st.sampled_from(
        [
            "first_response",
            "reply_time",
            "conversation_resolved",
            "conversation_opened",
            "2026-11-20T09:01:36.412Z",
            "2026-11-20T12:00:00+01:00",
            "2026-11-20T09:01:36",
            "2026-02-30T09:01:36.412Z",
        ]
    ),
    lambda inner: (
        st.lists(inner, max_size=2) | st.dictionaries(st.text(max_size=3), inner, max_size=2)
    ),
    max_leaves=4,
)
usual_rows = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=1, max_value=40),
        "name": st.sampled_from(["first_response", "reply_time", "conversation_resolved"]),
        "value": st.floats(min_value=0, max_value=1e6),
        "created_at": st.sampled_from(
            ["2026-11-20T09:01:36.412Z", "2026-11-19T22:59:59.999Z", "2026-11-21T00:00:00Z"]
        ),
    },
    optional={field: json_values for field in FIELDS[3:6] + FIELDS[7:]},
)
hostile_rows = st.fixed_dictionaries(
    {}, optional={field: json_values for field in (*FIELDS, "account_id")}
)
object_rows = usual_rows | hostile_rows


def _reference(body: bytes) -> EventSet:
    return classify_rows(json.loads(body)["payload"], WINDOW, into=EventSet(details=True))


def _fast(body: bytes) -> EventSet:
    return classify_rows(page_rows(body), WINDOW, into=EventSet(details=True))


def _same(left: EventSet, right: EventSet) -> None:
    assert left.ignored == right.ignored
    assert left.seen_ids == right.seen_ids
    assert left.cells == right.cells


@settings(max_examples=300, deadline=None)
@given(rows=st.lists(object_rows, max_size=12))
def test_fast_rows_classify_as_json_loads_rows_do(rows: list[object]) -> None:
    # GIVEN a page of objects with fields of every kind, usual and hostile
    body = json.dumps({"payload": rows, "meta": {"count": len(rows)}}).encode()
    assert all(type(row) is Row for row in page_rows(body))  # the fast path reads it
    # WHEN it is read through the fast decoder and through json.loads
    # THEN the kept events, ignored counts and seen ids are the same
    _same(_fast(body), _reference(body))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(object_rows | json_values, max_size=6))
def test_pages_with_items_of_any_kind_classify_alike(rows: list[object]) -> None:
    # GIVEN a page whose items may be numbers, strings or lists among the objects
    body = json.dumps({"payload": rows}).encode()
    # WHEN it is read both ways
    # THEN the outcome is the same
    _same(_fast(body), _reference(body))


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(usual_rows, min_size=1, max_size=12))
def test_pages_of_objects_take_the_fast_path_with_every_field(
    rows: list[dict[str, object]],
) -> None:
    # GIVEN a page whose payload is a list of objects
    body = json.dumps({"payload": rows}).encode()
    # WHEN it is decoded
    decoded = page_rows(body)
    # THEN each row is a Row holding exactly the values of its object's known fields
    assert all(type(row) is Row for row in decoded)
    assert [[getattr(row, f) for f in FIELDS] for row in decoded] == [
        [row.get(f) for f in FIELDS] for row in rows
    ]


@pytest.mark.parametrize(
    ("body", "note"),
    [
        (b'{"payload": [{"id": 1, "value": NaN, "name": "reply_time"}]}', "a NaN literal"),
        (b'{"payload": [{"id": 2, "name": "\\udc80"}]}', "half a surrogate pair"),
        (b'{"payload": [{"id": 3, "value": 1e400}]}', "a number beyond a double"),
        (b'{"payload": [7, "x", {"id": 4}]}', "items that are not objects"),
        ('{"payload": [{"id": 5}]}'.encode("utf-16"), "UTF-16 text"),
        (b'{"payload": "abc"}', "a payload that is a string"),
        (b'{"payload": [{"id": 6, "id": 8, "name": "first_response"}]}', "a repeated key"),
    ],
)
def test_bodies_the_fast_path_refuses_are_read_as_json_loads_reads_them(
    body: bytes, note: str
) -> None:
    # GIVEN a body outside the usual shape (see note)
    # WHEN it is read both ways
    # THEN the outcome is the same
    _same(_fast(body), _reference(body))


@pytest.mark.parametrize(
    "body", [b"<html>oops</html>", b'{"meta": {}}', b"[1, 2]", b'{"payload": [1], "x": }']
)
def test_bodies_that_are_not_pages_raise_what_json_loads_raises(body: bytes) -> None:
    # GIVEN a body that is not a page
    # WHEN the reference expression and the fast decoder read it
    with pytest.raises((ValueError, KeyError, TypeError)) as expected:
        json.loads(body)["payload"]
    # THEN both raise the same kind of error
    with pytest.raises(expected.type):
        page_rows(body)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"<html>busy</html>", "body is HTML"),
        (b"nope", "body is not JSON"),
        (b"[]", "body is not a JSON object"),
        (b'{"payload": [{"id": 1}]}', 'body lacks a "payload" list or a "meta" object'),
        (b'{"payload": [], "meta": {"count": 1}}', '"meta" lacks integer "count"'),
    ],
)
def test_events_bodies_of_the_wrong_shape_keep_their_messages(body: bytes, message: str) -> None:
    # GIVEN a reporting-events answer that is not the API's shape
    # WHEN the client checks it
    # THEN it is refused with the message that names what is wrong
    with pytest.raises(BadBody, match=message):
        parse_events(body)


def test_an_events_body_of_the_usual_shape_gives_rows_and_its_counts() -> None:
    # GIVEN a page of 2 rows out of 27 (so 2 pages of 25)
    rows = [{"id": 1, "created_at": "2026-11-20T09:00:00Z"}, {"id": 2, "created_at": None}]
    body = json.dumps({"payload": rows, "meta": {"count": 27, "total_pages": 2}}).encode()
    # WHEN the client checks it
    got = parse_events(body)
    # THEN the counts are the meta's and the rows' created_at are readable whatever their form
    assert (got.count, got.total_pages) == (27, 2)
    assert [created_at_of(row) for row in got.payload] == ["2026-11-20T09:00:00Z", None]
    assert created_at_of({"created_at": "x"}) == "x"
    assert created_at_of(5) is None
