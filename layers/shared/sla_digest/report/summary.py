"""The SLA summary: ``summary.json`` (schema_version 1), built from one day's events.

Means are plain means over the same rows Chatwoot averages, so they match its own reports;
percentiles and SLA compliance are what this digest adds. The summary is the only input the
digest is rendered from, so everything the email shows must be in it.

Cost matters (a 100,000-event day must summarise in a fraction of the time parsing took). The
events arrive as columns per (name, inbox, agent) cell (``EventSet.cells``, filled while the
rows were classified), so nothing here loops over events in Python: each cell's values are
sorted once, SLA compliance is a binary search in them, and the inbox, agent and overall lists
are merged from the cells' sorted runs.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from functools import cache
from itertools import chain
from typing import TYPE_CHECKING, Any, cast

from sla_digest.chatwoot.events import COUNTED_NAMES, DURATION_NAMES
from sla_digest.exceptions import VerificationError
from sla_digest.window import utc_text

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from datetime import datetime

    from jsonschema.protocols import Validator

    from sla_digest.chatwoot.events import Columns, EventSet
    from sla_digest.config import SlaTargets
    from sla_digest.window import Window

__all__ = [
    "PERCENTILES",
    "SCHEMA_VERSION",
    "build_summary",
    "percentile",
    "summary_schema",
    "validate_summary",
]

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0))
NO_ID = "none"
"""Key of the rows whose ``inbox_id`` / ``user_id`` is null."""

_SCHEMA_RESOURCE = "schemas/summary.schema.json"
_MAX_MESSAGE = 200


def percentile(sorted_values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile of ascending values, or ``None`` when there are none.

    Linear interpolation between closest ranks, rank = p/100 × (n−1): numpy's default
    ("linear") method, so the figures can be checked with any data tool.
    """
    if not 0 <= p <= 100:
        raise ValueError(f"percentile {p!r} is not between 0 and 100")
    n = len(sorted_values)
    if n == 0:
        return None
    rank = (n - 1) * (p / 100)
    lower = math.floor(rank)
    if lower >= n - 1:
        return float(sorted_values[-1])
    below = float(sorted_values[lower])
    above = float(sorted_values[lower + 1])
    return below + (above - below) * (rank - lower)


@dataclass(slots=True)
class _Rows:
    """One metric's rows within one scope: ascending values, business-hours values, SLA met."""

    values: list[float]
    business: list[float]  # only the rows whose business-hours value is not null
    met: int = 0


_EMPTY = _Rows([], [])


@dataclass(slots=True)
class _Scope:
    """What one block (overall, one inbox or one agent) is built from."""

    metrics: dict[str, _Rows] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def block(self, targets: SlaTargets) -> dict[str, Any]:
        block: dict[str, Any] = {
            name: _metric(self.metrics.get(name, _EMPTY), targets.target(name), targets.basis)
            for name in DURATION_NAMES
        }
        block["counts"] = {name: self.counts[name] for name in COUNTED_NAMES}
        return block


def _stats(values: list[float]) -> dict[str, float | None]:
    stats: dict[str, float | None] = {"mean": sum(values) / len(values) if values else None}
    for key, p in PERCENTILES:
        stats[key] = percentile(values, p)
    stats["max"] = values[-1] if values else None
    return stats


def _metric(rows: _Rows, target: float | None, basis: str) -> dict[str, Any]:
    count = len(rows.values)
    metric: dict[str, Any] = {"count": count}
    metric.update(_stats(rows.values))
    metric["business_hours"] = _stats(rows.business)
    if target is not None:
        metric["sla"] = {
            "target": target,
            "basis": basis,
            "met": rows.met,
            "breached": count - rows.met,
            "compliance": rows.met / count if count else None,
        }
    return metric


def _merged(runs: Iterable[list[float]]) -> list[float]:
    merged = list(chain.from_iterable(runs))
    merged.sort()  # timsort merges the already-sorted runs in near-linear time
    return merged


@dataclass(slots=True)
class _Sorted:
    """One cell's values in ascending order; ``fallback``: those of rows without business hours."""

    values: list[float]
    business: list[float]
    fallback: list[float]


def _met(cell: _Sorted, target: float, *, on_business_hours: bool) -> int:
    """Rows within ``target``: ``bisect`` in the sorted columns instead of a loop over rows."""
    if on_business_hours:
        # A row without a business-hours value is judged on its calendar value.
        return bisect_right(cell.business, target) + bisect_right(cell.fallback, target)
    return bisect_right(cell.values, target)


@dataclass(slots=True)
class _Scopes:
    """Every block of a summary while it is being measured."""

    overall: _Scope = field(default_factory=_Scope)
    inboxes: defaultdict[int | None, _Scope] = field(default_factory=lambda: defaultdict(_Scope))
    agents: defaultdict[int | None, _Scope] = field(default_factory=lambda: defaultdict(_Scope))


def _add_metric(
    name: str,
    cells: list[tuple[int | None, int | None, _Sorted]],
    *,
    target: float | None,
    business_basis: bool,
    inbox_working_hours: Mapping[int, bool],
    scopes: _Scopes,
) -> None:
    """Measure one duration metric for every scope by merging the sorted runs of its cells."""
    by_inbox: defaultdict[int | None, list[tuple[_Sorted, int]]] = defaultdict(list)
    by_agent: defaultdict[int | None, list[tuple[_Sorted, int]]] = defaultdict(list)
    for inbox_id, user_id, cell in cells:
        met = 0
        if target is not None:
            on_business_hours = business_basis and (
                inbox_id is None or inbox_working_hours.get(inbox_id, True)
            )
            met = _met(cell, float(target), on_business_hours=on_business_hours)
        by_inbox[inbox_id].append((cell, met))
        by_agent[user_id].append((cell, met))

    inbox_rows = []
    for inbox_id, group in by_inbox.items():
        measured = scopes.inboxes[inbox_id].metrics[name] = _combined(group)
        inbox_rows.append(measured)
    for user_id, group in by_agent.items():
        scopes.agents[user_id].metrics[name] = _combined(group)
    scopes.overall.metrics[name] = _Rows(
        _merged(measured.values for measured in inbox_rows),
        _merged(measured.business for measured in inbox_rows),
        sum(measured.met for measured in inbox_rows),
    )


