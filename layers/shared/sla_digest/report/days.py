"""The day-by-day parts of a schema_version 2 summary: ``source.days`` and ``by_day``.

A weekly or monthly summary is exact over the union of its days' rows; these records keep,
beside it, what each day contributed (events, completeness) and a few figures per day for the
digest's bar chart. A daily summary lists its one day in ``source.days`` and has no ``by_day``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

from sla_digest.report.metrics import METRIC_KEYS

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["DayFigures", "DayMetric", "DaySource"]


@dataclass(frozen=True, slots=True)
class DaySource:
    """One day of a summary's source: its events kept and whether all of its rows were had."""

    day: date
    events: int
    complete: bool

    def to_dict(self) -> dict[str, Any]:
        return {"date": self.day.isoformat(), "events": self.events, "complete": self.complete}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DaySource:
        return cls(date.fromisoformat(doc["date"]), doc["events"], doc["complete"])


@dataclass(frozen=True, slots=True)
class DayMetric:
    """One metric on one day: how many rows, their mean and p90, and the SLA share met."""

    count: int
    mean: float | None
    p90: float | None
    compliance: float | None  # None without a target or without rows

    def to_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "mean": self.mean,
            "p90": self.p90,
            "compliance": self.compliance,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DayMetric:
        return cls(doc["count"], doc["mean"], doc["p90"], doc["compliance"])


@dataclass(frozen=True, slots=True)
class DayFigures:
    """One entry of ``by_day``: a day of the period and its figures for every metric."""

    day: date
    metrics: Mapping[str, DayMetric]

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"date": self.day.isoformat()}
        doc.update((key, self.metrics[key].to_dict()) for key in METRIC_KEYS)
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> DayFigures:
        return cls(
            date.fromisoformat(doc["date"]),
            {key: DayMetric.from_dict(doc[key]) for key in METRIC_KEYS},
        )
