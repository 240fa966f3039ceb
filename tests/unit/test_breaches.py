"""Rows over target: which, in what order, how many, and how they reach the summary and CSV.

Every expected list below is worked out by hand from the fixture rows; the totals are also
checked against the summary's own SLA count, which is computed by a different method
(binary search in sorted runs), over generated days.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_digest.chatwoot.events import classify_rows
from sla_digest.chatwoot.links import LinkMap
from sla_digest.config import SlaTargets
from sla_digest.report.acting import Sources, build_follow_up
from sla_digest.report.breaches import breaches_csv, link_priority, select_breaches
from sla_digest.report.render import neutralise
from sla_digest.report.summary import Summary, build_summary, validate_summary
from sla_digest.window import Window

WINDOW = Window(day=date(2026, 11, 20), timezone="UTC", since=1795132800, until=1795219200)
TARGETS = SlaTargets(first_response=1800.0, reply_time=3600.0)


def row(event_id: int, value: float, at: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "name": extra.pop("name", "first_response"),
        "value": value,
        "value_in_business_hours": extra.pop("business", value),
        "inbox_id": extra.pop("inbox_id", 3),
        "user_id": extra.pop("user_id", 4),
        "conversation_id": extra.pop("conversation_id", 38_000 + event_id),
        "created_at": f"2026-11-20T{at}Z",
        **extra,
    }


TIES = [
    row(1, 4000.0, "10:00:00.000"),
    row(5, 2500.0, "09:00:00.000"),
    row(9, 2500.0, "08:00:00.000", inbox_id=5),
    row(3, 2500.0, "08:00:00.000", user_id=6),
    row(2, 1800.0, "07:00:00.000"),  # exactly on target: met
    row(4, 100.0, "07:30:00.000"),
    row(7, 5000.0, "11:00:00.000", user_id=None),
    row(8, 9000.0, "12:00:00.000", name="reply_time"),
    row(6, 9000.0, "12:00:00.000", name="conversation_resolved"),  # no target: no breach
]


def test_worst_first_with_ties_broken_by_created_at_then_event_id() -> None:
    # GIVEN first responses over a 30-minute target, three of them tied on value and two of
    # those also on created_at
    events = classify_rows(TIES, WINDOW)
    # WHEN the breaches are selected
    found = select_breaches(events, TARGETS, {})
    # THEN they come worst first; equal values earliest first; equal times by event id
    assert [b.event_id for b in found["first_response"]] == [7, 1, 3, 9, 5]
    assert [b.value for b in found["first_response"]] == [5000.0, 4000.0, 2500.0, 2500.0, 2500.0]
    # AND only metrics with a target are listed; the row on the target is not a breach
    assert list(found) == ["first_response", "reply_time"]
    assert [b.event_id for b in found["reply_time"]] == [8]
    # AND each row keeps what the list shows
    worst = found["first_response"][0]
    assert (worst.conversation_ref, worst.user_id, worst.created_at) == (
        38_007,
        None,
        "2026-11-20T11:00:00.000Z",
    )


def test_the_business_hours_basis_judges_rows_as_the_sla_count_does() -> None:
    # GIVEN the business-hours basis: inbox 3 keeps working hours, inbox 8 has none (its
    # business value is 0), and one row of inbox 3 has no business value
    rows = [
        row(1, 7200.0, "09:00:00.000", business=1000.0),  # met in business hours
        row(2, 4000.0, "09:00:00.000", business=0.0, inbox_id=8),  # judged on 4000
        row(3, 2000.0, "09:00:00.000", business=None),  # judged on 2000
        row(4, 1900.0, "09:00:00.000", business=2400.0),  # over in business hours
    ]
    targets = SlaTargets(first_response=1800.0, basis="business_hours")
    events = classify_rows(rows, WINDOW)
    # WHEN breaches are selected
    found = select_breaches(events, targets, {3: True, 8: False})
    # THEN exactly the rows over target on that basis, with the value they were judged on
    assert [(b.event_id, b.value) for b in found["first_response"]] == [
        (2, 4000.0),
        (4, 2400.0),
        (3, 2000.0),
    ]


day_rows = st.lists(
    st.fixed_dictionaries(
        {
            "id": st.integers(1, 60),
            "name": st.sampled_from(("first_response", "reply_time", "conversation_resolved")),
            "value": st.integers(0, 20_000).map(float),
            "value_in_business_hours": st.none() | st.integers(0, 20_000).map(float),
            "inbox_id": st.sampled_from((None, 3, 8, 99)),
            "user_id": st.sampled_from((None, 4)),
            "conversation_id": st.integers(1, 30),
            "created_at": st.integers(0, 86_399).map(
                lambda s: datetime.fromtimestamp(WINDOW.since + s, UTC).isoformat()
            ),
        }
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(
    rows=day_rows,
    basis=st.sampled_from(["calendar", "business_hours"]),
    target=st.sampled_from([1.0, 600.0, 1800.0, 7200.0]),
)
def test_each_total_equals_the_summarys_breached_count(
    rows: list[dict[str, Any]], basis: str, target: float
) -> None:
    # GIVEN any day, targets on either basis, and inboxes with and without working hours
    targets = SlaTargets(
        first_response=target,
        reply_time=target * 2,
        conversation_resolved=target * 3,
        basis=basis,  # type: ignore[arg-type]
    )
    hours = {3: True, 8: False}
    events = classify_rows(rows, WINDOW)
    # WHEN the summary counts breaches and the breach list is selected
    summary = build_summary(
        account_id=7,
        account_name=None,
        window=WINDOW,
        base_url="https://chat.example.com",
        events=events,
        pages=1,
        complete=True,
        targets=targets,
        inbox_names={},
        inbox_working_hours=hours,
        agent_names={},
        previous=None,
        generated_at=datetime(2026, 11, 21, tzinfo=UTC),
    )
    found = select_breaches(events, targets, hours)
    # THEN every metric's list holds exactly sla.breached rows, each over its target
    for metric, rows_over in found.items():
        sla = summary.overall.metrics[metric].sla
        assert sla is not None
        assert len(rows_over) == sla.breached
        assert all(b.value > b.target for b in rows_over)


def test_links_are_sought_for_the_shown_rows_first_rank_by_rank() -> None:
    # GIVEN two metrics' breaches; conversation 38_001 appears in both
    events = classify_rows(
        [
            row(1, 9000.0, "09:00:00.000"),
            row(2, 8000.0, "09:00:00.000"),
            row(3, 7000.0, "09:00:00.000"),
            row(4, 9500.0, "09:00:00.000", name="reply_time", conversation_id=38_001),
            row(5, 9400.0, "09:00:00.000", name="reply_time", conversation_id=None),
        ],
        WINDOW,
    )
    found = select_breaches(events, TARGETS, {})
    # WHEN the order of the display-id search is made for two shown rows per metric
    order = link_priority(found, 2)
    # THEN rank 1 of each metric, then rank 2, then the rest; each conversation once
    assert order == [38_001, 38_002, 38_003]


def test_breaches_csv_lists_every_row_with_formula_cells_neutralised() -> None:
    # GIVEN two breaches, one linked, one not, and an agent named like a formula
    events = classify_rows(
        [row(1, 4000.0, "10:00:00.000"), row(2, 2000.0, "09:00:00.000", user_id=6)], WINDOW
    )
    found = select_breaches(events, SlaTargets(first_response=1800.0), {})
    names = {4: '=HYPERLINK("http://evil.example")', 6: "Zoë"}
    # WHEN the CSV is written
    data = breaches_csv(
        found,
        inbox_name=lambda inbox: f"Inbox {inbox}",
        agent_name=lambda user: names.get(user or 0, "Unassigned"),
        link=lambda ref: (
            (12, "https://chat.example.com/app/accounts/7/conversations/12")
            if ref == 38_001
            else (None, None)
        ),
        neutralise=neutralise,
    )
    # THEN it has the contract's columns and one line per breach, the formula made text
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.decode("utf-8-sig").split("\r\n") == [
        "metric,value_seconds,target_seconds,inbox,agent,conversation_ref,display_id,url,created_at",
        'first_response,4000,1800,Inbox 3,"\'=HYPERLINK(""http://evil.example"")",38001,12,'
        "https://chat.example.com/app/accounts/7/conversations/12,2026-11-20T10:00:00.000Z",
        "first_response,2000,1800,Inbox 3,Zoë,38002,,,2026-11-20T09:00:00.000Z",
        "",
    ]


def test_the_summary_shows_the_worst_rows_with_links_only_where_one_was_found() -> None:
    # GIVEN five breaches, a list size of three, and a link map that knows two of them
    events = classify_rows(TIES, WINDOW)
    found = select_breaches(events, TARGETS, {})
    sources = Sources(
        links=LinkMap(pairs={101: 38_007, 103: 38_003}), link_requests=9, link_budget=100
    )
    # WHEN the section is built
    section = build_follow_up(
        breaches=found,
        sources=sources,
        list_size=3,
        base_url="https://chat.example.com/",
        account_id=7,
        window=WINDOW,
        agent_names={},
    )
    # THEN the worst three, linked where known; the total counts every breach
    first = section.breaches["first_response"]
    assert first.total == 5
    assert [(r.event_id, r.display_id, r.url) for r in first.worst] == [
        (7, 101, "https://chat.example.com/app/accounts/7/conversations/101"),
        (1, None, None),
        (3, 103, "https://chat.example.com/app/accounts/7/conversations/103"),
    ]
    # AND the link statistics count conversations over a target (six: 38_001..38_009 less
    # those on or under it), two of them linked
    assert (section.links.requests, section.links.linked, section.links.unlinked) == (9, 2, 4)


def test_a_summary_with_the_section_validates_and_reads_back_unchanged() -> None:
    # GIVEN a summary built with the section
    events = classify_rows(TIES, WINDOW)
    found = select_breaches(events, TARGETS, {})
    section = build_follow_up(
        breaches=found,
        sources=Sources(link_stopped="the budget of 0 requests was spent"),
        list_size=2,
        base_url="https://chat.example.com",
        account_id=7,
        window=WINDOW,
        agent_names={},
    )
    summary = build_summary(
        account_id=7,
        account_name="Acme",
        window=WINDOW,
        base_url="https://chat.example.com",
        events=events,
        pages=1,
        complete=True,
        targets=TARGETS,
        inbox_names={},
        inbox_working_hours={},
        agent_names={},
        previous=None,
        generated_at=datetime(2026, 11, 21, tzinfo=UTC),
        follow_up=section,
    )
    doc = summary.to_dict()
    # WHEN it is validated and read back
    validate_summary(doc)
    # THEN nothing changes, and the four keys follow "previous"
    assert Summary.from_dict(doc).to_dict() == doc
    assert list(doc)[-5:] == ["previous", "breaches", "csat", "sla_misses", "follow_up"]
    assert doc["breaches"]["first_response"]["total"] == 5
    assert doc["csat"] is None
    assert doc["follow_up"]["notes"][0] == (
        "Links: 6 of 6 conversations over a target have none, because the budget of 0 "
        "requests was spent."
    )