def _combined(group: list[tuple[_Sorted, int]]) -> _Rows:
    return _Rows(
        _merged(cell.values for cell, _ in group),
        _merged(cell.business for cell, _ in group),
        sum(met for _, met in group),
    )


def _sorted_columns(cell: Columns) -> _Sorted:
    """A cell's values sorted, its business-hours values apart from the rows that lack one."""
    hours = cell.hours
    if None in hours:
        business = [value for value in hours if value is not None]
        fallback = [value for value, h in zip(cell.values, hours, strict=True) if h is None]
        fallback.sort()
    else:
        business = cast("list[float]", hours[:])
        fallback = []
    business.sort()
    return _Sorted(sorted(cell.values), business, fallback)


def _measure_all(
    events: EventSet, targets: SlaTargets, inbox_working_hours: Mapping[int, bool]
) -> _Scopes:
    scopes = _Scopes()
    by_name: defaultdict[str, list[tuple[int | None, int | None, _Sorted]]] = defaultdict(list)
    for (name, inbox_id, user_id), cell in events.cells.items():
        if name in COUNTED_NAMES:
            count = len(cell.ids)
            scopes.overall.counts[name] += count
            scopes.inboxes[inbox_id].counts[name] += count
            scopes.agents[user_id].counts[name] += count
        else:
            by_name[name].append((inbox_id, user_id, _sorted_columns(cell)))
    for name in DURATION_NAMES:
        _add_metric(
            name,
            by_name[name],
            target=targets.target(name),
            business_basis=targets.basis == "business_hours",
            inbox_working_hours=inbox_working_hours,
            scopes=scopes,
        )
    return scopes


def _key(identifier: int | None) -> str:
    return NO_ID if identifier is None else str(identifier)


def _ordered(scopes: dict[int | None, _Scope]) -> list[int | None]:
    """Ids in ascending order, the null id last, so the same day always serialises the same."""
    return sorted(scopes, key=lambda i: (i is None, i or 0))


def _previous(previous: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if previous is None:
        return None
    try:
        return {"date": previous["date"], "overall": previous["overall"]}
    except KeyError as exc:
        raise VerificationError(
            [f"the previous day's summary has no {exc.args[0]!r}: it is not a summary.json"]
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
    previous: Mapping[str, Any] | None,
    generated_at: datetime,
) -> dict[str, Any]:
    """The ``summary.json`` document (schema_version 1) of one account-day.

    ``previous`` is the previous day's stored summary, or ``None``; only its date and overall
    block are kept, so summaries never nest. Inboxes and agents missing from the name maps
    (deleted, departed) still get their rows, with ``name`` null. On the business-hours basis an
    inbox counts as having working hours unless ``inbox_working_hours`` says it has none.
    """
    kept = events.kept
    scopes = _measure_all(events, targets, inbox_working_hours)
    summary: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "account_id": account_id,
        "account_name": account_name,
        "date": window.day.isoformat(),
        "timezone": window.timezone,
        "window": {"since": window.since, "until": window.until},
        "generated_at": utc_text(generated_at, name="generated_at"),
        "source": {
            "base_url": base_url,
            "events": kept,
            "pages": pages,
            "complete": complete,
            "missing": missing,
            "ignored": events.ignored.as_dict(),
        },
        "overall": scopes.overall.block(targets),
        "by_inbox": _named_blocks(scopes.inboxes, inbox_names, targets),
        "by_agent": _named_blocks(scopes.agents, agent_names, targets),
        "previous": _previous(previous),
    }
    logger.debug(
        "summarised %d events of account %d on %s into %d inboxes and %d agents",
        kept,
        account_id,
        summary["date"],
        len(scopes.inboxes),
        len(scopes.agents),
    )
    return summary


def _named_blocks(
    scopes: dict[int | None, _Scope], names: Mapping[int, str], targets: SlaTargets
) -> dict[str, dict[str, Any]]:
    blocks: dict[str, dict[str, Any]] = {}
    for identifier in _ordered(scopes):
        name = None if identifier is None else names.get(identifier)
        blocks[_key(identifier)] = {"name": name, **scopes[identifier].block(targets)}
    return blocks


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json``, shipped inside the package (loaded once)."""
    import json
    from importlib.resources import files

    text = files(__package__).joinpath(_SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Validator:
    # jsonschema is imported here, not at module level: the digest Lambda's cold start
    # should not pay for it unless a summary is actually validated.
    from jsonschema import Draft202012Validator

    schema = summary_schema()
    Draft202012Validator.check_schema(schema)
    validator: Validator = Draft202012Validator(schema)
    return validator


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _problems(errors: Iterable[Any]) -> list[str]:
    return sorted(f"{error.json_path}: {_short(error.message)}" for error in errors)


def validate_summary(doc: Mapping[str, Any]) -> None:
    """Check ``doc`` against the schema; raise :class:`VerificationError` listing every error.

    Each problem names its JSON path (``$.by_inbox['3'].reply_time.p90: ...``), so a reader of a
    hand-edited or foreign summary knows what to fix.
    """
    problems = _problems(_validator().iter_errors(doc))
    if problems:
        raise VerificationError(problems)
