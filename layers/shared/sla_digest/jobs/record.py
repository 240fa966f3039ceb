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

    from sla_digest.jobs.job import JobOutcome
    from sla_digest.jobs.run import JobServices

__all__ = ["QueueRecord", "Telemetry", "outcome_metrics", "run_record"]

logger = logging.getLogger(__name__)


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
    status = "DigestsSent" if outcome.status == "sent" else "DigestsSkipped"
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
    """Run the job in the record's body; raise again on failure so SQS is told of it."""
    telemetry.correlate(record.message_id)
    body = record.body
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
        _count_failure(telemetry, permanent=not retryable)
        raise
    except Exception:
        # Not an error we raise on purpose (a bug): keep its traceback, then fail the record.
        logger.exception("digest job crashed")
        _count_failure(telemetry, permanent=False)
        raise
    finally:
        telemetry.untag("account_id", "date")
    for name, value, unit in outcome_metrics(outcome):
        telemetry.count(name, value, unit=unit)
    logger.info("digest job done", extra=outcome.as_dict())
    return outcome.as_dict()


def _count_failure(telemetry: Telemetry, *, permanent: bool) -> None:
    telemetry.count("DigestFailures", 1)
    if permanent:
        telemetry.count("PermanentFailures", 1)
