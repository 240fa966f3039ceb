"""Whole run: ``sla-digest run`` of the fetch day, as a user runs it, against a plain fetch.

The design allows the whole run (interpreter start-up, imports, fetch, the conversations to act
on, archive, summary, render, outbox) at most 1.15 × a plain C-thread fetch of the same pages,
both measured against one sandbox process in the same benchmark run.

The plain fetch is the honest best of a simple script: page 1 alone (only it tells how many
pages there are), then pages 2 … P all handed at once to a ``ThreadPoolExecutor`` of C threads,
one kept-alive ``requests`` session per thread, every body parsed. It runs in this process,
``requests`` already imported. It asks for the reporting events only, as the target says.

The run is a child process, ``sla-digest -v run …`` with a fresh ``--out`` folder each time (a
re-run of an archived day reuses the links it learned and would hide the search), the token in
``CHATWOOT_API_TOKEN``, and SLA targets, so that rows go over target and the link search runs
within its budget as it does for a user with targets. Wall time is from spawn to exit. The
``-v`` lines are time-stamped here as they arrive, which splits the run into its steps; the
sandbox counts every request, so what the run asks besides the pages is known exactly.

Best of ``fetch_repeats`` each, interleaved, after one unmeasured pass of each (when there
are several).
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import requests

from . import ROOT, BenchmarkError, Figure, Profile, child_environment
from ._sandbox import SandboxProcess

if TYPE_CHECKING:
    from sla_digest.window import Window

__all__ = ["Run", "measure", "plain_threaded_fetch", "timed_run"]

SLACK = 1.15
TARGETS = "first_response=30m,reply_time=1h"
# The run's steps: each ends with the first ``-v`` line that holds its text (the last at exit).
STEPS = (
    ("start-up and imports", "fetching reporting events"),
    ("fetch", "pages fetched"),
    ("CSAT, missed SLAs and links", "link requests of"),
    ("manifest and dataset", "events dataset archived"),
    ("summary and render", "summary and digest written"),
)
EXIT_STEP = "outbox and exit"
_ENTRY_POINT = "import sys; from sla_digest_cli.cli import main; sys.exit(main())"


def plain_threaded_fetch(
    base_url: str, token: str, account_id: int, window: Window, threads: int
) -> tuple[float, int, int]:
    """Seconds, pages and rows of page 1, then every other page at once on ``threads`` threads."""
    url = f"{base_url}/api/v1/accounts/{account_id}/reporting_events"
    headers = {"api_access_token": token}
    local = threading.local()
    sessions: list[requests.Session] = []

    def get(page: int) -> Any:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        params = {"since": window.since, "until": window.until, "page": page}
        response = session.get(url, params=params, headers=headers, timeout=30)
        response.raise_for_status()
        return response.json()

    try:
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            first = pool.submit(get, 1).result()
            last = int(first["meta"]["total_pages"])
            bodies = [first, *pool.map(get, range(2, last + 1))]
        elapsed = time.perf_counter() - started
    finally:
        for session in sessions:
            session.close()
    return elapsed, last, sum(len(body["payload"]) for body in bodies)


@dataclass(frozen=True, slots=True)
class Run:
    """One ``sla-digest run``: its wall time, its steps, what it asked and what it wrote."""

    seconds: float
    steps: dict[str, float]
    requests: int  # every request the sandbox answered during the run
    page_requests: int  # of which to reporting_events (pages and their retries)
    summary: dict[str, Any]


def _command() -> list[str]:
    """The ``sla-digest`` a user runs: the console script beside this interpreter."""
    script = Path(sys.executable).with_name("sla-digest")
    if script.is_file():
        return [str(script)]
    return [sys.executable, "-c", _ENTRY_POINT]


def _steps(lines: list[tuple[float, str]], total: float) -> dict[str, float]:
    """Seconds of each step, from when its closing line arrived (a step without one is 0)."""
    steps: dict[str, float] = {}
    before = 0.0
    for name, text in STEPS:
        at = next((seconds for seconds, line in lines if text in line), None)
        steps[name] = 0.0 if at is None else at - before
        before = before if at is None else at
    steps[EXIT_STEP] = total - before
    return steps


def timed_run(sandbox: SandboxProcess, base_url: str) -> Run:
    """One ``sla-digest -v run`` of the sandbox's day into a fresh folder, timed and counted."""
    window = sandbox.window
    with tempfile.TemporaryDirectory(prefix="sla-digest-bench-run-") as out:
        command = [
            *_command(),
            "-v",
            "run",
            f"--base-url={base_url}",
            f"--account-id={sandbox.options.account_id}",
            f"--date={window.day.isoformat()}",
            f"--timezone={window.timezone}",
            f"--out={out}",
            f"--sla={TARGETS}",
        ]
        before = sandbox.stats()
        lines: list[tuple[float, str]] = []
        started = time.perf_counter()
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=child_environment(CHATWOOT_API_TOKEN=sandbox.token),
        )
        assert process.stderr is not None
        with process:
            for line in process.stderr:
                lines.append((time.perf_counter() - started, line.rstrip()))
            status = process.wait(timeout=600)
        seconds = time.perf_counter() - started
        after = sandbox.stats()
        if status != 0:
            last = lines[-1][1] if lines else "no error output"
            raise BenchmarkError(f"sla-digest run failed (exit {status}): {last}")
        summary: dict[str, Any] = json.loads((Path(out) / "summary.json").read_text("utf-8"))
    return Run(
        seconds=seconds,
        steps=_steps(lines, seconds),
        requests=after["requests"] - before["requests"],
        page_requests=after["reporting_requests"] - before["reporting_requests"],
        summary=summary,
    )


