"""CSAT figures and SLA-policy misses, worked out by hand from fixture pages."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from sla_digest.chatwoot.links import LinkMap
from sla_digest.report.acting import SourceRead, Sources, build_follow_up
from sla_digest.window import Window

WINDOW = Window(day=date(2026, 11, 20), timezone="UTC", since=1795132800, until=1795219200)
BASE = "https://chat.example.com"


def response(
    response_id: int, rating: Any, *, agent: int | None = 4, at: int = 3600, **extra: Any
) -> dict[str, Any]:
    return {
        "id": response_id,
        "rating": rating,
        "feedback_message": extra.pop("feedback", None),
        "account_id": 7,
        "message_id": 9000 + response_id,
        "conversation_id": extra.pop("display", 400 + response_id),
        "assigned_agent": None if agent is None else {"id": agent, "name": f"Agent {agent}"},
        "created_at": WINDOW.since + at,
    }


def section(sources: Sources, *, list_size: int = 10) -> Any:
    return build_follow_up(
        breaches={},
        sources=sources,
        list_size=list_size,
        base_url=BASE,
        account_id=7,
        window=WINDOW,
        agent_names={4: "Jonas Weber"},
    )


def csat_read(rows: list[dict[str, Any]], sent: int | None = 20) -> SourceRead:
    metrics = None if sent is None else json.dumps({"total_sent_messages_count": sent}).encode()
    # Two pages, as Chatwoot pages them: the split must not matter.
    pages = (json.dumps(rows[:3]).encode(), json.dumps(rows[3:]).encode())
    return SourceRead(status="ok", pages=pages, extra=metrics)


def test_csat_figures_from_a_hand_counted_day() -> None:
    # GIVEN eight responses: ratings 5, 4, 3, 2, 1, 5 are valid, 7 and 0 are not; agent 4 has
    # four valid ones (5, 4, 2, 5), agent 6 one (3), nobody one (1); 20 surveys were sent
    rows = [
        response(1, 5),
        response(2, 4),
        response(3, 3, agent=6),
        response(4, 2, at=7200, feedback="too slow"),
        response(5, 1, agent=None, at=9000),
        response(6, 5),
        response(7, 7),
        response(8, 0),
    ]
    # WHEN the section is built
    csat = section(Sources(csat=csat_read(rows))).csat
    # THEN: 6 responses, 3 satisfied (5, 4, 5), score 3/6, rate 6/20, 2 left out
    assert (csat.responses, csat.satisfied, csat.score) == (6, 3, 0.5)
    assert (csat.sent, csat.response_rate, csat.ignored) == (20, 0.3, 2)
    # AND per agent: agent 4 has 3 of 4 satisfied, agent 6 none of 1, nobody none of 1
    assert {k: (a.responses, a.score, a.name) for k, a in csat.by_agent.items()} == {
        "4": (4, 0.75, "Jonas Weber"),
        "6": (1, 0.0, "Agent 6"),
        "none": (1, 0.0, None),
    }
    # AND the low ratings, newest first, with their links
    assert [(low.rating, low.display_id, low.feedback) for low in csat.low] == [
        (1, 405, None),
        (2, 404, "too slow"),
    ]
    assert csat.low[0].url == f"{BASE}/app/accounts/7/conversations/405"
    assert csat.low[0].created_at == "2026-11-20T02:30:00Z"
    assert csat.range == "conversation_created"


def test_low_ratings_are_capped_at_the_list_size_and_long_feedback_is_cut() -> None:
    # GIVEN five low ratings, one with 10,000 characters of feedback
    rows = [
        response(n, 1, at=n * 60, feedback="é" * 10_000 if n == 5 else None) for n in range(1, 6)
    ]
    # WHEN the list size is three
    csat = section(Sources(csat=csat_read(rows)), list_size=3).csat
    # THEN the three newest are kept, and the feedback is bounded
    assert [low.display_id for low in csat.low] == [405, 404, 403]
    assert len(csat.low[0].feedback) == 500
    assert csat.low[0].feedback.endswith("…")


def test_without_metrics_there_is_no_response_rate_and_a_note_says_so() -> None:
    # GIVEN responses but no metrics body  WHEN the section is built  THEN no rate, one note
    rows = [response(1, 5)]
    built = section(Sources(csat=csat_read(rows, sent=None)))
    assert (built.csat.sent, built.csat.response_rate) == (None, None)
    assert any("surveys were sent" in note for note in built.notes)


def test_csat_absent_or_forbidden_is_null_with_one_line_why() -> None:
    # GIVEN an old Chatwoot (404) and a token that may not read CSAT (401)
    # WHEN the section is built  THEN csat is null and one line says why
    absent = section(Sources(csat=SourceRead(status="absent")))
    forbidden = section(Sources(csat=SourceRead(status="forbidden", detail="x")))
    assert absent.csat is None
    assert forbidden.csat is None
    assert "CSAT left out: Chatwoot has no such endpoint here (HTTP 404)." in absent.notes
    assert any(n.startswith("CSAT left out: the token may not") for n in forbidden.notes)


def applied(
    applied_id: int, policy: int, name: str, display: int | None, events: list[tuple[str, int]]
) -> dict[str, Any]:
    return {
        "applied_sla": {"id": applied_id, "sla_id": policy, "sla_name": name},
        "conversation": None if display is None else {"id": display, "labels": []},
        "sla_events": [
            {"id": n, "event_type": kind, "meta": {}, "created_at": WINDOW.since + at}
            for n, (kind, at) in enumerate(events)
        ],
    }


def test_sla_misses_in_the_day_are_grouped_by_policy_and_type() -> None:
    # GIVEN missed SLAs applied over the lookback: misses before, inside and after the day,
    # and one row without a conversation
    rows = [
        applied(1, 2, "Premium", 501, [("frt", -3600), ("rt", 7200)]),  # frt was yesterday
        applied(2, 1, "Standard", 502, [("frt", 100), ("nrt", 5000), ("nrt", 86_400)]),
        applied(3, 1, "Standard", 503, [("frt", 50)]),
        applied(4, 1, "Standard", None, [("frt", 900)]),
    ]
    page = json.dumps({"payload": rows, "meta": {"count": 4, "current_page": 1}}).encode()
    # WHEN the section is built
    built = section(Sources(sla=SourceRead(status="ok", pages=(page,))))
    misses = built.sla_misses
    # THEN the day's five misses, by policy name then type (first response, next, resolution)
    assert misses.total == 5
    assert [(g.policy, g.type, g.count) for g in misses.groups] == [
        ("Premium", "rt", 1),
        ("Standard", "frt", 3),
        ("Standard", "nrt", 1),
    ]
    # AND each group lists its misses earliest first; the one without a conversation unlinked
    standard_frt = misses.groups[1]
    assert [(m.display_id, m.created_at) for m in standard_frt.misses] == [
        (503, "2026-11-20T00:00:50Z"),
        (502, "2026-11-20T00:01:40Z"),
        (None, "2026-11-20T00:15:00Z"),
    ]
    assert standard_frt.misses[0].url == f"{BASE}/app/accounts/7/conversations/503"
    assert misses.without_conversation == 1
    assert any("no conversation" in note for note in built.notes)


def test_the_sla_feature_off_or_forbidden_leaves_the_section_out_with_a_line() -> None:
    # GIVEN the SLA feature off (404) or a non-administrator's token (401)
    # WHEN the section is built  THEN it is left out with one line each
    off = section(Sources(sla=SourceRead(status="absent")))
    forbidden = section(Sources(sla=SourceRead(status="forbidden")))
    assert off.sla_misses is None
    assert forbidden.sla_misses is None
    assert any(n.startswith("SLA policy misses left out") for n in off.notes)
    assert any("administrators only" in n for n in forbidden.notes)


def test_sources_survive_the_archive_as_resources() -> None:
    # GIVEN sources of every kind
    sources = Sources(
        csat=csat_read([response(1, 5), response(2, 1)]),
        sla=SourceRead(status="forbidden", detail="HTTP 401"),
        links=LinkMap(pairs={12: 38_001}, blank={13}, missing={14}),
        link_requests=5,
        link_budget=100,
        link_stopped=None,
    )
    # WHEN written as resources and read back
    resources = sources.resources()
    again = Sources.from_resources(resources)
    # THEN they are equal, the pages stored as received under names the archive accepts
    assert again == sources
    assert sorted(resources) == ["csat_00001", "csat_00002", "csat_metrics", "follow_up"]
    assert Sources.from_resources({}) is None


def test_a_periods_sources_pool_its_days_pages_links_and_surveys() -> None:
    # GIVEN two archived days: the same response on both days' pages, 20 and 15 surveys sent,
    # and each day's link map knowing a different conversation
    monday = Sources(
        csat=csat_read([response(1, 5), response(2, 1)], sent=20),
        sla=SourceRead(status="ok", pages=()),
        links=LinkMap(pairs={12: 38_001}),
        link_requests=4,
        link_budget=100,
    )
    tuesday = Sources(
        csat=csat_read([response(2, 1), response(3, 4)], sent=15),
        sla=SourceRead(status="ok", pages=()),
        links=LinkMap(pairs={14: 38_002}, missing={13}),
        link_requests=2,
        link_budget=100,
    )
    # WHEN the week's section is built from both
    week = Sources.merged([monday, tuesday])
    built = section(week)
    # THEN three distinct responses over 35 surveys, both days' links, the requests added up
    assert (built.csat.responses, built.csat.satisfied, built.csat.sent) == (3, 2, 35)
    assert week.links.displays() == {38_001: 12, 38_002: 14}
    assert (week.link_requests, week.link_budget) == (6, 200)
    # AND a day whose CSAT was forbidden makes the week's CSAT say so instead of undercounting
    forbidden = Sources(csat=SourceRead(status="forbidden"))
    assert section(Sources.merged([monday, forbidden])).csat is None
