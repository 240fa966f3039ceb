"""Jobs: who is due (dispatch) and one account-day run composed from the other subpackages.

``dispatch`` turns a schedule tick, manual run or backfill (parsed by ``dispatch_events``) into
:class:`DigestJob` messages;
``run`` carries one job through fetch → archive → summary → render → deliver with adapters
passed in (:class:`Ports`, :class:`JobServices`); ``report`` builds a week's or month's report
from the archived days (:func:`run_account_period`); ``record`` is the digest queue's unit of
work.
Names load on first use, so importing one module does not import the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_digest.jobs.dispatch import handle_dispatch_event
    from sla_digest.jobs.job import DayRequest, DigestJob, JobOutcome, RunResult
    from sla_digest.jobs.record import run_record
    from sla_digest.jobs.report import (
        ReportPorts,
        ReportRequest,
        process_report_job,
        run_account_period,
    )
    from sla_digest.jobs.run import JobServices, Ports, process_job, run_account_day

__all__ = [
    "DayRequest",
    "DigestJob",
    "JobOutcome",
    "JobServices",
    "Ports",
    "ReportPorts",
    "ReportRequest",
    "RunResult",
    "handle_dispatch_event",
    "process_job",
    "process_report_job",
    "run_account_day",
    "run_account_period",
    "run_record",
]

_HOME = {
    "DayRequest": "job",
    "DigestJob": "job",
    "JobOutcome": "job",
    "RunResult": "job",
    "JobServices": "run",
    "Ports": "run",
    "process_job": "run",
    "run_account_day": "run",
    "run_record": "record",
    "ReportPorts": "report",
    "ReportRequest": "report",
    "process_report_job": "report",
    "run_account_period": "report",
    "handle_dispatch_event": "dispatch",
}


def __getattr__(name: str) -> Any:
    if name not in _HOME:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_HOME[name]}"), name)


def __dir__() -> list[str]:
    return sorted(__all__)
