"""One rule for shares: the subject, the digest and the terminal always show the same percent.

Shares are rounded down, so compliance is never overstated and nothing short of every row
within target reads 100%. The expected figures are worked out by hand next to each case.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sla_digest.jobs.job import RunResult
from sla_digest.report.format import format_percent
from sla_digest.report.render import render_digest
from sla_digest.report.summary import Summary
from sla_digest_cli.cli import _headline

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "summaries" / "acme-2026-11-20.json"

# (met, total, shown): the share met/total as a hand-worked percent, rounded down
BOUNDARIES = [
    (37, 40, "92%"),  # 0.925: 92.5 → 92
    (927, 1000, "92%"),  # 0.927 → 92.7 → 92 (the terminal's old "{:.0%}" said 93%)
    (9249, 10000, "92%"),  # 0.9249 → 92.49 → 92
    (9999, 10000, "99%"),  # 0.9999 → 99.99 → 99, never 100 (the old "{:.0%}" said 100%)
    (19999, 20000, "99%"),  # 0.99995 → 99
    (29, 100, "29%"),  # 0.29: the float 0.29 × 100 is 28.999…, still 29
    (2, 3, "66%"),  # 66.67 → 66
    (1, 3, "33%"),  # 33.33 → 33
    (50, 50, "100%"),  # every row within target
    (0, 7, "0%"),
]


def test_nothing_measured_shows_a_dash() -> None:
    # GIVEN no rows WHEN formatted THEN a dash, not 0% or a division error
    assert format_percent(0, 0) == "—"


@pytest.mark.parametrize(("met", "total", "shown"), BOUNDARIES)
def test_a_share_is_rounded_down(met: int, total: int, shown: str) -> None:
    # GIVEN met of total WHEN formatted THEN the hand-worked percent, rounded down
    assert format_percent(met, total) == shown


SHARES = st.integers(1, 10**9).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n)))


@given(SHARES)
def test_a_share_is_never_overstated_and_never_a_whole_point_low(share: tuple[int, int]) -> None:
    # GIVEN any met ≤ total WHEN formatted as p%
    met, total = share
    shown = int(format_percent(met, total).removesuffix("%"))
    # THEN p ≤ 100 × met / total < p + 1, checked in integers
    assert shown * total <= 100 * met < (shown + 1) * total
    # AND 100% only when every row met the target
    assert (shown == 100) == (met == total)


def _summary_with(met: int, total: int) -> Summary:
    """The Acme day with its first-response SLA set to ``met`` of ``total``."""
    document: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    first = document["overall"]["first_response"]
    first["count"] = total
    first["sla"].update(met=met, breached=total - met, compliance=met / total)
    return Summary.from_dict(document)


@pytest.mark.parametrize(("met", "total", "shown"), BOUNDARIES)
def test_the_subject_the_digest_and_the_cli_line_show_the_same_percent(
    met: int, total: int, shown: str
) -> None:
    # GIVEN a day whose first-response SLA share sits on a rounding boundary
    summary = _summary_with(met, total)
    # WHEN the digest is rendered and the CLI's line is written for it
    digest = render_digest(summary, templates_dir=ROOT / "templates", archive_location="x")
    result = RunResult(summary=summary, digest=digest, fetch=cast("Any", None))
    line = _headline(result)
    # THEN the subject, the text digest and the terminal all state the hand-worked percent
    assert digest.subject.endswith(f"SLA met {shown}")
    assert f"SLA met {shown}" in line
    assert f"met {shown} — target 30m" in digest.text
