"""Reading CSAT responses, missed SLAs and per-conversation events as Chatwoot sends them."""

from __future__ import annotations

import json

import pytest

from sla_digest.chatwoot.applied_slas import parse_applied_slas_page, read_applied_slas
from sla_digest.chatwoot.conversations import parse_conversation_events
from sla_digest.chatwoot.csat import parse_csat_metrics, parse_csat_page, read_responses
from sla_digest.chatwoot.records import BadBody


def body(doc: object) -> bytes:
    return json.dumps(doc).encode()


RESPONSE = {
    "id": 91,
    "rating": 2,
    "feedback_message": "slow",
    "account_id": 7,
    "message_id": 5501,
    "contact": {"id": 3, "name": "Ann"},
    "conversation_id": 412,
    "assigned_agent": {"id": 4, "name": "Jonas", "available_name": "Jonas W."},
    "created_at": 1795161600,
}


def test_csat_lists_are_read_as_a_bare_array_or_a_payload_object() -> None:
    # GIVEN the same response in the two list shapes Chatwoot versions have used, with the
    # time as epoch seconds in one and as ISO-8601 text in the other
    bare = body([RESPONSE])
    wrapped = body({"payload": [{**RESPONSE, "created_at": "2026-11-20T08:00:00.000Z"}]})
    # WHEN each is read
    (first,), _ = read_responses([bare])
    (second,), _ = read_responses([wrapped])
    # THEN both give the same response, named by its display id and agent
    assert first == second
    assert (first.rating, first.display_id, first.agent_id, first.agent_name) == (
        2,
        412,
        4,
        "Jonas W.",
    )
    assert first.created_at == 1795161600.0


def test_odd_csat_rows_cost_only_themselves() -> None:
    # GIVEN a page with a row without id, a repeated row, a rating that is text and a row
    # without agent or conversation
    rows = [
        {"rating": 5},
        RESPONSE,
        RESPONSE,
        {"id": 92, "rating": "5", "conversation_id": None, "created_at": "yesterday"},
    ]
    # WHEN it is read
    responses, unreadable = read_responses([body(rows)])
    # THEN the row without id is counted, the repeat read once, the odd fields are None
    assert unreadable == 1
    assert [r.id for r in responses] == [91, 92]
    odd = responses[1]
    assert (odd.rating, odd.display_id, odd.agent_id, odd.created_at) == (None, None, None, None)


def test_feedback_is_kept_bounded() -> None:
    # GIVEN feedback of 10,000 characters
    (response,), _ = read_responses([body([{**RESPONSE, "feedback_message": "x" * 10_000}])])
    # THEN a bounded part of it is kept
    assert response.feedback is not None
    assert len(response.feedback) == 2000


@pytest.mark.parametrize("doc", [{"error": "x"}, "text", {"payload": {}}])
def test_a_csat_body_that_lists_nothing_is_a_bad_body(doc: object) -> None:
    with pytest.raises(BadBody):
        parse_csat_page(body(doc))


def test_csat_metrics_give_the_surveys_sent() -> None:
    doc = {"total_count": 12, "ratings_count": {"5": 9}, "total_sent_messages_count": 40}
    metrics = parse_csat_metrics(body(doc))
    assert (metrics.total, metrics.sent) == (12, 40)
    assert parse_csat_metrics(body({"total_count": -1})).sent is None


def test_applied_slas_rows_keep_their_policy_conversation_and_misses() -> None:
    # GIVEN a row as Chatwoot renders it, a row without a conversation, and an odd SLA event
    rows = [
        {
            "applied_sla": {"id": 5, "sla_id": 1, "sla_status": "missed", "sla_name": "Gold"},
            "conversation": {"id": 77, "contact": {"name": "A"}, "labels": []},
            "sla_events": [
                {"id": 1, "event_type": "frt", "meta": {}, "created_at": 1795150000},
                {"id": 2, "event_type": "rt", "created_at": "2026-11-20T12:00:00Z"},
                {"id": 3, "event_type": "xyz", "created_at": 1795150000},
            ],
        },
        {"applied_sla": {"id": 6, "sla_id": 2}, "conversation": None, "sla_events": []},
    ]
    doc = {"payload": rows, "meta": {"count": 2, "current_page": 1}}
    # WHEN the page is read
    page = parse_applied_slas_page(body(doc))
    first, second = read_applied_slas([body(doc)])
    # THEN paging knows the ids and that one page holds them all
    assert (page.ids, page.total_pages) == ((5, 6), 1)
    # AND each row keeps what the report needs; the unknown event type is counted
    assert (first.policy_id, first.policy_name, first.display_id) == (1, "Gold", 77)
    assert first.misses == (("frt", 1795150000.0), ("rt", 1795176000.0))
    assert first.unreadable == 1
    assert (second.display_id, second.misses) == (None, ())


def test_per_conversation_events_name_their_conversation() -> None:
    events = [{"id": 1, "conversation_id": 38_512}, {"id": 2, "conversation_id": 38_512}]
    assert parse_conversation_events(body(events)) == {38_512}
    assert parse_conversation_events(b"[]") == frozenset()
    with pytest.raises(BadBody):
        parse_conversation_events(body({"payload": events}))
