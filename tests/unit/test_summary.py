"""The summary against an independent reference implementation and hand-worked examples.

The reference below is deliberately naive (plain loops, ``statistics``): it shares no code with
``sla_digest.report.summary``, so the two can only agree if both follow the contract.
"""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.config import SlaBasis, SlaTargets
from sla_digest.exceptions import VerificationError
from sla_digest.report.summary import SCHEMA_VERSION, build_summary, percentile
from sla_digest.window import Window, report_window
from sla_digest_cli.sandbox.server import SandboxOptions, generate_dataset

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from sla_digest.chatwoot.events import ReportingEvent

DURATIONS = ("first_response", "reply_time", "conversation_resolved")
COUNTED = (
    "conversation_opened",
    "conversation_bot_resolved",
    "conversation_bot_handoff",
    "conversation_captain_inference_resolved",
    "conversation_captain_inference_handoff",
)
LATER = datetime(2030, 1, 1, tzinfo=UTC)
GENERATED = datetime(2026, 11, 21, 6, 0, 3, 250_000, tzinfo=UTC)
DAY = report_window(date(2026, 11, 20), "Europe/Berlin", now=LATER)
INBOX_NAMES = {3: "Website Chat", 5: "Support Email", 8: "WhatsApp"}
INBOX_HOURS = {3: True, 5: True, 8: False}
AGENT_NAMES = {1: "Amira", 4: "Jonas", 6: "Priya"}
NO_TARGETS = SlaTargets()


# --------------------------------------------------------------------------- reference


def ref_stats(values: list[float]) -> dict[str, float | None]:
    if not values:
        return {"mean": None, "p50": None, "p90": None, "p95": None, "max": None}
    cuts = statistics.quantiles(sorted(values), n=100, method="inclusive")
    return {
        "mean": statistics.fmean(values),
        "p50": cuts[49],
        "p90": cuts[89],
        "p95": cuts[94],
        "max": max(values),
    }


def ref_metric(
    rows: list[ReportingEvent], target: float | None, basis: str, no_hours: set[int]
) -> dict[str, Any]:
    values = [row.value for row in rows]
    business = [
        row.value_in_business_hours for row in rows if row.value_in_business_hours is not None
    ]
    metric: dict[str, Any] = {"count": len(values), **ref_stats(values)}
    metric["business_hours"] = ref_stats(business)
    if target is not None:
        met = 0
        for row in rows:
            judged = row.value
            if (
                basis == "business_hours"
                and row.value_in_business_hours is not None
                and row.inbox_id not in no_hours
            ):
                judged = row.value_in_business_hours
            if judged <= target:
                met += 1
        metric["sla"] = {
            "target": target,
            "basis": basis,
            "met": met,
            "breached": len(rows) - met,
            "compliance": met / len(rows) if rows else None,
        }
    return metric


def ref_block(
    rows: list[ReportingEvent], targets: SlaTargets, no_hours: set[int]
) -> dict[str, Any]:
    block: dict[str, Any] = {}
    for name in DURATIONS:
        target = getattr(targets, name)
        mine = [row for row in rows if row.name == name]
        block[name] = ref_metric(mine, target, targets.basis, no_hours)
    block["counts"] = {name: sum(1 for row in rows if row.name == name) for name in COUNTED}
    return block


def ref_named(
    rows: list[ReportingEvent],
    attribute: str,
    names: Mapping[int, str],
    targets: SlaTargets,
    no_hours: set[int],
) -> dict[str, Any]:
    groups: dict[int | None, list[ReportingEvent]] = {}
    for row in rows:
        groups.setdefault(getattr(row, attribute), []).append(row)
    named: dict[str, Any] = {}
    for identifier, members in groups.items():
        key = "none" if identifier is None else str(identifier)
        name = None if identifier is None else names.get(identifier)
        named[key] = {"name": name, **ref_block(members, targets, no_hours)}
    return named


