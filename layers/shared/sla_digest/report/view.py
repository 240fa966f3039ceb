"""What the digest shows, worked out from a :class:`~sla_digest.report.summary.Summary`.

Every figure is formatted here, once, and handed to both templates (and the CSV takes the
same rows), so the HTML and the text alternative cannot disagree. Nothing here knows Jinja2:
the view is plain records and strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sla_digest.report.follow_up_view import follow_up_view
from sla_digest.report.format import (
    NO_VALUE,
    clean_text,
    cut,
    floor_percent,
    format_count,
    format_duration,
    format_percent,
    format_target,
    half_up,
    isolate,
    local_time,
    long_date,
    parse_instant,
)
from sla_digest.report.metrics import COUNTS, HEADLINE, IGNORED, METRICS
from sla_digest.report.summary import NO_ID

if TYPE_CHECKING:
    from collections.abc import Mapping

    from sla_digest.report.summary import Block, Metric, NamedBlock, Previous, Summary

__all__ = [
    "HEADER_NAME_LIMIT",
    "NAME_LIMIT",
    "SLA_GOOD_PERCENT",
    "SLA_WARN_PERCENT",
    "Change",
    "Entity",
    "MetricView",
    "Row",
    "SlaView",
    "Table",
    "Tile",
    "csv_filename",
    "digest_view",
    "entities",
    "headline",
    "sla_view",
]

# SLA colours: at least this share met is green, at least WARN amber, below it red. The words
# ("met 94% — target 30m") carry the same information for readers who cannot see the colour.
SLA_GOOD_PERCENT = 95
SLA_WARN_PERCENT = 80
NAME_LIMIT = 40
HEADER_NAME_LIMIT = 60


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
    percent: int | None  # share met, rounded down (floor_percent) so 99.9% never reads 100%
    text: str  # "met 94% — target 30m"
    short: str  # "met 94%"
    detail: str  # "47 of 50 within 30m"
    tone: str  # good | warn | bad | neutral
    target: str = ""  # "target 30m"
    value: str = NO_VALUE  # "94%"


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
class Entity:
    """One inbox or agent as the tables and the CSV list it."""

    scope: str  # inbox | agent
    key: str
    name: str
    block: Block
    activity: int


def sla_view(metric: Metric) -> SlaView:
    sla = metric.sla
    if sla is None:
        return SlaView(None, "no target set", "no target", "", "neutral")
    target = format_target(float(sla.target))
    met, breached = int(sla.met), int(sla.breached)
    total = met + breached
    basis = " (business hours)" if sla.basis == "business_hours" else ""
    if total == 0:
        return SlaView(
            None,
            f"nothing measured — target {target}",
            "no data",
            "",
            "neutral",
            f"target {target}",
        )
    percent = floor_percent(met, total)
    if percent >= SLA_GOOD_PERCENT:
        tone = "good"
    elif percent >= SLA_WARN_PERCENT:
        tone = "warn"
    else:
        tone = "bad"
    shown = format_percent(met, total)
    return SlaView(
        percent=percent,
        text=f"met {shown} — target {target}",
        short=f"met {shown}",
        detail=f"{met:,} of {total:,} within {target}{basis}",
        tone=tone,
        target=f"target {target}",
        value=shown,
    )


def headline(metric: Metric) -> str:
    """``first response p90 10m 11s, SLA met 94%``: the subject's and the CLI's words."""
    if int(metric.count) == 0:
        return "no first responses"
    text = f"first response p90 {format_duration(metric.p90)}"
    sla = metric.sla
    if sla is not None and int(sla.met) + int(sla.breached) > 0:
        text += f", SLA met {format_percent(int(sla.met), int(sla.met) + int(sla.breached))}"
    return text


def _no_previous(noun: str = "day") -> Change:
    return Change("", f"no earlier {noun} to compare", "neutral")


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
    percent = half_up(abs(current - previous) / previous * 100)
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
    percent = half_up(abs(current - previous) / previous * 100)
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


def _tiles(
    overall: Block, previous: Previous | None, compare: str | None = None, noun: str = "day"
) -> list[Tile]:
    metric = overall.metrics[HEADLINE]
    sla = sla_view(metric)
    count = int(metric.count)
    if previous is None:
        changes = [_no_previous(noun)] * 5
    else:
        day = compare or previous.day.isoformat()
        before = previous.overall.metrics[HEADLINE]
        changes = [
            _count_change(count, int(before.count), day),
            _duration_change(metric.mean, before.mean, day),
            _duration_change(metric.p50, before.p50, day),
            _duration_change(metric.p90, before.p90, day),
            _sla_change(sla, sla_view(before), day),
        ]
    return [
        Tile("Answered", format_count(count), changes[0]),
        Tile("Mean", format_duration(metric.mean), changes[1]),
        Tile("Median", format_duration(metric.p50), changes[2]),
        Tile("p90", format_duration(metric.p90), changes[3]),
        Tile("SLA met", sla.value, changes[4], tone=sla.tone, detail=sla.target or sla.text),
    ]


def _metric_view(label: str, metric: Metric) -> MetricView:
    business = metric.business_hours
    return MetricView(
        label=label,
        count=format_count(metric.count),
        mean=format_duration(metric.mean),
        p50=format_duration(metric.p50),
        p90=format_duration(metric.p90),
        p95=format_duration(metric.p95),
        max=format_duration(metric.max),
        business_mean=format_duration(business.mean),
        business_p90=format_duration(business.p90),
        sla=sla_view(metric),
    )


def _display_name(scope: str, key: str, raw: str | None) -> str:
    if key == NO_ID:
        return "Unassigned" if scope == "agent" else "No inbox"
    noun = "Agent" if scope == "agent" else "Inbox"
    if raw is None:
        gone = "(no longer in the account)" if scope == "agent" else "(deleted)"
        return f"{noun} #{key} {gone}"
    return clean_text(raw) or f"{noun} #{key}"


def _activity(block: Block) -> int:
    events = sum(int(block.metrics[spec.key].count) for spec in METRICS)
    return events + sum(int(block.counts.get(spec.key, 0)) for spec in COUNTS)


def _breached(block: Block) -> int:
    return sum(
        metric.sla.breached
        for metric in (block.metrics[spec.key] for spec in METRICS)
        if metric.sla is not None
    )


def entities(scope: str, blocks: Mapping[str, NamedBlock]) -> list[Entity]:
    """The rows of one scope in the order a lead acts on them: most SLA breaches first, then
    the busiest; the row without an id ("Unassigned", "No inbox") last, since nobody owns it;
    ties in id order so the order never wobbles."""
    found = [
        Entity(scope, key, _display_name(scope, key, block.name), block, _activity(block))
        for key, block in blocks.items()
    ]

    def order(entity: Entity) -> tuple[bool, int, int, int, str]:
        numeric = entity.key.isdigit()
        return (
            entity.key == NO_ID,
            -_breached(entity.block),
            -entity.activity,
            int(entity.key) if numeric else 0,
            entity.key,
        )

    return sorted(found, key=order)


def _row(entity: Entity) -> Row:
    first = entity.block.metrics[HEADLINE]
    name = cut(entity.name, NAME_LIMIT)
    return Row(
        key=entity.key,
        name=name,
        text_name=isolate(name),
        first_responses=format_count(first.count),
        first_response_p50=format_duration(first.p50),
        first_response_p90=format_duration(first.p90),
        sla=sla_view(first),
        resolved=format_count(entity.block.metrics["conversation_resolved"].count),
    )


def _table(title: str, noun: str, name_header: str, rows: list[Entity], max_rows: int) -> Table:
    shown = rows[:max_rows]
    note = ""
    if len(rows) > len(shown):
        note = f"showing {len(shown)} of {len(rows):,} {noun}; all rows in the attached CSV"
    return Table(title, noun, name_header, tuple(_row(e) for e in shown), len(rows), note)


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
    return f"missing: {clean_text(missing)}"


def _reports_url(base_url: str, account_id: int) -> str | None:
    """The account's reports page; only an http(s) base can become a link."""
    base = clean_text(base_url).rstrip("/")
    if not base.lower().startswith(("https://", "http://")) or any(c in base for c in " \"'<>"):
        return None
    return f"{base}/app/accounts/{account_id}/reports/overview"


