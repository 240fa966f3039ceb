"""Weekly and monthly summaries against a reference computed over the same rows in one go.

The reference (``ref_block`` and ``ref_named`` from the daily summary's tests: plain loops and
``statistics``) sees every row of the period as one list; the code under test sees the days one
at a time. They can only agree if the period's figures are exact over the union of the rows.
"""

from __future__ import annotations

import random
import statistics
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.config import SlaTargets
from sla_digest.report.period_summary import PeriodRows
from sla_digest.report.periods import Period, period_of, period_window
from sla_digest.report.summary import Summary, validate_summary
from sla_digest.window import report_window
from tests.unit.test_summary import assert_matches, ref_block, ref_named, row

if TYPE_CHECKING:
    from sla_digest.window import Window

ZONE = "Europe/Berlin"
LATER = datetime(2030, 1, 1, tzinfo=UTC)
GENERATED = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
TARGETS = SlaTargets(first_response=600.0, reply_time=3600.0, conversation_resolved=86_400.0)
INBOX_NAMES = {3: "Website Chat", 5: "Support Email", 8: "WhatsApp"}
INBOX_HOURS = {3: True, 5: True, 8: False}
AGENT_NAMES = {1: "Amira", 4: "Jonas", 6: "Priya"}
NAMES = (
    "first_response",
    "reply_time",
    "conversation_resolved",
    "conversation_opened",
    "conversation_bot_handoff",
    "conversation_captain_inference_resolved",
)


def day_rows(day: date, count: int, rng: random.Random, first_id: int) -> list[dict[str, Any]]:
    """Rows spread over the local day, the first exactly at its midnight, the last just
    before the next; a business-hours value for most, none on Captain rows."""
    window = report_window(day, ZONE, now=LATER)
    rows = []
    for n in range(count):
        at = window.since + rng.randrange(window.until - window.since)
        if n == 0:
            at = window.since
        elif n == 1:
            at = window.until - 1
        name = rng.choice(NAMES)
        value = float(rng.choice([5, 30, 120, 300, 600, 601, 900, 3600, 7200, 90_000]))
        business = None if "captain" in name else float(rng.randrange(int(value) + 1))
        rows.append(
            row(
                first_id + n,
                name,
                value,
                business,
                inbox=rng.choice([3, 5, 8, None]),
                user=rng.choice([1, 4, 6, 23, None]),
                at=at,
            )
        )
    return rows


def ref_day(rows: list[dict[str, Any]], window: Window) -> dict[str, Any]:
    """The reference's by_day entry: count, mean, p90 and the share met, per metric."""
    figures: dict[str, Any] = {"date": window.day.isoformat()}
    kept = [r for r in rows if window.since <= _epoch(r["created_at"]) < window.until]
    for name in ("first_response", "reply_time", "conversation_resolved"):
        values = [r["value"] for r in kept if r["name"] == name]
        target = getattr(TARGETS, name)
        figures[name] = {
            "count": len(values),
            "mean": statistics.fmean(values) if values else None,
            "p90": statistics.quantiles(sorted(values), n=100, method="inclusive")[89]
            if len(values) > 1
            else (values[0] if values else None),
            "compliance": sum(v <= target for v in values) / len(values) if values else None,
        }
    return figures


