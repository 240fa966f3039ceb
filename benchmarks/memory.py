"""Memory: the peak RSS of one account-day through the real pipeline, in a fresh process.

The sandbox runs in its own process, so its copy of the day is not counted. The measured child
runs ``run_account_day`` as the CLI does (fetch → archive to a temporary folder → summary →
render → the digest into an outbox folder) and reports ``ru_maxrss``: the whole process, the
interpreter and every import included. The digest function has 256 MB; the design allows 150.

On Linux a child's ``ru_maxrss`` starts at its parent's size (fork copies the parent, and exec
keeps the high-water mark), so the child is started through a small relay interpreter: the
benchmark process, which may hold a day of pages by then, cannot inflate the figure.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from . import ROOT, BenchmarkError, Figure, Profile, child_environment, child_output
from ._sandbox import SandboxProcess

__all__ = ["measure", "run_child"]

BOUND_MB = 150.0
TEMPLATES = ROOT / "templates"
_RELAY = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:], check=False).returncode)"
_MODULES = (
    "benchmarks.memory",
    "sla_digest.jobs.run",
    "sla_digest.delivery.email",
    "jinja2",
    "css_inline",
    "jsonschema",
    "requests",
)


def run_child(base_url: str, token: str, out: Path, cache: str) -> dict[str, float]:
    """In a fresh interpreter: one account-day, then its peak RSS and CPU time.

    Bytecode comes from ``cache`` (compiled by a first, unmeasured import), as a deployed
    package has it: compiling from source would add its own transient memory to the peak.
    """
    environment = child_environment(PYTHONPYCACHEPREFIX=cache)
    warm_up = [sys.executable, "-c", f"import {', '.join(_MODULES)}"]
    subprocess.run(warm_up, cwd=ROOT, env=environment, timeout=300, check=True)
    child = [sys.executable, "-m", "benchmarks.memory", base_url, token, str(out)]
    last = child_output(
        [sys.executable, "-c", _RELAY, *child],
        environment=environment,
        timeout=900,
        failure="the measured pipeline run failed",
    )
    figures: dict[str, float] = json.loads(last)
    return figures


def measure(profile: Profile) -> list[Figure]:
    sandbox = SandboxProcess(events=profile.memory_events)
    with (
        sandbox as base_url,
        tempfile.TemporaryDirectory(prefix="sla-digest-bench-") as out,
        tempfile.TemporaryDirectory(prefix="sla-digest-pycache-") as cache,
    ):
        child = run_child(base_url, sandbox.token, Path(out), cache)
    if not child["complete"]:
        raise BenchmarkError("the measured pipeline run fetched an incomplete day")
    return [
        Figure(
            key="memory_peak_mb",
            label="peak RSS of a day through the pipeline",
            value=child["peak_mb"],
            unit="MB",
            bound=BOUND_MB,
            detail=(
                f"{child['events']:,.0f} events, {child['pages']:,.0f} pages; "
                f"{child['imports_mb']:.0f} MB after imports; run took "
                f"{child['wall_seconds']:.1f} s wall, {child['cpu_seconds']:.1f} s CPU"
            ),
        ),
        Figure(
            key="day_run_cpu_seconds",
            label="CPU of that day's whole run",
            value=child["cpu_seconds"],
            unit="s",
            detail="process CPU of run_account_day above: fetch, archive, events dataset, "
            "summary, render, outbox",
        ),
    ]


def _peak_mb() -> float:
    # ru_maxrss is in kibibytes on Linux.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(base_url: str, token: str, out: Path) -> None:
    from sla_digest.archive import DayArchive, LocalArchive
    from sla_digest.chatwoot import ChatwootClient
    from sla_digest.config import SlaTargets
    from sla_digest.delivery.email import EmailChannel, OutboxMailer
    from sla_digest.jobs.job import DayRequest
    from sla_digest.jobs.run import Ports, run_account_day

    from ._sandbox import report_day

    imports_mb = _peak_mb()
    window = report_day()
    request = DayRequest(
        account_id=7,
        base_url=base_url,
        timezone=window.timezone,
        day=window.day,
        account_name="Benchmark Support",
        targets=SlaTargets(first_response=1800.0, reply_time=3600.0),
        recipients=("leads@example.com",),
    )
    started, cpu = time.perf_counter(), time.process_time()
    with ChatwootClient(base_url, token) as client:
        email = EmailChannel(
            OutboxMailer(out / "outbox"), sender="digest@example.com", recipients=request.recipients
        )
        after = datetime.fromtimestamp(window.until, UTC) + timedelta(hours=6)
        ports = Ports(
            client=client,
            archive=DayArchive(LocalArchive(out), request.account_id, request.day),
            templates_dir=TEMPLATES,
            channels=[email],
            clock=lambda: after,
        )
        result = run_account_day(request, ports)
    figures = {
        "peak_mb": _peak_mb(),
        "imports_mb": imports_mb,
        "events": result.summary.source.events,
        "pages": result.summary.source.pages,
        "complete": result.summary.source.complete,
        "wall_seconds": time.perf_counter() - started,
        "cpu_seconds": time.process_time() - cpu,
    }
    sys.stdout.write(json.dumps(figures) + "\n")


if __name__ == "__main__":
    _child(sys.argv[1], sys.argv[2], Path(sys.argv[3]))
