"""CPU: parse + de-duplicate + summary (+ validation) + render + the events dataset of a day's
pages from disk, against ``json.loads`` alone on the same pages. The design allows 1.5 times
the parse time. The same pipeline without the dataset, and what the dataset adds, are shown
for information.
The pipeline includes the conversations to act on: the rows over target selected, the
section built (without CSAT or links, which are network work) and ``breaches.csv`` written.

The pages are fetched once from a sandbox process into a temporary folder and read into
memory before timing, so both sides measure the same work on the same bytes. Both are timed
with the process CPU clock, interleaved, best of ``cpu_repeats``: noise only ever adds time.
The first full pass of a process also builds the schema validator and compiles the templates;
it is reported apart.
"""

from __future__ import annotations

import gc
import json
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sla_digest.chatwoot import AccountContext, ChatwootClient, Page
from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.chatwoot.rows import page_rows
from sla_digest.config import SlaTargets
from sla_digest.dataset.table import Names, encode_events
from sla_digest.report.acting import Sources, build_follow_up
from sla_digest.report.breaches import breaches_csv, select_breaches
from sla_digest.report.measure import measure as measure_day
from sla_digest.report.render import neutralise, render_digest
from sla_digest.report.summary import build_summary, validate_summary

from . import ROOT, BenchmarkError, Figure, Profile
from ._sandbox import SandboxProcess

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest.report.summary import Summary
    from sla_digest.window import Window

__all__ = ["Day", "measure", "parse_only", "process_day", "write_pages"]

BOUND = 1.5
TARGETS = SlaTargets(first_response=1800.0, reply_time=3600.0, conversation_resolved=86400.0)
TEMPLATES = ROOT / "templates"


@dataclass(frozen=True, slots=True)
class Day:
    """One account-day's pages on disk and what the summary needs besides them."""

    folder: Path
    window: Window
    account_id: int
    context: AccountContext

    def bodies(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted(self.folder.glob("page-*.json"))]

    @property
    def generated_at(self) -> datetime:
        """A fixed time after the day, so every pass renders the same digest."""
        return datetime.fromtimestamp(self.window.until, UTC) + timedelta(hours=6)


def write_pages(profile: Profile, folder: Path) -> Day:
    """Fetch a day of ``cpu_events`` events from a sandbox process into ``folder``."""
    sandbox = SandboxProcess(events=profile.cpu_events)

    def save(page: Page) -> None:
        (folder / f"page-{page.number:05d}.json").write_bytes(page.body)

    with sandbox as base_url, ChatwootClient(base_url, sandbox.token) as client:
        result = client.reporting_events(
            sandbox.options.account_id, sandbox.window, on_page=save, with_context=True
        )
    if not result.complete or result.context is None:
        raise BenchmarkError("the pages for the CPU measurement could not all be fetched")
    return Day(folder, sandbox.window, sandbox.options.account_id, result.context)


def parse_only(bodies: list[bytes]) -> None:
    for body in bodies:
        json.loads(body)


def process_day(day: Day, bodies: list[bytes], *, dataset: bool = False) -> Summary:
    """What a run does with the pages once they are in: the summary and the digest, and with
    ``dataset`` the day's events dataset file too (as the digest job writes it)."""
    events = EventSet(details=dataset)
    for body in bodies:
        classify_rows(page_rows(body), day.window, into=events)
    context = day.context
    working_hours = {i: box.working_hours_enabled for i, box in context.inboxes.items()}
    agent_names = {i: agent.name for i, agent in context.agents.items() if agent.name}
    scopes = measure_day(events, TARGETS, working_hours, over_target=True)
    breaches = select_breaches(events, TARGETS, working_hours, over=scopes.over)
    follow_up = build_follow_up(
        breaches=breaches,
        sources=Sources(),
        list_size=10,
        base_url="https://chat.example.com",
        account_id=day.account_id,
        window=day.window,
        agent_names=agent_names,
    )
    summary = build_summary(
        account_id=day.account_id,
        account_name="Benchmark Support",
        window=day.window,
        base_url="https://chat.example.com",
        events=events,
        pages=len(bodies),
        complete=True,
        targets=TARGETS,
        inbox_names={i: box.name for i, box in context.inboxes.items() if box.name is not None},
        inbox_working_hours=working_hours,
        agent_names=agent_names,
        previous=None,
        generated_at=day.generated_at,
        follow_up=follow_up,
        scopes=scopes,
    )
    validate_summary(summary.to_dict())
    render_digest(summary, templates_dir=TEMPLATES, archive_location="benchmark")
    breaches_csv(
        breaches,
        inbox_name=str,
        agent_name=str,
        link=lambda ref: (None, None),
        neutralise=neutralise,
    )
    if dataset:
        encode_events(events, Names.from_context(context))
    return summary


def _cpu_seconds(work: Callable[[], object]) -> float:
    gc.collect()
    started = time.process_time()
    work()
    return time.process_time() - started


def measure(profile: Profile) -> list[Figure]:
    with tempfile.TemporaryDirectory(prefix="sla-digest-bench-") as folder:
        day = write_pages(profile, Path(folder))
        bodies = day.bodies()
    events = sum(len(json.loads(body)["payload"]) for body in bodies)
    megabytes = sum(map(len, bodies)) / 1e6
    first = _cpu_seconds(lambda: process_day(day, bodies, dataset=True))
    parse, full, with_dataset = [], [], []
    for _ in range(profile.cpu_repeats):
        parse.append(_cpu_seconds(lambda: parse_only(bodies)))
        full.append(_cpu_seconds(lambda: process_day(day, bodies)))
        with_dataset.append(_cpu_seconds(lambda: process_day(day, bodies, dataset=True)))
    floor, without, whole = min(parse), min(full), min(with_dataset)
    setting = f"{events:,} events in {len(bodies):,} pages ({megabytes:.1f} MB)"
    return [
        Figure(
            key="cpu_parse_seconds",
            label="CPU: json.loads alone",
            value=floor,
            unit="s",
            detail=f"{setting}; best of {len(parse)}",
        ),
        Figure(
            key="cpu_pipeline_dataset_seconds",
            label="CPU: parse + dedupe + summary + render + dataset",
            value=whole,
            unit="s",
            bound=BOUND * floor,
            detail="with validate_summary, the conversations to act on, breaches.csv and the "
            f"events dataset file; bound 1.5 × json.loads alone; best of {len(with_dataset)}; "
            f"the first pass in a fresh process took {first:.3f} s (it also builds the schema "
            "validator and compiles the templates)",
        ),
        Figure(
            key="cpu_pipeline_seconds",
            label="CPU: the same without the dataset",
            value=without,
            unit="s",
            bound=floor,
            checked=False,
            detail=f"ratio against json.loads alone; best of {len(full)}, interleaved",
        ),
        Figure(
            key="cpu_dataset_seconds",
            label="CPU: the events dataset file",
            value=whole - without,
            unit="s",
            detail=f"{100 * (whole - without) / without:.0f} % of the pipeline without it: rows "
            "kept while classifying, encoded with msgspec, gzipped with ISA-L",
        ),
    ]
