"""``make bench`` at tiny sizes: every code path runs and every row is printed.

The figures themselves are not judged here (timings on a shared test machine say nothing);
``make bench`` judges them at the sizes the design states its targets for.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from benchmarks import TINY, Figure, render_table
from benchmarks import __main__ as runner

if TYPE_CHECKING:
    from pathlib import Path

    import pytest

# One row per figure of the design's targets, plus the reference figures shown beside them.
ROWS = (
    "fetch wall time",
    "fetch wall time / L × (1 + ⌈(P−1)/C⌉)",
    "plain requests loop, page after page",
    "speed-up over the plain loop",
    "whole run: plain threaded fetch of the pages",
    "whole run: sla-digest run of the day",
    "whole run: requests besides the pages",
    "breach links: requests per day",
    "breach links: rows shown with a link",
    "throttled fetch wall time",
    "throttled requests (HTTP 429)",
    "CPU: json.loads alone",
    "CPU: parse + dedupe + summary + render + dataset",
    "CPU: the same without the dataset",
    "CPU: the events dataset file",
    "peak RSS of a day through the pipeline",
    "CPU of that day's whole run",
    "CPU: events dataset share of a day's run",
    "weekly: json.loads alone",
    "weekly: report from the archive",
    "weekly: peak RSS of the report",
    "monthly: json.loads alone",
    "monthly: report from the archive",
    "monthly: peak RSS of the report",
    "cold start: import boto3 alone",
    "cold start: import the digest handler",
    "cold start: digest handler + what a run imports",
    "cold start: import the dispatch handler",
    "cold start: dispatch handler + what a run imports",
    "client CPU per page (request, parse, classify)",
    "AWS requests of one digest job",
    "S3 PutObject client CPU per page",
    "S3 GetObject client CPU per page",
)


def test_a_tiny_run_measures_every_figure_and_prints_every_row() -> None:
    # GIVEN the tiny profile (a few pages, one repetition)
    # WHEN every measurement runs
    figures = runner.run_all(TINY)
    table = render_table(figures)
    # THEN each row appears once, with a number in it
    labels = [figure.label for figure in figures]
    assert sorted(labels) == sorted(ROWS)
    for label in ROWS:
        line = next(line for line in table.splitlines() if line.startswith(label))
        assert any(character.isdigit() for character in line[len(label) :])


def test_a_figure_beyond_its_bound_fails_the_run_and_is_saved_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # GIVEN measurements that return one figure within its bound and one beyond it
    within = Figure(key="a", label="within", value=1.0, unit="s", bound=2.0)
    beyond = Figure(key="b", label="beyond", value=3.0, unit="s", bound=2.0)
    monkeypatch.setattr(runner, "MEASUREMENTS", (("a", lambda _: [within, beyond]),))
    saved = tmp_path / "figures.json"
    # WHEN the benchmark runs with --json
    status = runner.main(["--quick", "--json", str(saved)])
    # THEN it exits 1, and the file holds both figures with their ratio (3 / 2) and result
    assert status == 1
    figures = {item["key"]: item for item in json.loads(saved.read_text())["figures"]}
    assert (figures["a"]["result"], figures["b"]["result"]) == ("PASS", "FAIL")
    assert figures["b"]["ratio"] == 1.5


def test_a_speed_up_passes_from_above_and_a_reference_figure_never_fails() -> None:
    # GIVEN a lower bound met, and a reference figure far beyond its bound
    speed_up = Figure(key="s", label="speed-up", value=7.0, unit="×", bound=6.0, at_least=True)
    reference = Figure(key="r", label="ref", value=9.0, unit="s", bound=1.0, checked=False)
    # THEN the first passes and the second is for information only
    assert (speed_up.result, reference.result) == ("PASS", "info")


def test_the_dataset_share_is_its_cpu_over_the_whole_day_run() -> None:
    # GIVEN a dataset file costing 0.25 s and a day's whole run 5 s of CPU
    figures = [
        Figure(key="cpu_dataset_seconds", label="d", value=0.25, unit="s"),
        Figure(key="day_run_cpu_seconds", label="r", value=5.0, unit="s"),
    ]
    # WHEN the share is derived
    (share,) = runner.dataset_share(figures)
    # THEN it is 5 % of the run, held to 20 %; without either figure there is no row
    assert (share.value, share.bound, share.passed) == (5.0, 20.0, True)
    assert runner.dataset_share(figures[:1]) == []