def ref_summary(
    events: EventSet,
    *,
    window: Window,
    targets: SlaTargets,
    inbox_names: Mapping[int, str],
    inbox_hours: Mapping[int, bool],
    agent_names: Mapping[int, str],
    previous: Mapping[str, Any] | None = None,
    pages: int = 1,
    complete: bool = True,
    missing: int = 0,
) -> dict[str, Any]:
    rows = events.events
    no_hours = {inbox for inbox, has_hours in inbox_hours.items() if not has_hours}
    day = window.day.isoformat()
    return {
        "schema_version": 2,
        "account_id": 7,
        "account_name": "Acme Support",
        "date": day,
        "timezone": window.timezone,
        "window": {"since": window.since, "until": window.until},
        "generated_at": "2026-11-21T06:00:03Z",
        "period": {"kind": "day", "start": day, "end": day, "days": 1},
        "source": {
            "base_url": "https://chat.acme.example",
            "events": len(rows),
            "pages": pages,
            "complete": complete,
            "missing": missing,
            "ignored": {
                "unknown_name": events.ignored.unknown_name,
                "invalid": events.ignored.invalid,
                "outside_window": events.ignored.outside_window,
            },
            "days": [{"date": day, "events": len(rows), "complete": complete}],
            "missing_days": [],
        },
        "overall": ref_block(rows, targets, no_hours),
        "by_inbox": ref_named(rows, "inbox_id", inbox_names, targets, no_hours),
        "by_agent": ref_named(rows, "user_id", agent_names, targets, no_hours),
        # The previous day: a one-day period, so it starts and ends on its date.
        "previous": None
        if previous is None
        else {
            "date": previous["date"],
            "start": previous["date"],
            "end": previous["date"],
            "overall": previous["overall"],
        },
    }


def assert_matches(actual: Any, expected: Any, path: str = "$") -> None:
    """Deep equality, floats to 1e-9 relative (the reference sums and interpolates its own way)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert sorted(actual) == sorted(expected), path
        for key, value in expected.items():
            assert_matches(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, float):
        assert isinstance(actual, float), path
        assert actual == pytest.approx(expected, rel=1e-9, abs=1e-9), path
    else:
        assert type(actual) is type(expected), path
        assert actual == expected, path


# --------------------------------------------------------------------------- inputs


def stamp(seconds: float) -> str:
    """Chatwoot's timestamp form: ISO-8601 UTC with milliseconds and a Z."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def row(
    row_id: int,
    name: str,
    value: Any,
    business: Any = None,
    *,
    inbox: int | None = 3,
    user: int | None = 4,
    at: float | None = None,
) -> dict[str, Any]:
    created = stamp(DAY.since + 3600 + row_id if at is None else at)
    return {
        "id": row_id,
        "name": name,
        "value": value,
        "value_in_business_hours": business,
        "event_start_time": created,
        "event_end_time": created,
        "account_id": 7,
        "inbox_id": inbox,
        "user_id": user,
        "conversation_id": 38_000 + row_id,
        "created_at": created,
        "updated_at": created,
    }


def classified(rows: Iterable[dict[str, Any]], window: Window = DAY) -> EventSet:
    return classify_rows(list(rows), window)


def summarise(
    events: EventSet,
    *,
    window: Window = DAY,
    targets: SlaTargets = NO_TARGETS,
    inbox_names: Mapping[int, str] = INBOX_NAMES,
    inbox_hours: Mapping[int, bool] = INBOX_HOURS,
    agent_names: Mapping[int, str] = AGENT_NAMES,
    previous: Mapping[str, Any] | None = None,
    complete: bool = True,
    missing: int = 0,
) -> dict[str, Any]:
    return build_summary(
        account_id=7,
        account_name="Acme Support",
        window=window,
        base_url="https://chat.acme.example",
        events=events,
        pages=1,
        complete=complete,
        missing=missing,
        targets=targets,
        inbox_names=inbox_names,
        inbox_working_hours=inbox_hours,
        agent_names=agent_names,
        previous=previous,
        generated_at=GENERATED,
    ).to_dict()


