"""``python -m benchmarks [--quick] [--json FILE]``: measure, print one table, exit 1 on a miss."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from . import (
    FULL,
    QUICK,
    BenchmarkError,
    Figure,
    Profile,
    aws_requests,
    coldstart,
    cpu,
    fetch,
    memory,
    periods,
    render_table,
    throttle,
    whole_run,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

__all__ = ["MEASUREMENTS", "dataset_share", "main", "run_all"]

MEASUREMENTS: tuple[tuple[str, Callable[[Profile], list[Figure]]], ...] = (
    ("fetch", fetch.measure),
    ("whole run", whole_run.measure),
    ("throttled server", throttle.measure),
    ("CPU", cpu.measure),
    ("memory", memory.measure),
    ("weekly and monthly reports", periods.measure),
    ("cold start", coldstart.measure),
    ("AWS requests", aws_requests.measure),
)


def run_all(profile: Profile, *, say: Callable[[str], None] | None = None) -> list[Figure]:
    """Every measurement at ``profile``'s sizes, in table order."""
    figures: list[Figure] = []
    for name, measure in MEASUREMENTS:
        if say is not None:
            say(f"measuring {name} …")
        started = time.monotonic()
        figures += measure(profile)
        if say is not None:
            say(f"  {name}: {time.monotonic() - started:.0f} s")
    return figures + dataset_share(figures)


DATASET_SHARE_BOUND = 20.0  # %: what writing the events dataset may add to a day's CPU


def dataset_share(figures: list[Figure]) -> list[Figure]:
    """The events dataset's CPU as a share of a whole day's run (the CPU and memory rows)."""
    found = {figure.key: figure.value for figure in figures}
    dataset, day = found.get("cpu_dataset_seconds"), found.get("day_run_cpu_seconds")
    if dataset is None or not day:
        return []
    return [
        Figure(
            key="dataset_share_percent",
            label="CPU: events dataset share of a day's run",
            value=100 * dataset / day,
            unit="%",
            bound=DATASET_SHARE_BOUND,
            detail=f"the dataset file's CPU ({dataset:.3f} s, CPU rows) against the whole run "
            f"of a 100,000-event day ({day:.1f} s, memory row)",
        )
    ]


def machine() -> str:
    """Cores, memory and Python: what the figures depend on besides the code."""
    cores = os.cpu_count() or 0
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory_text = f"{pages / 2**30:.1f} GiB"
    except (ValueError, OSError, AttributeError):
        memory_text = "unknown memory"
    return (
        f"{cores} cores, {memory_text}, {platform.machine()}, "
        f"Python {platform.python_version()}, {platform.system()}"
    )


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Measure the performance targets of the design and compare each figure "
        "with its bound. Exits 1 when a figure misses its bound.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller sizes: a smoke run of about a minute"
    )
    parser.add_argument("--json", metavar="FILE", help="also write the figures to FILE as JSON")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    profile = QUICK if args.quick else FULL

    def say(text: str) -> None:
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    started = datetime.now(UTC)
    try:
        figures = run_all(profile, say=say)
    except BenchmarkError as exc:
        say(f"error: {exc}")
        return 2
    title = f"sla-digest benchmark ({profile.name}), {started:%Y-%m-%d %H:%M} UTC, on {machine()}"
    sys.stdout.write(render_table(figures, title=title) + "\n")
    if args.json:
        document = {
            "profile": profile.name,
            "started": started.isoformat(timespec="seconds"),
            "machine": machine(),
            "figures": [figure.as_dict() for figure in figures],
        }
        Path(args.json).write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    missed = [figure.label for figure in figures if figure.passed is False]
    if missed:
        say(f"missed: {', '.join(missed)}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
