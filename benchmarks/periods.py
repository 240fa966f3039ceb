"""Weekly and monthly reports from the archive: CPU against ``json.loads``, and peak RSS.

An archive folder is filled first, unmeasured: days of sandbox rows (the sandbox's generator,
one day and the day before per seed), each written as a daily run archives it: pages of 25
rows rendered as the sandbox serves them, the account context bodies the sandbox answers, and
a manifest listing every page with its sha256. The report then reads it as
``sla-digest report`` does (:func:`run_account_period`, nothing to fetch): every page read from
disk and checked against its manifest, parsed, classified, measured over the union of the
days, rendered and archived.

* CPU: process CPU time of that report, best of ``period_repeats``, against ``json.loads``
  alone on the same page bodies (read into memory beforehand, a day at a time). Bound 2 ×.
* Memory: ``ru_maxrss`` of a fresh process running the same report (imports included),
  started through a relay so the benchmark's own size cannot leak in. Bound 256 MB.
"""

from __future__ import annotations

import gc
import json
import math
import os
import resource
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from . import ROOT, BenchmarkError, Figure, Profile, child_output

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["build_archive", "measure", "report_once"]

CPU_BOUND = 2.0
MEMORY_BOUND_MB = 256.0
TEMPLATES = ROOT / "templates"
ACCOUNT = 7
ZONE = "Europe/Berlin"
WEEK_START = date(2026, 11, 16)  # Monday; the sandbox's calendar, no DST change in it
MONTH_START = date(2026, 11, 1)
_RELAY = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], check=False).returncode)"
_PER_PAGE = 25


@dataclass(frozen=True, slots=True)
class Archived:
    """What was written: the folder, how many events and pages, and their bytes."""

    root: Path
    days: int
    events: int
    pages: int
    megabytes: float


def _context_bodies() -> dict[str, bytes]:
    """The account context as the sandbox answers it (inboxes, agents, SLA policies)."""
    from sla_digest.chatwoot.client import ChatwootClient
    from sla_digest_cli.sandbox.server import SandboxOptions, SandboxServer

    options = SandboxOptions(events=0)
    with (
        SandboxServer(options) as server,
        ChatwootClient(server.base_url, options.admin_token) as client,
    ):
        return dict(client.context(ACCOUNT).raw)


def _archive_day(
    store: Any, day: date, rows: list[dict[str, Any]], context: dict[str, bytes]
) -> int:
    """One day as a daily run leaves it; returns the pages written."""
    from sla_digest.archive import DayArchive
    from sla_digest.chatwoot.records import Page
    from sla_digest.window import report_window
    from sla_digest_cli.sandbox.httpd import render_json

    window = report_window(day, ZONE, allow_partial=True)
    archive = DayArchive(store, ACCOUNT, day)
    count = len(rows)
    total = math.ceil(count / _PER_PAGE)
    for number in range(1, max(total, 1) + 1):
        chunk = rows[(number - 1) * _PER_PAGE : number * _PER_PAGE]
        meta = {"count": count, "current_page": number, "total_pages": total}
        body = render_json({"payload": chunk, "meta": meta})
        params: dict[str, int | str] = {
            "since": window.since,
            "until": window.until,
            "page": number,
        }
        archive.write_page(Page(number, params, body, len(chunk), count, total))
    resources = {name: archive.write_resource(name, body) for name, body in context.items()}
    archive.write_manifest(
        window=window,
        query={
            "path": f"/api/v1/accounts/{ACCOUNT}/reporting_events",
            "since": window.since,
            "until": window.until,
        },
        meta={"count": count},
        pages=archive.entries(),
        resources=resources,
        fetched_at=datetime.fromtimestamp(window.until, UTC) + timedelta(hours=1),
        complete=True,
        missing=0,
    )
    return max(total, 1)


def build_archive(root: Path, days: list[date], events: int) -> Archived:
    """Archive ``days`` of about ``events`` sandbox rows each under ``root``."""
    from sla_digest.archive import LocalArchive
    from sla_digest.window import report_window
    from sla_digest_cli.sandbox.server import SandboxOptions, generate_dataset

    store = LocalArchive(root)
    context = _context_bodies()
    wanted = set(days)
    written = pages = 0
    # The generator makes a report day and a day before it: one seed covers two days.
    for index, end in enumerate(sorted(days)[1::2] + ([max(days)] if len(days) % 2 else [])):
        dataset = generate_dataset(SandboxOptions(day=end, events=events, seed=100 + index))
        for day in (end - timedelta(days=1), end):
            if day not in wanted:
                continue
            wanted.discard(day)
            window = report_window(day, ZONE, allow_partial=True)
            rows = dataset.events_between(window.since, window.until)
            pages += _archive_day(store, day, rows, context)
            written += len(rows)
        del dataset
    if wanted:
        raise BenchmarkError(f"days not archived: {sorted(wanted)}")
    size = sum(path.stat().st_size for path in (root / "raw").rglob("page-*.json"))
    return Archived(root, len(days), written, pages, size / 1e6)


