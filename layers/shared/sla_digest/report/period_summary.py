"""A week's or month's summary, exact over the union of its days' rows.

Chatwoot's own reports, and any sum of daily digests, can only average daily figures; a p90 of
seven daily p90s is not the week's p90. Here each day's kept rows are added, cell by cell, to
one :class:`~sla_digest.chatwoot.events.EventSet` for the period, and the summary is measured
over that union by the same code as a day's, so every mean, percentile and SLA count is the
one a single query over the whole period would give.

Days are added one at a time and only their columns are kept (no page, no row object), so a
caller can stream a month of archived pages without holding more than one day's bodies.
"""

from __future__ import annotations

import logging
from bisect import bisect_right
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot.events import Columns, EventSet
from sla_digest.report.acting import Sources, build_follow_up
from sla_digest.report.breaches import Breach, rank, select_breaches
from sla_digest.report.days import DayFigures, DayMetric, DaySource
from sla_digest.report.measure import percentile
from sla_digest.report.metrics import METRIC_KEYS
from sla_digest.report.summary import build_summary

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date, datetime

    from sla_digest.config import SlaTargets
    from sla_digest.report.periods import Period
    from sla_digest.report.summary import Previous, Summary
    from sla_digest.window import Window

__all__ = ["PeriodRows", "day_figures"]

logger = logging.getLogger(__name__)


def day_figures(
    day: date, events: EventSet, targets: SlaTargets, inbox_working_hours: Mapping[int, bool]
) -> DayFigures:
    """Count, mean, p90 and SLA share of each metric on one day (the digest's bar chart).

    Only the day's overall figures are needed, so each metric's values are sorted once and
    the SLA rows counted in one pass, judged as :func:`~sla_digest.report.measure.measure`
    judges them (business hours where the basis and the inbox have them).
    """
    business_basis = targets.basis == "business_hours"
    metrics: dict[str, DayMetric] = {}
    for key in METRIC_KEYS:
        cells = [
            (inbox_id, cell) for (name, inbox_id, _), cell in events.cells.items() if name == key
        ]
        values = sorted(chain.from_iterable(cell.values for _, cell in cells))
        count = len(values)
        target = targets.target(key)
        compliance = None
        if target is not None and count and not business_basis:
            compliance = bisect_right(values, target) / count
        elif target is not None and count:
            met = 0
            for inbox_id, cell in cells:
                on_hours = business_basis and (
                    inbox_id is None or inbox_working_hours.get(inbox_id, True)
                )
                if on_hours:
                    met += sum(
                        1
                        for value, hours in zip(cell.values, cell.hours, strict=True)
                        if (value if hours is None else hours) <= target
                    )
                else:
                    met += sum(1 for value in cell.values if value <= target)
            compliance = met / count
        metrics[key] = DayMetric(
            count=count,
            mean=sum(values) / count if count else None,
            p90=percentile(values, 90.0),
            compliance=compliance,
        )
    return DayFigures(day, metrics)


@dataclass(slots=True)
class PeriodRows:
    """The rows of a period, gathered one day at a time, and what each day contributed.

    ``targets`` and ``inbox_working_hours`` must be those the summary is built with, so each
    day's SLA share in ``by_day`` is judged exactly as the union is.
    """

    period: Period
    targets: SlaTargets
    inbox_working_hours: Mapping[int, bool]
    union: EventSet = field(default_factory=EventSet)
    days: list[DaySource] = field(default_factory=list)
    by_day: list[DayFigures] = field(default_factory=list)
    missing_days: list[date] = field(default_factory=list)
    pages: int = 0
    missing_rows: int = 0
    # Conversations to act on over the period: each day's rows over target (select_breaches
    # needs the day's per-row fields, which the union does not keep) and its archived sources.
    breaches: dict[str, list[Breach]] = field(default_factory=dict)
    sources: list[Sources] = field(default_factory=list)

    def add_day(
        self,
        day: date,
        events: EventSet,
        *,
        pages: int,
        complete: bool,
        missing: int,
        sources: Sources | None = None,
    ) -> None:
        """Add one day's kept rows (the caller may drop ``events`` afterwards), and what the
        day archived for its conversations to act on (CSAT, SLA misses, links), if anything."""
        if not self.period.contains(day):
            raise ValueError(f"{day} is not a day of the {self.period.kind} {self.period.start}")
        self.by_day.append(day_figures(day, events, self.targets, self.inbox_working_hours))
        found = select_breaches(events, self.targets, self.inbox_working_hours)
        for metric, rows in found.items():
            self.breaches.setdefault(metric, []).extend(rows)
        if sources is not None:
            self.sources.append(sources)
        cells = self.union.cells
        for key, cell in events.cells.items():
            merged = cells.get(key)
            if merged is None:
                merged = cells[key] = Columns()
            merged.ids.extend(cell.ids)
            merged.values.extend(cell.values)
            merged.hours.extend(cell.hours)
        ignored, seen = self.union.ignored, events.ignored
        ignored.unknown_name += seen.unknown_name
        ignored.invalid += seen.invalid
        ignored.outside_window += seen.outside_window
        self.days.append(DaySource(day, events.kept, complete))
        self.pages += pages
        self.missing_rows += missing

    def add_missing(self, day: date) -> None:
        """A day of the period whose rows could not be had: the summary is incomplete."""
        if not self.period.contains(day):
            raise ValueError(f"{day} is not a day of the {self.period.kind} {self.period.start}")
        self.missing_days.append(day)

    @property
    def complete(self) -> bool:
        return not self.missing_days and all(day.complete for day in self.days)

    def worst_first(self) -> dict[str, list[Breach]]:
        """Every row over a target in the period, per metric, worst first."""
        return {metric: sorted(rows, key=rank) for metric, rows in self.breaches.items()}

    def merged_sources(self) -> Sources:
        """The days' archived sources pooled (none archived: an empty one, nothing read)."""
        return Sources.merged(self.sources) if self.sources else Sources()

    def summary(
        self,
        *,
        account_id: int,
        account_name: str | None,
        window: Window,
        base_url: str,
        inbox_names: Mapping[int, str],
        agent_names: Mapping[int, str],
        previous: Previous | Mapping[str, Any] | None,
        generated_at: datetime,
        list_size: int = 10,
    ) -> Summary:
        """The period's summary (schema_version 2), days listed in date order, with the
        conversations to act on over the whole period (``list_size`` worst per metric)."""
        if window.day != self.period.start:
            raise ValueError(f"window of {window.day} given for the period of {self.period.start}")
        logger.info(
            "%s of account %d: %d events over %d days read, %d missing",
            self.period,
            account_id,
            self.union.kept,
            len(self.days),
            len(self.missing_days),
        )
        order = sorted(range(len(self.days)), key=lambda i: self.days[i].day)
        return build_summary(
            account_id=account_id,
            account_name=account_name,
            window=window,
            base_url=base_url,
            events=self.union,
            pages=self.pages,
            complete=self.complete,
            missing=self.missing_rows,
            targets=self.targets,
            inbox_names=inbox_names,
            inbox_working_hours=self.inbox_working_hours,
            agent_names=agent_names,
            previous=previous,
            generated_at=generated_at,
            period=self.period,
            days=[self.days[i] for i in order],
            missing_days=sorted(self.missing_days),
            by_day=[self.by_day[i] for i in order],
            follow_up=build_follow_up(
                breaches=self.worst_first(),
                sources=self.merged_sources(),
                list_size=list_size,
                base_url=base_url,
                account_id=account_id,
                window=window,
                agent_names=agent_names,
            ),
        )
