"""The digest: subject, HTML, plain text and CSV, all rendered from one ``summary.json``.

Everything shown comes from the summary and the arguments (no clock, no network), so a digest
re-rendered from the archive is byte for byte the one that was sent. Numbers are formatted here,
once, and handed to both templates, so the HTML and the text alternative cannot disagree.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, RenderError
from sla_digest.window import load_timezone

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    import css_inline
    import jinja2

__all__ = [
    "HTML_TEMPLATE",
    "TEXT_TEMPLATE",
    "Digest",
    "clean_text",
    "format_duration",
    "render_digest",
]

logger = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"

METRICS: tuple[tuple[str, str], ...] = (
    ("first_response", "First response"),
    ("reply_time", "Reply time"),
    ("conversation_resolved", "Resolution time"),
)
COUNTS: tuple[tuple[str, str], ...] = (
    ("conversation_opened", "Reopened"),
    ("conversation_bot_resolved", "Resolved by a bot"),
    ("conversation_bot_handoff", "Handed off by a bot"),
    ("conversation_captain_inference_resolved", "Resolved by Captain"),
    ("conversation_captain_inference_handoff", "Handed off by Captain"),
)
STATS: tuple[str, ...] = ("mean", "p50", "p90", "p95", "max")
IGNORED: tuple[tuple[str, str], ...] = (
    ("unknown_name", "unknown event name"),
    ("invalid", "invalid value"),
    ("outside_window", "outside the day"),
)

# SLA colours: at least this share met is green, at least WARN amber, below it red. The words
# ("met 94% — target 30m") carry the same information for readers who cannot see the colour.
SLA_GOOD_PERCENT = 95
SLA_WARN_PERCENT = 80
NAME_LIMIT = 40
HEADER_NAME_LIMIT = 60

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
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True)
class Digest:
    """A rendered digest; ``csv`` is UTF-8 with a byte-order mark so spreadsheets read it right."""

    subject: str
    html: str
    text: str
    csv: bytes
    csv_filename: str
    account_id: int | None = None
    date: str | None = None


# ---------------------------------------------------------------------------------------------
# Formatting
# ---------------------------------------------------------------------------------------------


def _half_up(value: float) -> int:
    return math.floor(value + 0.5)


def format_duration(seconds: float | None) -> str:
    """A duration for people: ``42s``, ``4m 12s``, ``3h 05m``, ``2d 03h``; ``—`` when absent.

    Each form rounds to its smallest unit, half up, so 3599.6 s reads ``1h 00m``.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "—"
    whole = _half_up(seconds)
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


