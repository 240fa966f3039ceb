"""Configuration: durations, SLA targets and (later) the ``accounts.json`` document."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Literal

from .exceptions import ConfigError

__all__ = ["SLA_METRICS", "SlaBasis", "SlaTargets", "parse_duration", "parse_sla_flag"]

SlaBasis = Literal["calendar", "business_hours"]
SLA_METRICS: tuple[str, ...] = ("first_response", "reply_time", "conversation_resolved")

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(raw: Any, *, where: str = "duration") -> float:
    """Seconds from a number or a string like ``90s``, ``30m``, ``4h``, ``1d``."""
    if isinstance(raw, bool):
        raise ConfigError(f"{where}: {raw!r} is not a duration such as 90, '90s', '30m' or '4h'")
    if isinstance(raw, int | float):
        seconds = float(raw)
    elif isinstance(raw, str) and (match := _DURATION.match(raw.strip())):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ConfigError(f"{where}: {raw!r} is not a duration such as 90, '90s', '30m' or '4h'")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ConfigError(f"{where}: {raw!r} must be a positive duration")
    return seconds


@dataclass(frozen=True, slots=True)
class SlaTargets:
    """Seconds allowed per metric; ``None`` where no target is set."""

    first_response: float | None = None
    reply_time: float | None = None
    conversation_resolved: float | None = None
    basis: SlaBasis = "calendar"

    def target(self, metric: str) -> float | None:
        value: float | None = getattr(self, metric)
        return value


def parse_sla_flag(text: str, *, basis: SlaBasis = "calendar") -> SlaTargets:
    """Targets from the CLI form ``first_response=30m,reply_time=1h,conversation_resolved=24h``."""
    values: dict[str, float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        metric, sep, duration = part.partition("=")
        metric = metric.strip()
        if not sep or metric not in SLA_METRICS:
            raise ConfigError(
                f"--sla: {part!r} is not METRIC=DURATION with METRIC one of {', '.join(SLA_METRICS)}"
            )
        if metric in values:
            raise ConfigError(f"--sla: {metric} is given twice")
        values[metric] = parse_duration(duration.strip(), where=f"--sla {metric}")
    return SlaTargets(basis=basis, **values)
