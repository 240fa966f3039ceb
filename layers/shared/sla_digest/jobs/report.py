"""One account's weekly or monthly report: archived days → summary → digest → delivery.

Every day of the period is read from the archive; an archived day (one with a manifest) is
never fetched again. A day that is not archived is fetched and archived first, exactly as a
daily run would (pages, manifest, summary, digest), but nothing is delivered for it; a day that
cannot be had (not over yet, no Chatwoot to ask, or Chatwoot refuses) is named in
``source.missing_days`` and the report is marked incomplete. A day whose archive disagrees
with its manifest stops the report: it is named, and nothing is written.

The Lambda digest handler (through :func:`process_report_job`) and the CLI's ``report`` (through
:func:`run_account_period`) share this path, as they share :mod:`sla_digest.jobs.run` for days.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sla_digest.archive.day import DayArchive
from sla_digest.archive.report import ReportArchive
from sla_digest.config import SLA_METRICS, SlaTargets, targets_with_policy
from sla_digest.delivery.channel import Delivery, Message
from sla_digest.exceptions import (
    ArchiveError,
    ChatwootError,
    ConfigError,
    TimeLimitTooShort,
    WindowError,
)
from sla_digest.jobs.job import DayRequest, JobOutcome, delivery_status
from sla_digest.jobs.run import Ports, deliver, delivered, run_account_day
from sla_digest.report.periods import Period, period_of, period_window
from sla_digest.window import report_window

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence
    from datetime import date
    from pathlib import Path

    from sla_digest.archive.period import PeriodDays
    from sla_digest.archive.store import Archive
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.chatwoot.records import AccountContext
    from sla_digest.config import AccountConfig
    from sla_digest.delivery.channel import Channel, Receipt
    from sla_digest.jobs.job import DigestJob
    from sla_digest.jobs.run import JobServices
    from sla_digest.report.render import Digest
    from sla_digest.report.summary import Summary

__all__ = [
    "ReportPorts",
    "ReportRequest",
    "ReportResult",
    "process_report_job",
    "run_account_period",
]

logger = logging.getLogger(__name__)
_FINISH_SECONDS = 30.0  # the summary over the period, rendering, archiving and delivery


def _utc_now() -> datetime:
    return datetime.now(tz=UTC)


@dataclass(frozen=True, slots=True)
class ReportRequest:
    """Everything one account's report needs, however it was configured.

    ``base_url`` and ``account_name`` default to those of the latest archived day's summary;
    with ``day_targets`` so do the SLA targets the request leaves unset (the CLI's default:
    the report judges by the targets its days were judged by).
    """

    account_id: int
    timezone: str
    period: Period
    base_url: str | None = None
    account_name: str | None = None
    targets: SlaTargets = field(default_factory=SlaTargets)
    sla_policy: str | None = None
    fallback_targets: SlaTargets | None = None
    recipients: tuple[str, ...] = ()
    day_targets: bool = False
    breach_list_size: int = 10

    @classmethod
    def for_account(cls, account: AccountConfig, period: Period) -> ReportRequest:
        return cls(
            account_id=account.account_id,
            timezone=account.timezone,
            period=period,
            base_url=account.base_url,
            account_name=account.name,
            targets=account.explicit_targets,
            sla_policy=account.sla_policy,
            fallback_targets=account.default_targets,
            recipients=tuple(account.recipients),
            breach_list_size=account.breach_list_size,
        )

    def day_request(self, day: date) -> DayRequest:
        """The request of one of the period's days, to fetch and archive it."""
        if self.base_url is None:
            raise ConfigError(f"account {self.account_id}: no Chatwoot URL to fetch {day} from")
        return DayRequest(
            account_id=self.account_id,
            base_url=self.base_url,
            timezone=self.timezone,
            day=day,
            account_name=self.account_name,
            targets=self.targets,
            sla_policy=self.sla_policy,
            fallback_targets=self.fallback_targets,
        )


@dataclass(frozen=True, slots=True)
class ReportPorts:
    """The adapters a report talks through. Without ``connect`` missing days are not fetched."""

    store: Archive
    templates_dir: Path
    prefix: str = ""
    connect: Callable[[], ChatwootClient] | None = None
    channels: Sequence[Channel] = ()
    clock: Callable[[], datetime] = _utc_now
    remaining_ms: Callable[[], int] | None = None


