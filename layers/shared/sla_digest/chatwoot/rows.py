"""Reporting-event rows decoded straight from a page's bytes.

A 100,000-event day is 4,000 pages; building a dict per row with ``json.loads`` cost more CPU
than everything the summary then does with the rows. msgspec decodes each row into a
:class:`Row` with one slot per field the product reads, in C, and skips the fields it does not
(``account_id``, ``updated_at``).

The fields are typed ``Any``: the decoder checks nothing about their values, so a row with a
string id or a list for a name reaches :func:`~sla_digest.chatwoot.events.classify_rows` as
received and is counted there, exactly as before. A body msgspec will not decode at all (not
UTF-8, a ``NaN`` literal, a half surrogate pair, a payload item that is not an object) is
decoded again by ``json.loads``, the reference the fast path must agree with; a test checks
that both give the same rows.
"""

from __future__ import annotations

import json
from typing import Any

import msgspec

__all__ = ["Row", "created_at_of", "decode_events", "page_rows", "row_from_dict"]


class Row(msgspec.Struct, gc=False):
    """One row of a ``reporting_events`` page, fields as received (``None`` when absent).

    ``gc=False``: decoded JSON holds no reference cycles, so the collector need not track the
    100,000 rows of a day.
    """

    id: Any = None
    name: Any = None
    value: Any = None
    value_in_business_hours: Any = None
    event_start_time: Any = None
    event_end_time: Any = None
    created_at: Any = None
    inbox_id: Any = None
    user_id: Any = None
    conversation_id: Any = None


class _Page(msgspec.Struct):
    payload: list[Row]
    meta: Any = None


_decode_page = msgspec.json.Decoder(_Page).decode


def row_from_dict(row: dict[str, Any]) -> Row:
    """A :class:`Row` of a row ``json.loads`` gave (the fallback, and callers holding dicts)."""
    get = row.get
    return Row(
        get("id"),
        get("name"),
        get("value"),
        get("value_in_business_hours"),
        get("event_start_time"),
        get("event_end_time"),
        get("created_at"),
        get("inbox_id"),
        get("user_id"),
        get("conversation_id"),
    )


def decode_events(body: bytes) -> tuple[bool, Any, Any]:
    """``(True, rows, meta)`` when the body is an object with a payload list of objects (the
    API's shape), else ``(False, doc, None)`` with ``doc`` as ``json.loads`` reads it, for the
    caller's own checks and messages (``ValueError`` when it is not JSON at all)."""
    try:
        page = _decode_page(body)
    except msgspec.DecodeError:  # ValidationError included: not the usual shape
        return False, json.loads(body), None
    return True, page.payload, page.meta


def page_rows(body: bytes) -> Any:
    """The ``payload`` of an archived page, as ``json.loads(body)["payload"]`` gives it but with
    rows as :class:`Row`; raises what that expression raises (``ValueError``, ``KeyError``,
    ``TypeError``) for a body that is not a page."""
    usual, found, _ = decode_events(body)
    return found if usual else found["payload"]


def created_at_of(item: object) -> object:
    """``created_at`` of a payload item, whatever its form (``None`` for one without it)."""
    if type(item) is Row:
        return item.created_at
    return item.get("created_at") if isinstance(item, dict) else None
