"""Powertools as the jobs' :class:`~sla_digest.jobs.record.Telemetry`: metrics, log keys, traces.

The handlers build their Logger, Metrics and Tracer (configured by ``POWERTOOLS_*`` variables)
and hand them over through this adapter, so the job code never imports Powertools itself; the
package's own loggers (``logging.getLogger(__name__)``) then write the handler's JSON.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger, Metrics, Tracer

__all__ = ["PowertoolsTelemetry"]


class PowertoolsTelemetry:
    """Counts go to Metrics (EMF); tags to the log's keys and the trace's annotations."""

    def __init__(self, logger: Logger, metrics: Metrics, tracer: Tracer) -> None:
        from aws_lambda_powertools.logging.utils import copy_config_to_registered_loggers

        copy_config_to_registered_loggers(source_logger=logger, include={"sla_digest"})
        self.logger = logger
        self.metrics = metrics
        self.tracer = tracer

    def count(self, name: str, value: float, *, unit: str = "Count") -> None:
        from aws_lambda_powertools.metrics import MetricUnit

        self.metrics.add_metric(name=name, unit=MetricUnit(unit), value=value)

    def correlate(self, correlation_id: str) -> None:
        self.logger.set_correlation_id(correlation_id)

    def tag(self, **keys: str) -> None:
        self.logger.append_keys(**keys)
        for key, value in keys.items():
            self.tracer.put_annotation(key=key, value=value)

    def untag(self, *names: str) -> None:
        self.logger.remove_keys(list(names))