@dataclass(frozen=True, slots=True)
class ReportResult:
    """What one report produced: ``fetched`` days were archived for it, ``missing`` not had."""

    summary: Summary
    digest: Digest
    archive: ReportArchive
    receipts: tuple[Receipt, ...] = ()
    fetched: tuple[date, ...] = ()
    missing: tuple[date, ...] = ()


def run_account_period(
    request: ReportRequest,
    ports: ReportPorts,
    *,
    force: bool = False,
    allow_partial: bool = False,
) -> ReportResult:
    """Build, archive, render and deliver (to ``ports.channels``) one account's report."""
    # Loaded on first use, as jobs.run loads the client and renderer: not at cold start.
    from sla_digest.archive.period import PeriodDays
    from sla_digest.jobs.follow_up import breaches_attachment
    from sla_digest.report.period_summary import PeriodRows
    from sla_digest.report.render import render_digest
    from sla_digest.report.summary import validate_summary

    now = ports.clock()
    period = request.period
    window = period_window(period, request.timezone, now=now, allow_partial=allow_partial)
    label = f"account {request.account_id} {period.kind} {period.start}"
    days = PeriodDays(ports.store, request.account_id, period, prefix=ports.prefix)
    manifests: dict[date, dict[str, Any]] = {}
    absent: list[date] = []
    for day in period.dates():
        found = days.manifest(day)
        if found is None:
            absent.append(day)
        else:
            manifests[day] = found
    logger.info("%s: %d days archived, %d not", label, len(manifests), len(absent))
    fetched, missing = _fetch_missing(absent, request, ports, now)
    for day in fetched:
        archived = days.manifest(day)
        if archived is None:  # run_account_day writes it last; without it the day is not had
            missing.append(day)
        else:
            manifests[day] = archived
    context = days.context(manifests)
    latest = _latest_summary(days, sorted(manifests, reverse=True))
    targets = _targets(request, context, latest)
    gathered = PeriodRows(period, targets, _working_hours(context))
    started, ordered = time.monotonic(), sorted(manifests)
    for done, day in enumerate(ordered):
        _check_time(ports.remaining_ms, label, done, len(ordered), time.monotonic() - started)
        read = days.read(day, manifests[day])
        gathered.add_day(
            day,
            read.events,
            pages=read.pages,
            complete=read.complete,
            missing=read.missing,
            sources=days.sources.get(day),
        )
        del read  # one day's rows at a time
    for day in sorted(missing):
        gathered.add_missing(day)
    report = ReportArchive(ports.store, request.account_id, period, prefix=ports.prefix)
    previous = ReportArchive(
        ports.store, request.account_id, period.previous(), prefix=ports.prefix
    ).summary()
    summary = gathered.summary(
        account_id=request.account_id,
        account_name=request.account_name or (latest or {}).get("account_name"),
        window=window,
        base_url=_base_url(request, latest, label),
        **_names(context),
        previous=previous,
        generated_at=now,
        list_size=request.breach_list_size,
    )
    document = summary.to_dict()
    validate_summary(document)
    report.write_summary(document)
    raw = ports.store.uri(f"{ports.prefix}raw/account_id={request.account_id}/")
    digest = render_digest(summary, templates_dir=ports.templates_dir, archive_location=raw)
    breaches = breaches_attachment(
        gathered.worst_first(),
        gathered.merged_sources(),
        base_url=summary.source.base_url,
        account_id=request.account_id,
        context=context,
    )
    digest = replace(digest, attachments=(*digest.attachments, breaches))
    report.write_digest(digest.html, digest.text, digest.csv)
    report.write_file(breaches.filename, breaches.data, content_type="text/csv; charset=utf-8")
    logger.info("%s: summary and digest written to %s", label, report.location())
    receipts = deliver(
        Message(digest=digest, summary=summary),
        Delivery(request.account_id, period.start, period=period.kind, force=force),
        channels=ports.channels,
        archive=report,
        now=now,
    )
    return ReportResult(
        summary=summary,
        digest=digest,
        archive=report,
        receipts=receipts,
        fetched=tuple(day for day in fetched if day in manifests),
        missing=tuple(sorted(missing)),
    )


