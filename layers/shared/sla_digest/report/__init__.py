"""The report: from one day's events to the summary and the digest people read.

It owns the summary (``summary.json`` as typed records, the arithmetic behind it and its
JSON Schema), the catalogue of metrics it measures, how figures are formatted, and the
rendered digest (subject, HTML, plain text, CSV). The names below are loaded on first use
(PEP 562), so importing one module of the package never pulls Jinja2 in with the renderer.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_digest.report.format import format_duration, format_percent
    from sla_digest.report.metrics import COUNTS, METRICS, CountSpec, MetricSpec
    from sla_digest.report.render import Digest, render_digest
    from sla_digest.report.summary import (
        Block,
        Metric,
        NamedBlock,
        Previous,
        Sla,
        Source,
        Stats,
        Summary,
        build_summary,
        validate_summary,
    )

__all__ = [
    "COUNTS",
    "METRICS",
    "Block",
    "CountSpec",
    "Digest",
    "Metric",
    "MetricSpec",
    "NamedBlock",
    "Previous",
    "Sla",
    "Source",
    "Stats",
    "Summary",
    "build_summary",
    "format_duration",
    "format_percent",
    "render_digest",
    "validate_summary",
]

_HOMES = {
    "format": ("format_duration", "format_percent"),
    "metrics": ("COUNTS", "METRICS", "CountSpec", "MetricSpec"),
    "render": ("Digest", "render_digest"),
    "summary": (
        "Block",
        "Metric",
        "NamedBlock",
        "Previous",
        "Sla",
        "Source",
        "Stats",
        "Summary",
        "build_summary",
        "validate_summary",
    ),
}
_MODULE_OF = {name: module for module, names in _HOMES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