def _epoch(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def period_summary(
    period: Period, rows_by_day: dict[date, list[dict[str, Any]]], *, missing: tuple[date, ...] = ()
) -> dict[str, Any]:
    """The code under test: the days classified and added one at a time."""
    gathered = PeriodRows(period, TARGETS, INBOX_HOURS)
    for day in period.dates():
        if day in missing:
            gathered.add_missing(day)
            continue
        events = classify_rows(rows_by_day[day], report_window(day, ZONE, now=LATER))
        gathered.add_day(day, events, pages=1, complete=True, missing=0)
    summary = gathered.summary(
        account_id=7,
        account_name="Acme Support",
        window=period_window(period, ZONE, now=LATER),
        base_url="https://chat.acme.example",
        inbox_names=INBOX_NAMES,
        agent_names=AGENT_NAMES,
        previous=None,
        generated_at=GENERATED,
    )
    document = summary.to_dict()
    validate_summary(document)
    return document


def reference(rows: list[dict[str, Any]], window: Window) -> dict[str, Any]:
    """Overall, per inbox and per agent over every row of the period at once."""
    events = classify_rows(rows, window)
    kept = events.events
    no_hours = {inbox for inbox, hours in INBOX_HOURS.items() if not hours}
    return {
        "overall": ref_block(kept, TARGETS, no_hours),
        "by_inbox": ref_named(kept, "inbox_id", INBOX_NAMES, TARGETS, no_hours),
        "by_agent": ref_named(kept, "user_id", AGENT_NAMES, TARGETS, no_hours),
    }


def generate(period: Period, per_day: int, seed: int) -> dict[date, list[dict[str, Any]]]:
    rng = random.Random(seed)
    return {
        day: day_rows(day, per_day + rng.randrange(20), rng, 1_000_000 * (n + 1))
        for n, day in enumerate(period.dates())
    }


def test_a_week_across_a_dst_change_is_exact_over_the_union_of_its_rows() -> None:
    # GIVEN the Berlin week of the autumn change (169 hours), rows on every day, some
    # exactly on a local midnight
    week = period_of(date(2026, 10, 21), "week")
    rows_by_day = generate(week, 60, seed=11)
    everything = [r for rows in rows_by_day.values() for r in rows]
    window = period_window(week, ZONE, now=LATER)
    assert window.hours == 169
    # WHEN its summary is built day by day
    summary = period_summary(week, rows_by_day)
    # THEN every block equals the reference over all the week's rows at once
    expected = reference(everything, window)
    for part in ("overall", "by_inbox", "by_agent"):
        assert_matches(summary[part], expected[part], f"$.{part}")
    # AND the period, the days and the window are the week's
    assert summary["period"] == {
        "kind": "week",
        "start": "2026-10-19",
        "end": "2026-10-25",
        "days": 7,
    }
    assert summary["date"] == "2026-10-19"
    assert summary["window"] == {"since": window.since, "until": window.until}
    assert [d["date"] for d in summary["source"]["days"]] == [d.isoformat() for d in week.dates()]
    assert [d["events"] for d in summary["source"]["days"]] == [
        len(rows_by_day[d]) for d in week.dates()
    ]
    assert summary["source"]["events"] == len(everything)
    assert summary["source"]["missing_days"] == []
    assert summary["source"]["complete"] is True
    # AND each day's figures equal the reference over that day's rows alone
    for figures, day in zip(summary["by_day"], week.dates(), strict=True):
        day_window = report_window(day, ZONE, now=LATER)
        assert_matches(figures, ref_day(rows_by_day[day], day_window), f"$.by_day[{day}]")


def test_a_month_with_a_missing_day_is_incomplete_and_names_the_day() -> None:
    # GIVEN November 2026 with 18 November never archived
    month = period_of(date(2026, 11, 5), "month")
    rows_by_day = generate(month, 15, seed=5)
    lost = date(2026, 11, 18)
    present = [r for day, rows in rows_by_day.items() if day != lost for r in rows]
    # WHEN its summary is built
    summary = period_summary(month, rows_by_day, missing=(lost,))
    # THEN the figures are exact over the 29 days that were there
    window = period_window(month, ZONE, now=LATER)
    expected = reference(present, window)
    for part in ("overall", "by_inbox", "by_agent"):
        assert_matches(summary[part], expected[part], f"$.{part}")
    # AND the summary is incomplete, naming the day, which has no entry of its own
    source = summary["source"]
    assert source["complete"] is False
    assert source["missing_days"] == ["2026-11-18"]
    assert len(source["days"]) == len(summary["by_day"]) == 29
    assert "2026-11-18" not in [d["date"] for d in source["days"]]
    assert summary["period"]["days"] == 30
    assert window.hours == 720


def test_the_period_p90_is_not_an_average_of_the_daily_p90s() -> None:
    # GIVEN two days of first responses, worked by hand: a quiet day of 10 fast ones and a
    # busy day of 10 slow ones (rank 0.9 × 19 = 17.1 in the 20 sorted values)
    period = Period("week", date(2026, 11, 16), date(2026, 11, 22))
    fast = [row(i, "first_response", float(10 + i), at=_noon(16)) for i in range(10)]
    slow = [row(100 + i, "first_response", float(1000 + 100 * i), at=_noon(17)) for i in range(10)]
    rows_by_day: dict[date, list[dict[str, Any]]] = {day: [] for day in period.dates()}
    rows_by_day[date(2026, 11, 16)] = fast
    rows_by_day[date(2026, 11, 17)] = slow
    # WHEN the week is summarised
    first = period_summary(period, rows_by_day)["overall"]["first_response"]
    # THEN the p90 interpolates between the 18th and 19th values of the union (1700, 1800):
    # 1710, far from the mean of the daily p90s ((18.1 + 1810) / 2 = 914.05)
    assert first["p90"] == pytest.approx(1710.0)
    assert first["count"] == 20
    assert first["mean"] == pytest.approx((sum(range(10, 20)) + sum(range(1000, 2000, 100))) / 20)
    # AND the SLA (600 s) is met by exactly the ten fast ones
    assert (first["sla"]["met"], first["sla"]["breached"]) == (10, 10)


def _noon(day: int) -> float:
    return report_window(date(2026, 11, day), ZONE, now=LATER).since + 12 * 3600


def test_rows_outside_their_day_are_ignored_and_counted_once() -> None:
    # GIVEN a week whose Monday pages also carry a row of the Sunday before
    week = Period("week", date(2026, 11, 16), date(2026, 11, 22))
    rows_by_day: dict[date, list[dict[str, Any]]] = {day: [] for day in week.dates()}
    rows_by_day[date(2026, 11, 16)] = [
        row(1, "first_response", 60.0, at=_noon(16)),
        row(2, "first_response", 60.0, at=_noon(15)),
    ]
    # WHEN summarised THEN one row is kept and one counted outside its window
    summary = period_summary(week, rows_by_day)
    assert summary["source"]["events"] == 1
    assert summary["source"]["ignored"]["outside_window"] == 1


def test_a_period_summary_round_trips_and_reads_back_as_records() -> None:
    # GIVEN a built weekly summary
    week = period_of(date(2026, 11, 18), "week")
    document = period_summary(week, generate(week, 10, seed=3))
    # WHEN read back THEN it is the same document, with its period and days as records
    summary = Summary.from_dict(document)
    assert summary.to_dict() == document
    assert summary.period == week
    assert summary.kind == "week"
    assert summary.by_day is not None
    assert len(summary.by_day) == 7


def test_a_day_outside_the_period_is_refused() -> None:
    gathered = PeriodRows(period_of(date(2026, 11, 18), "week"), TARGETS, INBOX_HOURS)
    with pytest.raises(ValueError, match="not a day of the week"):
        gathered.add_day(date(2026, 11, 23), EventSet(), pages=0, complete=True, missing=0)
    with pytest.raises(ValueError, match="not a day of the week"):
        gathered.add_missing(date(2026, 11, 15) - timedelta(days=1))


def test_each_days_sla_share_on_business_hours_is_judged_as_the_summary_judges_it() -> None:
    # GIVEN a week of rows judged on business hours (inbox 8 has none: judged on the clock)
    week = period_of(date(2026, 11, 18), "week")
    rows_by_day = generate(week, 40, seed=21)
    targets = SlaTargets(first_response=600.0, reply_time=3600.0, basis="business_hours")
    gathered = PeriodRows(week, targets, INBOX_HOURS)
    for day in week.dates():
        events = classify_rows(rows_by_day[day], report_window(day, ZONE, now=LATER))
        gathered.add_day(day, events, pages=1, complete=True, missing=0)
    # WHEN the days' figures are taken
    figures = {entry.day: entry.metrics for entry in gathered.by_day}
    # THEN each day's share met is the reference's: business value where the row has one and
    # its inbox keeps hours, else the calendar value; no target, no share
    no_hours = {inbox for inbox, hours in INBOX_HOURS.items() if not hours}
    for day in week.dates():
        kept = classify_rows(rows_by_day[day], report_window(day, ZONE, now=LATER)).events
        for name, target in (("first_response", 600.0), ("reply_time", 3600.0)):
            mine = [r for r in kept if r.name == name]
            met = sum(
                (
                    r.value_in_business_hours
                    if r.value_in_business_hours is not None and r.inbox_id not in no_hours
                    else r.value
                )
                <= target
                for r in mine
            )
            expected = met / len(mine) if mine else None
            assert figures[day][name].compliance == pytest.approx(expected), (day, name)
        assert figures[day]["conversation_resolved"].compliance is None