def _check_time(
    remaining_ms: Callable[[], int] | None, label: str, done: int, days: int, elapsed: float
) -> None:
    """Stop a report that cannot finish in the invocation's time, before Lambda kills it.

    After each day read, the days left are estimated at the pace so far, plus a margin for the
    summary, the digest and delivery. Reading archived days is pure CPU and S3 reads, so a
    retry would take as long: the error is permanent and names the fix.
    """
    if remaining_ms is None or done == 0:
        return
    left = remaining_ms() / 1000
    needed = elapsed / done * (days - done) + _FINISH_SECONDS
    if left < needed:
        raise TimeLimitTooShort(
            f"{label}: its {days} archived days need about {needed:.0f} s more and "
            f"{left:.0f} s are left ({done} read in {elapsed:.0f} s): give the digest function "
            "more memory (parameter DigestMemorySize: CPU grows with it), then run the report "
            "by hand (sla-digest invoke --period)"
        )


def _fetch_missing(
    absent: Sequence[date], request: ReportRequest, ports: ReportPorts, now: datetime
) -> tuple[list[date], list[date]]:
    """Fetch and archive the days not archived yet, without delivering them.

    Returns the days fetched and those that cannot be had: not over yet, nothing to fetch
    with, or refused by Chatwoot (each logged with the reason).
    """
    wanted: list[date] = []
    missing: list[date] = []
    for day in absent:
        try:
            report_window(day, request.timezone, now=now)
        except WindowError:
            logger.info("account %d %s: not over yet; left out", request.account_id, day)
            missing.append(day)
        else:
            wanted.append(day)
    if not wanted:
        return [], missing
    if ports.connect is None or request.base_url is None:
        logger.warning(
            "account %d: %d days are not archived and no Chatwoot is given to fetch them",
            request.account_id,
            len(wanted),
        )
        return [], [*missing, *wanted]
    fetched: list[date] = []
    with ports.connect() as client:
        for day in wanted:
            archive = DayArchive(ports.store, request.account_id, day, prefix=ports.prefix)
            day_ports = Ports(
                client=client,
                archive=archive,
                templates_dir=ports.templates_dir,
                clock=ports.clock,
                remaining_ms=ports.remaining_ms,
            )
            try:
                run_account_day(
                    request.day_request(day), day_ports, previous=_day_before(archive, ports)
                )
            except ChatwootError as exc:
                logger.warning("account %d %s cannot be fetched: %s", request.account_id, day, exc)
                missing.append(day)
            else:
                logger.info("account %d %s: fetched and archived", request.account_id, day)
                fetched.append(day)
    return fetched, missing


def _day_before(archive: DayArchive, ports: ReportPorts) -> dict[str, Any] | None:
    """The previous day's summary for a fetched day's trend, if archived and readable."""
    before = DayArchive(
        ports.store, archive.account_id, archive.day - timedelta(days=1), prefix=ports.prefix
    )
    try:
        return before.summary()
    except ArchiveError:
        return None


def _latest_summary(days: PeriodDays, newest_first: Sequence[date]) -> dict[str, Any] | None:
    """The newest archived day's summary.json that reads, for names and the Chatwoot URL."""
    for day in newest_first:
        try:
            found = days.archives[day].summary()
        except ArchiveError:
            continue
        if found is not None:
            return found
    return None


def _targets(
    request: ReportRequest, context: AccountContext | None, latest: Mapping[str, Any] | None
) -> SlaTargets:
    fallback = request.fallback_targets
    if request.day_targets and latest is not None:
        from sla_digest.archive.verify import targets_from_summary
        from sla_digest.report.summary import Summary

        fallback = targets_from_summary(Summary.from_dict(latest))
        explicit = request.targets
        if all(explicit.target(metric) is None for metric in SLA_METRICS):
            return fallback  # the days' targets whole, their basis included
    policy = request.sla_policy if context is not None else None
    return targets_with_policy(
        request.targets,
        policy,
        context.sla_policies if context is not None else (),
        label=f"account {request.account_id}",
        fallback=fallback,
    )


