"""What a weekly or monthly digest shows beyond the daily one: its names and the days chart.

The period's title names it in the subject and the header (``Week 47 (16–22 Nov)``,
``November 2026``); the chart has one row per day of the period, a bar of first responses
answered drawn as table cells (no images: it shows with images off and in any client), the
day's p90 and its SLA share. Days that could not be had are listed as such, never as zero.
Plain records and strings, like :mod:`sla_digest.report.view`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.report.format import (
    NO_VALUE,
    floor_percent,
    format_count,
    format_duration,
    long_date,
    month_year,
    short_date,
)
from sla_digest.report.metrics import HEADLINE, METRICS
from sla_digest.report.periods import Period
from sla_digest.report.view import SLA_GOOD_PERCENT, SLA_WARN_PERCENT

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import date

    from sla_digest.report.summary import Summary

__all__ = [
    "DayBar",
    "compare_label",
    "day_bars",
    "day_csv_rows",
    "missing_days_text",
    "period_names",
    "period_parts",
    "period_title",
    "week_number",
]

BAR_CELLS = 24  # characters of the plain-text bar at the busiest day
_WORDS = {"day": "daily", "week": "weekly", "month": "monthly"}


@dataclass(frozen=True, slots=True)
class DayBar:
    """One day of the chart; ``width`` is the bar's share of the busiest day, in percent."""

    label: str  # "Mon 16 Nov"
    day: str  # ISO date
    missing: bool
    count: str
    width: int
    text_bar: str
    p90: str
    sla: str  # "met 94%", "—", "no data"
    tone: str  # good | warn | bad | neutral


def week_number(period: Period) -> int:
    """The ISO week number of the week's Monday (a Sunday week is named by the Monday in it)."""
    monday = period.start if period.start.weekday() == 0 else period.end
    monday = monday.fromordinal(monday.toordinal() - monday.weekday())
    return monday.isocalendar().week


def _range(first: date, last: date, *, years: bool) -> str:
    if first.year != last.year:
        return f"{short_date(first)} {first.year} – {short_date(last)} {last.year}"
    year = f" {last.year}" if years else ""
    if first.month == last.month:
        return f"{first.day}–{short_date(last)}{year}"
    return f"{short_date(first)} – {short_date(last)}{year}"


def period_title(period: Period, *, long: bool = False) -> str:
    """``Week 47 (16–22 Nov)``, ``November 2026``, a day's long date; ``long`` adds the year
    to a week."""
    if period.kind == "week":
        return f"Week {week_number(period)} ({_range(period.start, period.end, years=long)})"
    if period.kind == "month":
        return month_year(period.start)
    return long_date(period.start)


def compare_label(period: Period, previous: Period) -> str:
    """How a trend names the previous period: ``week 46``, ``October``, ``October 2025``."""
    if period.kind == "week":
        return f"week {week_number(previous)}"
    if period.kind == "month":
        name = month_year(previous.start)
        return name.split()[0] if previous.start.year == period.start.year else name
    return previous.start.isoformat()


def missing_days_text(days: Sequence[date], *, shown: int = 5) -> str:
    """``no data for Wed 18 Nov and Thu 19 Nov (they could not be fetched)``; beyond
    ``shown`` days the rest are counted, so a month of gaps stays one readable line."""
    labels = [short_date(day, weekday=True) for day in days[:shown]]
    if len(days) > shown:
        labels.append(f"{len(days) - shown} more days")
    listed = labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]
    pronoun = "it" if len(days) == 1 else "they"
    return f"no data for {listed} ({pronoun} could not be fetched)"


def _tone(percent: int) -> str:
    if percent >= SLA_GOOD_PERCENT:
        return "good"
    return "warn" if percent >= SLA_WARN_PERCENT else "bad"


def day_bars(summary: Summary) -> list[DayBar]:
    """The chart's rows, every day of the period in order; empty for a day's digest."""
    period, by_day = summary.period, summary.by_day
    if period is None or by_day is None:
        return []
    figures = {entry.day: entry.metrics[HEADLINE] for entry in by_day}
    busiest = max((int(metric.count) for metric in figures.values()), default=0)
    bars: list[DayBar] = []
    for day in period.dates():
        label = short_date(day, weekday=True)
        metric = figures.get(day)
        if metric is None:
            bars.append(
                DayBar(
                    label, day.isoformat(), True, NO_VALUE, 0, "", NO_VALUE, "no data", "neutral"
                )
            )
            continue
        count = int(metric.count)
        width = 0 if busiest == 0 else max(1 if count else 0, round(100 * count / busiest))
        cells = 0 if busiest == 0 else max(1 if count else 0, round(BAR_CELLS * count / busiest))
        sla, tone = NO_VALUE, "neutral"
        if metric.compliance is not None:
            # The share of rows met, rounded down like every share the digest shows.
            percent = floor_percent(round(metric.compliance * count), count)
            sla, tone = f"met {percent}%", _tone(percent)
        bars.append(
            DayBar(
                label=label,
                day=day.isoformat(),
                missing=False,
                count=format_count(count),
                width=width,
                text_bar="█" * cells,
                p90=format_duration(metric.p90),
                sla=sla,
                tone=tone,
            )
        )
    return bars


def day_csv_rows(
    summary: Summary, header: Sequence[str], number: Callable[..., str]
) -> list[list[str]]:
    """One CSV row per day read (scope ``day``), under the same header as inboxes and agents:
    count, mean, p90 and SLA share of each metric; the other columns stay empty."""
    rows: list[list[str]] = []
    for entry in summary.by_day or ():
        cells = {"scope": "day", "id": entry.day.isoformat(), "name": long_date(entry.day)}
        for spec in METRICS:
            metric = entry.metrics[spec.key]
            cells[f"{spec.key}_count"] = str(int(metric.count))
            cells[f"{spec.key}_mean_s"] = number(metric.mean)
            cells[f"{spec.key}_p90_s"] = number(metric.p90)
            if metric.compliance is not None:
                cells[f"{spec.key}_sla_compliance"] = number(metric.compliance, 4)
        rows.append([cells.get(column, "") for column in header])
    return rows


def period_parts(summary: Summary, view: Mapping[str, Any]) -> dict[str, Any]:
    """The template keys that depend on the period, given the day-shaped ``view``.

    A day's digest gets the words it always had (``daily``, ``day``) and no chart.
    """
    period = summary.period
    kind = "day" if period is None else period.kind
    parts: dict[str, Any] = {
        "kind_word": _WORDS[kind],
        "period_noun": kind,
        "period_phrase": "on this day" if kind == "day" else f"this {kind}",
        "by_day": [],
    }
    if period is None or kind == "day":
        return parts
    parts["by_day"] = day_bars(summary)
    parts["csv_filename"] = f"sla-digest-{int(summary.account_id)}-{kind}-{period.start}.csv"
    missing = summary.source.missing_days
    if missing:
        text = missing_days_text(missing)
        if not all(day.complete for day in summary.source.days or ()):
            text += f"; {view['missing_text']}"
        parts["missing_text"] = text
    return parts


def period_names(summary: Summary) -> dict[str, Any]:
    """``digest_view``'s keyword arguments naming a week or month (its titles, the trend's
    name for the period before, the noun); empty for a day, which its date names."""
    period = summary.period
    if period is None or period.kind == "day":
        return {}
    names: dict[str, Any] = {
        "titles": (period_title(period), period_title(period, long=True)),
        "noun": period.kind,
    }
    if summary.previous is not None:
        before = Period(period.kind, summary.previous.day, summary.previous.last)
        names["compare"] = (compare_label(period, before), period_title(before, long=True))
    return names
