"""The dispatch function's events, parsed strictly into a :class:`DispatchRequest`.

Three forms (README, Operations): a schedule tick ``{"scheduled_time": ...}``, a manual run
``{"accounts": [7], "date": "2026-11-20"}`` and a backfill ``{"from": ..., "to": ...}``. A manual
run or backfill may name a ``"period"`` (``day``, the default, ``week`` or ``month``): then
``date`` is the first day of that period, and a backfill queues every period whose first day
lies from ``from`` to ``to``.
Anything else, an unknown key or a bad value is one :class:`ConfigError` line naming what to
fix, so a person invoking the function by hand learns it at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, Literal

from sla_digest.exceptions import ConfigError, WindowError
from sla_digest.report.periods import PERIOD_KINDS, parse_period
from sla_digest.window import parse_date

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sla_digest.report.periods import PeriodKind

__all__ = ["BACKFILL_LIMIT_DAYS", "DispatchRequest", "parse_event"]

BACKFILL_LIMIT_DAYS = 92  # from "from" to "to", whatever the period: ~13 weeks, 3 months
_SCHEDULE_KEYS = frozenset({"scheduled_time", "execution_id"})
_MANUAL_KEYS = frozenset({"accounts", "period", "date", "force", "deliver"})
_BACKFILL_KEYS = frozenset({"accounts", "period", "from", "to", "force", "deliver"})
_LIMIT_HINT = {
    "week": " (for weeks too: about 13 weeks start in 92 days)",
    "month": " (for months too: 3 months start in 92 days)",
}
_EVENT_HELP = (
    'expected {"scheduled_time": ...}, {"accounts": [7], "date": "YYYY-MM-DD", "force": false} '
    'or {"accounts": [7], "from": "YYYY-MM-DD", "to": "YYYY-MM-DD"}'
)


@dataclass(frozen=True, slots=True)
class DispatchRequest:
    """A parsed dispatch event: a schedule tick, or a manual run over ``first``..``last``.

    ``period`` (manual and backfill only) is what to queue: days, or the weeks or months whose
    first day lies in ``first``..``last``. ``deliver`` false archives and summarises without
    delivering.
    """

    kind: Literal["schedule", "manual", "backfill"]
    scheduled_time: datetime | None = None
    execution_id: str | None = None
    accounts: tuple[int, ...] | None = None
    first: date | None = None
    last: date | None = None
    force: bool = False
    deliver: bool = True
    period: PeriodKind = "day"


def parse_event(event: Any) -> DispatchRequest:
    """A schedule, manual or backfill event, checked strictly; anything else is a ConfigError."""
    if not isinstance(event, dict):
        raise ConfigError(f"dispatch event must be a JSON object: {_EVENT_HELP}")
    keys = set(event)
    if "scheduled_time" in keys:
        _refuse_unknown(keys, _SCHEDULE_KEYS)
        return DispatchRequest(
            kind="schedule",
            scheduled_time=_parse_instant(event["scheduled_time"]),
            execution_id=_optional_text(event.get("execution_id"), "execution_id"),
        )
    if "date" in keys:
        _refuse_unknown(keys, _MANUAL_KEYS)
        day = _parse_day(event["date"], "date")
        return DispatchRequest(
            kind="manual",
            accounts=_parse_accounts(event),
            first=day,
            last=day,
            force=_parse_flag(event, "force", default=False),
            deliver=_parse_flag(event, "deliver", default=True),
            period=_parse_period(event),
        )
    if "from" in keys or "to" in keys:
        _refuse_unknown(keys, _BACKFILL_KEYS)
        if "from" not in keys or "to" not in keys:
            raise ConfigError('backfill event needs both "from" and "to" (YYYY-MM-DD)')
        first, last = _parse_day(event["from"], "from"), _parse_day(event["to"], "to")
        period = _parse_period(event)
        if first > last:
            raise ConfigError(f"backfill from {first} is after to {last}")
        days = (last - first).days + 1
        if days > BACKFILL_LIMIT_DAYS:
            # The same span for weeks and months: it bounds the days their jobs read.
            raise ConfigError(
                f"backfill of {days} days is too long: send at most {BACKFILL_LIMIT_DAYS} "
                "days per event" + _LIMIT_HINT.get(period, "")
            )
        return DispatchRequest(
            kind="backfill",
            accounts=_parse_accounts(event),
            first=first,
            last=last,
            force=_parse_flag(event, "force", default=False),
            deliver=_parse_flag(event, "deliver", default=True),
            period=period,
        )
    raise ConfigError(f"dispatch event is not one of the known forms: {_EVENT_HELP}")


def _refuse_unknown(keys: set[str], allowed: frozenset[str]) -> None:
    unknown = sorted(keys - allowed)
    if unknown:
        raise ConfigError(
            f"dispatch event has unknown key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _parse_instant(raw: Any) -> datetime:
    if isinstance(raw, str):
        try:
            instant = datetime.fromisoformat(raw)
        except ValueError:
            instant = None
        if instant is not None and instant.tzinfo is not None:
            return instant.astimezone(UTC)
    raise ConfigError(
        f"scheduled_time {raw!r} is not an ISO-8601 instant with a zone, "
        "such as '2026-11-21T06:00:00Z'"
    )


def _parse_day(raw: Any, key: str) -> date:
    if not isinstance(raw, str):
        raise ConfigError(f"{key} {raw!r} is not a date in the form YYYY-MM-DD")
    try:
        return parse_date(raw)
    except WindowError as exc:
        raise ConfigError(f"{key}: {exc}") from exc


def _parse_period(event: Mapping[str, Any]) -> PeriodKind:
    """``period`` of a manual or backfill event: ``day`` (the default), ``week`` or ``month``."""
    try:
        return parse_period(event.get("period", "day"), allowed=PERIOD_KINDS)
    except ConfigError as exc:
        raise ConfigError(f"dispatch event: {exc}") from exc


def _parse_accounts(event: Mapping[str, Any]) -> tuple[int, ...] | None:
    if "accounts" not in event:
        return None
    raw = event["accounts"]
    if (
        not isinstance(raw, list)
        or not raw
        or not all(isinstance(a, int) and not isinstance(a, bool) and a > 0 for a in raw)
    ):
        raise ConfigError(
            f"accounts {raw!r} must be a non-empty list of account ids (omit it for all accounts)"
        )
    return tuple(dict.fromkeys(raw))


def _parse_flag(event: Mapping[str, Any], key: str, *, default: bool) -> bool:
    value = event.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{key} {value!r} must be true or false")
    return value


def _optional_text(raw: Any, key: str) -> str | None:
    if raw is None or isinstance(raw, str):
        return raw
    raise ConfigError(f"{key} {raw!r} must be a string")