def _subject(name: str, day: str, first: Metric, complete: bool) -> str:
    subject = f"{cut(name, HEADER_NAME_LIMIT)} SLA digest {day}: {headline(first)}"
    return subject + (" (incomplete data)" if not complete else "")


def csv_filename(account_id: int, day: str) -> str:
    return f"sla-digest-{account_id}-{day}.csv"


def digest_view(
    summary: Summary,
    archive_location: str,
    max_rows: int,
    inboxes: list[Entity],
    agents: list[Entity],
    *,
    titles: tuple[str, str] | None = None,
    compare: tuple[str, str] | None = None,
    noun: str = "day",
) -> dict[str, Any]:
    """Everything the templates show, keyed as they name it.

    A week or month passes its ``titles`` (short for the subject, long for the header) and
    how the trend names the previous period (``compare``: short, long); a day is named by
    its date.
    """
    account_id = int(summary.account_id)
    window = summary.window
    zone = str(window.timezone)
    day = summary.day.isoformat()
    source = summary.source
    overall = summary.overall
    previous = summary.previous
    name = clean_text(summary.account_name or "") or f"Account #{account_id}"
    first = overall.metrics[HEADLINE]
    first_sla = sla_view(first)
    complete = bool(source.complete)
    generated = parse_instant(str(summary.generated_at))
    since = datetime.fromtimestamp(int(window.since), UTC)
    until = datetime.fromtimestamp(int(window.until), UTC)
    hours = (until - since).total_seconds() / 3600
    ignored = source.ignored
    preheader = (
        f"{format_count(first.count)} first responses, mean {format_duration(first.mean)}, "
        f"median {format_duration(first.p50)}; {first_sla.text}."
    )
    return {
        "subject": clean_text(_subject(name, titles[0] if titles else day, first, complete)),
        "preheader": preheader,
        "account_id": account_id,
        "account_name": cut(name, HEADER_NAME_LIMIT),
        "text_account_name": isolate(cut(name, HEADER_NAME_LIMIT)),
        "date": day,
        "date_long": titles[1] if titles else long_date(summary.day),
        "timezone": zone,
        "window_hours": f"{hours:g}",
        "window_from": local_time(since, zone),
        "window_to": local_time(until, zone),
        "partial": generated < until,
        "generated": local_time(generated, zone),
        "compare_date": None if previous is None else (compare or (previous.day.isoformat(),))[0],
        "compare_date_long": None
        if previous is None
        else (compare[1] if compare else long_date(previous.day)),
        "tiles": _tiles(overall, previous, compare[0] if compare else None, noun),
        "metrics": [_metric_view(spec.label, overall.metrics[spec.key]) for spec in METRICS],
        "counts": [(spec.label, format_count(overall.counts.get(spec.key, 0))) for spec in COUNTS],
        "resolutions": format_count(overall.metrics["conversation_resolved"].count),
        "inboxes": _table("Inboxes", "inboxes", "Inbox", inboxes, max_rows),
        "agents": _table("Agents", "agents", "Agent", agents, max_rows),
        "complete": complete,
        "missing_text": "" if complete else _missing_text(source.missing),
        "events": format_count(source.events),
        "pages": format_count(source.pages),
        "ignored_total": format_count(sum(int(ignored.get(key, 0)) for key, _ in IGNORED)),
        "ignored": [(label, format_count(ignored.get(key, 0))) for key, label in IGNORED],
        "archive_location": clean_text(archive_location),
        "reports_url": _reports_url(source.base_url, account_id),
        "csv_filename": csv_filename(account_id, day),
        "follow_up": None
        if summary.follow_up is None
        else follow_up_view(
            summary.follow_up,
            by_inbox=summary.by_inbox,
            by_agent=summary.by_agent,
            zone=zone,
            day=summary.day,
        ),
    }
