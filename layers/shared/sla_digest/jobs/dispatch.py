"""Which account-days are due, and their jobs on the SQS queue.

A scheduled run decides from the schedule's ``scheduled_time`` alone, never from the clock, so a
retried invocation decides the same. Day ``D`` of an account is due once the account's local
clock has first shown ``D+1`` at ``send_hour:00``; every due day inside the catch-up window that
has not been delivered yet is queued, so a missed run loses nothing. A week or month is due
when its last day is (so on the first day of the next one, at ``send_hour``), for the accounts
whose ``digests`` name it. The digest side is idempotent, so queuing a job twice never sends it
twice. A day, week or month that failed permanently is held back while nothing it depends on
changed, and one not delivered two hours after its send instant is overdue (the heartbeat).
A manual run or backfill asks for days, or for weeks or months named by their first day.

The events themselves are parsed in :mod:`sla_digest.jobs.dispatch_events`; its names are
re-exported here for the callers that know dispatch only.
"""

from __future__ import annotations

import logging
import time as _time
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sla_digest.exceptions import (
    ArchiveError,
    ConfigError,
    ConfigMissing,
    QueueError,
    WindowError,
)
from sla_digest.jobs.dispatch_events import BACKFILL_LIMIT_DAYS, DispatchRequest, parse_event
from sla_digest.jobs.job import DigestJob
from sla_digest.report.periods import (
    Period,
    period_of,
    period_starting_on,
    period_window,
    periods_ending,
    periods_starting,
)
from sla_digest.window import report_window, utc_text

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    from mypy_boto3_sqs import SQSClient

    from sla_digest.archive.store import Archive
    from sla_digest.config import AccountConfig, Config
    from sla_digest.jobs.failure import FailureSite, Fingerprint, FingerprintOf

__all__ = [
    "BACKFILL_LIMIT_DAYS",
    "CATCH_UP",
    "OVERDUE_AFTER",
    "DispatchRequest",
    "DispatchServices",
    "Plan",
    "dispatch_metrics",
    "due_days",
    "handle_dispatch_event",
    "parse_event",
    "plan_requested",
    "plan_scheduled",
    "queue_jobs",
    "send_instant",
]

logger = logging.getLogger(__name__)

CATCH_UP = timedelta(days=2)
OVERDUE_AFTER = timedelta(hours=2)  # a digest not delivered by send hour + 2 h is overdue
_BATCH = 10  # SendMessageBatch takes at most ten entries
_FIRST_QUARTER_HOUR = time(0, 15)  # a tick before this (UTC) is the day's first


@dataclass(slots=True)
class Plan:
    """The jobs to queue, and a line for every account-day left out (skipped) or failed.

    ``overdue`` (scheduled runs) names every enabled account-day, week or month of the
    catch-up window that was not delivered by its send instant + :data:`OVERDUE_AFTER`: the
    heartbeat.
    """

    jobs: list[DigestJob] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)


# --- when is a day due -----------------------------------------------------------------------


def send_instant(day: date, timezone_name: str, send_hour: int) -> datetime:
    """The UTC instant at which the local clock first shows ``day + 1`` at ``send_hour:00``.

    Inside a spring-forward gap the clock never shows that time; the first instant it shows a
    later one is the transition itself. In a repeated fall-back hour the first pass counts.
    """
    zone = ZoneInfo(timezone_name)
    wall = datetime.combine(day + timedelta(days=1), time(send_hour))
    first = wall.replace(tzinfo=zone).astimezone(UTC)  # fold=0: the earlier reading
    if first.astimezone(zone).replace(tzinfo=None) == wall:
        return first
    # A gap: fold=0 read the wall time with the offset before the transition (too late),
    # fold=1 with the offset after it (too early); the transition lies between.
    low = int(wall.replace(tzinfo=zone, fold=1).astimezone(UTC).timestamp())
    high = int(first.timestamp())
    while low + 1 < high:
        middle = (low + high) // 2
        shown = datetime.fromtimestamp(middle, tz=zone).replace(tzinfo=None)
        if shown >= wall:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, tz=UTC)


