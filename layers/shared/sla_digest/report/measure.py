"""The arithmetic under the summary: sorted value runs per scope, percentiles, SLA counts.

The events arrive as columns per (name, inbox, agent) cell (``EventSet.cells``, filled while
the rows were classified), so nothing here loops over events in Python: each cell's values are
sorted once, SLA compliance is a binary search in them, and the inbox, agent and overall lists
are merged from the cells' sorted runs. :mod:`sla_digest.report.summary` turns the result into
the typed summary.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import chain
from typing import TYPE_CHECKING, cast

from sla_digest.report.metrics import COUNT_KEYS, METRIC_KEYS

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sla_digest.chatwoot.events import CellKey, Columns, EventSet
    from sla_digest.config import SlaTargets

__all__ = [
    "PERCENTILES",
    "Rows",
    "Scope",
    "Scopes",
    "judged_on_business_hours",
    "measure",
    "percentile",
    "rows_over",
]

PERCENTILES: tuple[tuple[str, float], ...] = (("p50", 50.0), ("p90", 90.0), ("p95", 95.0))


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
class Rows:
    """One metric's rows within one scope: ascending values, business-hours values, SLA met."""

    values: list[float]
    business: list[float]  # only the rows whose business-hours value is not null
    met: int = 0


EMPTY = Rows([], [])


@dataclass(slots=True)
class Scope:
    """What one block (overall, one inbox or one agent) is built from."""

    metrics: dict[str, Rows] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)

    def rows(self, key: str) -> Rows:
        return self.metrics.get(key, EMPTY)


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


def judged_on_business_hours(
    business_basis: bool, inbox_id: int | None, inbox_working_hours: Mapping[int, bool]
) -> bool:
    """Whether a cell's rows are judged on their business-hours value (design §6): on that
    basis, unless the inbox is known to have no working hours."""
    return business_basis and (inbox_id is None or inbox_working_hours.get(inbox_id, True))


def rows_over(cell: Columns, target: float, *, on_business_hours: bool) -> list[int]:
    """Positions of a cell's rows over ``target``, judged as :func:`_met` counts them met."""
    if on_business_hours:
        hours, values = cell.hours, cell.values
        return [
            at
            for at, value in enumerate(hours)
            if (values[at] if value is None else value) > target
        ]
    return [at for at, value in enumerate(cell.values) if value > target]


def _met(cell: _Sorted, target: float, *, on_business_hours: bool) -> int:
    """Rows within ``target``: ``bisect`` in the sorted columns instead of a loop over rows."""
    if on_business_hours:
        # A row without a business-hours value is judged on its calendar value.
        return bisect_right(cell.business, target) + bisect_right(cell.fallback, target)
    return bisect_right(cell.values, target)


@dataclass(slots=True)
class Scopes:
    """Every block of a summary while it is being measured; ``None`` keys are null ids."""

    overall: Scope = field(default_factory=Scope)
    inboxes: defaultdict[int | None, Scope] = field(default_factory=lambda: defaultdict(Scope))
    agents: defaultdict[int | None, Scope] = field(default_factory=lambda: defaultdict(Scope))
    over: dict[CellKey, list[int]] = field(default_factory=dict)
    """With ``measure(..., over_target=True)``: each duration cell's rows over its target."""


def _add_metric(
    name: str,
    cells: list[tuple[int | None, int | None, _Sorted]],
    *,
    target: float | None,
    business_basis: bool,
    inbox_working_hours: Mapping[int, bool],
    scopes: Scopes,
) -> None:
    """Measure one duration metric for every scope by merging the sorted runs of its cells."""
    by_inbox: defaultdict[int | None, list[tuple[_Sorted, int]]] = defaultdict(list)
    by_agent: defaultdict[int | None, list[tuple[_Sorted, int]]] = defaultdict(list)
    for inbox_id, user_id, cell in cells:
        met = 0
        if target is not None:
            on_business_hours = judged_on_business_hours(
                business_basis, inbox_id, inbox_working_hours
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
    scopes.overall.metrics[name] = Rows(
        _merged(measured.values for measured in inbox_rows),
        _merged(measured.business for measured in inbox_rows),
        sum(measured.met for measured in inbox_rows),
    )


def _combined(group: list[tuple[_Sorted, int]]) -> Rows:
    return Rows(
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


def measure(
    events: EventSet,
    targets: SlaTargets,
    inbox_working_hours: Mapping[int, bool],
    *,
    over_target: bool = False,
) -> Scopes:
    """Sorted rows and SLA counts of every metric, and the counted events, for every scope.

    With ``over_target`` it also notes each cell's rows over its target (``Scopes.over``) in
    the same pass: reading a cell's values again later, once they have left the CPU cache,
    costs several times what reading them while they are being sorted does.
    """
    scopes = Scopes()
    by_name: defaultdict[str, list[tuple[int | None, int | None, _Sorted]]] = defaultdict(list)
    business_basis = targets.basis == "business_hours"
    for key, cell in events.cells.items():
        name, inbox_id, user_id = key
        if name in COUNT_KEYS:
            count = len(cell.ids)
            scopes.overall.counts[name] += count
            scopes.inboxes[inbox_id].counts[name] += count
            scopes.agents[user_id].counts[name] += count
            continue
        by_name[name].append((inbox_id, user_id, _sorted_columns(cell)))
        target = targets.target(name) if over_target else None
        if target is not None:
            business = judged_on_business_hours(business_basis, inbox_id, inbox_working_hours)
            scopes.over[key] = rows_over(cell, float(target), on_business_hours=business)
    for name in METRIC_KEYS:
        _add_metric(
            name,
            by_name[name],
            target=targets.target(name),
            business_basis=targets.basis == "business_hours",
            inbox_working_hours=inbox_working_hours,
            scopes=scopes,
        )
    return scopes