def _working_hours(context: AccountContext | None) -> dict[int, bool]:
    if context is None:
        return {}
    return {i: box.working_hours_enabled for i, box in context.inboxes.items()}


def _names(context: AccountContext | None) -> dict[str, Any]:
    if context is None:
        return {"inbox_names": {}, "agent_names": {}}
    return {
        "inbox_names": {i: box.name for i, box in context.inboxes.items() if box.name is not None},
        "agent_names": {i: a.name for i, a in context.agents.items() if a.name is not None},
    }


def _base_url(request: ReportRequest, latest: Mapping[str, Any] | None, label: str) -> str:
    if request.base_url is not None:
        return request.base_url
    source = (latest or {}).get("source")
    if isinstance(source, dict) and isinstance(source.get("base_url"), str):
        return str(source["base_url"])
    raise ConfigError(f"{label}: no archived day names its Chatwoot URL; give the base URL")


# --------------------------------------------------------------------------------------------
# The Lambda's unit of work
# --------------------------------------------------------------------------------------------


def process_report_job(
    job: DigestJob, services: JobServices, *, lambda_context: Any = None
) -> JobOutcome:
    """The digest Lambda's unit of work for a ``week`` or ``month`` job.

    Exactly once per account × period × start: a delivered report is skipped unless ``force``;
    one built and archived complete but not delivered (its send failed) is sent from the
    archive without reading the days again.
    """
    started = time.monotonic()
    if job.period == "day":
        raise ValueError("a day's job is run by jobs.run.process_job")
    account = services.load_config().account(job.account_id)
    period = period_of(job.day, job.period, account.week_start)
    if period.start != job.day:
        raise ConfigError(
            f"job date {job.day} is not the first day of its {job.period} ({period.start}, "
            f"week_start {account.week_start})"
        )
    report = ReportArchive(services.store, job.account_id, period)
    if not job.force and delivered(report):
        logger.info("report already delivered; nothing to do", extra=_extra(job))
        return JobOutcome(job.account_id, job.day.isoformat(), "skipped", period=job.period)
    # "deliver": false builds and archives the report only.
    channels = services.channels(account, lambda_context, period=job.period) if job.deliver else ()
    if not job.force and job.deliver:
        archived = _deliver_archived(job, report, channels=channels, services=services)
        if archived is not None:
            return replace(archived, seconds=time.monotonic() - started)
    result = run_account_period(
        ReportRequest.for_account(account, period),
        ReportPorts(
            store=services.store,
            templates_dir=services.templates_dir,
            connect=lambda: services.connect(account),
            channels=channels,
            clock=services.clock,
            remaining_ms=getattr(lambda_context, "get_remaining_time_in_millis", None),
        ),
        force=job.force,
    )
    source = result.summary.source
    return JobOutcome(
        account_id=job.account_id,
        date=job.day.isoformat(),
        status=delivery_status(result.receipts),
        events=source.events,
        pages=source.pages,
        complete=source.complete,
        seconds=time.monotonic() - started,
        period=job.period,
    )


def _deliver_archived(
    job: DigestJob, report: ReportArchive, *, channels: Sequence[Channel], services: JobServices
) -> JobOutcome | None:
    """Send a report that was built complete but not delivered, from its archived summary."""
    from sla_digest.report.render import render_digest
    from sla_digest.report.summary import Summary

    stored = report.summary()
    if stored is None or not stored.get("source", {}).get("complete"):
        return None
    summary = Summary.from_dict(stored)
    logger.info("delivering the archived report; its days are not read again", extra=_extra(job))
    raw = services.store.uri(f"raw/account_id={job.account_id}/")
    digest = render_digest(summary, templates_dir=services.templates_dir, archive_location=raw)
    receipts = deliver(
        Message(digest=digest, summary=summary),
        Delivery(job.account_id, report.period.start, period=report.period.kind),
        channels=channels,
        archive=report,
        now=services.clock(),
    )
    return JobOutcome.from_archive(job, summary, receipts)


def _extra(job: DigestJob) -> dict[str, Any]:
    return {
        "account_id": job.account_id,
        "period": job.period,
        "date": job.day.isoformat(),
        "force": job.force,
    }