def due_days(
    account: AccountConfig, scheduled_time: datetime, *, catch_up: timedelta = CATCH_UP
) -> list[date]:
    """Report days whose send instant lies in ``(scheduled_time - catch_up, scheduled_time]``."""
    zone = ZoneInfo(account.timezone)
    today = scheduled_time.astimezone(zone).date()
    oldest = (scheduled_time - catch_up).astimezone(zone).date() - timedelta(days=2)
    days: list[date] = []
    day = oldest
    while day < today:
        instant = send_instant(day, account.timezone, account.send_hour)
        if scheduled_time - catch_up < instant <= scheduled_time:
            days.append(day)
        day += timedelta(days=1)
    return days


def plan_scheduled(
    config: Config,
    scheduled_time: datetime,
    *,
    delivered: Callable[[int, date], bool],
    held: Callable[[AccountConfig, date], str | None] | None = None,
    catch_up: timedelta = CATCH_UP,
    period_delivered: Callable[[int, Period], bool] | None = None,
    period_held: Callable[[AccountConfig, Period], str | None] | None = None,
) -> Plan:
    """Jobs for every enabled account-day (and week, month) due at ``scheduled_time`` and not
    delivered.

    ``delivered(account_id, day)`` and ``period_delivered(account_id, period)`` say whether a
    digest was already sent (without the latter a due week or month is queued, and the digest
    side skips it if it went out; it is then never listed overdue, as nothing says it is
    missing); ``held(account, day)`` and ``period_held(account, period)`` give the reason a
    day, week or month that failed permanently is held back (nothing it depends on changed
    since), or ``None``. When one of them fails for an account, that account is reported as an
    error and the others go on.
    """
    if scheduled_time.tzinfo is None:
        raise ValueError("scheduled_time must be timezone-aware")
    plan = Plan(errors=list(config.errors))
    for account in config.accounts:
        if not account.enabled:
            plan.skipped.append(f"{account.label}: disabled")
            continue
        days = due_days(account, scheduled_time, catch_up=catch_up)
        for day in days if "daily" in account.digests else ():
            try:
                done = delivered(account.account_id, day)
                reason = None if done or held is None else held(account, day)
            except ArchiveError as exc:
                plan.errors.append(f"{account.label} {day}: {exc}")
                break
            _add_due(plan, account, DigestJob(account.account_id, day), day, done, reason)
            if not done:
                _note_overdue(plan, account, day, f"{account.label} {day}", scheduled_time)
        for period in periods_ending(days, account.digests, account.week_start):
            job = DigestJob(account.account_id, period.start, period=period.kind)
            name = job.name.split("/", 1)[1]  # week/2026-11-16
            what = f"{account.label} {name}"
            try:
                sent = period_delivered is not None and period_delivered(account.account_id, period)
                reason = None if sent or period_held is None else period_held(account, period)
            except ArchiveError as exc:
                plan.errors.append(f"{what}: {exc}")
                continue
            _add_due(plan, account, job, name, sent, reason)
            if period_delivered is not None and not sent:
                _note_overdue(plan, account, period.end, what, scheduled_time)
    return plan


def _add_due(
    plan: Plan, account: AccountConfig, job: DigestJob, what: object, done: bool, reason: str | None
) -> None:
    """Queue a due job, or say why it is left out (delivered already, or held back)."""
    if done:
        plan.skipped.append(f"{account.label} {what}: already delivered")
    elif reason is not None:
        plan.skipped.append(f"{account.label} {what}: {reason}")
    else:
        plan.jobs.append(job)