def report_once(root: Path, kind: str, start: date) -> Any:
    """The report of ``kind`` starting at ``start`` from the archive at ``root``."""
    from sla_digest.archive import LocalArchive
    from sla_digest.config import SlaTargets
    from sla_digest.jobs.report import ReportPorts, ReportRequest, run_account_period
    from sla_digest.report.periods import period_of

    period = period_of(start, kind)  # type: ignore[arg-type]
    after = datetime.combine(period.end + timedelta(days=2), datetime.min.time(), tzinfo=UTC)
    request = ReportRequest(
        account_id=ACCOUNT,
        timezone=ZONE,
        period=period,
        base_url="https://chat.example.com",
        account_name="Benchmark Support",
        targets=SlaTargets(first_response=1800.0, reply_time=3600.0, conversation_resolved=86400.0),
    )
    ports = ReportPorts(store=LocalArchive(root), templates_dir=TEMPLATES, clock=lambda: after)
    return run_account_period(request, ports)


def _page_bodies(root: Path, day: date) -> list[bytes]:
    folder = root / "raw" / f"account_id={ACCOUNT}" / f"date={day.isoformat()}"
    return [path.read_bytes() for path in sorted(folder.glob("page-*.json"))]


def _cpu_seconds(work: Callable[[], object]) -> float:
    gc.collect()
    started = time.process_time()
    work()
    return time.process_time() - started


def _parse_only(bodies: list[bytes]) -> None:
    for body in bodies:  # each result dropped at once, as benchmarks.cpu measures a day
        json.loads(body)


def _parse_seconds(root: Path, days: list[date]) -> float:
    """``json.loads`` of every page, a day's bodies in memory at a time."""
    total = 0.0
    for day in days:
        bodies = _page_bodies(root, day)
        total += _cpu_seconds(lambda bodies=bodies: _parse_only(bodies))
    return total


def _peak_child(root: Path, kind: str, start: date) -> dict[str, float]:
    environment = dict(os.environ)
    child = [sys.executable, "-m", "benchmarks.periods", str(root), kind, start.isoformat()]
    last = child_output(
        [sys.executable, "-c", _RELAY, *child],
        environment=environment,
        timeout=900,
        failure=f"the measured {kind}ly report failed",
    )
    figures: dict[str, float] = json.loads(last)
    return figures


def _measure_one(
    profile: Profile, *, name: str, kind: str, start: date, days: int, events: int
) -> list[Figure]:
    first = [start + timedelta(days=n) for n in range(days)]
    with tempfile.TemporaryDirectory(prefix=f"sla-digest-bench-{kind}-") as folder:
        root = Path(folder)
        archived = build_archive(root, first, events)
        # A first pass builds the schema validator and compiles the templates: not timed.
        warm_up = _cpu_seconds(lambda: report_once(root, kind, start))
        parse: list[float] = []
        full: list[float] = []
        for _ in range(profile.period_repeats):
            parse.append(_parse_seconds(root, first))
            full.append(_cpu_seconds(lambda: report_once(root, kind, start)))
        child = _peak_child(root, kind, start)
    if not child["complete"] or child["rows"] != archived.events:
        raise BenchmarkError(f"the {name} report did not read every archived event")
    setting = (
        f"{archived.days} archived days, {archived.events:,} events in {archived.pages:,} "
        f"pages ({archived.megabytes:.0f} MB), {child['events']:,.0f} kept"
    )
    return [
        Figure(
            key=f"{kind}_parse_seconds",
            label=f"{name}: json.loads alone",
            value=min(parse),
            unit="s",
            detail=f"{setting}; best of {len(parse)}",
        ),
        Figure(
            key=f"{kind}_report_seconds",
            label=f"{name}: report from the archive",
            value=min(full),
            unit="s",
            bound=CPU_BOUND * min(parse),
            detail="read + check against the manifest + parse + classify + summary of the "
            f"union + render + archive; bound 2 × json.loads alone; best of {len(full)} "
            f"after a first pass of {warm_up:.2f} s",
        ),
        Figure(
            key=f"{kind}_peak_mb",
            label=f"{name}: peak RSS of the report",
            value=child["peak_mb"],
            unit="MB",
            bound=MEMORY_BOUND_MB,
            detail=f"a fresh process, {child['imports_mb']:.0f} MB after imports; "
            f"{child['cpu_seconds']:.1f} s CPU",
        ),
    ]


def measure(profile: Profile) -> list[Figure]:
    return [
        *_measure_one(
            profile, name="weekly", kind="week", start=WEEK_START, days=7,
            events=profile.week_events,
        ),
        *_measure_one(
            profile, name="monthly", kind="month", start=MONTH_START, days=30,
            events=profile.month_events,
        ),
    ]  # fmt: skip


def _peak_mb() -> float:
    # ru_maxrss is in kibibytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(root: Path, kind: str, start: date) -> None:
    # What a report loads (the renderer loads Jinja2 and the inliner on first use) comes in
    # before the baseline, so imports_mb is the interpreter and the code, not the data.
    import css_inline  # noqa: F401
    import jinja2  # noqa: F401

    import sla_digest.jobs.report
    import sla_digest.report.render  # noqa: F401

    imports_mb = _peak_mb()
    cpu = time.process_time()
    result = report_once(root, kind, start)
    source = result.summary.source
    figures = {
        "peak_mb": _peak_mb(),
        "imports_mb": imports_mb,
        "events": source.events,
        "rows": source.events + sum(source.ignored.values()),
        "complete": source.complete,
        "cpu_seconds": time.process_time() - cpu,
    }
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    _child(Path(sys.argv[1]), sys.argv[2], date.fromisoformat(sys.argv[3]))
