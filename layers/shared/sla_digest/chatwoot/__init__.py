"""Reading a Chatwoot account: its reporting events for a window, complete, and its context.

Owns everything that talks to Chatwoot or interprets its answers: the records handed back
(``records``), the one place that decides which event rows count (``events``), requests with
their auth, retries, pacing and error messages (``transport``, ``pacing``), and the page plan
with its completeness search (``paging``), behind the :class:`ChatwootClient` facade.

The names below are loaded on first use: importing ``sla_digest.chatwoot.events`` (the summary
does) must not pull in ``requests``, which only a job that fetches needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.chatwoot.events import EventSet, ReportingEvent, classify_rows
    from sla_digest.chatwoot.limits import RetryPolicy
    from sla_digest.chatwoot.records import (
        AccountContext,
        Agent,
        FetchResult,
        FetchStats,
        Inbox,
        Page,
        PageInfo,
        SlaPolicy,
    )

__all__ = [
    "AccountContext",
    "Agent",
    "ChatwootClient",
    "EventSet",
    "FetchResult",
    "FetchStats",
    "Inbox",
    "Page",
    "PageInfo",
    "ReportingEvent",
    "RetryPolicy",
    "SlaPolicy",
    "classify_rows",
]

# Where each exported name is defined; imported when first asked for (PEP 562).
_HOMES: dict[str, str] = {
    "AccountContext": "records",
    "Agent": "records",
    "ChatwootClient": "client",
    "EventSet": "events",
    "FetchResult": "records",
    "FetchStats": "records",
    "Inbox": "records",
    "Page": "records",
    "PageInfo": "records",
    "ReportingEvent": "events",
    "RetryPolicy": "limits",
    "SlaPolicy": "records",
    "classify_rows": "events",
}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