def _note_overdue(
    plan: Plan, account: AccountConfig, last_day: date, what: str, scheduled_time: datetime
) -> None:
    """List an undelivered digest once its send instant is more than OVERDUE_AFTER ago.

    A week or month is due when its last day is, so it shares that day's deadline.
    """
    deadline = send_instant(last_day, account.timezone, account.send_hour) + OVERDUE_AFTER
    if deadline <= scheduled_time:
        plan.overdue.append(f"{what}: not delivered by {utc_text(deadline, name='due')}")


def plan_requested(config: Config, request: DispatchRequest, *, now: datetime) -> Plan:
    """Jobs for a manual or backfill request; refuses days (weeks, months) not ended yet.

    A manual week or month names its first day, by each account's ``week_start``; a backfill
    of weeks or months queues every one whose first day lies in ``first``..``last``.
    """
    if request.first is None or request.last is None:
        raise ValueError("a manual or backfill request needs first and last days")
    plan = Plan()
    if request.accounts is None:
        targets = list(config.enabled)
        plan.errors.extend(config.errors)
    else:
        targets = []
        for account_id in request.accounts:
            try:
                targets.append(config.account(account_id))
            except ConfigError as exc:
                plan.errors.append(str(exc))
    wanted = {
        account.account_id: _requested_periods(
            account, request, request.first, request.last, now=now
        )
        for account in targets
    }
    for account in targets:
        if not account.enabled:
            plan.skipped.append(f"{account.label}: disabled (set enabled to true to run it)")
            continue
        periods = wanted[account.account_id]
        if not periods:
            plan.skipped.append(
                f"{account.label}: no {request.period} starts from {request.first} to "
                f"{request.last}" + _starts_note(request.period, account)
            )
        for period in periods:
            plan.jobs.append(
                DigestJob(
                    account_id=account.account_id,
                    day=period.start,
                    force=request.force,
                    deliver=request.deliver,
                    period=period.kind,
                )
            )
    return plan


def _requested_periods(
    account: AccountConfig, request: DispatchRequest, first: date, last: date, *, now: datetime
) -> list[Period]:
    """The days, weeks or months of ``first``..``last`` a request asks of ``account``.

    ConfigError when the last has not ended yet in the account's zone, or when a manual week
    or month is not named by its first day.
    """
    kind = request.period
    try:
        if kind == "day":
            report_window(last, account.timezone, now=now)  # a day says it in its own words
        if request.kind == "manual" and kind != "day":
            period = period_starting_on(first, kind, account.week_start)
            if period is None:
                start = period_of(first, kind, account.week_start).start
                raise ConfigError(
                    f"{first} is not the first day of a {kind} for account "
                    f"{account.account_id}{_starts_note(kind, account, start)}"
                )
            periods = [period]
        else:
            periods = periods_starting(kind, first, last, account.week_start)
        if kind != "day" and periods:
            period_window(periods[-1], account.timezone, now=now)
    except WindowError as exc:
        raise ConfigError(f"{account.label}: {exc}") from exc
    except OverflowError as exc:  # a week or month running past 9999-12-31
        raise ConfigError(
            f"{account.label}: a {kind} from {first} to {last} reaches past the calendar's end"
        ) from exc
    return periods


def _starts_note(kind: str, account: AccountConfig, first: date | None = None) -> str:
    """`` (weeks start on monday: 2026-11-16)``: when the account's periods start."""
    rule = {"week": f"weeks start on {account.week_start}", "month": "months start on the 1st"}
    if kind not in rule:
        return ""
    return f" ({rule[kind]}" + (f": {first})" if first is not None else ")")


# --- the queue ---------------------------------------------------------------------------------


