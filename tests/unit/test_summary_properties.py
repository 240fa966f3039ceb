"""Properties every summary has, whatever the day's rows: checked on generated days."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sla_digest.chatwoot.events import EventSet, ReportingEvent, classify_rows
from sla_digest.config import SlaTargets
from sla_digest.report.summary import build_summary, percentile, validate_summary
from sla_digest.window import report_window

DURATIONS = ("first_response", "reply_time", "conversation_resolved")
COUNTED = (
    "conversation_opened",
    "conversation_bot_resolved",
    "conversation_bot_handoff",
    "conversation_captain_inference_resolved",
    "conversation_captain_inference_handoff",
)
DAY = report_window(date(2026, 3, 29), "Europe/Berlin", now=datetime(2030, 1, 1, tzinfo=UTC))
INBOXES = (3, 5, 8, 99)
AGENTS = (1, 4, 6, 23)
STATISTICS = ("mean", "p50", "p90", "p95", "max")
TOLERANCE = 1e-9  # a mean of equal values may differ from them in the last bits

seconds = st.floats(min_value=0, max_value=10**7, allow_nan=False, allow_infinity=False)
targets_strategy = st.builds(
    SlaTargets,
    first_response=st.none() | st.floats(min_value=1, max_value=10**6),
    reply_time=st.none() | st.floats(min_value=1, max_value=10**6),
    conversation_resolved=st.none() | st.floats(min_value=1, max_value=10**6),
    basis=st.sampled_from(["calendar", "business_hours"]),
)


def stamp(offset: float) -> str:
    moment = datetime.fromtimestamp(DAY.since + offset, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


row_strategy = st.fixed_dictionaries(
    {
        "id": st.integers(min_value=1, max_value=50),  # repeats are duplicates
        "name": st.sampled_from((*DURATIONS, *COUNTED, "conversation_sla_escalated")),
        "value": st.one_of(seconds, st.integers(0, 10**6), st.none(), st.just(-4.0)),
        "value_in_business_hours": st.none() | seconds,
        "inbox_id": st.sampled_from((None, *INBOXES)),
        "user_id": st.sampled_from((None, *AGENTS)),
        "created_at": st.builds(stamp, st.floats(-600, DAY.until - DAY.since + 600)),
    }
)
# Rows as Chatwoot sends them, including duplicates, junk values and rows outside the day;
# the length is drawn first so that busy days are as likely as quiet ones.
raw_rows = st.integers(0, 40).flatmap(lambda n: st.lists(row_strategy, min_size=n, max_size=n))
FAST = settings(deadline=None, max_examples=40)


@dataclass
class Day:
    events: EventSet
    summary: dict[str, Any]


@st.composite
def days(draw: st.DrawFn) -> Day:
    events = classify_rows(draw(raw_rows), DAY)
    summary = build_summary(
        account_id=7,
        account_name=draw(st.none() | st.text(max_size=20)),
        window=DAY,
        base_url="https://chat.acme.example",
        events=events,
        pages=draw(st.integers(0, 10)),
        complete=True,
        targets=draw(targets_strategy),
        inbox_names={3: "Website Chat", 5: "Email"},
        inbox_working_hours=draw(st.dictionaries(st.sampled_from(INBOXES), st.booleans())),
        agent_names={1: "Amira", 4: "Jonas"},
        previous=None,
        generated_at=datetime(2026, 3, 30, 6, 0, tzinfo=UTC),
    ).to_dict()
    return Day(events, summary)


def blocks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [summary["overall"], *summary["by_inbox"].values(), *summary["by_agent"].values()]


def members(day: Day, scope: str, key: str) -> list[ReportingEvent]:
    """The kept events of one block, selected independently of the code under test."""
    if scope == "overall":
        return day.events.events
    attribute = "inbox_id" if scope == "by_inbox" else "user_id"
    return [
        event
        for event in day.events.events
        if ("none" if getattr(event, attribute) is None else str(getattr(event, attribute))) == key
    ]


def scoped_blocks(day: Day) -> list[tuple[dict[str, Any], list[ReportingEvent]]]:
    pairs = [(day.summary["overall"], members(day, "overall", ""))]
    for scope in ("by_inbox", "by_agent"):
        for key, block in day.summary[scope].items():
            pairs.append((block, members(day, scope, key)))
    return pairs


@FAST
@given(days())
def test_percentiles_never_decrease_up_to_the_maximum(day: Day) -> None:
    # GIVEN any day / WHEN summarised / THEN p50 <= p90 <= p95 <= max, on both bases
    for block in blocks(day.summary):
        for name in DURATIONS:
            metric = block[name]
            for stats in (metric, metric["business_hours"]):
                if stats["max"] is None:
                    assert all(stats[key] is None for key in STATISTICS)
                    continue
                assert stats["p50"] <= stats["p90"] <= stats["p95"] <= stats["max"]


@FAST
@given(days())
def test_every_mean_lies_between_the_smallest_and_largest_row(day: Day) -> None:
    # GIVEN any day / WHEN summarised
    for block, rows in scoped_blocks(day):
        for name in DURATIONS:
            values = [row.value for row in rows if row.name == name]
            metric = block[name]
            # THEN min <= mean <= max for the block's own rows (null when there are none)
            if not values:
                assert metric["mean"] is None
                continue
            slack = TOLERANCE * max(values)
            assert min(values) - slack <= metric["mean"] <= max(values) + slack
            assert metric["max"] == max(values)


@FAST
@given(days())
def test_inbox_and_agent_blocks_add_up_to_the_overall_block(day: Day) -> None:
    # GIVEN any day / WHEN summarised
    overall = day.summary["overall"]
    for scope in ("by_inbox", "by_agent"):
        parts = list(day.summary[scope].values())
        # THEN every row count, SLA tally and event count is split without loss
        for name in DURATIONS:
            assert sum(part[name]["count"] for part in parts) == overall[name]["count"]
            if "sla" in overall[name]:
                for tally in ("met", "breached"):
                    total = sum(part[name]["sla"][tally] for part in parts)
                    assert total == overall[name]["sla"][tally]
        for name in COUNTED:
            assert sum(part["counts"][name] for part in parts) == overall["counts"][name]


@FAST
@given(days())
def test_compliance_is_the_met_share_between_0_and_1(day: Day) -> None:
    # GIVEN any day with any targets / WHEN summarised
    for block in blocks(day.summary):
        for name in DURATIONS:
            sla = block[name].get("sla")
            if sla is None:
                continue
            judged = sla["met"] + sla["breached"]
            # THEN compliance = met / (met + breached), in [0, 1], null without rows
            assert judged == block[name]["count"]
            if judged == 0:
                assert sla["compliance"] is None
            else:
                assert 0 <= sla["compliance"] <= 1
                assert sla["compliance"] == sla["met"] / judged


@FAST
@given(days())
def test_every_generated_summary_validates_against_the_schema(day: Day) -> None:
    # GIVEN any day / WHEN summarised / THEN the document follows the schema
    validate_summary(day.summary)


@FAST
@given(days())
def test_kept_and_ignored_rows_account_for_every_distinct_id(day: Day) -> None:
    # GIVEN any day / WHEN summarised
    source = day.summary["source"]
    # THEN events + ignored = distinct ids seen, and events = rows in the overall block
    assert source["events"] + sum(source["ignored"].values()) == day.events.unique_rows
    measured = sum(day.summary["overall"][name]["count"] for name in DURATIONS)
    counted = sum(day.summary["overall"]["counts"].values())
    assert measured + counted == source["events"]


@given(st.lists(seconds, min_size=1, max_size=50), st.floats(0, 100), st.floats(0, 100))
def test_percentile_is_monotone_in_p_and_stays_within_the_values(
    values: list[float], p: float, q: float
) -> None:
    # GIVEN any sorted values and two ranks
    ordered = sorted(values)
    low, high = sorted((p, q))
    # WHEN both percentiles are taken
    at_low, at_high = percentile(ordered, low), percentile(ordered, high)
    # THEN the higher rank is never below the lower, and both lie within the values
    assert at_low is not None
    assert at_high is not None
    assert ordered[0] <= at_low <= at_high <= ordered[-1]
    assert not math.isnan(at_high)