def both(events: EventSet, **options: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The summary under test and the reference's, for the same inputs."""
    reference_options = {
        "window": options.get("window", DAY),
        "targets": options.get("targets", NO_TARGETS),
        "inbox_names": options.get("inbox_names", INBOX_NAMES),
        "inbox_hours": options.get("inbox_hours", INBOX_HOURS),
        "agent_names": options.get("agent_names", AGENT_NAMES),
        "previous": options.get("previous"),
        "complete": options.get("complete", True),
        "missing": options.get("missing", 0),
    }
    return summarise(events, **options), ref_summary(events, **reference_options)


def mixed_rows() -> list[dict[str, Any]]:
    """A small day touching every name, three inboxes, null ids and a departed agent."""
    return [
        row(1, "first_response", 60.0, 30.0, inbox=3, user=4),
        row(2, "first_response", 1200.0, 600.0, inbox=3, user=6),
        row(3, "first_response", 300.0, 0.0, inbox=8, user=4),
        row(4, "reply_time", 45.0, 45.0, inbox=5, user=None),
        row(5, "reply_time", 7200.0, 1800.0, inbox=5, user=6),
        row(6, "reply_time", 900.0, None, inbox=3, user=23),
        row(7, "conversation_resolved", 86_000.0, 20_000.0, inbox=None, user=1),
        row(8, "conversation_resolved", 3600.0, 3600.0, inbox=3, user=None),
        row(9, "conversation_opened", 0.0, 0.0, inbox=3, user=4),
        row(10, "conversation_bot_resolved", 240.0, 240.0, inbox=5, user=None),
        row(11, "conversation_bot_handoff", 90.0, 90.0, inbox=8, user=6),
        row(12, "conversation_captain_inference_resolved", 1200.0, None, inbox=3, user=23),
        row(13, "conversation_captain_inference_handoff", 150.0, None, inbox=3, user=4),
    ]


# --------------------------------------------------------------------------- percentile


def test_percentile_of_nothing_is_null() -> None:
    # GIVEN no values / WHEN asking for any percentile / THEN there is none
    assert percentile([], 50) is None


def test_percentile_interpolates_linearly_between_closest_ranks() -> None:
    # GIVEN 10, 20, 30, 40: rank of p90 = 0.9 x 3 = 2.7, so 30 + 0.7 x (40 - 30)
    values = [10.0, 20.0, 30.0, 40.0]
    # WHEN / THEN (hand-worked: p50 at rank 1.5, p95 at rank 2.85)
    assert percentile(values, 50) == pytest.approx(25.0)
    assert percentile(values, 90) == pytest.approx(37.0)
    assert percentile(values, 95) == pytest.approx(38.5)


def test_percentile_ends_are_the_minimum_and_the_maximum() -> None:
    # GIVEN unevenly spread values
    values = [1.0, 2.0, 50.0, 51.0, 900.0]
    # WHEN asking for p0 and p100 / THEN they are the extremes
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 900.0


def test_percentile_of_one_value_is_that_value() -> None:
    # GIVEN a single value / WHEN asking for p95 / THEN it is that value
    assert percentile([42.0], 95) == 42.0


def test_percentile_refuses_a_rank_outside_0_to_100() -> None:
    # GIVEN a p above 100 / WHEN asking / THEN it is refused
    with pytest.raises(ValueError, match="between 0 and 100"):
        percentile([1.0, 2.0], 101)


def test_percentile_agrees_with_statistics_inclusive_quantiles() -> None:
    # GIVEN 37 irregular values
    values = sorted(float((i * 7919) % 1013) for i in range(37))
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    # WHEN / THEN every integer percentile matches the standard library's
    for p in range(1, 100):
        assert percentile(values, p) == pytest.approx(cuts[p - 1], rel=1e-12)


# --------------------------------------------------------------------------- hand-worked


def test_statistics_of_a_hand_worked_day() -> None:
    # GIVEN five first responses: 60, 120, 180, 240, 1200 s (business hours: half of each)
    values = [60.0, 120.0, 180.0, 240.0, 1200.0]
    rows = [row(i + 1, "first_response", v, v / 2) for i, v in enumerate(values)]
    # WHEN summarised
    metric = summarise(classified(rows))["overall"]["first_response"]
    # THEN mean = 1800/5; p90 at rank 3.6 = 240 + 0.6 x 960; p95 at rank 3.8 = 240 + 0.8 x 960
    assert metric["count"] == 5
    assert metric["mean"] == pytest.approx(360.0)
    assert metric["p50"] == pytest.approx(180.0)
    assert metric["p90"] == pytest.approx(816.0)
    assert metric["p95"] == pytest.approx(1008.0)
    assert metric["max"] == 1200.0
    assert metric["business_hours"] == pytest.approx(
        {"mean": 180.0, "p50": 90.0, "p90": 408.0, "p95": 504.0, "max": 600.0}
    )


def test_sla_counts_a_value_equal_to_the_target_as_met() -> None:
    # GIVEN responses of 60, 120, 180, 240 and 1200 s against a 180 s target
    values = [60.0, 120.0, 180.0, 240.0, 1200.0]
    rows = [row(i + 1, "first_response", v, v) for i, v in enumerate(values)]
    # WHEN summarised
    sla = summarise(classified(rows), targets=SlaTargets(first_response=180.0))["overall"][
        "first_response"
    ]["sla"]
    # THEN 60, 120 and 180 are met, 240 and 1200 breached
    assert sla == {
        "target": 180.0,
        "basis": "calendar",
        "met": 3,
        "breached": 2,
        "compliance": pytest.approx(0.6),
    }


def test_business_hours_basis_judges_inboxes_without_working_hours_on_their_value() -> None:
    # GIVEN a 200 s business-hours target and two reply rows of 300 s each:
    #   inbox 3 (working hours), 100 s of them in business hours -> 100 s: met
    #   inbox 8 (no working hours), business value 0 as Chatwoot writes it -> 300 s: breached
    rows = [
        row(1, "reply_time", 300.0, 100.0, inbox=3),
        row(2, "reply_time", 300.0, 0.0, inbox=8),
    ]
    targets = SlaTargets(reply_time=200.0, basis="business_hours")
    # WHEN summarised
    summary = summarise(classified(rows), targets=targets)
    # THEN one is met overall, and the breach belongs to the inbox without hours
    assert summary["overall"]["reply_time"]["sla"]["met"] == 1
    assert summary["overall"]["reply_time"]["sla"]["breached"] == 1
    assert summary["by_inbox"]["8"]["reply_time"]["sla"]["met"] == 0
    assert summary["by_inbox"]["3"]["reply_time"]["sla"]["compliance"] == 1.0


def test_business_hours_basis_judges_a_row_without_business_value_on_its_value() -> None:
    # GIVEN a 200 s business-hours target and rows of an inbox with working hours whose
    # business value is null: 250 s (breached) and 150 s (met)
    rows = [
        row(1, "reply_time", 250.0, None, inbox=3),
        row(2, "reply_time", 150.0, None, inbox=3),
    ]
    targets = SlaTargets(reply_time=200.0, basis="business_hours")
    # WHEN summarised
    sla = summarise(classified(rows), targets=targets)["overall"]["reply_time"]["sla"]
    # THEN each is judged on its calendar value
    assert (sla["met"], sla["breached"]) == (1, 1)


def test_business_hours_statistics_skip_nulls_but_keep_zeros() -> None:
    # GIVEN business values 0 (inbox without hours), null (Captain-like) and 90
    rows = [
        row(1, "first_response", 300.0, 0.0, inbox=8),
        row(2, "first_response", 500.0, None),
        row(3, "first_response", 100.0, 90.0),
    ]
    # WHEN summarised
    business = summarise(classified(rows))["overall"]["first_response"]["business_hours"]
    # THEN the mean is (0 + 90) / 2, as Chatwoot's business-hours average
    assert business["mean"] == pytest.approx(45.0)
    assert business["max"] == 90.0


def test_counts_are_numbers_of_rows_per_event_name() -> None:
    # GIVEN two reopens, a bot handoff and nothing else counted
    rows = [
        row(1, "conversation_opened", 0.0),
        row(2, "conversation_opened", 3600.0),
        row(3, "conversation_bot_handoff", 90.0),
    ]
    # WHEN summarised
    counts = summarise(classified(rows))["overall"]["counts"]
    # THEN all five names are present, absent ones as 0
    assert counts == {
        "conversation_opened": 2,
        "conversation_bot_resolved": 0,
        "conversation_bot_handoff": 1,
        "conversation_captain_inference_resolved": 0,
        "conversation_captain_inference_handoff": 0,
    }


def test_an_empty_day_has_zero_counts_and_null_statistics() -> None:
    # GIVEN no rows at all
    summary, expected = both(EventSet(), targets=SlaTargets(first_response=1800.0))
    # WHEN / THEN
    assert_matches(summary, expected)
    metric = summary["overall"]["first_response"]
    assert metric["count"] == 0
    assert metric["mean"] is None
    assert metric["business_hours"]["p90"] is None
    assert metric["sla"]["compliance"] is None
    assert summary["by_inbox"] == {}
    assert summary["by_agent"] == {}


def test_a_single_event_is_its_own_mean_percentiles_and_maximum() -> None:
    # GIVEN one first response of 120 s, 60 s of them in business hours
    summary, expected = both(classified([row(1, "first_response", 120.0, 60.0)]))
    # WHEN / THEN
    assert_matches(summary, expected)
    metric = summary["overall"]["first_response"]
    assert [metric[k] for k in ("mean", "p50", "p90", "p95", "max")] == [120.0] * 5
    assert metric["business_hours"]["p95"] == 60.0


def test_rows_whose_values_are_all_null_are_ignored_as_invalid() -> None:
    # GIVEN three rows without a value
    rows = [row(i, "first_response", None, 10.0) for i in (1, 2, 3)]
    # WHEN summarised
    summary, expected = both(classified(rows))
    # THEN nothing is measured and all three are counted as invalid
    assert_matches(summary, expected)
    assert summary["overall"]["first_response"]["count"] == 0
    assert summary["source"]["events"] == 0
    assert summary["source"]["ignored"]["invalid"] == 3


def test_rows_with_negative_values_are_ignored_as_invalid() -> None:
    # GIVEN a negative value among valid ones
    rows = [row(1, "reply_time", -4.0, 0.0), row(2, "reply_time", 30.0, 30.0)]
    # WHEN summarised
    summary, expected = both(classified(rows))
    # THEN only the valid row counts
    assert_matches(summary, expected)
    assert summary["overall"]["reply_time"]["count"] == 1
    assert summary["source"]["ignored"]["invalid"] == 1


def test_a_day_of_unknown_event_names_only_counts_them_and_measures_nothing() -> None:
    # GIVEN rows of a name added in a later Chatwoot
    rows = [row(i, "conversation_sla_escalated", 600.0) for i in (1, 2)]
    # WHEN summarised
    summary, expected = both(classified(rows))
    # THEN they are counted as unknown and no scope appears
    assert_matches(summary, expected)
    assert summary["source"]["ignored"]["unknown_name"] == 2
    assert summary["by_inbox"] == {}


@pytest.mark.parametrize(
    ("day", "hours"),
    [(date(2026, 3, 29), 23), (date(2026, 10, 25), 25)],
    ids=["spring-forward-23h", "fall-back-25h"],
)
def test_dst_days_keep_rows_on_the_first_instant_and_drop_the_end(day: date, hours: int) -> None:
    # GIVEN a DST day in Berlin and rows on and around both edges of its window
    window = report_window(day, "Europe/Berlin", now=LATER)
    rows = [
        row(1, "first_response", 10.0, 10.0, at=window.since),  # first instant: kept
        row(2, "first_response", 20.0, 20.0, at=window.since + 2.5 * 3600),  # the odd hour
        row(3, "first_response", 30.0, 30.0, at=window.until - 0.001),  # last ms: kept
        row(4, "first_response", 40.0, 40.0, at=window.until),  # end is exclusive
        row(5, "first_response", 50.0, 50.0, at=window.since - 0.001),  # the day before
    ]
    # WHEN summarised
    summary, expected = both(classified(rows, window), window=window)
    # THEN the window spans the day's real length and three rows count
    assert_matches(summary, expected)
    assert summary["window"]["until"] - summary["window"]["since"] == hours * 3600
    assert summary["overall"]["first_response"]["count"] == 3
    assert summary["overall"]["first_response"]["max"] == 30.0
    assert summary["source"]["ignored"]["outside_window"] == 2


def test_targets_set_for_some_metrics_only_add_sla_to_those() -> None:
    # GIVEN a first-response target only
    targets = SlaTargets(first_response=1800.0)
    # WHEN the mixed day is summarised
    summary, expected = both(classified(mixed_rows()), targets=targets)
    # THEN it matches the reference and only first_response carries an sla block
    assert_matches(summary, expected)
    for block in [summary["overall"], *summary["by_inbox"].values()]:
        assert "sla" in block["first_response"]
        assert "sla" not in block["reply_time"]
        assert "sla" not in block["conversation_resolved"]


@pytest.mark.parametrize("basis", ["calendar", "business_hours"])
def test_a_mixed_day_matches_the_reference_on_either_basis(basis: SlaBasis) -> None:
    # GIVEN targets on every metric
    targets = SlaTargets(
        first_response=240.0,
        reply_time=1800.0,
        conversation_resolved=14_400.0,
        basis=basis,
    )
    # WHEN the mixed day is summarised / THEN every number matches the reference
    summary, expected = both(classified(mixed_rows()), targets=targets)
    assert_matches(summary, expected)


def test_null_ids_are_keyed_none_and_departed_people_keep_their_rows_unnamed() -> None:
    # GIVEN the mixed day: inbox null on one row, user null on three, agent 23 departed
    summary = summarise(classified(mixed_rows()))
    # WHEN / THEN
    assert summary["by_inbox"]["none"]["name"] is None
    assert summary["by_inbox"]["none"]["conversation_resolved"]["count"] == 1
    assert summary["by_agent"]["none"]["name"] is None
    assert summary["by_agent"]["none"]["reply_time"]["count"] == 1
    assert summary["by_agent"]["23"]["name"] is None
    assert summary["by_agent"]["23"]["reply_time"]["count"] == 1
    assert summary["by_agent"]["4"]["name"] == "Jonas"


def test_a_deleted_inbox_keeps_its_rows_with_a_null_name() -> None:
    # GIVEN rows of inbox 99, which Chatwoot no longer lists
    rows = [row(1, "first_response", 60.0, 60.0, inbox=99)]
    # WHEN summarised
    summary = summarise(classified(rows))
    # THEN the inbox is there, unnamed, with its row
    assert summary["by_inbox"]["99"]["name"] is None
    assert summary["by_inbox"]["99"]["first_response"]["count"] == 1


def test_inboxes_and_agents_are_listed_by_ascending_id_with_none_last() -> None:
    # GIVEN rows of inboxes 12, 3, null, 5 arriving in that order
    rows = [
        row(1, "reply_time", 1.0, inbox=12, user=15),
        row(2, "reply_time", 1.0, inbox=3, user=None),
        row(3, "reply_time", 1.0, inbox=None, user=4),
        row(4, "reply_time", 1.0, inbox=5, user=11),
    ]
    # WHEN summarised
    summary = summarise(classified(rows))
    # THEN the keys come in numeric order (12 after 5), "none" last
    assert list(summary["by_inbox"]) == ["3", "5", "12", "none"]
    assert list(summary["by_agent"]) == ["4", "11", "15", "none"]


def test_previous_day_keeps_only_its_date_and_overall_block() -> None:
    # GIVEN yesterday's full summary
    yesterday = summarise(classified(mixed_rows()))
    yesterday["date"] = "2026-11-19"
    yesterday["period"] = {"kind": "day", "start": "2026-11-19", "end": "2026-11-19", "days": 1}
    # WHEN today is summarised with it
    summary, expected = both(classified(mixed_rows()[:3]), previous=yesterday)
    # THEN only its dates and overall block are kept
    assert_matches(summary, expected)
    assert summary["previous"] == {
        "date": "2026-11-19",
        "start": "2026-11-19",
        "end": "2026-11-19",
        "overall": yesterday["overall"],
    }


def test_no_previous_day_is_null() -> None:
    # GIVEN no archived previous day / WHEN summarised / THEN previous is null
    assert summarise(classified(mixed_rows()))["previous"] is None


def test_a_previous_document_that_is_not_a_summary_is_refused() -> None:
    # GIVEN a "previous" mapping without an overall block / WHEN summarised / THEN refused
    with pytest.raises(VerificationError, match="overall"):
        summarise(classified(mixed_rows()), previous={"date": "2026-11-19"})


def test_source_reports_completeness_pages_and_ignored_rows() -> None:
    # GIVEN an incomplete fetch, 4 rows short, with one duplicate and one unknown row
    rows = [*mixed_rows(), mixed_rows()[0], row(99, "conversation_sla_escalated", 1.0)]
    # WHEN summarised
    summary, expected = both(classified(rows), complete=False, missing=4)
    # THEN source says so
    assert_matches(summary, expected)
    assert summary["source"] == {
        "base_url": "https://chat.acme.example",
        "events": 13,
        "pages": 1,
        "complete": False,
        "missing": 4,
        "ignored": {"unknown_name": 1, "invalid": 0, "outside_window": 0},
        "days": [{"date": "2026-11-20", "events": 13, "complete": False}],
        "missing_days": [],
    }


def test_header_names_the_account_day_and_utc_generation_time() -> None:
    # GIVEN a summary generated at 06:00:03.25 UTC
    summary = summarise(EventSet())
    # WHEN / THEN the header follows the contract, the time in whole seconds with a Z
    assert summary["schema_version"] == SCHEMA_VERSION == 2
    assert summary["date"] == "2026-11-20"
    assert summary["timezone"] == "Europe/Berlin"
    assert summary["generated_at"] == "2026-11-21T06:00:03Z"


def test_a_naive_generation_time_is_refused() -> None:
    # GIVEN a time without a zone / WHEN summarised / THEN refused rather than guessed
    with pytest.raises(ValueError, match="timezone-aware"):
        build_summary(
            account_id=7,
            account_name=None,
            window=DAY,
            base_url="https://chat.acme.example",
            events=EventSet(),
            pages=0,
            complete=True,
            targets=NO_TARGETS,
            inbox_names={},
            inbox_working_hours={},
            agent_names={},
            previous=None,
            generated_at=datetime(2026, 11, 21, 6, 0),
        )


def test_the_summary_is_plain_json_without_nan() -> None:
    # GIVEN the mixed day with targets
    summary = summarise(classified(mixed_rows()), targets=SlaTargets(reply_time=60.0))
    # WHEN serialised strictly / THEN it round-trips unchanged
    assert json.loads(json.dumps(summary, allow_nan=False)) == summary


# --------------------------------------------------------------------------- sandbox-like data


@pytest.fixture(scope="module")
def sandbox_day() -> tuple[EventSet, Window, dict[str, Any]]:
    """The sandbox's seeded account: every row of three days, classified for the report day."""
    options = SandboxOptions(events=1500, seed=11)
    dataset = generate_dataset(options)
    window = report_window(options.day, options.timezone, now=LATER)
    events = classify_rows(dataset.events, window)
    context = {
        "inbox_names": {inbox["id"]: inbox["name"] for inbox in dataset.inboxes},
        "inbox_hours": {inbox["id"]: inbox["working_hours_enabled"] for inbox in dataset.inboxes},
        "agent_names": {agent["id"]: agent["name"] for agent in dataset.agents},
    }
    return events, window, context


@pytest.mark.parametrize("basis", ["calendar", "business_hours"])
def test_sandbox_like_data_matches_the_reference(
    sandbox_day: tuple[EventSet, Window, dict[str, Any]], basis: SlaBasis
) -> None:
    # GIVEN the seeded account's day (ties, edges, departed agent, null ids, Captain rows)
    events, window, context = sandbox_day
    targets = SlaTargets(
        first_response=600.0,
        reply_time=1800.0,
        conversation_resolved=8 * 3600.0,
        basis=basis,
    )
    # WHEN summarised / THEN every number of every block matches the reference
    summary, expected = both(events, window=window, targets=targets, **context)
    assert_matches(summary, expected)
    assert summary["source"]["ignored"]["outside_window"] > 0
    assert summary["by_agent"]["none"]["name"] is None


def test_sandbox_like_data_has_means_within_their_range(
    sandbox_day: tuple[EventSet, Window, dict[str, Any]],
) -> None:
    # GIVEN the seeded account's day
    events, window, context = sandbox_day
    # WHEN summarised
    summary = summarise(events, window=window, **context)
    # THEN each mean lies between the smallest and the largest row of that name
    for name in DURATIONS:
        values = [event.value for event in events.events if event.name == name]
        metric = summary["overall"][name]
        assert min(values) <= metric["mean"] <= max(values)
        assert metric["max"] == max(values)
        assert not math.isnan(metric["p95"])


def test_the_order_rows_arrive_in_does_not_change_a_single_byte(
    sandbox_day: tuple[EventSet, Window, dict[str, Any]],
) -> None:
    # GIVEN the seeded day's events, and the same events in reverse and interleaved order
    # (pages arrive concurrently, and verify re-derives the summary from pages in page order)
    events, window, context = sandbox_day
    kept = events.events
    reordered = [
        EventSet(list(reversed(kept)), events.ignored),
        EventSet(kept[1::2] + kept[0::2], events.ignored),
    ]
    targets = SlaTargets(first_response=600.0, reply_time=1800.0, basis="business_hours")
    # WHEN each is summarised
    texts = {
        json.dumps(summarise(each, window=window, targets=targets, **context))
        for each in (events, *reordered)
    }
    # THEN the documents are identical
    assert len(texts) == 1
