"""One account-day, end to end: fetch → archive → summary → render → deliver.

The Lambda digest handler (through :func:`process_job`) and the CLI (through
:func:`run_account_day`) share this path, so a local run is a faithful rehearsal of production.

The Chatwoot client (and with it requests), the summary and the renderer are imported by the
functions that use them, so the digest handler's cold start does not pay for them, and a job
that finds its day already delivered never loads them.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sla_digest.archive.store import DayArchive
from sla_digest.config import SlaTargets, targets_with_policy
from sla_digest.exceptions import ConfigError, DeadlineExceeded, VerificationError, WindowError
from sla_digest.window import Window, parse_date, report_window, utc_text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping
    from pathlib import Path

    from sla_digest.aws import AwsClients
    from sla_digest.chatwoot.client import AccountContext, ChatwootClient, FetchResult, Page
    from sla_digest.config import AccountConfig, Settings
    from sla_digest.delivery.email import DeliveryResult, Mailer
    from sla_digest.report.render import Digest

__all__ = [
    "DELIVERY_MARKER",
    "ArchivedEvents",
    "DayRequest",
    "DigestJob",
    "JobOutcome",
    "RunResult",
    "delivered",
    "process_job",
    "rebuild_summary",
    "run_account_day",
    "targets_from_summary",
]

logger = logging.getLogger(__name__)

DELIVERY_MARKER = "delivery.json"
# Stop fetching while this much of the Lambda's time is left: enough to write what is in flight.
_DEADLINE_MARGIN_MS = 30_000


@dataclass(frozen=True, slots=True)
class DigestJob:
    """One SQS message: deliver the digest of ``day`` for ``account_id``."""

    account_id: int
    day: date
    force: bool = False

    @classmethod
    def from_body(cls, body: str) -> DigestJob:
        """Parse a job body; anything else is a :class:`ConfigError` naming the problem."""
        try:
            data = json.loads(body)
        except (TypeError, ValueError, RecursionError) as exc:
            # RecursionError: a body nested thousands of levels deep is not a job either.
            raise ConfigError("job body is not JSON: expected {account_id, date, force}") from exc
        if not isinstance(data, dict):
            raise ConfigError("job body must be a JSON object with account_id and date")
        unknown = set(data) - {"account_id", "date", "force"}
        if unknown:
            raise ConfigError(f"job body has unknown keys: {', '.join(sorted(unknown))}")
        account_id = data.get("account_id")
        if not isinstance(account_id, int) or isinstance(account_id, bool) or account_id <= 0:
            raise ConfigError(f"job account_id must be a positive integer, not {account_id!r}")
        raw_date = data.get("date")
        if not isinstance(raw_date, str):
            raise ConfigError("job date must be a string YYYY-MM-DD")
        try:
            day = parse_date(raw_date)
        except WindowError as exc:
            raise ConfigError(f"job {exc}") from exc
        force = data.get("force", False)
        if not isinstance(force, bool):
            raise ConfigError("job force must be true or false")
        return cls(account_id=account_id, day=day, force=force)

    def to_body(self) -> str:
        return json.dumps(
            {"account_id": self.account_id, "date": self.day.isoformat(), "force": self.force},
            separators=(",", ":"),
        )


@dataclass(frozen=True, slots=True)
class DayRequest:
    """Everything one account-day needs, however it was configured (flags or accounts.json)."""

    account_id: int
    base_url: str
    timezone: str
    day: date
    account_name: str | None = None
    targets: SlaTargets = field(default_factory=SlaTargets)
    sla_policy: str | None = None
    fallback_targets: SlaTargets | None = None
    recipients: tuple[str, ...] = ()

    @classmethod
    def for_account(cls, account: AccountConfig, day: date) -> DayRequest:
        """The request of one configured account (``accounts.json``) for ``day``."""
        return cls(
            account_id=account.account_id,
            account_name=account.name,
            base_url=account.base_url,
            timezone=account.timezone,
            day=day,
            targets=account.explicit_targets,
            sla_policy=account.sla_policy,
            fallback_targets=account.default_targets,
            recipients=tuple(account.recipients),
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    summary: dict[str, Any]
    digest: Digest
    fetch: FetchResult
    delivery: DeliveryResult | None


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What the digest handler reports for one record (JSON-serialisable via ``as_dict``)."""

    account_id: int
    date: str
    status: str  # "sent", "duplicate", "skipped"
    events: int = 0
    pages: int = 0
    retries: int = 0
    complete: bool = True
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "account_id": self.account_id,
            "date": self.date,
            "status": self.status,
            "events": self.events,
            "pages": self.pages,
            "retries": self.retries,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }


