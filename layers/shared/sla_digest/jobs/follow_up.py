"""The run's "conversations to act on" step: read what Chatwoot adds, find links, keep it all.

Between fetching the events and writing the manifest, :func:`gather_follow_up` reads the
day's CSAT responses and missed SLAs, selects the rows over a target, and asks for display
ids within the account's request budget, starting from what an earlier run of the same day
learned (:func:`cached_links`). Everything read is returned as archive resources, so the
manifest lists it and ``verify`` rebuilds the section from the archive. None of it can fail
the run: an endpoint that is missing or forbidden becomes a note in the digest.

:meth:`FollowUpStep.section` builds the summary's section, and
:meth:`FollowUpStep.attachment` makes ``breaches.csv`` (every row over a target).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sla_digest.chatwoot.applied_slas import read_applied_slas
from sla_digest.chatwoot.csat import read_responses
from sla_digest.chatwoot.links import LinkMap
from sla_digest.chatwoot.records import BadBody
from sla_digest.exceptions import ArchiveError
from sla_digest.report.acting import SourceRead, Sources, build_follow_up, conversation_link
from sla_digest.report.breaches import (
    CSV_FILENAME,
    Breach,
    breaches_csv,
    link_priority,
    select_breaches,
)
from sla_digest.report.measure import measure

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from sla_digest.archive.day import DayArchive
    from sla_digest.chatwoot.client import AccountContext, ChatwootClient
    from sla_digest.chatwoot.events import EventSet
    from sla_digest.chatwoot.listing import Listing
    from sla_digest.config import SlaTargets
    from sla_digest.jobs.job import DayRequest
    from sla_digest.report.follow_up import FollowUp
    from sla_digest.report.measure import Scopes
    from sla_digest.report.render import Attachment
    from sla_digest.window import Window

__all__ = ["FollowUpStep", "archived_sources", "cached_links", "gather_follow_up"]

logger = logging.getLogger(__name__)


def _read(listing: Listing) -> SourceRead:
    return SourceRead(
        status=listing.status,
        detail=listing.detail,
        pages=listing.pages,
        extra=listing.extra,
        truncated=listing.truncated,
    )


def _hints(csat: SourceRead, sla: SourceRead) -> list[int]:
    """Display ids known to exist: the conversations of CSAT responses and missed SLAs."""
    found: set[int] = set()
    try:
        if csat.status == "ok":
            found.update(r.display_id for r in read_responses(csat.pages)[0] if r.display_id)
        if sla.status == "ok":
            found.update(a.display_id for a in read_applied_slas(sla.pages) if a.display_id)
    except BadBody:
        return sorted(found)
    return sorted(found)


def archived_sources(archive: DayArchive) -> Sources | None:
    """What a finished day archived for its conversations to act on (``None``: nothing).

    A weekly or monthly report pools its days' with :meth:`Sources.merged`, so it asks
    Chatwoot for nothing again.
    """
    manifest = archive.manifest()
    return None if manifest is None else Sources.from_resources(archive.resources(manifest))


def cached_links(archive: DayArchive) -> LinkMap | None:
    """The display ids an earlier finished run of this day learned (read before it is re-run)."""
    try:
        sources = archived_sources(archive)
    except (ArchiveError, BadBody) as exc:
        logger.info("no usable links from the earlier run of this day: %s", exc)
        return None
    return None if sources is None else sources.links


@dataclass(frozen=True, slots=True)
class FollowUpStep:
    """What the step gathered: the rows over target and the archived :class:`Sources`, and
    the day measured on the way (``scopes``, for ``build_summary``)."""

    breaches: Mapping[str, list[Breach]]
    sources: Sources
    scopes: Scopes

    def resources(self) -> dict[str, bytes]:
        return self.sources.resources()

    def section(self, request: DayRequest, window: Window, context: AccountContext) -> FollowUp:
        return build_follow_up(
            breaches=self.breaches,
            sources=self.sources,
            list_size=request.breach_list_size,
            base_url=request.base_url,
            account_id=request.account_id,
            window=window,
            agent_names=_agent_names(context),
        )

    def attachment(self, request: DayRequest, context: AccountContext) -> Attachment:
        """``breaches.csv``: every row over a target, with its link where one was found."""
        return breaches_attachment(
            self.breaches,
            self.sources,
            base_url=request.base_url,
            account_id=request.account_id,
            context=context,
        )


def breaches_attachment(
    breaches: Mapping[str, Sequence[Breach]],
    sources: Sources,
    *,
    base_url: str,
    account_id: int,
    context: AccountContext | None,
) -> Attachment:
    """``breaches.csv`` of a day or a period: every row over a target, linked where known."""
    from sla_digest.report.render import Attachment, neutralise

    inboxes = {} if context is None else {i: box.name for i, box in context.inboxes.items()}
    agents = {} if context is None else _agent_names(context)
    displays = sources.links.displays()
    url = conversation_link(base_url, account_id)

    def link(ref: int | None) -> tuple[int | None, str | None]:
        display = None if ref is None else displays.get(ref)
        return display, url(display)

    data = breaches_csv(
        breaches,
        inbox_name=lambda i: _name(inboxes.get(i) if i else None, i, "Inbox", "No inbox"),
        agent_name=lambda u: _name(agents.get(u) if u else None, u, "Agent", "Unassigned"),
        link=link,
        neutralise=neutralise,
    )
    return Attachment(CSV_FILENAME, data)


def _agent_names(context: AccountContext) -> dict[int, str]:
    return {i: agent.name for i, agent in context.agents.items() if agent.name is not None}


def _name(found: str | None, key: int | None, noun: str, nobody: str) -> str:
    from sla_digest.report.format import clean_text

    if key is None:
        return nobody
    return clean_text(found) if found else f"{noun} #{key}"


def gather_follow_up(
    client: ChatwootClient,
    request: DayRequest,
    window: Window,
    events: EventSet,
    targets: SlaTargets,
    context: AccountContext,
    *,
    known: LinkMap | None = None,
    seconds_left: Callable[[], float] | None = None,
) -> FollowUpStep:
    """Read CSAT and missed SLAs, select the rows over target and find their links.

    ``seconds_left()`` is the time the run may still spend here: the link search, which is
    best effort, stops when it is up and leaves the rest without links.
    """
    account = request.account_id
    hours = {i: box.working_hours_enabled for i, box in context.inboxes.items()}
    # CSAT and missed SLAs are read on two threads while this one measures the day: one
    # pass over its cells both measures it and notes the rows over target.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="follow-up") as pool:
        reading_csat = pool.submit(client.csat, account, window)
        reading_sla = pool.submit(client.applied_slas, account, window)
        scopes = measure(events, targets, hours, over_target=True)
        breaches = select_breaches(events, targets, hours, over=scopes.over)
        csat, sla = _read(reading_csat.result()), _read(reading_sla.result())
    wanted = link_priority(breaches, request.breach_list_size)
    seconds = None if seconds_left is None else seconds_left()
    stopped: str | None = None
    if wanted and request.link_request_budget <= 0:
        stopped = "the request budget for links is 0"
    elif wanted and seconds is not None and seconds <= 0:
        stopped = "the run had no time left for links"
    if wanted and stopped is None:
        search = client.resolve_display_ids(
            account,
            wanted,
            budget=request.link_request_budget,
            known=known,
            hints=_hints(csat, sla),
            seconds=seconds,
        )
        links, spent, stopped = search.links, search.requests, search.stopped
    else:
        links, spent = known if known is not None else LinkMap(), 0
    logger.info(
        "account %d %s: %s; CSAT %s, SLA misses %s; %d link requests of %d",
        account,
        window.day,
        ", ".join(f"{len(rows)} over {metric}" for metric, rows in breaches.items())
        or "no targets",
        csat.status,
        sla.status,
        spent,
        request.link_request_budget,
    )
    sources = Sources(
        csat=csat,
        sla=sla,
        links=links,
        link_requests=spent,
        link_budget=request.link_request_budget,
        link_stopped=stopped,
    )
    return FollowUpStep(breaches=breaches, sources=sources, scopes=scopes)
