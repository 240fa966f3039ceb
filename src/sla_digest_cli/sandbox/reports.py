"""Chatwoot's own v2 summary report, computed from the sandbox's rows as Chatwoot does.

``GET /api/v2/accounts/{id}/reports/summary`` lets the tests compare the digest's means with
the numbers Chatwoot would show for the same day (plain means over event rows, bucketed by
``created_at``; see the API notes on how Chatwoot computes its reports).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from sla_digest_cli.sandbox.params import ServerFault, epoch_param, ruby_to_i, truthy

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sla_digest_cli.sandbox.data import Dataset, EventView

__all__ = ["summary_report"]

type _Keep = Callable[[dict[str, Any]], bool]


def summary_report(dataset: Dataset, query: Mapping[str, str]) -> tuple[int, Any]:
    """Status and JSON document of the summary report for ``query``.

    Raises :class:`~sla_digest_cli.sandbox.params.ServerFault` where Chatwoot answers 500 (a
    non-numeric ``since``, an unknown report ``type``).
    """
    report_type = query.get("type") or "account"
    business = truthy(query.get("business_hours", query.get("enable_business_hours")))
    since = epoch_param(query, "since")
    until = epoch_param(query, "until")
    keep: _Keep
    if report_type == "account":
        keep = lambda row: True  # noqa: E731
    elif report_type in ("agent", "inbox"):
        wanted = ruby_to_i(query.get("id", ""))
        known = (
            {agent["id"] for agent in dataset.agents}
            if report_type == "agent"
            else {inbox["id"] for inbox in dataset.inboxes}
        )
        if wanted not in known:
            return 404, {"error": "Resource could not be found"}
        column = "user_id" if report_type == "agent" else "inbox_id"
        keep = lambda row: row[column] == wanted  # noqa: E731
    else:
        raise ServerFault("type")
    view = dataset.view()
    current = _summary_block(view, since, until, keep, business)
    if since is not None and until is not None:
        previous = _summary_block(view, since - (until - since), since, keep, business)
    else:
        previous = _summary_block(view, None, None, keep, business)
    return 200, {**current, "previous": previous}


def _mean(values: list[float]) -> float | int:
    # Chatwoot answers 0 (not null) when there is nothing to average.
    return math.fsum(values) / len(values) if values else 0


def _summary_block(
    view: EventView, since: int | None, until: int | None, keep: _Keep, business: bool
) -> dict[str, Any]:
    """Chatwoot's summary over the rows created in ``[since, until)``; no window, no rows."""
    rows: list[dict[str, Any]] = []
    if since is not None and until is not None:
        start, end = view.window(since, until)
        rows = [row for row in view.rows[start:end] if keep(row)]
    column = "value_in_business_hours" if business else "value"
    values: dict[str, list[float]] = {
        "first_response": [],
        "conversation_resolved": [],
        "reply_time": [],
    }
    conversations = set()
    for row in rows:
        if row["conversation_id"] is not None:
            conversations.add(row["conversation_id"])
        bucket = values.get(row["name"])
        if bucket is not None and row[column] is not None:
            bucket.append(row[column])
    resolutions = sum(1 for row in rows if row["name"] == "conversation_resolved")
    reply_time = _mean(values["reply_time"])
    return {
        "conversations_count": len(conversations),
        "avg_first_response_time": _mean(values["first_response"]),
        "avg_resolution_time": _mean(values["conversation_resolved"]),
        "resolutions_count": resolutions,
        "reply_time": reply_time,
        "avg_reply_time": reply_time,
    }
