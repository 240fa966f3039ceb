"""Rows over their SLA target: found once in the day's columns, ranked, and written as CSV.

:func:`select_breaches` judges every row exactly as the summary's SLA count does (design §6:
``value``; on the business-hours basis ``value_in_business_hours``, falling back to ``value``
for an inbox without working hours or a row without a business-hours value), so the number
of breaches of a metric is its ``sla.breached``: the rule is
:func:`~sla_digest.report.measure.rows_over`, beside the count it must agree with. The rows
over target are best noted by ``measure(..., over_target=True)`` while it sorts each cell
(the values are still in the CPU cache then); a record is built only for those rows.

Worst first means: the value judged, descending; ties by ``created_at``, then event id.
``created_at`` is kept as UTC text with milliseconds (Chatwoot's own form, converted only
when a row uses another), which orders the same as the instants it names.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from itertools import repeat
from operator import itemgetter
from typing import TYPE_CHECKING, Any, NamedTuple

from sla_digest.report.measure import judged_on_business_hours, rows_over
from sla_digest.report.metrics import METRIC_KEYS

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sla_digest.chatwoot.events import CellKey, EventSet
    from sla_digest.config import SlaTargets

__all__ = [
    "CSV_COLUMNS",
    "CSV_FILENAME",
    "Breach",
    "breaches_csv",
    "link_priority",
    "rank",
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


class Breach(NamedTuple):
    """One row over its target; ``value`` is the figure judged against ``target``.

    A named tuple: a busy day has thousands of rows over target, and this is built for each.
    """

    metric: str
    value: float
    target: float
    inbox_id: int | None
    user_id: int | None
    conversation_ref: int | None
    created_at: str | None  # ISO-8601 UTC with milliseconds, which sorts as it reads
    event_id: int


def rank(breach: Breach) -> tuple[float, str, int]:
    """Worst first: value descending, then the earlier ``created_at``, then the event id."""
    return (-breach.value, breach.created_at or _LAST, breach.event_id)


_LAST = "\uffff"  # a row without a time sorts after every time


def utc_millis(text: str | None) -> str | None:
    """``created_at`` as the summary writes it: UTC, milliseconds, ``Z`` (``None`` if unusable).

    Chatwoot's own form (``2026-06-16T09:01:36.412Z``) is that already and is kept as it is;
    any other ISO-8601 form is converted, so every time compares correctly as text.
    """
    if text is None:
        return None
    if len(text) == 24 and text[23] == "Z" and text[10] == "T" and text[19] == ".":
        return text
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    utc = moment.astimezone(UTC).replace(tzinfo=None)
    return utc.isoformat(timespec="milliseconds") + "Z"


def _picker(positions: Sequence[int]) -> Callable[[Sequence[Any]], Sequence[Any]]:
    """A function that takes the items at ``positions`` out of a column, as a sequence."""
    if len(positions) == 1:
        only = positions[0]
        return lambda column: (column[only],)
    return itemgetter(*positions)


def select_breaches(
    events: EventSet,
    targets: SlaTargets,
    inbox_working_hours: Mapping[int, bool],
    *,
    over: Mapping[CellKey, list[int]] | None = None,
) -> dict[str, list[Breach]]:
    """Every row over its target, worst first, for each metric that has a target.

    ``over`` is what ``measure(..., over_target=True)`` noted (``Scopes.over``) while it
    sorted the same cells; without it each duration cell is read here, once.
    """
    on_business_basis = targets.basis == "business_hours"
    found: dict[str, list[Breach]] = {}
    limits: dict[str, float] = {}
    for metric in METRIC_KEYS:
        target = targets.target(metric)
        if target is not None:
            found[metric], limits[metric] = [], float(target)
    for key, cell in events.cells.items():
        name, inbox_id, user_id = key
        rows = found.get(name)
        if rows is None:
            continue
        target = limits[name]
        business = judged_on_business_hours(on_business_basis, inbox_id, inbox_working_hours)
        positions = (
            over.get(key, ())
            if over is not None
            else rows_over(cell, target, on_business_hours=business)
        )
        if not positions:
            continue
        # Gathered with itemgetter and zipped in C: a busy day has thousands of these rows.
        pick = _picker(positions)
        values = pick(cell.values)
        if business:
            values = [v if h is None else h for v, h in zip(values, pick(cell.hours), strict=True)]
        rows.extend(
            map(
                Breach._make,
                zip(
                    repeat(name),
                    values,
                    repeat(target),
                    repeat(inbox_id),
                    repeat(user_id),
                    pick(cell.conversations),
                    map(utc_millis, pick(cell.created)),
                    pick(cell.ids),
                    strict=False,
                ),
            )
        )
    for rows in found.values():
        rows.sort(key=rank)
    return found


def link_priority(breaches: Mapping[str, Sequence[Breach]], shown: int) -> list[int]:
    """Conversations to find links for, most wanted first: the ``shown`` worst of each metric
    rank by rank, then every other row over a target, worst first."""
    order: list[int] = []
    for place in range(shown):
        for rows in breaches.values():
            ref = rows[place].conversation_ref if place < len(rows) else None
            if ref is not None:
                order.append(ref)
    rest = sorted((row for rows in breaches.values() for row in rows[shown:]), key=rank)
    order += [row.conversation_ref for row in rest if row.conversation_ref is not None]
    return list(dict.fromkeys(order))


def _number(value: float) -> str:
    """Seconds as the digest's CSV writes them: at most three decimals, no trailing zeros."""
    if value.is_integer():
        return str(int(value))  # Chatwoot's values are whole seconds in practice
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

    UTF-8 with a byte-order mark, like the digest's CSV. The cells that come from Chatwoot or
    the configuration (names, links) pass ``neutralise``, so a name that starts like a
    formula stays text in a spreadsheet; the others are numbers, ids and ISO times.
    """
    every = [row for rows in breaches.values() for row in rows]
    # Each distinct name, link and number is worked out once; the rows only look them up.
    inboxes = {key: neutralise(inbox_name(key)) for key in {row.inbox_id for row in every}}
    agents = {key: neutralise(agent_name(key)) for key in {row.user_id for row in every}}
    links: dict[int | None, tuple[str, str, str]] = {}
    for ref in {row.conversation_ref for row in every}:
        display, url = link(ref)
        shown = "" if display is None else str(display)
        links[ref] = ("" if ref is None else str(ref), shown, neutralise(url or ""))
    numbers = {value: _number(value) for value in {row.value for row in every}}
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for metric, rows in breaches.items():
        target = _number(rows[0].target) if rows else ""
        writer.writerows(
            (
                metric,
                numbers[row.value],
                target,
                inboxes[row.inbox_id],
                agents[row.user_id],
                *links[row.conversation_ref],
                row.created_at or "",
            )
            for row in rows
        )
    return buffer.getvalue().encode("utf-8-sig")