def _version_seconds(repeats: int) -> float:
    """Best wall time of ``sla-digest --version``: the interpreter and the CLI's imports."""
    best = math.inf
    for _ in range(max(1, repeats)):
        started = time.perf_counter()
        subprocess.run(
            [*_command(), "--version"],
            cwd=ROOT,
            env=child_environment(CHATWOOT_API_TOKEN=""),
            capture_output=True,
            timeout=120,
            check=True,
        )
        best = min(best, time.perf_counter() - started)
    return best


def _links(summary: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    """Requests, budget, rows shown, of which linked, conversations over target, linked."""
    links = (summary.get("follow_up") or {}).get("links") or {}
    shown = [row for block in (summary.get("breaches") or {}).values() for row in block["worst"]]
    linked_shown = sum(1 for row in shown if row.get("display_id") is not None)
    linked = int(links.get("linked", 0))
    return (
        int(links.get("requests", 0)),
        int(links.get("budget", 0)),
        len(shown),
        linked_shown,
        linked + int(links.get("unlinked", 0)),
        linked,
    )


def measure(profile: Profile) -> list[Figure]:
    """Best of ``fetch_repeats`` plain fetches and whole runs, interleaved on one sandbox."""
    latency, threads = profile.fetch_latency, profile.concurrency
    repeats = max(1, profile.fetch_repeats)
    sandbox = SandboxProcess(events=profile.fetch_events, latency=latency)
    plain: list[tuple[float, int, int]] = []
    runs: list[Run] = []
    warm_up = 1 if repeats > 1 else 0  # bytecode written, the sandbox's answers cached
    with sandbox as base_url:
        account, window = sandbox.options.account_id, sandbox.window
        for index in range(warm_up + repeats):
            fetched = plain_threaded_fetch(base_url, sandbox.token, account, window, threads)
            run = timed_run(sandbox, base_url)
            if index >= warm_up:
                plain.append(fetched)
                runs.append(run)
    version = _version_seconds(repeats)
    floor, pages, rows = min(plain)
    best = min(runs, key=lambda run: run.seconds)
    source = best.summary["source"]
    if source["pages"] != pages:
        raise BenchmarkError(f"the run fetched {source['pages']} pages, the plain fetch {pages}")
    requests_spent, budget, shown, linked_shown, over, linked = _links(best.summary)
    extra = best.requests - best.page_requests
    steps = "; ".join(f"{name} {seconds:.2f} s" for name, seconds in best.steps.items())
    setting = f"{pages} pages ({rows:,} rows), {latency * 1000:.0f} ms a request, C = {threads}"
    total = best.requests
    request_floor = latency * math.ceil(total / threads)
    return [
        Figure(
            key="whole_plain_fetch_seconds",
            label="whole run: plain threaded fetch of the pages",
            value=floor,
            unit="s",
            detail=f"{setting}; page 1, then the rest at once on C threads; best of {len(plain)}",
        ),
        Figure(
            key="whole_run_seconds",
            label="whole run: sla-digest run of the day",
            value=best.seconds,
            unit="s",
            bound=SLACK * floor,
            detail=(
                f"spawn to exit, best of {len(runs)} ({', '.join(f'{r.seconds:.2f}' for r in runs)}"
                f" s); {steps}; `sla-digest --version` alone {version:.3f} s"
            ),
        ),
        Figure(
            key="whole_run_extra_requests",
            label="whole run: requests besides the pages",
            value=extra,
            unit="requests",
            detail=(
                f"{best.page_requests} to reporting_events, {extra} others (account context, "
                f"CSAT pages and metrics, missed-SLA pages, {requests_spent} for links): "
                f"{total} requests, at C in flight at least ⌈{total}/{threads}⌉ × L = "
                f"{request_floor:.2f} s ({request_floor / floor if floor else math.nan:.2f} × "
                "the plain fetch)"
            ),
        ),
        Figure(
            key="breach_link_requests",
            label="breach links: requests per day",
            value=requests_spent,
            unit="requests",
            bound=float(budget),
            detail=(
                f"the run's day: {linked} of {over} conversations over a target linked "
                f"(breaches.csv); bound: the link_request_budget (design §13)"
            ),
        ),
        Figure(
            key="breach_links_shown_percent",
            label="breach links: rows shown with a link",
            value=100.0 * linked_shown / shown if shown else math.nan,
            unit="%",
            detail=f"{linked_shown} of the {shown} rows the digest shows (the worst per metric)",
        ),
    ]
