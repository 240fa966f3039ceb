"""``make bench``: the performance targets of the design, measured on this machine.

Each measurement module returns :class:`Figure` records; ``python -m benchmarks`` runs them all
and prints one table with every figure beside its bound. The sizes come from a
:class:`Profile`: :data:`FULL` is what the targets are stated for, :data:`QUICK` a smoke run
of a few seconds per row, :data:`TINY` only exercises the code paths (the test suite uses it).
"""

from __future__ import annotations

import math
import os
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path

__all__ = [
    "FULL",
    "QUICK",
    "ROOT",
    "TINY",
    "BenchmarkError",
    "Figure",
    "Profile",
    "child_environment",
    "child_output",
    "render_table",
]


ROOT = Path(__file__).resolve().parent.parent
"""The project's folder: child processes run there, so ``-m benchmarks...`` resolves."""


class BenchmarkError(Exception):
    """A measurement could not be taken (the run failed or fetched an incomplete day)."""


def child_environment(**extra: str) -> dict[str, str]:
    """This process's environment for a measured child, plus ``extra``: bytecode may be
    written (a child times imports of cached bytecode, as a deployed package has it)."""
    environment = {
        name: value for name, value in os.environ.items() if name != "PYTHONDONTWRITEBYTECODE"
    }
    return environment | extra


def child_output(
    command: list[str], *, environment: dict[str, str], timeout: float, failure: str
) -> str:
    """Run a measuring child process in the project folder; the last line it printed.

    A child that fails becomes one :class:`BenchmarkError`: ``failure`` and its last error line.
    """
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=environment,
        timeout=timeout,
        check=False,
    )
    if completed.returncode != 0:
        lines = completed.stderr.strip().splitlines() or ["no error output"]
        raise BenchmarkError(f"{failure}: {lines[-1]}")
    return completed.stdout.strip().splitlines()[-1]


@dataclass(frozen=True, slots=True)
class Profile:
    """How big each measurement is; the bounds scale with these sizes."""

    name: str
    fetch_events: int  # 25 events a page
    fetch_latency: float
    concurrency: int
    fetch_repeats: int
    throttle_events: int
    throttle_rate: int  # requests the sandbox allows per second
    throttle_latency: float
    throttle_repeats: int
    cpu_events: int
    cpu_repeats: int
    memory_events: int
    import_repeats: int
    week_events: int = 100_000  # events a day of the weekly report's 7 archived days
    month_events: int = 10_000  # events a day of the monthly report's 30 archived days
    period_repeats: int = 3


FULL = Profile(
    name="full",
    fetch_events=10_000,
    fetch_latency=0.05,
    concurrency=8,
    fetch_repeats=3,
    throttle_events=10_000,
    throttle_rate=50,
    throttle_latency=0.002,
    throttle_repeats=3,
    cpu_events=100_000,
    cpu_repeats=5,
    memory_events=100_000,
    import_repeats=15,
    week_events=100_000,
    month_events=10_000,
    period_repeats=3,
)
QUICK = Profile(
    name="quick",
    fetch_events=2_500,
    fetch_latency=0.05,
    concurrency=8,
    fetch_repeats=2,
    throttle_events=2_500,
    throttle_rate=50,
    throttle_latency=0.002,
    throttle_repeats=1,
    cpu_events=50_000,
    cpu_repeats=3,
    memory_events=10_000,
    import_repeats=3,
    week_events=20_000,
    month_events=2_000,
    period_repeats=2,
)
TINY = Profile(
    name="tiny",
    fetch_events=60,
    fetch_latency=0.0,
    concurrency=2,
    fetch_repeats=1,
    throttle_events=60,
    throttle_rate=1_000,
    throttle_latency=0.0,
    throttle_repeats=1,
    cpu_events=60,
    cpu_repeats=1,
    memory_events=60,
    import_repeats=0,
    week_events=60,
    month_events=20,
    period_repeats=1,
)


@dataclass(frozen=True, slots=True)
class Figure:
    """One measured figure and the bound it is held to.

    ``at_least`` bounds are met from above (a speed-up), the others from below. ``ratio`` is
    always figure / bound, so a lower bound passes at a ratio of 1 or more. A figure without a
    bound, or with ``checked=False`` (a reference value shown for its ratio), is for
    information and never fails the run.
    """

    key: str
    label: str
    value: float
    unit: str
    bound: float | None = None
    at_least: bool = False
    checked: bool = True
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if self.bound is None or self.bound == 0:
            return None
        return self.value / self.bound

    @property
    def passed(self) -> bool | None:
        """Whether the bound is met; ``None`` for a figure without one."""
        if self.bound is None or not self.checked:
            return None
        if math.isnan(self.value):
            return False
        return self.value >= self.bound if self.at_least else self.value <= self.bound

    @property
    def result(self) -> str:
        return {True: "PASS", False: "FAIL", None: "info"}[self.passed]

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "ratio": self.ratio, "result": self.result}


def _number(value: float, unit: str) -> str:
    if unit == "%":
        return f"{value:.1f} %"
    if unit == "MB":
        return f"{value:.0f} MB"
    if unit == "×":
        return f"{value:.2f}×"
    if unit == "ms":
        return f"{value:.2f} ms"
    if unit == "requests":
        return f"{value:,.0f}"
    if unit == "s" and value < 10:
        return f"{value:.3f} s"
    return f"{value:.2f} {unit}".rstrip()


def render_table(figures: list[Figure], *, title: str = "") -> str:
    """A plain-text table: measurement, figure, bound, ratio (figure/bound) and result."""
    rows = [("measurement", "figure", "bound", "ratio", "result")]
    for figure in figures:
        if figure.bound is None:
            bound = "—"
        elif not figure.checked:
            bound = _number(figure.bound, figure.unit)
        else:
            bound = ("≥ " if figure.at_least else "≤ ") + _number(figure.bound, figure.unit)
        ratio = "—" if figure.ratio is None else f"{figure.ratio:.2f}"
        rows.append((figure.label, _number(figure.value, figure.unit), bound, ratio, figure.result))
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = [title] if title else []
    for index, row in enumerate(rows):
        cells = [row[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(row[1:4], widths[1:4], strict=True)]
        cells.append(row[4])
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    details = [f"  {figure.label}: {figure.detail}" for figure in figures if figure.detail]
    if details:
        lines += ["", *details]
    return "\n".join(lines)
