"""One record of the digest queue: parse it, run the job, count the outcome, fail it or not.

The digest handler delegates each SQS record here. A failed record is raised again so the
batch processor reports it to SQS; the error's type (not its wording) decides how it is
counted: every failure adds to ``DigestFailures``, a :class:`~sla_digest.exceptions.PermanentError`
also to ``PermanentFailures`` (a person must act; SQS's redrive policy then parks the record in
the dead-letter queue, from which it is redriven once fixed).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.exceptions import SlaDigestError, is_retryable
from sla_digest.jobs.job import DigestJob
from sla_digest.jobs.run import process_job

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest.config import AccountConfig
    from sla_digest.jobs.failure import FailureSite
    from sla_digest.jobs.job import JobOutcome
    from sla_digest.jobs.run import JobServices

__all__ = ["QueueRecord", "Telemetry", "outcome_metrics", "run_record"]

logger = logging.getLogger(__name__)

# One count per finished job; "duplicate" (sent earlier) and "skipped" count as skipped.
_STATUS_METRICS = {"sent": "DigestsSent", "archived": "DaysArchived"}


class QueueRecord(Protocol):
    """The two things of an SQS record the job needs (Powertools' ``SQSRecord`` has them)."""

    @property
    def message_id(self) -> str: ...

    @property
    def body(self) -> str: ...


class Telemetry(Protocol):
    """Where a record's metrics, log keys and trace annotations go (Powertools in Lambda)."""

    def count(self, name: str, value: float, *, unit: str = "Count") -> None: ...

    def correlate(self, correlation_id: str) -> None: ...

    def tag(self, **keys: str) -> None: ...

    def untag(self, *names: str) -> None: ...


def outcome_metrics(outcome: JobOutcome) -> list[tuple[str, float, str]]:
    """The metrics of one finished job, as ``(name, value, unit)``."""
    status = _STATUS_METRICS.get(outcome.status, "DigestsSkipped")
    return [
        (status, 1, "Count"),
        ("EventsFetched", outcome.events, "Count"),
        ("PagesFetched", outcome.pages, "Count"),
        ("FetchRetries", outcome.retries, "Count"),
        ("DigestSeconds", outcome.seconds, "Seconds"),
    ]


def run_record(
    record: QueueRecord,
    services: Callable[[], JobServices],
    lambda_context: Any,
    *,
    telemetry: Telemetry,
) -> dict[str, Any]:
    """Run the job in the record's body; raise again on failure so SQS is told of it.

    A permanent failure of a job is recorded beside the day's digest, or the week's or month's
    report (``failure.json``), so the schedule's catch-up holds it back until the config or
    one of its secrets changes; ``PermanentFailures`` counts it once, not once per SQS
    attempt. A success clears it.
    """
    telemetry.correlate(record.message_id)
    body = record.body
    job: DigestJob | None = None
    try:
        job = DigestJob.from_body(body)
        telemetry.tag(account_id=str(job.account_id), date=job.day.isoformat())
        if job.period == "day":
            outcome = process_job(job, services(), lambda_context=lambda_context)
        else:
            # A week or month: loaded on first use, so a cold start does not pay for it.
            from sla_digest.jobs.report import process_report_job

            outcome = process_report_job(job, services(), lambda_context=lambda_context)
    except SlaDigestError as exc:
        retryable = is_retryable(exc)
        # One line a person can act on; the batch processor marks the record failed.
        logger.error(
            "digest job failed: %s",
            exc,
            extra={"error": type(exc).__name__, "retryable": retryable},
        )
        new = True
        if job is not None and _records_failure(exc):
            new = _note_failure(job, exc, services)
        _count_failure(telemetry, permanent=not retryable and new)
        raise
    except Exception:
        # Not an error we raise on purpose (a bug): keep its traceback, then fail the record.
        logger.exception("digest job crashed")
        _count_failure(telemetry, permanent=False)
        raise
    finally:
        telemetry.untag("account_id", "date")
    _clear_failure(job, services)
    for name, value, unit in outcome_metrics(outcome):
        telemetry.count(name, value, unit=unit)
    logger.info("digest job done", extra=outcome.as_dict())
    return outcome.as_dict()


def _count_failure(telemetry: Telemetry, *, permanent: bool) -> None:
    telemetry.count("DigestFailures", 1)
    if permanent:
        telemetry.count("PermanentFailures", 1)


# The failure marker and the day's archive keys load on first use: the digest handler's cold
# start pays only for what every job needs before it starts.


def _records_failure(exc: SlaDigestError) -> bool:
    from sla_digest.jobs.failure import records_failure

    return records_failure(exc)


def _account(services: JobServices, account_id: int) -> AccountConfig | None:
    try:
        return services.load_config().account(account_id)
    except SlaDigestError:
        return None  # the configuration is what failed, or the account is not in it


def _failure_site(
    job: DigestJob, services: JobServices, account: AccountConfig | None
) -> FailureSite | None:
    """Where the job's failure marker lives: beside the day's digest, or the report of the
    week or month that starts on the job's date (by the account's ``week_start``).

    ``None`` for a week or month job whose date starts no period of the account (or whose
    account is not known): catch-up never queues such a job, so there is nothing to hold back.
    """
    if job.period == "day":
        from sla_digest.archive.day import DayArchive

        return DayArchive(services.store, job.account_id, job.day)
    from sla_digest.archive.report import ReportArchive
    from sla_digest.report.periods import period_starting_on

    if account is None:
        return None
    period = period_starting_on(job.day, job.period, account.week_start)
    return None if period is None else ReportArchive(services.store, job.account_id, period)


def _note_failure(job: DigestJob, exc: SlaDigestError, services: Callable[[], JobServices]) -> bool:
    """Record the job's permanent failure; return whether it is new (and so to be counted).

    Recording is best effort: the job has failed already, and a marker that cannot be
    written leaves the day (week, month) to be queued again, as before markers existed.
    """
    from sla_digest.jobs.failure import account_secrets, record_failure

    try:
        built = services()
        if built.fingerprint is None:
            return True
        account = _account(built, job.account_id)
        site = _failure_site(job, built, account)
        if site is None:
            return True
        fingerprint = built.fingerprint(account_secrets(account) if account else ())
        new = record_failure(site, exc, fingerprint, now=built.clock())
    except SlaDigestError as note:
        logger.warning("the failure could not be recorded in the archive: %s", note)
        return True
    if new:
        logger.info(
            "failure recorded: catch-up holds the %s back until config or secret change",
            job.period,
        )
    return new


def _clear_failure(job: DigestJob | None, services: Callable[[], JobServices]) -> None:
    """Remove a failure marker the job no longer deserves; a leftover is only cosmetic."""
    from sla_digest.jobs.failure import clear_failure

    if job is None:
        return
    built = services()
    if built.fingerprint is None:
        return
    try:
        account = None if job.period == "day" else _account(built, job.account_id)
        site = _failure_site(job, built, account)
        if site is not None and clear_failure(site):
            logger.info("the %s's earlier failure is resolved; its marker was removed", job.period)
    except SlaDigestError as exc:
        logger.warning("an earlier failure marker could not be removed: %s", exc)