def _names(context: AccountContext) -> dict[str, Any]:
    """The context as ``build_summary`` takes it: names and which inboxes keep working hours."""
    return {
        "inbox_names": {i: box.name for i, box in context.inboxes.items() if box.name is not None},
        "inbox_working_hours": {i: box.working_hours_enabled for i, box in context.inboxes.items()},
        "agent_names": {i: a.name for i, a in context.agents.items() if a.name is not None},
    }


def _query(account_id: int, window: Window) -> dict[str, Any]:
    return {
        "path": f"/api/v1/accounts/{account_id}/reporting_events",
        "since": window.since,
        "until": window.until,
    }


def run_account_day(
    request: DayRequest,
    *,
    client: ChatwootClient,
    archive: DayArchive,
    templates_dir: Path,
    previous: Mapping[str, Any] | None = None,
    mailer: Mailer | None = None,
    sender: str | None = None,
    idempotency_table: str | None = None,
    force: bool = False,
    now: datetime | None = None,
    allow_partial: bool = False,
    remaining_ms: Callable[[], int] | None = None,
    progress: Callable[[int, int], None] | None = None,
    dynamodb: Any = None,
) -> RunResult:
    """Fetch, archive, summarise, render and (when a mailer is given) deliver one account-day.

    Pages reach the archive the moment they arrive and the manifest is written last, so a run
    that dies — or stops early when ``remaining_ms`` runs short — resumes where it stopped.
    """
    from sla_digest.chatwoot.client import Page
    from sla_digest.report.render import render_digest
    from sla_digest.report.summary import build_summary, validate_summary

    current = now or datetime.now(tz=UTC)
    window = report_window(request.day, request.timezone, now=current, allow_partial=allow_partial)
    resumed = [
        Page(p.number, dict(p.params), p.body, p.rows, p.count, p.total_pages)
        for p in archive.start(window=window)
    ]
    if resumed:
        logger.info("resuming from %d archived pages", len(resumed))

    with archive.page_writer() as write:

        def check_time() -> None:
            if remaining_ms is not None and remaining_ms() < _DEADLINE_MARGIN_MS:
                raise DeadlineExceeded(
                    f"account {request.account_id} {request.day}: stopped after "
                    f"{len(archive.entries())} pages to stay inside the time limit; "
                    "the retry resumes from the archive"
                )

        def on_page(page: Page) -> None:
            write(page)
            check_time()

        fetch = client.reporting_events(
            request.account_id,
            window,
            resume=resumed,
            on_page=on_page,
            progress=progress,
            heartbeat=check_time,
            with_context=True,
        )
    context = fetch.context if fetch.context is not None else client.context(request.account_id)
    # Only the pages whose rows make up the result are listed; pages of a pass discarded
    # because the data changed under it would contradict the manifest, so they go.
    listed = {info.number for info in fetch.pages}
    archive.discard_pages(e.page for e in archive.entries() if e.page not in listed)
    resources = {name: archive.write_resource(name, body) for name, body in context.raw.items()}
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
    from sla_digest.dataset import write_day  # the events dataset (design §16)

    write_day(archive, fetch.events, context)
    targets = targets_with_policy(
        request.targets,
        request.sla_policy,
        context.sla_policies,
        label=f"account {request.account_id}",
        fallback=request.fallback_targets,
    )
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
        **_names(context),
        previous=previous,
        generated_at=current,
    )
    validate_summary(summary)
    archive.write_summary(summary)
    digest = render_digest(
        summary, templates_dir=templates_dir, archive_location=archive.location()
    )
    archive.write_digest(digest.html, digest.text)
    delivery = None
    if mailer is not None:
        delivery = _deliver(
            request,
            digest,
            archive=archive,
            mailer=mailer,
            sender=sender,
            idempotency_table=idempotency_table,
            force=force,
            dynamodb=dynamodb,
            now=current,
        )
    return RunResult(summary=summary, digest=digest, fetch=fetch, delivery=delivery)


