"""Asking Chatwoot for display ids: the per-conversation endpoint behind the link search.

:func:`resolve_display_ids` runs :func:`~sla_digest.chatwoot.links.search_display_ids` over
``GET /conversations/{display_id}/reporting_events``, each round's questions on as many
threads as the transport allows in flight, within a request budget that holds however the
transport retries (:class:`CappedRun`). A 404 is an answer (the display id does not exist);
401, retries running out and the budget each end the search with a reason, never an error:
the rows it did not reach are shown without links. Callers use
``ChatwootClient.resolve_display_ids``.

Uses the transport only through its public methods.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot.limits import RunState, Stopped
from sla_digest.chatwoot.links import Answer, LinkMap, Probed, SearchStopped, search_display_ids
from sla_digest.chatwoot.listing import get_optional
from sla_digest.chatwoot.records import BadBody, is_int
from sla_digest.exceptions import AuthenticationError, ChatwootError, DeadlineExceeded

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

    from sla_digest.chatwoot.transport import Transport

__all__ = [
    "ROUND_WIDTH",
    "CappedRun",
    "LinkSearch",
    "parse_conversation_events",
    "resolve_display_ids",
]

logger = logging.getLogger(__name__)

ROUND_WIDTH = 4
"""Display ids asked about at once."""


def parse_conversation_events(body: bytes) -> frozenset[int]:
    """The conversation ids of a per-conversation events answer (a bare array of events)."""
    try:
        doc = json.loads(body)
    except ValueError as exc:
        raise BadBody("body is not JSON") from exc
    if not isinstance(doc, list):
        raise BadBody("body is not a JSON array of events")
    return frozenset(
        row["conversation_id"]
        for row in doc
        if isinstance(row, dict) and is_int(row.get("conversation_id"))
    )


class CappedRun(RunState):
    """A run that allows at most ``cap`` requests, however the transport retries.

    The transport begins every attempt through its run, throttled (429) ones included; each
    attempt takes one of the ``cap`` places under a lock, so the budget holds with requests in
    flight on several threads and while Chatwoot refuses every request.
    """

    def __init__(self, cap: int, **options: Any) -> None:
        super().__init__(budget=min(cap, 10), **options)
        self.cap = cap
        self._places = threading.Lock()
        self._taken = 0

    def begin_attempt(self) -> None:
        super().begin_attempt()
        with self._places:
            if self._taken >= self.cap:
                raise Stopped
            self._taken += 1


@dataclass(frozen=True, slots=True)
class LinkSearch:
    """What a search learned and cost: ``links`` includes what was known before it."""

    links: LinkMap
    requests: int
    budget: int
    throttled: int = 0
    stopped: str | None = None  # why it ended early, in words for the digest

    def displays(self) -> Mapping[int, int]:
        return self.links.displays()


class _Chatwoot:
    """A :class:`Prober` over the per-conversation endpoint: a batch on ``pool``'s threads."""

    def __init__(
        self, transport: Transport, run: CappedRun, account_id: int, pool: ThreadPoolExecutor
    ) -> None:
        self._transport = transport
        self._run = run
        self._account = account_id
        self._pool = pool

    @property
    def spent(self) -> int:
        return self._run.stats.requests

    def __call__(self, displays: Sequence[int]) -> Probed:
        futures = {display: self._pool.submit(self._one, display) for display in displays}
        answers: dict[int, Answer] = {}
        stopped: str | None = None
        for display, future in futures.items():
            try:
                answers[display] = future.result()
            except SearchStopped as exc:
                stopped = stopped or str(exc)
        return Probed(answers, stopped)

    def _one(self, display: int) -> Answer:
        try:
            answer = get_optional(
                self._transport,
                self._run,
                self._account,
                f"conversations/{display}/reporting_events",
                {},
                f"the reporting events of conversation {display}",
                parse_conversation_events,
            )
        except Stopped as exc:
            raise SearchStopped(f"the budget of {self._run.cap} requests was spent") from exc
        except DeadlineExceeded as exc:
            raise SearchStopped("the run's time for links ran out") from exc
        except AuthenticationError as exc:
            raise SearchStopped(
                f"Chatwoot refused the per-conversation reporting events (HTTP 401): {exc}"
            ) from exc
        except ChatwootError as exc:
            raise SearchStopped(str(exc)) from exc
        return None if answer is None else answer[1]


def resolve_display_ids(
    transport: Transport,
    run: CappedRun,
    account_id: int,
    wanted: Sequence[int],
    *,
    known: LinkMap | None,
    hints: Iterable[int] = (),
) -> LinkSearch:
    """Search for the display ids of ``wanted`` within ``run.cap`` requests (see module)."""
    links = LinkMap(dict(known.pairs), set(known.blank), set(known.missing)) if known else LinkMap()
    # Four questions a round: measured on the sandbox, wider rounds find fewer links with the
    # same budget (each round's questions cannot learn from one another).
    width = min(ROUND_WIDTH, transport.concurrency)
    with ThreadPoolExecutor(max_workers=width, thread_name_prefix="chatwoot-links") as pool:
        prober = _Chatwoot(transport, run, account_id, pool)
        stopped = search_display_ids(
            prober, wanted, links, budget=run.cap, hints=hints, width=width
        )
    found = links.displays()
    resolved = sum(1 for internal in set(wanted) if internal in found)
    logger.info(
        "account %d: %d of %d conversations linked with %d requests%s",
        account_id,
        resolved,
        len(set(wanted)),
        run.stats.requests,
        f" ({stopped})" if stopped else "",
    )
    return LinkSearch(
        links=links,
        requests=run.stats.requests,
        budget=run.cap,
        throttled=run.stats.throttled,
        stopped=stopped,
    )
