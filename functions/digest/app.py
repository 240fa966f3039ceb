"""Digest Lambda: each SQS record is one account-day, run on its own (partial batch failures).

The cold start imports only Powertools' Logger, Metrics and Tracer and the AWS edge; the batch
utility and the job's code load with the first invocation, which needs them anyway.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from sla_digest.aws import AwsClients, digest_services
from sla_digest.telemetry import PowertoolsTelemetry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.batch import BatchProcessor
    from aws_lambda_powertools.utilities.batch.types import PartialItemFailureResponse
    from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer(patch_modules=["boto3"])  # the AWS SDK only: README, Operations
metrics = Metrics()
telemetry = PowertoolsTelemetry(logger, metrics, tracer)
clients = AwsClients()
# Built on first use, once per cold start: a missing variable fails every record with its name.
services = functools.cache(functools.partial(digest_services, clients))


@functools.cache
def processor() -> BatchProcessor:
    """Built by the first invocation and kept for the next; the cold start skips its import."""
    from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType

    return BatchProcessor(event_type=EventType.SQS)


def record_handler(record: SQSRecord, lambda_context: LambdaContext) -> dict[str, Any]:
    from sla_digest.jobs.record import run_record

    return run_record(record, services, lambda_context, telemetry=telemetry)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> PartialItemFailureResponse:
    from aws_lambda_powertools.utilities.batch import process_partial_response

    return process_partial_response(event, record_handler, processor(), context)
