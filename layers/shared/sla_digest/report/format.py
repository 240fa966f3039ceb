"""How numbers, dates and untrusted names read in the digest, its subject and the CLI.

One function per kind of value, so the email, its plain-text part, the subject line and the
terminal can never disagree about how a figure is shown. Pure functions: no Jinja2, no clock.
"""

from __future__ import annotations

import math
import re
import unicodedata
from datetime import UTC, date, datetime
from typing import Any

from sla_digest.window import load_timezone

__all__ = [
    "NO_VALUE",
    "clean_text",
    "cut",
    "display_width",
    "floor_percent",
    "format_count",
    "format_duration",
    "format_percent",
    "format_target",
    "half_up",
    "isolate",
    "local_time",
    "long_date",
    "month_year",
    "pad",
    "parse_instant",
    "short_date",
]

NO_VALUE = "—"
"""Shown where there is nothing to measure."""

_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# Embeddings, overrides and isolates: a name must not be able to reorder the text around it.
_BIDI_CONTROLS = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_SPACES = re.compile(r"\s+")


# ---------------------------------------------------------------------------------------------
# Numbers
# ---------------------------------------------------------------------------------------------


def half_up(value: float) -> int:
    """``value`` rounded to a whole number, halves up (durations and changes, not shares)."""
    return math.floor(value + 0.5)


def floor_percent(part: int, whole: int) -> int:
    """``part`` of ``whole`` in whole percent, rounded down.

    Rounded down so a share is never overstated: 92.5 % reads 92 %, and 9,999 of 10,000 reads
    99 %, never 100 % while anything was missed. Integer arithmetic, because the float
    ``0.29 * 100`` is 28.999…, which rounding down would show as 28 %.
    """
    if whole <= 0:
        raise ValueError(f"a share needs a positive whole, not {whole}")
    return 100 * part // whole


def format_percent(part: int, whole: int) -> str:
    """A share for people, ``92%``, by :func:`floor_percent`; ``—`` when ``whole`` is 0.

    The one formatter of SLA compliance: the subject, both parts of the digest and the CLI's
    headline all show a share through it, so they always state the same figure.
    """
    if whole == 0:
        return NO_VALUE
    return f"{floor_percent(part, whole)}%"


def format_duration(seconds: float | None) -> str:
    """A duration for people: ``42s``, ``4m 12s``, ``3h 05m``, ``2d 03h``; ``—`` when absent.

    Each form rounds to its smallest unit, half up, so 3599.6 s reads ``1h 00m``.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return NO_VALUE
    whole = half_up(seconds)
    if whole < 60:
        return f"{whole}s"
    if whole < 3600:
        minutes, rest = divmod(whole, 60)
        return f"{minutes}m {rest:02d}s"
    minutes = (whole + 30) // 60
    if minutes < 24 * 60:
        hours, rest = divmod(minutes, 60)
        return f"{hours}h {rest:02d}m"
    days, hours = divmod((whole + 1800) // 3600, 24)
    return f"{days}d {hours:02d}h"


def format_target(seconds: float) -> str:
    """An SLA target as people write it (``30m``, ``4h``, ``1d``) when it is a whole unit."""
    whole = half_up(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return format_duration(seconds)


def format_count(value: Any) -> str:
    """A count with thousands separators: ``12,345``."""
    return f"{int(value):,}"


# ---------------------------------------------------------------------------------------------
# Dates and times
# ---------------------------------------------------------------------------------------------


def long_date(day: date) -> str:
    """``Friday 20 November 2026``: English, whatever the machine's locale."""
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def short_date(day: date, *, weekday: bool = False) -> str:
    """``16 Nov`` (``Mon 16 Nov`` with ``weekday``): a day inside a week or month."""
    text = f"{day.day} {_MONTHS[day.month - 1][:3]}"
    return f"{_WEEKDAYS[day.weekday()][:3]} {text}" if weekday else text


def month_year(day: date) -> str:
    """``November 2026``: the month ``day`` falls in."""
    return f"{_MONTHS[day.month - 1]} {day.year}"


def local_time(moment: datetime, zone_name: str) -> str:
    """``2026-11-21 07:00 CET`` in the account's zone; numeric abbreviations read ``UTC+03``."""
    local = moment.astimezone(load_timezone(zone_name))
    abbreviation = local.tzname() or ""
    if abbreviation[:1] in ("+", "-"):
        abbreviation = f"UTC{abbreviation}"
    return f"{local:%Y-%m-%d %H:%M} {abbreviation}".rstrip()


def parse_instant(text: str) -> datetime:
    """An ISO-8601 time; one without an offset is taken as UTC (how the archive writes them)."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


# ---------------------------------------------------------------------------------------------
# Untrusted text
# ---------------------------------------------------------------------------------------------


def clean_text(value: Any) -> str:
    """One tidy line from untrusted text: no control or bidi-override characters, no CR/LF."""
    text = _BIDI_CONTROLS.sub("", str(value))
    text = _CONTROLS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def cut(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters, the cut marked with an ellipsis."""
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


def display_width(text: str) -> int:
    """Columns a fixed-width font gives ``text``: wide characters two, marks and joins none."""
    width = 0
    joined = False
    for char in text:
        if (
            joined
            or unicodedata.combining(char)
            or unicodedata.category(char) in ("Mn", "Me", "Cf")
        ):
            # A character after a zero-width joiner belongs to the emoji before it.
            joined = char == "\u200d"
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def pad(value: Any, width: int, align: str = "left") -> str:
    """Pad to a display width, counting wide characters (CJK, emoji) as two columns."""
    text = str(value)
    fill = " " * max(0, width - display_width(text))
    return fill + text if align == "right" else text + fill


def isolate(text: str) -> str:
    """Wrap right-to-left text in FSI…PDI so it cannot reorder the plain-text line around it."""
    return f"\u2068{text}\u2069" if _has_rtl(text) else text
