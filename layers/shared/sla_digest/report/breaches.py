"""Rows over their SLA target: found once in the day's columns, ranked, and written as CSV.

:func:`select_breaches` judges every row exactly as the summary's SLA count does (design §6:
``value``; on the business-hours basis ``value_in_business_hours``, falling back to ``value``
for an inbox without working hours or a row without a business-hours value), so the number
of breaches of a metric is its ``sla.breached``. It reads each duration cell's columns once,
in one comprehension, and builds a record only for the rows over the target.

Worst first means: the value judged, descending; ties by ``created_at``, then event id.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sla_digest.report.metrics import METRIC_KEYS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from sla_digest.chatwoot.events import EventSet
    from sla_digest.config import SlaTargets

__all__ = [
    "CSV_COLUMNS",
    "CSV_FILENAME",
    "Breach",
    "breaches_csv",
    "link_priority",
    "select_breaches",
    "utc_millis",
]

CSV_FILENAME = "breaches.csv"
CSV_COLUMNS: tuple[str, ...] = (
    "metric",
    "value_seconds",
    "target_seconds",
    "inbox",
    "agent",
    "conversation_ref",
    "display_id",
    "url",
    "created_at",
)


@dataclass(frozen=True, slots=True)
class Breach:
    """One row over its target. ``value`` is the figure judged; ``instant`` orders ties."""

    metric: str
    value: float
    target: float
    inbox_id: int | None
    user_id: int | None
    conversation_ref: int | None
    created_at: str | None  # ISO-8601 UTC with milliseconds
    event_id: int
    instant: float

    def rank(self) -> tuple[float, float, int]:
        return (-self.value, self.instant, self.event_id)


def utc_millis(text: str | None) -> tuple[str | None, float]:
    """``created_at`` as the summary writes it (UTC, milliseconds, ``Z``) and its instant.

    A missing time sorts last.
    """
    if text is None:
        return None, math.inf
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None, math.inf
    if moment.tzinfo is None:
        return None, math.inf
    utc = moment.astimezone(UTC)
    return utc.replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z", utc.timestamp()


def select_breaches(
    events: EventSet, targets: SlaTargets, inbox_working_hours: Mapping[int, bool]
) -> dict[str, list[Breach]]:
    """Every row over its target, worst first, for each metric that has a target."""
    on_business_basis = targets.basis == "business_hours"
    found: dict[str, list[Breach]] = {}
    limits: dict[str, float] = {}
    for key in METRIC_KEYS:
        target = targets.target(key)
        if target is not None:
            found[key], limits[key] = [], float(target)
    for (name, inbox_id, user_id), cell in events.cells.items():
        rows = found.get(name)
        if rows is None:
            continue
        target = limits[name]
        business = on_business_basis and (
            inbox_id is None or inbox_working_hours.get(inbox_id, True)
        )
        judged: Sequence[float] = (
            [
                value if hours is None else hours
                for value, hours in zip(cell.values, cell.hours, strict=True)
            ]
            if business
            else cell.values
        )
        over = [at for at, value in enumerate(judged) if value > target]
        for at in over:
            created, instant = utc_millis(cell.created[at])
            rows.append(
                Breach(
                    metric=name,
                    value=judged[at],
                    target=target,
                    inbox_id=inbox_id,
                    user_id=user_id,
                    conversation_ref=cell.conversations[at],
                    created_at=created,
                    event_id=cell.ids[at],
                    instant=instant,
                )
            )
    for rows in found.values():
        rows.sort(key=Breach.rank)
    return found


def link_priority(breaches: Mapping[str, Sequence[Breach]], shown: int) -> list[int]:
    """Conversations to find links for, most wanted first: the ``shown`` worst of each metric
    rank by rank, then every other row over a target, worst first."""
    order: list[int] = []
    for rank in range(shown):
        for rows in breaches.values():
            if rank < len(rows) and rows[rank].conversation_ref is not None:
                order.append(rows[rank].conversation_ref)  # type: ignore[arg-type]
    rest = sorted((row for rows in breaches.values() for row in rows[shown:]), key=Breach.rank)
    order += [row.conversation_ref for row in rest if row.conversation_ref is not None]
    return list(dict.fromkeys(order))


def _number(value: float) -> str:
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return text or "0"


def breaches_csv(
    breaches: Mapping[str, Sequence[Breach]],
    *,
    inbox_name: Callable[[int | None], str],
    agent_name: Callable[[int | None], str],
    link: Callable[[int | None], tuple[int | None, str | None]],
    neutralise: Callable[[str], str],
) -> bytes:
    """``breaches.csv``: every row over a target (not only the worst), metric by metric.

    UTF-8 with a byte-order mark, like the digest's CSV; every cell passes ``neutralise`` so a
    name that starts like a formula stays text in a spreadsheet.
    """
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for metric, rows in breaches.items():
        for row in rows:
            display, url = link(row.conversation_ref)
            cells: Iterable[str] = (
                metric,
                _number(row.value),
                _number(row.target),
                inbox_name(row.inbox_id),
                agent_name(row.user_id),
                "" if row.conversation_ref is None else str(row.conversation_ref),
                "" if display is None else str(display),
                url or "",
                row.created_at or "",
            )
            writer.writerow([neutralise(cell) for cell in cells])
    return buffer.getvalue().encode("utf-8-sig")