def queue_jobs(
    jobs: Sequence[DigestJob],
    *,
    sqs: SQSClient,
    queue_url: str,
    attempts: int = 3,
    sleep: Callable[[float], None] = _time.sleep,
) -> int:
    """Send the jobs in batches of ten, retrying entries SQS reports as failed; returns the count.

    Entries (or whole batches refused by throttling, a 5xx or the network) that still fail
    after ``attempts`` tries, and entries SQS blames on the sender, raise :class:`QueueError`
    naming the jobs, after every other batch was sent. Other refusals (access denied, no such
    queue) raise at once: no later batch could succeed either.
    """
    failed: list[str] = []
    for start in range(0, len(jobs), _BATCH):
        pending = {str(i): job for i, job in enumerate(jobs[start : start + _BATCH])}
        for attempt in range(1, attempts + 1):
            try:
                failures = _send_batch(sqs, queue_url, pending).get("Failed", [])
            except _TransientQueueError as exc:
                # A batch refused whole fails each of its entries, for the same retry below.
                failures = [{"Id": key, "Code": str(exc)} for key in pending]
            retry: dict[str, DigestJob] = {}
            for failure in failures:
                job = pending[failure["Id"]]
                reason = failure.get("Code", "error")
                if failure.get("SenderFault") or attempt == attempts:
                    failed.append(f"{job.account_id}/{job.day} ({reason})")
                else:
                    retry[failure["Id"]] = job
            if not retry:
                break
            logger.warning("retrying %d jobs SQS did not accept", len(retry))
            sleep(0.2 * 2 ** (attempt - 1))
            pending = retry
    if failed:
        raise QueueError(
            f"{len(failed)} of {len(jobs)} jobs could not be queued: {', '.join(failed[:5])}"
            + (" ..." if len(failed) > 5 else "")
        )
    return len(jobs)


class _TransientQueueError(Exception):
    """A whole batch refused for a reason that may pass (throttling, a 5xx, the network)."""


_TRANSIENT_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "RequestThrottled",
        "RequestThrottledException",
        "ServiceUnavailable",
        "InternalError",
        "InternalFailure",
        "KMS.ThrottlingException",
    }
)


def _send_batch(sqs: SQSClient, queue_url: str, pending: Mapping[str, DigestJob]) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return sqs.send_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": key, "MessageBody": job.to_body()} for key, job in pending.items()],
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        if code in _TRANSIENT_CODES or status >= 500:
            raise _TransientQueueError(code or f"HTTP {status}") from exc
        raise QueueError(f"jobs could not be queued on {queue_url}: {code or exc}") from exc
    except BotoCoreError as exc:
        raise _TransientQueueError(type(exc).__name__) from exc


# --- the handler's one call ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DispatchServices:
    """What dispatch needs from outside, built at the edge (the handler or the demo).

    ``queue(jobs)`` puts the jobs on the digest queue and returns how many it queued;
    ``fingerprint`` reads what a fix of a permanent failure changes (none: no day is held back).
    """

    load_config: Callable[[], Config]
    store: Archive
    queue: Callable[[Sequence[DigestJob]], int]
    clock: Callable[[], datetime] = lambda: datetime.now(tz=UTC)
    fingerprint: FingerprintOf | None = None


def handle_dispatch_event(
    event: Any, services: DispatchServices, *, catch_up: timedelta = CATCH_UP
) -> dict[str, Any]:
    """Parse the event, plan its jobs from ``accounts.json`` and queue them; summarise the run.

    A bad event or an unreadable ``accounts.json`` raises :class:`ConfigError`; bad account
    entries are logged, counted and left out.
    """
    from sla_digest.archive.day import DayArchive
    from sla_digest.archive.report import ReportArchive
    from sla_digest.jobs.run import delivered

    request = parse_event(event)
    try:
        config = services.load_config()
    except ConfigMissing as exc:
        if request.scheduled_time is None:
            raise  # asked for by a person: say it to them
        return _no_config_yet(request.scheduled_time, exc)
    if request.scheduled_time is not None:
        store = services.store
        held, period_held = _held_back(services)
        plan = plan_scheduled(
            config,
            request.scheduled_time,
            delivered=lambda account_id, day: delivered(DayArchive(store, account_id, day)),
            held=held,
            catch_up=catch_up,
            period_delivered=lambda account_id, period: delivered(
                ReportArchive(store, account_id, period)
            ),
            period_held=period_held,
        )
    else:
        plan = plan_requested(config, request, now=services.clock())
    for line in plan.errors:
        logger.error("left out: %s", line)
    for line in plan.skipped:
        logger.info("skipped: %s", line)
    for line in plan.overdue:
        logger.info("overdue: %s", line)
    queued = services.queue(plan.jobs)
    names = [_job_name(job) for job in plan.jobs]
    logger.info(
        "queued %d jobs",
        queued,
        extra={"kind": request.kind, "jobs": names},
    )
    result: dict[str, Any] = {
        "kind": request.kind,
        "queued": queued,
        "skipped": len(plan.skipped),
        "errors": len(plan.errors),
        "jobs": names,
        "problems": plan.errors,
    }
    if request.scheduled_time is not None:
        result["overdue"] = len(plan.overdue)  # the heartbeat: scheduled runs only
    return result