def _deliver(
    request: DayRequest,
    digest: Digest,
    *,
    archive: DayArchive,
    mailer: Mailer,
    sender: str | None,
    idempotency_table: str | None,
    force: bool,
    dynamodb: Any,
    now: datetime,
) -> DeliveryResult:
    from sla_digest.delivery.email import build_message, deliver_once

    if not sender:
        raise ConfigError("a sender address is needed to send the digest (SENDER_ADDRESS)")
    if not request.recipients:
        raise ConfigError(f"account {request.account_id} has no recipients to send the digest to")
    message = build_message(digest, sender=sender, recipients=request.recipients)
    result = deliver_once(
        message=message,
        mailer=mailer,
        recipients=request.recipients,
        account_id=request.account_id,
        day=request.day,
        idempotency_table=idempotency_table,
        force=force,
        dynamodb=dynamodb,
    )
    marker = {
        "account_id": request.account_id,
        "date": request.day.isoformat(),
        "recipients": len(request.recipients),
        "message_id": result.message_id,
        "duplicate": result.duplicate,
        "recorded_at": utc_text(now, name="now"),
    }
    archive.write_marker(DELIVERY_MARKER, json.dumps(marker, indent=2).encode())
    return result


def delivered(archive: DayArchive) -> bool:
    """Whether this account-day's digest was already sent (its delivery marker exists)."""
    return archive.read_marker(DELIVERY_MARKER) is not None


def targets_from_summary(summary: Mapping[str, Any]) -> SlaTargets:
    """The SLA targets a stored summary was computed with (to re-derive it exactly)."""
    overall = summary["overall"]
    values: dict[str, float] = {}
    basis = "calendar"
    for metric in ("first_response", "reply_time", "conversation_resolved"):
        sla = overall[metric].get("sla")
        if sla:
            values[metric] = float(sla["target"])
            basis = sla["basis"]
    return SlaTargets(basis=basis, **values)  # type: ignore[arg-type]


class ArchivedEvents:
    """The events of an archived day, re-derived page by page from the raw bodies.

    ``verify`` feeds it the pages its checksum pass has just read, so a day is read once.
    Constructing it reads the window from the manifest (KeyError, TypeError, ValueError or
    WindowError when the manifest has no usable one).
    """

    def __init__(self, manifest: Mapping[str, Any]) -> None:
        from sla_digest.chatwoot.events import EventSet, classify_rows

        self._classify = classify_rows
        self.manifest = manifest
        self.window = Window(
            day=parse_date(manifest["date"]),
            timezone=manifest["timezone"],
            since=int(manifest["window"]["since"]),
            until=int(manifest["window"]["until"]),
        )
        self.events = EventSet()
        self.unreadable: list[int] = []

    def add(self, number: int, body: bytes) -> None:
        """Classify one archived page; one that is not a Chatwoot page is noted, not raised."""
        try:
            payload = json.loads(body)["payload"]
        except (ValueError, KeyError, TypeError):
            self.unreadable.append(number)
            return
        self._classify(payload, self.window, into=self.events)

    @classmethod
    def for_manifest(cls, manifest: Mapping[str, Any] | None) -> ArchivedEvents | None:
        """One for ``manifest``, or ``None`` when there is none or it gives no usable window."""
        if manifest is None:
            return None
        try:
            return cls(manifest)
        except (KeyError, TypeError, ValueError, WindowError):
            return None


def rebuild_summary(
    archive: DayArchive, stored: Mapping[str, Any], *, read: ArchivedEvents | None = None
) -> dict[str, Any]:
    """Re-derive a summary from the raw pages alone, with the stored run's settings.

    Targets, names, the previous day and the generation time come from what was archived, so
    any difference from ``stored`` is a difference in the numbers. ``read`` holds the day's
    pages already classified (every page its manifest lists); without it they are read here.
    """
    from sla_digest.chatwoot.client import AccountContext
    from sla_digest.report.summary import build_summary

    if read is None:
        found = archive.manifest()
        if found is None:
            raise VerificationError([f"{archive.location()}: no manifest (the run did not finish)"])
        read = ArchivedEvents(found)
        for number, body in archive.page_bodies(found):
            read.add(number, body)
    if read.unreadable:
        raise VerificationError([f"archived page {read.unreadable[0]} is not a Chatwoot page"])
    manifest = read.manifest
    context = AccountContext.from_raw(archive.resources(manifest))
    return build_summary(
        account_id=int(manifest["account_id"]),
        account_name=stored.get("account_name"),
        window=read.window,
        base_url=stored["source"]["base_url"],
        events=read.events,
        pages=len(manifest["pages"]),
        complete=bool(manifest.get("complete", True)),
        missing=int(manifest.get("missing", 0)),
        targets=targets_from_summary(stored),
        **_names(context),
        previous=stored.get("previous"),
        generated_at=datetime.fromisoformat(stored["generated_at"]),
    )


