"""A week's or month's archived days, read back for a report without asking Chatwoot.

A day counts as archived once its manifest is written. Its pages are read in batches, each
checked against the manifest by the same pass ``verify`` makes (:func:`check_day`), and
classified as they come, so a day's bodies are never held all at once and a month is read one
day after another. A day whose archive disagrees with its manifest is refused with a
:class:`VerificationError` naming the day and the problem; nothing is written over it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.archive.day import DayArchive
from sla_digest.archive.verify import ArchivedEvents, check_day
from sla_digest.chatwoot.records import AccountContext, BadBody
from sla_digest.exceptions import ArchiveError, ResponseError, VerificationError
from sla_digest.report.acting import Sources

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

    from sla_digest.archive.store import Archive
    from sla_digest.chatwoot.events import EventSet
    from sla_digest.report.periods import Period

__all__ = ["ArchivedDay", "PeriodDays", "merged_context"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ArchivedDay:
    """One archived day's kept events and what its manifest says about them."""

    day: date
    events: EventSet
    pages: int
    complete: bool
    missing: int


class PeriodDays:
    """The days of one account's period in an archive, and reading each of them back."""

    def __init__(
        self, store: Archive, account_id: int, period: Period, *, prefix: str = ""
    ) -> None:
        self.store = store
        self.account_id = account_id
        self.period = period
        self.archives = {
            day: DayArchive(store, account_id, day, prefix=prefix) for day in period.dates()
        }
        # What each day archived for its conversations to act on, read with its context.
        self.sources: dict[date, Sources] = {}

    def label(self, day: date) -> str:
        return f"account {self.account_id} {day.isoformat()}"

    def manifest(self, day: date) -> dict[str, Any] | None:
        """The day's manifest, ``None`` when it is not archived (no manifest: never finished).

        A manifest that cannot be read is a :class:`VerificationError` naming the day.
        """
        try:
            return self.archives[day].manifest()
        except ArchiveError as exc:
            raise self._refused(day, [str(exc)]) from exc

    def context(self, manifests: Mapping[date, Mapping[str, Any]]) -> AccountContext | None:
        """The account's names and policies as the archived days saw them, later days winning.

        The same read of each day's resources fills :attr:`sources` (CSAT, SLA misses, links);
        a day whose record of them is unusable is left out of it, with a warning, and its
        figures still count.
        """
        found: list[AccountContext] = []
        for day in sorted(manifests):
            try:
                bodies = self.archives[day].resources(manifests[day])
                found.append(AccountContext.from_raw(bodies))
            except (ArchiveError, ResponseError) as exc:
                raise self._refused(day, [str(exc)]) from exc
            try:
                sources = Sources.from_resources(bodies)
            except BadBody as exc:
                logger.warning("%s: its CSAT, SLA and link record is not usable (%s)", day, exc)
                continue
            if sources is not None:
                self.sources[day] = sources
        return merged_context(found)

    def read(self, day: date, manifest: Mapping[str, Any]) -> ArchivedDay:
        """The day's events from its pages, each checked against the manifest as it is read.

        Call :meth:`context` first: it reads and checks the days' resources, which this does
        not read again.
        """
        read = ArchivedEvents.for_manifest(manifest, details=False)
        if read is None:
            raise self._refused(day, ["its manifest has no usable window"])
        if read.window.day != day:
            raise self._refused(day, [f"its manifest is for {read.window.day}"])
        # The resources were read and checked with the context (:meth:`context`).
        problems = check_day(
            self.archives[day], manifest=manifest, on_page=read.add, resources=False
        )
        if read.unreadable:
            problems.append(f"archived page {read.unreadable[0]} is not a Chatwoot page")
        if problems:
            raise self._refused(day, problems)
        logger.debug("%s: %d events read from the archive", self.label(day), read.events.kept)
        return ArchivedDay(
            day=day,
            events=read.events,
            pages=len(manifest.get("pages") or ()),
            complete=bool(manifest.get("complete", True)),
            missing=int(manifest.get("missing", 0) or 0),
        )

    def _refused(self, day: date, problems: list[str]) -> VerificationError:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        return VerificationError(
            [
                f"{self.label(day)} fails verification and is refused: {first}{more}; "
                "run `sla-digest verify` on the archive, nothing was overwritten"
            ]
        )


def merged_context(contexts: list[AccountContext]) -> AccountContext | None:
    """One context from several days' (oldest first): later names and policies win."""
    if not contexts:
        return None
    inboxes: dict[Any, Any] = {}
    agents: dict[Any, Any] = {}
    for context in contexts:
        inboxes.update(context.inboxes)
        agents.update(context.agents)
    latest = contexts[-1]
    return AccountContext(
        inboxes=inboxes, agents=agents, sla_policies=latest.sla_policies, raw=latest.raw
    )
