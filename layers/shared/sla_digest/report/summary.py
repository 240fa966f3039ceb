"""The SLA summary: ``summary.json`` (schema_version 2) as typed records, built from one day.

Means are plain means over the same rows Chatwoot averages, so they match its own reports;
percentiles and SLA compliance are what this digest adds. The summary is the only input the
digest is rendered from, so everything the email shows must be in it.

:func:`build_summary` returns a :class:`Summary`; :meth:`Summary.to_dict` gives the JSON
document, key for key in the contract's order, and :meth:`Summary.from_dict` reads a stored
one back. Values are carried as they were computed or read, never coerced, so
``Summary.from_dict(doc).to_dict() == doc`` for every valid document. The arithmetic lives in
:mod:`sla_digest.report.measure`.

Schema_version 2 adds to version 1 and removes nothing (design, section 12): the ``period``,
``source.days`` and ``source.missing_days``, ``by_day`` for a week or month, and the previous
period's ``start`` and ``end`` beside its ``date``. Summaries archived as version 1 are still
read, and written back as version 1: a record read from one has no ``period``.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import date
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import VerificationError
from sla_digest.report.days import DayFigures, DaySource
from sla_digest.report.follow_up import FollowUp
from sla_digest.report.measure import PERCENTILES, measure, percentile
from sla_digest.report.metrics import COUNT_KEYS, METRIC_KEYS
from sla_digest.report.periods import Period
from sla_digest.report.schema import summary_problems, summary_schema, validate_summary
from sla_digest.window import Window, utc_text

if TYPE_CHECKING:
    from collections.abc import Iterable
    from datetime import datetime

    from sla_digest.chatwoot.events import EventSet
    from sla_digest.config import SlaTargets
    from sla_digest.report.measure import Rows, Scope, Scopes

__all__ = [
    "NO_ID",
    "PERCENTILES",
    "READABLE_VERSIONS",
    "SCHEMA_VERSION",
    "STATISTICS",
    "Block",
    "Metric",
    "NamedBlock",
    "Previous",
    "Sla",
    "Source",
    "Stats",
    "Summary",
    "build_summary",
    "percentile",
    "summary_problems",
    "summary_schema",
    "validate_summary",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)
"""Versions :meth:`Summary.from_dict` reads: the archive keeps summaries of both."""
NO_ID = "none"
"""Key of the rows whose ``inbox_id`` / ``user_id`` is null."""


# ---------------------------------------------------------------------------------------------
# The document
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Stats:
    """Mean, percentiles and maximum of some rows, in seconds; all ``None`` when there are none."""

    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    max: float | None

    @classmethod
    def of(cls, ascending: list[float]) -> Stats:
        """The statistics of ascending values."""
        if not ascending:
            return _NO_STATS
        p50, p90, p95 = (percentile(ascending, p) for _, p in PERCENTILES)
        return cls(sum(ascending) / len(ascending), p50, p90, p95, ascending[-1])

    def to_dict(self) -> dict[str, float | None]:
        return {
            "mean": self.mean,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "max": self.max,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Stats:
        return cls(doc["mean"], doc["p50"], doc["p90"], doc["p95"], doc["max"])


_NO_STATS = Stats(None, None, None, None, None)
STATISTICS: tuple[str, ...] = tuple(each.name for each in fields(Stats))
"""``mean``, ``p50``, ``p90``, ``p95``, ``max``: the statistics of every metric, in order."""


@dataclass(frozen=True, slots=True)
class Sla:
    """A metric's SLA: met when a row's value is at most ``target`` seconds."""

    target: float
    basis: str  # "calendar" or "business_hours"
    met: int
    breached: int
    compliance: float | None  # met / (met + breached); None when nothing was measured

    @property
    def total(self) -> int:
        return self.met + self.breached

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "basis": self.basis,
            "met": self.met,
            "breached": self.breached,
            "compliance": self.compliance,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Sla:
        return cls(doc["target"], doc["basis"], doc["met"], doc["breached"], doc["compliance"])


@dataclass(frozen=True, slots=True)
class Metric:
    """One duration metric in one scope: calendar statistics, business hours, SLA if targeted."""

    count: int
    mean: float | None
    p50: float | None
    p90: float | None
    p95: float | None
    max: float | None
    business_hours: Stats
    sla: Sla | None = None

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "count": self.count,
            "mean": self.mean,
            "p50": self.p50,
            "p90": self.p90,
            "p95": self.p95,
            "max": self.max,
            "business_hours": self.business_hours.to_dict(),
        }
        if self.sla is not None:
            doc["sla"] = self.sla.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Metric:
        sla = doc.get("sla")
        return cls(
            count=doc["count"],
            mean=doc["mean"],
            p50=doc["p50"],
            p90=doc["p90"],
            p95=doc["p95"],
            max=doc["max"],
            business_hours=Stats.from_dict(doc["business_hours"]),
            sla=None if sla is None else Sla.from_dict(sla),
        )


@dataclass(frozen=True, slots=True)
class Block:
    """Every metric (keyed as :data:`~sla_digest.report.metrics.METRICS`) and count of a scope."""

    metrics: Mapping[str, Metric]
    counts: Mapping[str, int]

    def to_dict(self) -> dict[str, Any]:
        doc: dict[str, Any] = {key: self.metrics[key].to_dict() for key in METRIC_KEYS}
        doc["counts"] = {key: self.counts[key] for key in COUNT_KEYS}
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Block:
        counts = doc["counts"]
        return cls(
            metrics={key: Metric.from_dict(doc[key]) for key in METRIC_KEYS},
            counts={key: counts[key] for key in COUNT_KEYS},
        )


@dataclass(frozen=True, slots=True)
class NamedBlock(Block):
    """The block of one inbox or agent; ``name`` is ``None`` when Chatwoot no longer knows it."""

    name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, **Block.to_dict(self)}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> NamedBlock:
        block = Block.from_dict(doc)
        return cls(metrics=block.metrics, counts=block.counts, name=doc["name"])


@dataclass(frozen=True, slots=True)
class Source:
    """Where the numbers come from: events kept, pages, completeness, rows left out and why."""

    base_url: str
    events: int
    pages: int
    complete: bool
    missing: int
    ignored: Mapping[str, int]
    # Schema_version 2: each day read, and the days that could not be had (None in version 1).
    days: tuple[DaySource, ...] | None = None
    missing_days: tuple[date, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "base_url": self.base_url,
            "events": self.events,
            "pages": self.pages,
            "complete": self.complete,
            "missing": self.missing,
            "ignored": dict(self.ignored),
        }
        if self.days is not None:
            doc["days"] = [day.to_dict() for day in self.days]
            doc["missing_days"] = [day.isoformat() for day in self.missing_days]
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Source:
        days = doc.get("days")
        return cls(
            base_url=doc["base_url"],
            events=doc["events"],
            pages=doc["pages"],
            complete=doc["complete"],
            missing=doc["missing"],
            ignored=dict(doc["ignored"]),
            days=None if days is None else tuple(DaySource.from_dict(day) for day in days),
            missing_days=tuple(date.fromisoformat(day) for day in doc.get("missing_days", ())),
        )


@dataclass(frozen=True, slots=True)
class Previous:
    """The previous period's first and last day and overall block, kept for the trend
    (summaries never nest). ``day`` is the first day: a day's ``date``, a period's start."""

    day: date
    overall: Block
    end: date | None = None  # the last day; None (the same day) when read from version 1

    @property
    def last(self) -> date:
        return self.end if self.end is not None else self.day

    def to_dict(self, version: int = SCHEMA_VERSION, *, day: bool = True) -> dict[str, Any]:
        """The ``previous`` block. A day's keeps version 1's ``date`` beside ``start`` and
        ``end`` (so a version 1 reader still finds it); a week's or month's has ``start`` and
        ``end``, as the contract writes them."""
        if version == 1:
            return {"date": self.day.isoformat(), "overall": self.overall.to_dict()}
        doc: dict[str, Any] = {"date": self.day.isoformat()} if day else {}
        doc.update(start=self.day.isoformat(), end=self.last.isoformat())
        doc["overall"] = self.overall.to_dict()
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Previous:
        """From a stored summary.json or its ``previous`` block: a summary and a day's block
        have ``date``, a week's or month's block ``start``; version 2 adds the last day
        (``end``, or a whole summary's ``period.end``)."""
        end = doc.get("end")
        if end is None and isinstance(doc.get("period"), Mapping):
            end = doc["period"].get("end")
        return cls(
            date.fromisoformat(doc["date"] if "date" in doc else doc["start"]),
            Block.from_dict(doc["overall"]),
            end=None if end is None else date.fromisoformat(end),
        )


@dataclass(frozen=True, slots=True)
class Summary:
    """One account-day's summary: the ``summary.json`` document as records."""

    account_id: int
    account_name: str | None
    window: Window  # the report day, its time zone and [since, until)
    generated_at: str  # ISO-8601 UTC, as stored (a re-render must not reformat it)
    source: Source
    overall: Block
    by_inbox: Mapping[str, NamedBlock]  # keyed by id as text, NO_ID for null, in id order
    by_agent: Mapping[str, NamedBlock]
    previous: Previous | None
    follow_up: FollowUp | None = None  # conversations to act on (report.follow_up)
    # Schema_version 2: what period this is (None: read from a version 1 document) and, for a
    # week or month, the figures of each day that was read.
    period: Period | None = None
    by_day: tuple[DayFigures, ...] | None = None

    @property
    def day(self) -> date:
        """The first day: the report day, or the first day of a week or month."""
        return self.window.day

    @property
    def schema_version(self) -> int:
        return 1 if self.period is None else SCHEMA_VERSION

    @property
    def kind(self) -> str:
        """``day``, ``week`` or ``month``."""
        return "day" if self.period is None else self.period.kind

    def to_dict(self) -> dict[str, Any]:
        """The JSON document, keys in the contract's order (version 1 if read as one)."""
        window = self.window
        version = self.schema_version
        doc: dict[str, Any] = {
            "schema_version": version,
            "account_id": self.account_id,
            "account_name": self.account_name,
            "date": window.day.isoformat(),
            "timezone": window.timezone,
            "window": {"since": window.since, "until": window.until},
            "generated_at": self.generated_at,
        }
        if self.period is not None:
            doc["period"] = self.period.to_dict()
        doc["source"] = self.source.to_dict()
        doc["overall"] = self.overall.to_dict()
        doc["by_inbox"] = {key: block.to_dict() for key, block in self.by_inbox.items()}
        doc["by_agent"] = {key: block.to_dict() for key, block in self.by_agent.items()}
        if self.by_day is not None:
            doc["by_day"] = [day.to_dict() for day in self.by_day]
        doc["previous"] = (
            None
            if self.previous is None
            else self.previous.to_dict(version, day=self.kind == "day")
        )
        if self.follow_up is not None:
            doc.update(self.follow_up.to_dict())
        return doc

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Summary:
        """Read a stored ``summary.json``; a :class:`VerificationError` names what is wrong.

        The JSON Schema is consulted only when the document does not read, to name each
        problem by its path (so a valid document costs no jsonschema import).
        """
        if not isinstance(doc, Mapping):
            raise VerificationError([f"summary.json is a JSON {type(doc).__name__}, not an object"])
        version = doc.get("schema_version")
        if version not in READABLE_VERSIONS or isinstance(version, bool):
            raise VerificationError(
                [
                    f"summary.json has schema_version {version!r}: this version reads "
                    f"schema_version {' and '.join(map(str, READABLE_VERSIONS))}"
                ]
            )
        try:
            return cls._read(doc, version)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            found = summary_problems(doc)
            problems = [f"summary.json at {problem}" for problem in found] or [
                f"summary.json is not a valid schema_version {version} summary "
                f"({type(exc).__name__}: {exc})"
            ]
            raise VerificationError(problems) from exc

    @classmethod
    def _read(cls, doc: Mapping[str, Any], version: int) -> Summary:
        window = doc["window"]
        previous = doc["previous"]
        by_day = doc.get("by_day")
        if version == 1 and ("period" in doc or "days" in doc["source"]):
            raise ValueError("schema_version 1 has no period")
        return cls(
            account_id=doc["account_id"],
            account_name=doc["account_name"],
            window=Window(
                day=date.fromisoformat(doc["date"]),
                timezone=doc["timezone"],
                since=window["since"],
                until=window["until"],
            ),
            generated_at=doc["generated_at"],
            source=Source.from_dict(doc["source"]),
            overall=Block.from_dict(doc["overall"]),
            by_inbox={key: NamedBlock.from_dict(b) for key, b in doc["by_inbox"].items()},
            by_agent={key: NamedBlock.from_dict(b) for key, b in doc["by_agent"].items()},
            previous=None if previous is None else Previous.from_dict(previous),
            follow_up=FollowUp.from_dict(doc),
            period=None if version == 1 else Period.from_dict(doc["period"]),
            by_day=None if by_day is None else tuple(DayFigures.from_dict(d) for d in by_day),
        )


# ---------------------------------------------------------------------------------------------
# Building it
# ---------------------------------------------------------------------------------------------


def _metric(rows: Rows, target: float | None, basis: str) -> Metric:
    count = len(rows.values)
    calendar = Stats.of(rows.values)
    sla = None
    if target is not None:
        compliance = rows.met / count if count else None
        sla = Sla(target, basis, rows.met, count - rows.met, compliance)
    return Metric(
        count,
        calendar.mean,
        calendar.p50,
        calendar.p90,
        calendar.p95,
        calendar.max,
        business_hours=Stats.of(rows.business),
        sla=sla,
    )


def _block_parts(scope: Scope, targets: SlaTargets) -> tuple[dict[str, Metric], dict[str, int]]:
    metrics = {
        key: _metric(scope.rows(key), targets.target(key), targets.basis) for key in METRIC_KEYS
    }
    return metrics, {key: scope.counts[key] for key in COUNT_KEYS}


def _named_blocks(
    scopes: Mapping[int | None, Scope], names: Mapping[int, str], targets: SlaTargets
) -> dict[str, NamedBlock]:
    """Ids in ascending order, the null id last, so the same day always serialises the same."""
    blocks: dict[str, NamedBlock] = {}
    for identifier in sorted(scopes, key=lambda i: (i is None, i or 0)):
        metrics, counts = _block_parts(scopes[identifier], targets)
        if identifier is None:
            blocks[NO_ID] = NamedBlock(metrics, counts, name=None)
        else:
            blocks[str(identifier)] = NamedBlock(metrics, counts, name=names.get(identifier))
    return blocks


def _previous(previous: Previous | Mapping[str, Any] | None) -> Previous | None:
    """The trend's part of the previous period; its last day made explicit (version 2)."""
    if previous is None:
        return None
    if isinstance(previous, Previous):
        return replace(previous, end=previous.last)
    try:
        found = Previous.from_dict(previous)
        return replace(found, end=found.last)
    except KeyError as exc:
        raise VerificationError(
            [f"the previous period's summary has no {exc.args[0]!r}: it is not a summary.json"]
        ) from exc
    except (TypeError, ValueError, AttributeError) as exc:
        raise VerificationError(
            [f"the previous period's summary is not a summary.json ({type(exc).__name__}: {exc})"]
        ) from exc


def build_summary(
    *,
    account_id: int,
    account_name: str | None,
    window: Window,
    base_url: str,
    events: EventSet,
    pages: int,
    complete: bool,
    missing: int = 0,
    targets: SlaTargets,
    inbox_names: Mapping[int, str],
    inbox_working_hours: Mapping[int, bool],
    agent_names: Mapping[int, str],
    previous: Previous | Mapping[str, Any] | None,
    generated_at: datetime,
    follow_up: FollowUp | None = None,
    scopes: Scopes | None = None,
    period: Period | None = None,
    days: Iterable[DaySource] | None = None,
    missing_days: Iterable[date] = (),
    by_day: Iterable[DayFigures] | None = None,
) -> Summary:
    """The summary (schema_version 2) of one account-day, or of a period's union of rows.

    ``previous`` is the previous period's stored summary (or its ``previous``-shaped part), or
    ``None``; only its dates and overall block are kept, so summaries never nest. Inboxes and
    agents missing from the name maps (deleted, departed) still get their rows, with ``name``
    null. On the business-hours basis an inbox counts as having working hours unless
    ``inbox_working_hours`` says it has none. ``follow_up`` is the "conversations to act on"
    section (:func:`sla_digest.report.acting.build_follow_up`), when it was made; ``scopes``
    is ``measure``'s result for these events and targets when the caller has it already.

    Without ``period`` the summary is of the day ``window.day``, its one entry in
    ``source.days`` made from ``events``; a week or month passes its period, the days read,
    the days missing and the figures of each day (``report.period_summary`` does).
    """
    kept = events.kept
    stamp = utc_text(generated_at, name="generated_at")
    if scopes is None:
        scopes = measure(events, targets, inbox_working_hours)
    if period is None:
        period = Period("day", window.day, window.day)
    listed = (DaySource(window.day, kept, complete),) if days is None else tuple(days)
    summary = Summary(
        account_id=account_id,
        account_name=account_name,
        window=window,
        generated_at=stamp,
        source=Source(
            base_url=base_url,
            events=kept,
            pages=pages,
            complete=complete,
            missing=missing,
            ignored=events.ignored.as_dict(),
            days=listed,
            missing_days=tuple(missing_days),
        ),
        overall=Block(*_block_parts(scopes.overall, targets)),
        by_inbox=_named_blocks(scopes.inboxes, inbox_names, targets),
        by_agent=_named_blocks(scopes.agents, agent_names, targets),
        previous=_previous(previous),
        follow_up=follow_up,
        period=period,
        by_day=None if by_day is None else tuple(by_day),
    )
    logger.debug(
        "summarised %d events of account %d, %s, into %d inboxes and %d agents",
        kept,
        account_id,
        period,
        len(scopes.inboxes),
        len(scopes.agents),
    )
    return summary
