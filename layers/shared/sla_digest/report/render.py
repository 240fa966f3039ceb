"""The digest: subject, HTML, plain text and CSV, all rendered from one :class:`Summary`.

Everything shown comes from the summary and the arguments (no clock, no network), so a digest
re-rendered from the archive is byte for byte the one that was sent. The figures are worked
out once by :mod:`sla_digest.report.view` and handed to both templates; this module owns the
Jinja2 environment, the CSS inlining and the CSV attachment.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, RenderError
from sla_digest.report.format import clean_text, display_width, format_duration, pad
from sla_digest.report.metrics import COUNTS, METRICS
from sla_digest.report.period_view import day_csv_rows, period_names, period_parts
from sla_digest.report.summary import STATISTICS
from sla_digest.report.view import digest_view, entities

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping

    import css_inline
    import jinja2

    from sla_digest.report.summary import Summary
    from sla_digest.report.view import Entity

__all__ = [
    "HTML_TEMPLATE",
    "TEXT_TEMPLATE",
    "Attachment",
    "Digest",
    "clean_text",
    "format_duration",
    "neutralise",
    "prepare_renderer",
    "render_digest",
]

logger = logging.getLogger(__name__)

HTML_TEMPLATE = "digest.html.j2"
TEXT_TEMPLATE = "digest.txt.j2"

PERIOD_MAX_ROWS = 20
"""Table rows of a weekly or monthly digest: its day chart (up to 31 rows) takes their room."""
_ISO_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\n")


@dataclass(frozen=True, slots=True)
class Attachment:
    """A further CSV file sent with the digest (``breaches.csv``), UTF-8 with a byte-order mark."""

    filename: str
    data: bytes


@dataclass(frozen=True)
class Digest:
    """A rendered digest; ``csv`` is UTF-8 with a byte-order mark so spreadsheets read it right.

    ``attachments`` are further CSV files to send after ``csv`` (the rows over a target).
    """

    subject: str
    html: str
    text: str
    csv: bytes
    csv_filename: str
    account_id: int | None = None
    date: str | None = None
    attachments: tuple[Attachment, ...] = ()


# ---------------------------------------------------------------------------------------------
# CSV
# ---------------------------------------------------------------------------------------------


def _csv_number(value: Any, places: int = 3) -> str:
    if value is None:
        return ""
    text = f"{float(value):.{places}f}".rstrip("0").rstrip(".")
    return text or "0"


def neutralise(cell: str) -> str:
    """Stop spreadsheets from running a cell as a formula (CSV injection)."""
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv_header() -> list[str]:
    header = ["scope", "id", "name"]
    for spec in METRICS:
        metric = spec.key
        header += [f"{metric}_count"]
        header += [f"{metric}_{stat}_s" for stat in STATISTICS]
        header += [f"{metric}_business_hours_{stat}_s" for stat in STATISTICS]
        header += [
            f"{metric}_sla_target_s",
            f"{metric}_sla_met",
            f"{metric}_sla_breached",
            f"{metric}_sla_compliance",
        ]
    return header + [spec.key for spec in COUNTS]


def _csv_row(entity: Entity) -> list[str]:
    block = entity.block
    row = [entity.scope, entity.key, entity.name]
    for spec in METRICS:
        metric = block.metrics[spec.key]
        sla = metric.sla
        row.append(str(int(metric.count)))
        row += [_csv_number(getattr(metric, stat)) for stat in STATISTICS]
        row += [_csv_number(getattr(metric.business_hours, stat)) for stat in STATISTICS]
        if sla is None:
            row += ["", "", "", ""]
        else:
            row += [
                _csv_number(sla.target),
                str(int(sla.met)),
                str(int(sla.breached)),
                _csv_number(sla.compliance, places=4),
            ]
    return row + [str(int(block.counts.get(spec.key, 0))) for spec in COUNTS]


def _csv(rows: Iterable[Entity], summary: Summary) -> bytes:
    """Inboxes and agents, then (a week or month) one row per day read."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    header = _csv_header()
    writer.writerow(header)
    for entity in rows:
        writer.writerow([neutralise(cell) for cell in _csv_row(entity)])
    for cells in day_csv_rows(summary, header, _csv_number):
        writer.writerow([neutralise(cell) for cell in cells])
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
    environment.filters["pad"] = pad
    environment.filters["width"] = display_width
    environment.filters["nowrap_dates"] = _nowrap_dates
    inliner: css_inline.CSSInliner = css_inline.CSSInliner(
        load_remote_stylesheets=False, keep_at_rules=True, minify_css=True
    )
    return _Renderer(environment=environment, inline=inliner.inline)


def prepare_renderer(templates_dir: Path) -> None:
    """Load Jinja2, the CSS inliner and the digest's templates before :func:`render_digest`
    needs them: a run does it on a thread while its fetch waits on Chatwoot.

    A missing folder or a broken template is left for :func:`render_digest` to report, at the
    point of the run where it always has.
    """
    import jinja2

    templates_dir = Path(templates_dir).resolve()
    if not templates_dir.is_dir():
        return
    environment = _renderer(templates_dir).environment
    for name in (HTML_TEMPLATE, TEXT_TEMPLATE):
        try:
            environment.get_template(name)  # compiled once, kept by the environment
        except jinja2.TemplateError:
            return


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
    summary: Summary,
    *,
    templates_dir: Path,
    archive_location: str,
    max_rows: int = 25,
) -> Digest:
    """Render the digest of one account-day, week or month from its summary.

    Tables show ``max_rows`` inboxes and agents (most breaches, then busiest, first; a week or
    month at most :data:`PERIOD_MAX_ROWS`, beside its chart) so the HTML stays below the 102 KB
    at which Gmail clips a message; the CSV attachment carries every row. A stored
    ``summary.json`` is read with :meth:`Summary.from_dict` first.
    """
    if max_rows < 1:
        raise RenderError(f"max_rows must be at least 1, not {max_rows}")
    templates_dir = Path(templates_dir).resolve()
    if not templates_dir.is_dir():
        raise RenderError(f"templates folder {templates_dir} does not exist")
    try:
        if summary.by_day is not None:
            max_rows = min(max_rows, PERIOD_MAX_ROWS)
        inboxes = entities("inbox", summary.by_inbox)
        agents = entities("agent", summary.by_agent)
        view = digest_view(
            summary, archive_location, max_rows, inboxes, agents, **period_names(summary)
        )
        view.update(period_parts(summary, view))
        table = _csv(inboxes + agents, summary)
    except ConfigError as exc:
        raise RenderError(f"summary has an unusable time zone: {exc}") from exc
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise RenderError(
            f"summary is not a valid summary ({type(exc).__name__}: {clean_text(exc)})"
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