def process_job(
    job: DigestJob,
    *,
    settings: Settings,
    clients: AwsClients,
    remaining_ms: Callable[[], int] | None = None,
    session: Any = None,
    now: datetime | None = None,
) -> JobOutcome:
    """The digest Lambda's unit of work: one account-day from ``accounts.json`` in S3."""
    from sla_digest.archive.store import S3Archive
    from sla_digest.aws import read_config, read_token
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest.delivery.email import SesMailer

    started = time.monotonic()
    store = S3Archive(settings.archive_bucket, s3=clients.s3)
    config = read_config(settings.archive_bucket, settings.config_key, s3=clients.s3)
    account = config.account(job.account_id)
    day_archive = DayArchive(store, job.account_id, job.day)
    if not job.force and delivered(day_archive):
        logger.info("digest already delivered; nothing to do", extra=_job_extra(job))
        return JobOutcome(job.account_id, job.day.isoformat(), "skipped")
    mailer = SesMailer(sesv2=clients.sesv2)
    if not job.force:
        archived = _deliver_archived(
            job, account, day_archive, settings=settings, mailer=mailer, clients=clients, now=now
        )
        if archived is not None:
            return replace(archived, seconds=time.monotonic() - started)
    previous = DayArchive(store, job.account_id, job.day - timedelta(days=1)).summary()
    token = read_token(account.token_secret, clients=clients)
    request = DayRequest.for_account(account, job.day)
    with ChatwootClient(account.base_url, token, session=session) as client:
        result = run_account_day(
            request,
            client=client,
            archive=day_archive,
            templates_dir=settings.templates_dir,
            previous=previous,
            mailer=mailer,
            sender=settings.sender_address,
            idempotency_table=settings.idempotency_table,
            force=job.force,
            now=now,
            remaining_ms=remaining_ms,
            dynamodb=clients.dynamodb,
        )
    stats = result.fetch.stats
    status = "duplicate" if result.delivery is not None and result.delivery.duplicate else "sent"
    return JobOutcome(
        account_id=job.account_id,
        date=job.day.isoformat(),
        status=status,
        events=result.fetch.events.kept,
        pages=len(result.fetch.pages),
        retries=stats.retries,
        complete=result.fetch.complete,
        seconds=time.monotonic() - started,
    )


def _deliver_archived(
    job: DigestJob,
    account: AccountConfig,
    day: DayArchive,
    *,
    settings: Settings,
    mailer: Mailer,
    clients: AwsClients,
    now: datetime | None,
) -> JobOutcome | None:
    """Send a day that was fully archived but not delivered (its send failed), without Chatwoot.

    A retry after SES throttled or rejected the message would otherwise fetch the whole day
    again; the archived summary renders to the same digest byte for byte. An incomplete day is
    fetched again instead, in case the gap has closed.
    """
    from sla_digest.report.render import render_digest

    manifest = day.manifest()
    summary = day.summary() if manifest is not None and manifest.get("complete") else None
    if summary is None:
        return None
    logger.info(
        "delivering the archived digest; Chatwoot is not asked again", extra=_job_extra(job)
    )
    digest = render_digest(
        summary, templates_dir=settings.templates_dir, archive_location=day.location()
    )
    delivery = _deliver(
        DayRequest.for_account(account, job.day),
        digest,
        archive=day,
        mailer=mailer,
        sender=settings.sender_address,
        idempotency_table=settings.idempotency_table,
        force=False,
        dynamodb=clients.dynamodb,
        now=now or datetime.now(tz=UTC),
    )
    source = summary["source"]
    return JobOutcome(
        account_id=job.account_id,
        date=job.day.isoformat(),
        status="duplicate" if delivery.duplicate else "sent",
        events=int(source["events"]),
        pages=int(source["pages"]),
        complete=bool(source["complete"]),
    )


def _job_extra(job: DigestJob) -> dict[str, Any]:
    return {"account_id": job.account_id, "date": job.day.isoformat(), "force": job.force}
