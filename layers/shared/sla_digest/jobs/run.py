"""One account-day, end to end: fetch → archive → summary → render → deliver.

The Lambda digest handler (through :func:`process_job`) and the CLI (through
:func:`run_account_day`) share this path, so a local run is a faithful rehearsal of production.
Every adapter (the Chatwoot client, the archive, the channels, the clock) is built at the edge
and handed in: :class:`Ports` for one run, :class:`JobServices` for the Lambda's jobs.

The Chatwoot client (and with it requests), the summary and the renderer are imported by the
functions that use them, so the digest handler's cold start does not pay for them, and a job
that finds its day already delivered never loads them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.config import targets_with_policy
from sla_digest.delivery.channel import Delivery, Message
from sla_digest.exceptions import (
    DeadlineExceeded,
    DeliveryRejected,
    DeliveryUnavailable,
    SlaDigestError,
    is_retryable,
)
from sla_digest.jobs.job import DayRequest, DigestJob, JobOutcome, RunResult, delivery_status
from sla_digest.window import Window, report_window, utc_text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from concurrent.futures import Future
    from pathlib import Path

    from sla_digest.archive.day import DayArchive
    from sla_digest.archive.store import Archive
    from sla_digest.chatwoot.client import ChatwootClient, Page
    from sla_digest.config import AccountConfig, Config
    from sla_digest.delivery.channel import Channel, Receipt
    from sla_digest.jobs.failure import FingerprintOf
    from sla_digest.report.render import Digest

__all__ = [
    "DELIVERY_MARKER",
    "JobServices",
    "Markers",
    "Ports",
    "deliver",
    "delivered",
    "process_job",
    "run_account_day",
]

logger = logging.getLogger(__name__)

DELIVERY_MARKER = "delivery.json"
# Stop fetching while this much of the Lambda's time is left: enough to write what is in flight.
_DEADLINE_MARGIN_MS = 30_000


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


class ChannelsOf(Protocol):
    """An account's exactly-once channels for the running invocation and a period (``day``,
    ``week``, ``month``): a channel whose ``periods`` leave that digest out is not among them."""

    def __call__(
        self, account: AccountConfig, lambda_context: Any, period: str = "day"
    ) -> Sequence[Channel]: ...


class Markers(Protocol):
    """Where a digest's delivery marker lives: a day's archive or a week's or month's report."""

    def write_marker(self, name: str, data: bytes) -> None: ...

    def read_marker(self, name: str) -> bytes | None: ...


@dataclass(frozen=True, slots=True)
class Ports:
    """The adapters one account-day run talks through, built by the handler or the CLI.

    ``channels`` are already exactly-once where that matters; none means nothing is delivered.
    ``remaining_ms`` is the Lambda's time budget; ``progress(done, total)`` sees pages arrive.
    """

    client: ChatwootClient
    archive: DayArchive
    templates_dir: Path
    channels: Sequence[Channel] = ()
    clock: Callable[[], datetime] = _utc_now
    remaining_ms: Callable[[], int] | None = None
    progress: Callable[[int, int], None] | None = None


@dataclass(frozen=True, slots=True)
class JobServices:
    """What the digest Lambda's jobs need from outside, built once per cold start.

    ``connect`` opens a Chatwoot client for an account (it reads the account's token);
    ``channels`` gives an account's exactly-once channels for the running invocation (and a
    period: a weekly job gets the channels that take weekly digests);
    ``fingerprint`` reads what a fix of a permanent failure would change (none: failures are
    not recorded in the archive).
    """

    store: Archive
    load_config: Callable[[], Config]
    connect: Callable[[AccountConfig], ChatwootClient]
    channels: ChannelsOf
    templates_dir: Path
    clock: Callable[[], datetime] = _utc_now
    fingerprint: FingerprintOf | None = None


def _query(account_id: int, window: Window) -> dict[str, Any]:
    return {
        "path": f"/api/v1/accounts/{account_id}/reporting_events",
        "since": window.since,
        "until": window.until,
    }


def run_account_day(
    request: DayRequest,
    ports: Ports,
    *,
    previous: Mapping[str, Any] | None = None,
    force: bool = False,
    allow_partial: bool = False,
) -> RunResult:
    """Fetch, archive, summarise, render and deliver (to ``ports.channels``) one account-day.

    Pages reach the archive the moment they arrive and the manifest is written last, so a run
    that dies — or stops early when ``remaining_ms`` runs short — resumes where it stopped.
    While the fetch waits on Chatwoot, a thread loads the renderer and the summary's schema
    the run ends with (about a fifth of a second of imports and template compiling).
    """
    from concurrent.futures import ThreadPoolExecutor

    current = ports.clock()
    window = report_window(request.day, request.timezone, now=current, allow_partial=allow_partial)
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="prepare-render") as beside:
        preparing = beside.submit(_prepare, ports.templates_dir)
        return _run_day(request, ports, window, current, preparing, previous=previous, force=force)


def _prepare(templates_dir: Path) -> None:
    """Import and build what the end of the run needs, while the fetch waits on Chatwoot."""
    from sla_digest.report.render import prepare_renderer
    from sla_digest.report.schema import prepare_validator

    prepare_validator()
    prepare_renderer(templates_dir)


def _run_day(
    request: DayRequest,
    ports: Ports,
    window: Window,
    current: datetime,
    preparing: Future[None],
    *,
    previous: Mapping[str, Any] | None,
    force: bool,
) -> RunResult:
    """:func:`run_account_day` once the renderer is being prepared."""
    from sla_digest.chatwoot.client import Page
    from sla_digest.dataset import write_day
    from sla_digest.jobs.follow_up import cached_links, gather_follow_up

    archive = ports.archive
    label = f"account {request.account_id} {request.day}"
    logger.info("%s: fetching reporting events (%s, %.0f h)", label, window.timezone, window.hours)
    known_links = cached_links(archive)  # a re-run of a finished day asks for no link again
    resumed = [
        Page(p.number, dict(p.params), p.body, p.rows, p.count, p.total_pages)
        for p in archive.start(window=window)
    ]
    if resumed:
        logger.info("resuming from %d archived pages", len(resumed))

    with archive.page_writer() as write:

        def check_time() -> None:
            if ports.remaining_ms is not None and ports.remaining_ms() < _DEADLINE_MARGIN_MS:
                raise DeadlineExceeded(
                    f"account {request.account_id} {request.day}: stopped after "
                    f"{len(archive.entries())} pages to stay inside the time limit; "
                    "the retry resumes from the archive"
                )

        def on_page(page: Page) -> None:
            write(page)
            check_time()

        fetch = ports.client.reporting_events(
            request.account_id,
            window,
            resume=resumed,
            on_page=on_page,
            progress=ports.progress,
            heartbeat=check_time,
            with_context=True,
        )
    logger.info(
        "%s: %d events in %d pages fetched (%d retries)%s",
        label,
        fetch.events.kept,
        len(fetch.pages),
        fetch.stats.retries,
        "" if fetch.complete else f"; INCOMPLETE, {fetch.missing} rows missing",
    )
    context = fetch.context or ports.client.context(request.account_id)
    # Only the pages whose rows make up the result are listed; pages of a pass discarded
    # because the data changed under it would contradict the manifest, so they go.
    listed = {info.number for info in fetch.pages}
    archive.discard_pages(e.page for e in archive.entries() if e.page not in listed)
    targets = targets_with_policy(
        request.targets,
        request.sla_policy,
        context.sla_policies,
        label=f"account {request.account_id}",
        fallback=request.fallback_targets,
    )
    remaining_ms = ports.remaining_ms
    follow_up = gather_follow_up(
        ports.client,
        request,
        window,
        fetch.events,
        targets,
        context,
        known=known_links,
        # The link search keeps the margin the fetch keeps, for the rest of the run.
        seconds_left=None
        if remaining_ms is None
        else lambda: (remaining_ms() - _DEADLINE_MARGIN_MS) / 1000,
    )
    bodies = {**context.raw, **follow_up.resources()}
    archive.prune_resources(bodies)
    resources = {name: archive.write_resource(name, body) for name, body in bodies.items()}
    archive.write_manifest(
        window=window,
        query=_query(request.account_id, window),
        meta={"count": fetch.meta_count},
        pages=archive.entries(),
        resources=resources,
        fetched_at=current,
        complete=fetch.complete,
        missing=fetch.missing,
    )
    write_day(archive, fetch.events, context)  # the events dataset (design §16)
    logger.info("%s: pages, manifest and events dataset archived at %s", label, archive.location())
    # Imported only now: the thread beside the fetch imports them meanwhile, and the fetch
    # must not wait for that import's lock.
    from sla_digest.report.render import render_digest
    from sla_digest.report.summary import build_summary, validate_summary

    preparing.result()  # done long ago, in practice

    summary = build_summary(
        account_id=request.account_id,
        account_name=request.account_name,
        window=window,
        base_url=request.base_url,
        events=fetch.events,
        pages=len(fetch.pages),
        complete=fetch.complete,
        missing=fetch.missing,
        targets=targets,
        **context.summary_names(),
        previous=previous,
        generated_at=current,
        follow_up=follow_up.section(request, window, context),
        scopes=follow_up.scopes,
    )
    document = summary.to_dict()
    validate_summary(document)
    archive.write_summary(document)
    digest = render_digest(
        summary, templates_dir=ports.templates_dir, archive_location=archive.location()
    )
    breaches = follow_up.attachment(request, context)
    archive.write_attachment(breaches.filename, breaches.data)
    digest = replace(digest, attachments=(*digest.attachments, breaches))
    archive.write_digest(digest.html, digest.text)
    logger.info("%s: summary and digest written (%.1f KB of HTML)", label, len(digest.html) / 1024)
    receipts = deliver(
        Message(digest=digest, summary=summary),
        Delivery(account_id=request.account_id, start=request.day, force=force),
        channels=ports.channels,
        archive=archive,
        now=current,
    )
    return RunResult(summary=summary, digest=digest, fetch=fetch, receipts=receipts)


def deliver(
    message: Message,
    delivery: Delivery,
    *,
    channels: Sequence[Channel],
    archive: Markers,
    now: datetime,
) -> tuple[Receipt, ...]:
    """Hand the digest to each channel on its own, then record that the digest went out.

    A failing channel never stops the others: every channel is tried, and only then does one
    error name the failed ones (a retryable one when any of them may succeed later). The
    channels are exactly-once, so the queue's retry delivers only what failed. The delivery
    marker is written only when every channel delivered.
    """
    receipts: list[Receipt] = []
    failures: list[tuple[str, BaseException]] = []
    for channel in channels:
        try:
            receipt = channel.deliver(message, delivery)
        except SlaDigestError as exc:
            failures.append((channel.kind, exc))
            # Reported with the others' outcome below; the queue's retry or a person acts on it.
            logger.info("%s: %s not delivered: %s", delivery.label(), channel.kind, exc)
            continue
        except Exception as exc:
            # A bug in one channel must not cost the others their delivery; it is raised below.
            if len(channels) > 1:
                logger.exception("%s: %s failed unexpectedly", delivery.label(), channel.kind)
            failures.append((channel.kind, exc))
            continue
        receipts.append(receipt)
        state = "already delivered earlier" if receipt.duplicate else "delivered"
        logger.info(
            "%s: %s by %s (%s)", delivery.label(), state, receipt.channel, receipt.message_id
        )
    if failures:
        if len(channels) == 1:
            raise failures[0][1]  # the only channel: its own error is the answer
        raise _failed(delivery, failures, receipts, total=len(channels)) from failures[0][1]
    if receipts:
        marker = {
            "account_id": delivery.account_id,
            **({} if delivery.period == "day" else {"period": delivery.period}),
            "date": delivery.start.isoformat(),
            "channels": [receipt.as_dict() for receipt in receipts],
            "recorded_at": utc_text(now, name="now"),
        }
        archive.write_marker(DELIVERY_MARKER, json.dumps(marker, indent=2).encode())
    return tuple(receipts)


def _failed(
    delivery: Delivery,
    failures: Sequence[tuple[str, BaseException]],
    receipts: Sequence[Receipt],
    *,
    total: int,
) -> SlaDigestError:
    """One error naming the failed channels: retryable if any may succeed on a later attempt."""
    names = ", ".join(kind for kind, _ in failures)
    reasons = "; ".join(f"{kind}: {exc}" for kind, exc in failures)
    done = ", ".join(receipt.channel for receipt in receipts)
    delivered_text = f"; delivered by {done}, which a retry does not repeat" if done else ""
    text = (
        f"{delivery.label()}: {len(failures)} of {total} channels failed ({names}): "
        f"{reasons}{delivered_text}"
    )
    if any(is_retryable(exc) for _, exc in failures):
        return DeliveryUnavailable(text)
    return DeliveryRejected(text)


def delivered(archive: Markers) -> bool:
    """Whether this digest was already sent (its delivery marker exists)."""
    return archive.read_marker(DELIVERY_MARKER) is not None


def process_job(job: DigestJob, services: JobServices, *, lambda_context: Any = None) -> JobOutcome:
    """The digest Lambda's unit of work: one account-day from ``accounts.json``.

    ``lambda_context`` is the running invocation's (its remaining time bounds the fetch and
    the in-progress lease of a delivery); without one nothing stops the run early. A job with
    ``deliver`` false archives and summarises only: no channel is built, no marker written.
    """
    from sla_digest.archive.day import DayArchive  # on first use, not at cold start

    started = time.monotonic()
    account = services.load_config().account(job.account_id)
    day_archive = DayArchive(services.store, job.account_id, job.day)
    if not job.force and delivered(day_archive):
        logger.info("digest already delivered; nothing to do", extra=_job_extra(job))
        return JobOutcome(job.account_id, job.day.isoformat(), "skipped")
    if not job.deliver:
        channels: Sequence[Channel] = ()
        if not job.force and _complete_summary(day_archive) is not None:
            logger.info("day already archived; nothing to do", extra=_job_extra(job))
            return JobOutcome(job.account_id, job.day.isoformat(), "skipped")
    else:
        channels = services.channels(account, lambda_context)
        if not job.force:
            archived = _deliver_archived(job, day_archive, channels=channels, services=services)
            if archived is not None:
                return replace(archived, seconds=time.monotonic() - started)
    previous = DayArchive(services.store, job.account_id, job.day - timedelta(days=1)).summary()
    remaining = getattr(lambda_context, "get_remaining_time_in_millis", None)
    with services.connect(account) as client:
        ports = Ports(
            client=client,
            archive=day_archive,
            templates_dir=services.templates_dir,
            channels=channels,
            clock=services.clock,
            remaining_ms=remaining,
        )
        result = run_account_day(
            DayRequest.for_account(account, job.day), ports, previous=previous, force=job.force
        )
    stats = result.fetch.stats
    return JobOutcome(
        account_id=job.account_id,
        date=job.day.isoformat(),
        status=delivery_status(result.receipts),
        events=result.fetch.events.kept,
        pages=len(result.fetch.pages),
        retries=stats.retries,
        complete=result.fetch.complete,
        seconds=time.monotonic() - started,
    )


def _complete_summary(day: DayArchive) -> dict[str, Any] | None:
    """The archived summary of a day whose fetch finished complete, else ``None``."""
    manifest = day.manifest()
    return day.summary() if manifest is not None and manifest.get("complete") else None


def _deliver_archived(
    job: DigestJob, day: DayArchive, *, channels: Sequence[Channel], services: JobServices
) -> JobOutcome | None:
    """Send a day that was fully archived but not delivered (its send failed), without Chatwoot.

    A retry after SES throttled or rejected the message would otherwise fetch the whole day
    again; the archived summary renders to the same digest byte for byte. An incomplete day is
    fetched again instead, in case the gap has closed.
    """
    from sla_digest.report.render import render_digest
    from sla_digest.report.summary import Summary

    stored = _complete_summary(day)
    if stored is None:
        return None
    summary = Summary.from_dict(stored)
    logger.info(
        "delivering the archived digest; Chatwoot is not asked again", extra=_job_extra(job)
    )
    digest = render_digest(
        summary, templates_dir=services.templates_dir, archive_location=day.location()
    )
    digest = _with_archived_attachments(digest, day)
    receipts = deliver(
        Message(digest=digest, summary=summary),
        Delivery(account_id=job.account_id, start=job.day),
        channels=channels,
        archive=day,
        now=services.clock(),
    )
    return JobOutcome.from_archive(job, summary, receipts)


def _with_archived_attachments(digest: Digest, day: DayArchive) -> Digest:
    """The digest with the ``breaches.csv`` the first attempt archived, if it did."""
    from sla_digest.report.breaches import CSV_FILENAME
    from sla_digest.report.render import Attachment

    data = day.attachment(CSV_FILENAME)
    if data is None:
        return digest
    return replace(digest, attachments=(*digest.attachments, Attachment(CSV_FILENAME, data)))


def _job_extra(job: DigestJob) -> dict[str, Any]:
    return {"account_id": job.account_id, "date": job.day.isoformat(), "force": job.force}
