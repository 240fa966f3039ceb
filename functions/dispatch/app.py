"""Dispatch Lambda: a schedule tick, manual run or backfill becomes one SQS job per account-day.

The event forms are documented in the README (Lambda interface); samples are in ``events/``.
The cold start imports only Powertools and the AWS edge; the dispatch code and the settings
load with the first invocation, which needs them anyway.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer

from sla_digest.aws import AwsClients, dispatch_services
from sla_digest.telemetry import PowertoolsTelemetry

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from sla_digest.jobs.dispatch import DispatchServices

logger = Logger()
tracer = Tracer(patch_modules=["boto3"])  # the AWS SDK only: README, Operations
metrics = Metrics()
telemetry = PowertoolsTelemetry(logger, metrics, tracer)
clients = AwsClients()


@functools.cache
def services() -> DispatchServices:
    """Built once per cold start; a missing variable fails every invocation with its name."""
    from sla_digest.config import Settings

    return dispatch_services(Settings.from_env(os.environ, required=Settings.DISPATCH), clients)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    from sla_digest.jobs.dispatch import dispatch_metrics, handle_dispatch_event

    execution_id = event.get("execution_id") if isinstance(event, dict) else None
    telemetry.correlate(execution_id or context.aws_request_id)
    result = handle_dispatch_event(event, services())
    for name, value in dispatch_metrics(result):
        telemetry.count(name, value)
    return result
