"""Dispatch Lambda: a schedule tick, manual run or backfill becomes one SQS job per account-day.

The event forms are documented in the README (Lambda interface); samples are in ``events/``.
"""

from __future__ import annotations

import functools
import os
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers
from aws_lambda_powertools.metrics import MetricUnit

from sla_digest.aws import AwsClients, dispatch_services
from sla_digest.config import Settings
from sla_digest.jobs.dispatch import DispatchServices, dispatch_metrics, handle_dispatch_event

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

logger = Logger()
tracer = Tracer(patch_modules=["boto3"])  # the AWS SDK only: README, Operations
metrics = Metrics()
copy_config_to_registered_loggers(source_logger=logger, include={"sla_digest"})
clients = AwsClients()


@functools.cache
def services() -> DispatchServices:
    """Built once per cold start; a missing variable fails every invocation with its name."""
    return dispatch_services(Settings.from_env(os.environ, required=Settings.DISPATCH), clients)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    execution_id = event.get("execution_id") if isinstance(event, dict) else None
    logger.set_correlation_id(execution_id or context.aws_request_id)
    result = handle_dispatch_event(event, services())
    for name, value in dispatch_metrics(result):
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    return result