def _format_target(seconds: float) -> str:
    """An SLA target as people write it (``30m``, ``4h``, ``1d``) when it is a whole unit."""
    whole = _half_up(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if whole >= size and whole % size == 0:
            return f"{whole // size}{unit}"
    return format_duration(seconds)


def _count(value: Any) -> str:
    return f"{int(value):,}"


def _long_date(day: date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {day.day} {_MONTHS[day.month - 1]} {day.year}"


def clean_text(value: Any) -> str:
    """One tidy line from untrusted text: no control or bidi-override characters, no CR/LF."""
    text = _BIDI_CONTROLS.sub("", str(value))
    text = _CONTROLS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def _cut(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[: limit - 1].rstrip() + "…"


def _has_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(char) in ("R", "AL") for char in text)


def _display_width(text: str) -> int:
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


def _pad(value: Any, width: int, align: str = "left") -> str:
    """Pad to a display width, counting wide characters (CJK, emoji) as two columns."""
    text = str(value)
    fill = " " * max(0, width - _display_width(text))
    return fill + text if align == "right" else text + fill


def _isolate(text: str) -> str:
    """Wrap right-to-left text in FSI…PDI so it cannot reorder the plain-text line around it."""
    return f"\u2068{text}\u2069" if _has_rtl(text) else text


# ---------------------------------------------------------------------------------------------
# The view handed to the templates
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """A change against the previous day: an arrow for the direction, words for the meaning."""

    arrow: str
    words: str
    tone: str  # good | bad | neutral

    @property
    def text(self) -> str:
        return f"{self.arrow} {self.words}" if self.arrow else self.words


@dataclass(frozen=True, slots=True)
class SlaView:
    percent: int | None  # share met, rounded down so 99.9% never reads 100%
    text: str  # "met 94% — target 30m"
    short: str  # "met 94%"
    detail: str  # "47 of 50 within 30m"
    tone: str  # good | warn | bad | neutral
    target: str = ""  # "target 30m"


@dataclass(frozen=True, slots=True)
class Tile:
    label: str
    value: str
    change: Change
    tone: str = "neutral"
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MetricView:
    label: str
    count: str
    mean: str
    p50: str
    p90: str
    p95: str
    max: str
    business_mean: str
    business_p90: str
    sla: SlaView


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    name: str
    text_name: str
    first_responses: str
    first_response_p50: str
    first_response_p90: str
    sla: SlaView
    resolved: str


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    noun: str
    name_header: str
    rows: tuple[Row, ...]
    total: int
    note: str


@dataclass(frozen=True, slots=True)
class _Entity:
    scope: str
    key: str
    name: str
    block: Mapping[str, Any]
    activity: int


def _sla_view(metric: Mapping[str, Any]) -> SlaView:
    sla = metric.get("sla")
    if not sla:
        return SlaView(None, "no target set", "no target", "", "neutral")
    target = _format_target(float(sla["target"]))
    met, breached = int(sla["met"]), int(sla["breached"])
    total = met + breached
    basis = " (business hours)" if sla.get("basis") == "business_hours" else ""
    if total == 0:
        return SlaView(
            None,
            f"nothing measured — target {target}",
            "no data",
            "",
            "neutral",
            f"target {target}",
        )
    # Integer arithmetic: 0.29 * 100 is 28.999… in floating point.
    percent = 100 * met // total
    if percent >= SLA_GOOD_PERCENT:
        tone = "good"
    elif percent >= SLA_WARN_PERCENT:
        tone = "warn"
    else:
        tone = "bad"
    return SlaView(
        percent=percent,
        text=f"met {percent}% — target {target}",
        short=f"met {percent}%",
        detail=f"{met:,} of {total:,} within {target}{basis}",
        tone=tone,
        target=f"target {target}",
    )


def _no_previous() -> Change:
    return Change("", "no earlier day to compare", "neutral")


def _duration_change(current: float | None, previous: float | None, day: str) -> Change:
    if current is None:
        if previous is None:
            return Change("", f"no data on {day} either", "neutral")
        return Change("", f"was {format_duration(previous)} on {day}", "neutral")
    if previous is None:
        return Change("", f"no data on {day}", "neutral")
    if previous == 0:
        if current == 0:
            return Change("●", f"same as {day}", "neutral")
        return Change("▲", f"up from 0s on {day}", "bad")
    percent = _half_up(abs(current - previous) / previous * 100)
    if current == previous:
        return Change("●", f"same as {day}", "neutral")
    if percent == 0:
        return Change("●", f"about the same as {day}", "neutral")
    if current > previous:
        return Change("▲", f"{percent:,}% slower than {day}", "bad")
    return Change("▼", f"{percent:,}% faster than {day}", "good")


def _count_change(current: int, previous: int, day: str) -> Change:
    if current == previous:
        return Change("●", f"same as {day}", "neutral")
    if previous == 0:
        return Change("▲", f"up from 0 on {day}", "neutral")
    percent = _half_up(abs(current - previous) / previous * 100)
    if percent == 0:
        return Change("●", f"about the same as {day}", "neutral")
    if current > previous:
        return Change("▲", f"{percent:,}% more than {day}", "neutral")
    return Change("▼", f"{percent:,}% fewer than {day}", "neutral")


def _sla_change(current: SlaView, previous: SlaView, day: str) -> Change:
    if current.percent is None:
        return Change("", "nothing to compare", "neutral")
    if previous.percent is None:
        return Change("", f"no SLA data on {day}", "neutral")
    # Points between the two shown percentages, so the reader can check the sum.
    points = current.percent - previous.percent
    unit = "pt" if abs(points) == 1 else "pts"
    if points == 0:
        return Change("●", f"same as {day}", "neutral")
    if points > 0:
        return Change("▲", f"{points} {unit} better than {day}", "good")
    return Change("▼", f"{-points} {unit} worse than {day}", "bad")


def _tiles(overall: Mapping[str, Any], previous: Mapping[str, Any] | None) -> list[Tile]:
    metric = overall["first_response"]
    sla = _sla_view(metric)
    count = int(metric["count"])
    if previous is None:
        changes = [_no_previous()] * 5
    else:
        day = str(previous["date"])
        before = previous["overall"]["first_response"]
        changes = [
            _count_change(count, int(before["count"]), day),
            _duration_change(metric["mean"], before["mean"], day),
            _duration_change(metric["p50"], before["p50"], day),
            _duration_change(metric["p90"], before["p90"], day),
            _sla_change(sla, _sla_view(before), day),
        ]
    return [
        Tile("Answered", _count(count), changes[0]),
        Tile("Mean", format_duration(metric["mean"]), changes[1]),
        Tile("Median", format_duration(metric["p50"]), changes[2]),
        Tile("p90", format_duration(metric["p90"]), changes[3]),
        Tile(
            "SLA met",
            "—" if sla.percent is None else f"{sla.percent}%",
            changes[4],
            tone=sla.tone,
            detail=sla.target or sla.text,
        ),
    ]


def _metric_view(label: str, metric: Mapping[str, Any]) -> MetricView:
    business = metric.get("business_hours") or {}
    return MetricView(
        label=label,
        count=_count(metric["count"]),
        mean=format_duration(metric["mean"]),
        p50=format_duration(metric["p50"]),
        p90=format_duration(metric["p90"]),
        p95=format_duration(metric["p95"]),
        max=format_duration(metric["max"]),
        business_mean=format_duration(business.get("mean")),
        business_p90=format_duration(business.get("p90")),
        sla=_sla_view(metric),
    )


def _display_name(scope: str, key: str, raw: Any) -> str:
    if key == "none":
        return "Unassigned" if scope == "agent" else "No inbox"
    noun = "Agent" if scope == "agent" else "Inbox"
    if raw is None:
        gone = "(no longer in the account)" if scope == "agent" else "(deleted)"
        return f"{noun} #{key} {gone}"
    return clean_text(raw) or f"{noun} #{key}"


def _activity(block: Mapping[str, Any]) -> int:
    events = sum(int(block[metric]["count"]) for metric, _ in METRICS)
    return events + sum(int(block["counts"].get(name, 0)) for name, _ in COUNTS)


def _entities(scope: str, blocks: Mapping[str, Any]) -> list[_Entity]:
    """The rows of one scope, busiest first; ties in id order so the order never wobbles."""
    entities = [
        _Entity(
            scope,
            str(key),
            _display_name(scope, str(key), block.get("name")),
            block,
            _activity(block),
        )
        for key, block in blocks.items()
    ]

    def order(entity: _Entity) -> tuple[int, int, int, str]:
        numeric = entity.key.isdigit()
        return (
            -entity.activity,
            0 if numeric else 1,
            int(entity.key) if numeric else 0,
            entity.key,
        )

    return sorted(entities, key=order)


def _row(entity: _Entity) -> Row:
    first = entity.block["first_response"]
    name = _cut(entity.name, NAME_LIMIT)
    return Row(
        key=entity.key,
        name=name,
        text_name=_isolate(name),
        first_responses=_count(first["count"]),
        first_response_p50=format_duration(first["p50"]),
        first_response_p90=format_duration(first["p90"]),
        sla=_sla_view(first),
        resolved=_count(entity.block["conversation_resolved"]["count"]),
    )


def _table(
    title: str, noun: str, name_header: str, entities: list[_Entity], max_rows: int
) -> Table:
    shown = entities[:max_rows]
    note = ""
    if len(entities) > len(shown):
        note = f"showing {len(shown)} of {len(entities):,} {noun}; all rows in the attached CSV"
    return Table(title, noun, name_header, tuple(_row(e) for e in shown), len(entities), note)


def _local_time(moment: datetime, zone_name: str) -> str:
    local = moment.astimezone(load_timezone(zone_name))
    abbreviation = local.tzname() or ""
    if abbreviation[:1] in ("+", "-"):
        abbreviation = f"UTC{abbreviation}"
    return f"{local:%Y-%m-%d %H:%M} {abbreviation}".rstrip()


def _parse_instant(text: str) -> datetime:
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _missing_text(missing: Any) -> str:
    if isinstance(missing, bool) or missing is None:
        return "some events could not be fetched"
    if isinstance(missing, int):
        if missing <= 0:
            # Rows were written or deleted faster than the passes could settle: Chatwoot's count
            # no longer exceeds what was fetched, but the snapshot is not consistent either.
            return (
                "the data in Chatwoot changed while it was fetched, so some events may be missing"
            )
        noun = "event" if missing == 1 else "events"
        return f"{missing:,} {noun} reported by Chatwoot could not be fetched"
    if isinstance(missing, Mapping):
        parts = ", ".join(f"{clean_text(k)}: {clean_text(v)}" for k, v in missing.items())
        return f"missing: {parts}"
    if isinstance(missing, list | tuple):
        return "missing: " + ", ".join(clean_text(item) for item in missing)
    return f"missing: {clean_text(missing)}"


def _reports_url(base_url: Any, account_id: int) -> str | None:
    """The account's reports page; only an http(s) base can become a link."""
    base = clean_text(base_url).rstrip("/")
    if not base.lower().startswith(("https://", "http://")) or any(c in base for c in " \"'<>"):
        return None
    return f"{base}/app/accounts/{account_id}/reports/overview"


def _subject(name: str, day: str, first: Mapping[str, Any], sla: SlaView, complete: bool) -> str:
    if int(first["count"]) == 0:
        headline = "no first responses"
    else:
        headline = f"first response p90 {format_duration(first['p90'])}"
        if sla.percent is not None:
            headline += f", SLA met {sla.percent}%"
    subject = f"{_cut(name, HEADER_NAME_LIMIT)} SLA digest {day}: {headline}"
    return subject + (" (incomplete data)" if not complete else "")


def _view(
    summary: Mapping[str, Any],
    archive_location: str,
    max_rows: int,
    inboxes: list[_Entity],
    agents: list[_Entity],
) -> dict[str, Any]:
    if summary.get("schema_version") != 1:
        raise RenderError(
            f"summary schema_version {summary.get('schema_version')!r} is not supported: "
            "this version renders schema_version 1"
        )
    account_id = int(summary["account_id"])
    zone = str(summary["timezone"])
    day = date.fromisoformat(str(summary["date"]))
    source = summary["source"]
    overall = summary["overall"]
    previous = summary.get("previous")
    name = clean_text(summary.get("account_name") or "") or f"Account #{account_id}"
    first_sla = _sla_view(overall["first_response"])
    complete = bool(source.get("complete", True))
    generated = _parse_instant(str(summary["generated_at"]))
    window = summary["window"]
    since = datetime.fromtimestamp(int(window["since"]), UTC)
    until = datetime.fromtimestamp(int(window["until"]), UTC)
    hours = (until - since).total_seconds() / 3600
    ignored = source.get("ignored") or {}
    tiles = _tiles(overall, previous)
    subject = clean_text(
        _subject(name, day.isoformat(), overall["first_response"], first_sla, complete)
    )
    first = overall["first_response"]
    preheader = (
        f"{_count(first['count'])} first responses, mean {format_duration(first['mean'])}, "
        f"median {format_duration(first['p50'])}; {first_sla.text}."
    )
    return {
        "subject": subject,
        "preheader": preheader,
        "account_id": account_id,
        "account_name": _cut(name, HEADER_NAME_LIMIT),
        "text_account_name": _isolate(_cut(name, HEADER_NAME_LIMIT)),
        "date": day.isoformat(),
        "date_long": _long_date(day),
        "timezone": zone,
        "window_hours": f"{hours:g}",
        "window_from": _local_time(since, zone),
        "window_to": _local_time(until, zone),
        "partial": generated < until,
        "generated": _local_time(generated, zone),
        "compare_date": None if previous is None else str(previous["date"]),
        "compare_date_long": (
            None if previous is None else _long_date(date.fromisoformat(str(previous["date"])))
        ),
        "tiles": tiles,
        "metrics": [_metric_view(label, overall[key]) for key, label in METRICS],
        "counts": [(label, _count(overall["counts"].get(key, 0))) for key, label in COUNTS],
        "resolutions": _count(overall["conversation_resolved"]["count"]),
        "inboxes": _table("Inboxes", "inboxes", "Inbox", inboxes, max_rows),
        "agents": _table("Agents", "agents", "Agent", agents, max_rows),
        "complete": complete,
        "missing_text": "" if complete else _missing_text(source.get("missing")),
        "events": _count(source["events"]),
        "pages": _count(source["pages"]),
        "ignored_total": _count(sum(int(ignored.get(key, 0)) for key, _ in IGNORED)),
        "ignored": [(label, _count(ignored.get(key, 0))) for key, label in IGNORED],
        "archive_location": clean_text(archive_location),
        "reports_url": _reports_url(source.get("base_url", ""), account_id),
        "csv_filename": _csv_filename(account_id, day.isoformat()),
    }


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def _csv_filename(account_id: int, day: str) -> str:
    return f"sla-digest-{account_id}-{day}.csv"


def _csv_number(value: Any, places: int = 3) -> str:
    if value is None:
        return ""
    text = f"{float(value):.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def _neutralise(cell: str) -> str:
    """Stop spreadsheets from running a cell as a formula (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv_header() -> list[str]:
    header = ["scope", "id", "name"]
    for metric, _ in METRICS:
        header += [f"{metric}_count"]
        header += [f"{metric}_{stat}_s" for stat in STATS]
        header += [f"{metric}_business_hours_{stat}_s" for stat in STATS]
        header += [
            f"{metric}_sla_target_s",
            f"{metric}_sla_met",
            f"{metric}_sla_breached",
            f"{metric}_sla_compliance",
        ]
    return header + [name for name, _ in COUNTS]


def _csv_row(entity: _Entity) -> list[str]:
    block = entity.block
    row = [entity.scope, entity.key, entity.name]
    for metric, _ in METRICS:
        values = block[metric]
        business = values.get("business_hours") or {}
        sla = values.get("sla") or {}
        row.append(_count(values["count"]).replace(",", ""))
        row += [_csv_number(values.get(stat)) for stat in STATS]
        row += [_csv_number(business.get(stat)) for stat in STATS]
        row += [
            _csv_number(sla.get("target")),
            "" if not sla else str(int(sla["met"])),
            "" if not sla else str(int(sla["breached"])),
            _csv_number(sla.get("compliance"), places=4),
        ]
    return row + [str(int(block["counts"].get(name, 0))) for name, _ in COUNTS]


def _csv(entities: Iterable[_Entity]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(_csv_header())
    for entity in entities:
        writer.writerow([_neutralise(cell) for cell in _csv_row(entity)])
    return buffer.getvalue().encode("utf-8-sig")


# ---------------------------------------------------------------------------------------------
# Templates
# ---------------------------------------------------------------------------------------------


def _nowrap_dates(text: str) -> Any:
    """Escape ``text`` and keep its ISO dates on one line (a narrow tile broke them at hyphens)."""
    from markupsafe import Markup, escape

    parts: list[Markup] = []
    start = 0
    for match in _ISO_DATE.finditer(text):
        parts += [escape(text[start : match.start()]), _nowrap_span().format(match.group())]
        start = match.end()
    parts.append(escape(text[start:]))
    return Markup("").join(parts)


@dataclass(frozen=True, slots=True)
class _Renderer:
    environment: jinja2.Environment
    inline: Callable[[str], str]


@lru_cache(maxsize=1)
def _nowrap_span() -> Any:
    from markupsafe import Markup

    return Markup('<span class="nw">{}</span>')


@lru_cache(maxsize=8)
def _renderer(templates_dir: Path) -> _Renderer:
    # Imported here: the Lambda pays for Jinja2 and the inliner only when it renders.
    import css_inline
    import jinja2

    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        autoescape=jinja2.select_autoescape(
            enabled_extensions=("html", "html.j2"),
            disabled_extensions=("txt", "txt.j2", "css"),
            default_for_string=True,
            default=True,
        ),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["pad"] = _pad
    environment.filters["width"] = _display_width
    environment.filters["nowrap_dates"] = _nowrap_dates
    inliner: css_inline.CSSInliner = css_inline.CSSInliner(
        load_remote_stylesheets=False, keep_at_rules=True, minify_css=True
    )
    return _Renderer(environment=environment, inline=inliner.inline)


def _render(renderer: _Renderer, name: str, view: Mapping[str, Any], where: Path) -> str:
    import jinja2

    try:
        return renderer.environment.get_template(name).render(view)
    except jinja2.TemplateNotFound as exc:
        raise RenderError(f"digest template {exc.name!r} not found in {where}") from exc
    except jinja2.TemplateError as exc:
        message = clean_text(exc.message or type(exc).__name__)
        raise RenderError(f"digest template {name} in {where} failed: {message}") from exc


def render_digest(
    summary: Mapping[str, Any],
    *,
    templates_dir: Path,
    archive_location: str,
    max_rows: int = 25,
) -> Digest:
    """Render the digest of one account-day from its summary (schema_version 1).

    Tables show the ``max_rows`` busiest inboxes and agents so the HTML stays far below the
    102 KB at which Gmail clips a message; the CSV attachment carries every row.
    """
    if max_rows < 1:
        raise RenderError(f"max_rows must be at least 1, not {max_rows}")
    templates_dir = Path(templates_dir).resolve()
    if not templates_dir.is_dir():
        raise RenderError(f"templates folder {templates_dir} does not exist")
    try:
        inboxes = _entities("inbox", summary.get("by_inbox") or {})
        agents = _entities("agent", summary.get("by_agent") or {})
        view = _view(summary, archive_location, max_rows, inboxes, agents)
        table = _csv(inboxes + agents)
    except ConfigError as exc:
        raise RenderError(f"summary has an unusable time zone: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RenderError(
            f"summary is not a valid schema_version 1 summary ({type(exc).__name__}: "
            f"{clean_text(exc)})"
        ) from exc
    renderer = _renderer(templates_dir)
    html = _render(renderer, HTML_TEMPLATE, view, templates_dir)
    text = _render(renderer, TEXT_TEMPLATE, view, templates_dir)
    try:
        inlined = renderer.inline(html)
    except ValueError as exc:  # css_inline.InlineError
        raise RenderError(f"the digest's CSS could not be inlined: {clean_text(exc)}") from exc
    logger.debug("rendered digest: %d bytes of HTML, %d of CSV", len(inlined), len(table))
    return Digest(
        subject=view["subject"],
        html=inlined,
        text=text,
        csv=table,
        csv_filename=view["csv_filename"],
        account_id=view["account_id"],
        date=view["date"],
    )
