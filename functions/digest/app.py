"""Digest Lambda: each SQS record is one account-day, run on its own.

A record that fails (a malformed body, Chatwoot down, a bad token) is reported in
``batchItemFailures`` and retried by SQS; the other records of the batch are not.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import (
    BatchProcessor,
    EventType,
    process_partial_response,
)

from sla_digest.aws import AwsClients
from sla_digest.config import Settings
from sla_digest.exceptions import SlaDigestError
from sla_digest.jobs.run import DigestJob, process_job

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
# Trace the AWS SDK only. Tracer's default patches every library X-Ray supports, which imports
# requests and sqlite3 at cold start and would make each of a day's hundreds of Chatwoot
# requests a subsegment; the fetch is measured by the metrics below instead.
tracer = Tracer(patch_modules=["boto3"])
metrics = Metrics()
# Every sla_digest.* module logs through the package logger, as the same JSON.
copy_config_to_registered_loggers(source_logger=logger, include={"sla_digest"})

processor = BatchProcessor(event_type=EventType.SQS)
clients = AwsClients()


@functools.cache
def settings() -> Settings:
    """Read once per cold start; a missing variable fails every record with its name."""
    return Settings.from_env(os.environ, required=Settings.DIGEST)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    logger.set_correlation_id(record.message_id)
    try:
        job = DigestJob.from_body(record.body)
        logger.append_keys(account_id=job.account_id, date=job.day.isoformat())
        tracer.put_annotation(key="account_id", value=str(job.account_id))
        tracer.put_annotation(key="date", value=job.day.isoformat())
        outcome = process_job(
            job,
            settings=settings(),
            clients=clients,
            remaining_ms=lambda_context.get_remaining_time_in_millis,
        )
    except SlaDigestError as exc:
        # One line a person can act on; the batch processor marks the record failed.
        logger.error("digest job failed: %s", exc, extra={"error": type(exc).__name__})
        metrics.add_metric(name="DigestFailures", unit=MetricUnit.Count, value=1)
        raise
    except Exception:
        # Not an error we raise on purpose (a bug): keep its traceback, then fail the record.
        logger.exception("digest job crashed")
        metrics.add_metric(name="DigestFailures", unit=MetricUnit.Count, value=1)
        raise
    finally:
        logger.remove_keys(["account_id", "date"])
    if outcome.status == "sent":
        metrics.add_metric(name="DigestsSent", unit=MetricUnit.Count, value=1)
    else:
        metrics.add_metric(name="DigestsSkipped", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="EventsFetched", unit=MetricUnit.Count, value=outcome.events)
    metrics.add_metric(name="PagesFetched", unit=MetricUnit.Count, value=outcome.pages)
    metrics.add_metric(name="FetchRetries", unit=MetricUnit.Count, value=outcome.retries)
    metrics.add_metric(name="DigestSeconds", unit=MetricUnit.Seconds, value=outcome.seconds)
    logger.info("digest job done", extra=outcome.as_dict())
    return outcome.as_dict()


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    return process_partial_response(
        event=event, record_handler=record_handler, processor=processor, context=context
    )
