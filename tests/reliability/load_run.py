"""One account-day through the pipeline in a process of its own, reporting its peak memory.

Run by ``test_load.py`` as ``python -m tests.reliability.load_run BASE_URL OUT DAY TIMEZONE``
with the token in ``CHATWOOT_API_TOKEN``; prints one JSON line. A process of its own, so the
peak resident size is the pipeline's alone (the sandbox server lives in the test process).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.chatwoot import ChatwootClient
from sla_digest.jobs.job import DayRequest
from sla_digest.jobs.run import Ports, run_account_day

ROOT = Path(__file__).resolve().parents[2]


def _peak_mb() -> float:
    """Peak resident size of this process image so far, in MiB.

    Linux carries ``ru_maxrss`` across ``exec`` from the forked parent (here the test process,
    holding the sandbox's data), so the kernel's high-water mark of this image is read instead.
    """
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    for line in status.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def main(argv: list[str]) -> int:
    base_url, out, day_text, timezone = argv
    day = date.fromisoformat(day_text)
    import css_inline  # noqa: F401 - loaded before the baseline: the run's libraries, not its data
    import jinja2  # noqa: F401

    baseline = _peak_mb()
    started = time.monotonic()
    request = DayRequest(account_id=7, base_url=base_url, timezone=timezone, day=day)
    token = os.environ["CHATWOOT_API_TOKEN"]
    with ChatwootClient(base_url, token) as client:
        ports = Ports(
            client=client,
            archive=DayArchive(LocalArchive(Path(out)), 7, day, flat=True),
            templates_dir=ROOT / "templates",
        )
        result = run_account_day(request, ports)
    stats = result.fetch.stats
    report = {
        "baseline_mb": baseline,
        "peak_mb": _peak_mb(),
        "seconds": time.monotonic() - started,
        "complete": result.fetch.complete,
        "meta_count": result.fetch.meta_count,
        "events": result.summary.source.events,
        "pages": len(result.fetch.pages),
        "requests": stats.requests,
        "retries": stats.retries,
        "throttled": stats.throttled,
    }
    sys.stdout.write(json.dumps(report) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
