"""The sandbox's endpoints for acting on breaches: per-conversation events, CSAT, missed SLAs.

Answered as Chatwoot 4.15 does (``chatwoot-api.md``, "Endpoints for acting on breaches"):

* ``GET /conversations/{display_id}/reporting_events``: a bare array, oldest first; 404 for a
  display id that does not exist or was deleted; ``[]`` for a conversation without events;
* ``GET /csat_survey_responses``: a bare array, 25 a page, ``since``/``until`` applied to the
  conversation's creation; ``…/metrics``: counts and surveys sent;
* ``GET /applied_slas``: missed SLAs, 25 a page, ``since``/``until`` on when they were applied,
  ``meta`` without ``total_pages``.

The per-conversation events and missed SLAs are enterprise endpoints (404 before 4.8). Tests
switch an endpoint off (:attr:`FollowUpEndpoints.absent`, 404), forbid it
(:attr:`FollowUpEndpoints.forbidden`, 401) or queue statuses for its next answers
(:meth:`FollowUpEndpoints.queue`: 401, 404, 429, 500). The data comes from
:mod:`~sla_digest_cli.sandbox.conversations`, built once per dataset.
"""

from __future__ import annotations

import re
import threading
from collections import Counter, deque
from typing import TYPE_CHECKING, Any

from sla_digest_cli.sandbox.conversations import Conversations, build_conversations, window_slice
from sla_digest_cli.sandbox.data import PER_PAGE
from sla_digest_cli.sandbox.faults import RETRY_LATER, SERVER_ERROR
from sla_digest_cli.sandbox.httpd import HTML, JSON, NOT_FOUND_PAGE
from sla_digest_cli.sandbox.params import ServerFault, epoch_param, ruby_to_i

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sla_digest_cli.sandbox.data import Dataset
    from sla_digest_cli.sandbox.httpd import Handler
    from sla_digest_cli.sandbox.options import SandboxOptions

__all__ = ["ENDPOINTS", "ENTERPRISE", "FollowUpEndpoints", "follow_up_route"]

ENDPOINTS = frozenset({"conversation_events", "csat", "csat_metrics", "applied_slas"})
ENTERPRISE = frozenset({"conversation_events", "applied_slas"})
_ROUTE = re.compile(
    r"^/api/v1/accounts/(?P<account>[^/]+)/(?:"
    r"conversations/(?P<display>[^/]+)/reporting_events"
    r"|(?P<csat>csat_survey_responses)(?P<metrics>/metrics)?"
    r"|(?P<applied>applied_slas))(?:\.json)?/?$"
)
_NOT_FOUND = {"error": "Resource could not be found"}


def follow_up_route(path: str) -> tuple[str, str] | None:
    """``(endpoint, account)`` of one of these endpoints' paths, else ``None``."""
    match = _ROUTE.match(path)
    if match is None:
        return None
    if match.group("display") is not None:
        return "conversation_events", match.group("account")
    if match.group("csat") is not None:
        return ("csat_metrics" if match.group("metrics") else "csat"), match.group("account")
    return "applied_slas", match.group("account")


class FollowUpEndpoints:
    """Answers the endpoints above for a :class:`~sla_digest_cli.sandbox.server.SandboxServer`."""

    def __init__(
        self,
        dataset: Callable[[], Dataset],
        options: SandboxOptions,
        pause: Callable[[float], None],
    ) -> None:
        self._dataset = dataset
        self._options = options
        self._pause = pause
        self._lock = threading.Lock()
        self._built: tuple[Dataset, Conversations] | None = None
        self._queued: dict[str, deque[int]] = {}
        self.absent: set[str] = set()
        """Endpoints answering 404, as an older Chatwoot or a switched-off feature does."""
        self.forbidden: set[str] = set()
        """Endpoints answering 401 (the token's user may not read them)."""
        self.requests: Counter[str] = Counter()
        """Requests per endpoint, answered or refused."""

    def data(self) -> Conversations:
        """The conversations behind the current dataset (built on first use)."""
        dataset = self._dataset()
        with self._lock:
            if self._built is None or self._built[0] is not dataset:
                self._built = (dataset, build_conversations(dataset, self._options.seed))
            return self._built[1]

    def queue(self, endpoint: str, *statuses: int) -> None:
        """Answer the next requests to ``endpoint`` with these statuses, in order."""
        if endpoint not in ENDPOINTS:
            raise ValueError(f"unknown endpoint {endpoint!r}; use one of {sorted(ENDPOINTS)}")
        with self._lock:
            self._queued.setdefault(endpoint, deque()).extend(statuses)

    def _forced(self, endpoint: str) -> int | None:
        with self._lock:
            waiting = self._queued.get(endpoint)
            return waiting.popleft() if waiting else None

    def answer(self, handler: Handler, endpoint: str, query: Mapping[str, str]) -> int:
        """Answer one authorised request to ``endpoint``."""
        self.requests[endpoint] += 1
        self._pause(self._options.latency)
        forced = self._forced(endpoint)
        if forced == 429:
            return handler.send(429, RETRY_LATER, "text/plain")
        if forced == 500:
            return handler.send(500, SERVER_ERROR, JSON)
        if forced == 401 or endpoint in self.forbidden:
            return handler.send_json(401, {"error": "You are not authorized to do this action"})
        enterprise = endpoint in ENTERPRISE and not self._options.has_reporting_api
        if forced == 404 or endpoint in self.absent or enterprise:
            return handler.send(404, NOT_FOUND_PAGE, HTML)
        try:
            status, document = self._document(handler.path, endpoint, query)
        except ServerFault:
            return handler.send(500, SERVER_ERROR, JSON)
        return handler.send_json(status, document)

    def _document(self, path: str, endpoint: str, query: Mapping[str, str]) -> tuple[int, Any]:
        data = self.data()
        if endpoint == "conversation_events":
            match = _ROUTE.match(path.partition("?")[0])
            raw = match.group("display") if match else ""
            conversation = data.by_display.get(int(raw)) if raw.isdigit() else None
            if conversation is None or conversation.deleted:
                return 404, _NOT_FOUND
            return 200, conversation.events
        since, until = epoch_param(query, "since"), epoch_param(query, "until")
        page = max(1, ruby_to_i(query.get("page") or "1"))
        if endpoint == "applied_slas":
            rows = window_slice(data.applied, since, until)
            start = (page - 1) * PER_PAGE
            shown = ruby_to_i(query["page"]) if "page" in query else 1
            return 200, {
                "payload": rows[start : start + PER_PAGE],
                "meta": {"count": len(rows), "current_page": shown},
            }
        responses = window_slice(data.csat, since, until)
        if endpoint == "csat":
            start = (page - 1) * PER_PAGE
            return 200, responses[start : start + PER_PAGE]
        ratings = Counter(str(row["rating"]) for row in responses)
        sent = sum(
            1 for at in data.surveys_sent if since is None or until is None or since <= at < until
        )
        return 200, {
            "total_count": len(responses),
            "ratings_count": dict(sorted(ratings.items())),
            "total_sent_messages_count": sent,
        }