def dispatch_metrics(result: Mapping[str, Any]) -> list[tuple[str, float]]:
    """The metrics of one dispatch, as ``(name, count)``.

    ``OverdueDigests`` is the heartbeat: only a scheduled run that read ``accounts.json``
    publishes it, so an hour without one (no tick, no config) is missing data, which the
    heartbeat alarm treats as breaching.
    """
    published = [("JobsQueued", result["queued"]), ("ConfigErrors", result["errors"])]
    if "overdue" in result:
        published.append(("OverdueDigests", result["overdue"]))
    return published


def _no_config_yet(scheduled_time: datetime, exc: ConfigMissing) -> dict[str, Any]:
    """A tick before ``accounts.json`` is uploaded (deploy, then upload): nothing to do yet.

    Not an error, or the function's error alarm and the schedule's retries would fire every
    tick. It is said as a warning on the tick in the first quarter hour of each UTC day (once
    a day with the default schedule) and at info level on every other tick.
    """
    first_of_day = scheduled_time.time() < _FIRST_QUARTER_HOUR
    logger.log(
        logging.WARNING if first_of_day else logging.INFO,
        "no digests are dispatched: %s",
        exc,
        extra={"config": "missing"},
    )
    return {
        "kind": "schedule",
        "queued": 0,
        "skipped": 0,
        "errors": 0,
        "jobs": [],
        "problems": [],
        "config": "missing",
    }


def _held_back(
    services: DispatchServices,
) -> tuple[
    Callable[[AccountConfig, date], str | None] | None,
    Callable[[AccountConfig, Period], str | None] | None,
]:
    """``held`` and ``period_held`` for :func:`plan_scheduled`: the recorded failure of a day,
    or of a week's or month's report, if nothing changed since.

    Fingerprints are read once per account and invocation, and only for what has a failure
    marker.
    """
    from sla_digest.archive.day import DayArchive
    from sla_digest.archive.report import ReportArchive
    from sla_digest.jobs.failure import account_secrets, holds_back

    fingerprint = services.fingerprint
    if fingerprint is None:
        return None, None
    known: dict[tuple[str, ...], Fingerprint] = {}

    def current(names: tuple[str, ...]) -> Fingerprint:
        if names not in known:
            known[names] = fingerprint(names)
        return known[names]

    def held(account: AccountConfig, site: FailureSite) -> str | None:
        failure = holds_back(site, lambda: current(account_secrets(account)))
        if failure is None:
            return None
        return (
            f"failed permanently at {failure.recorded_at} ({failure.error}: {failure.message}); "
            "held back until accounts.json or one of its secrets changes, or it is run by hand"
        )

    store = services.store
    return (
        lambda account, day: held(account, DayArchive(store, account.account_id, day)),
        lambda account, period: held(account, ReportArchive(store, account.account_id, period)),
    )


def _job_name(job: DigestJob) -> str:
    notes = [note for note, on in (("force", job.force), ("archive only", not job.deliver)) if on]
    return job.name + (f" ({', '.join(notes)})" if notes else "")
