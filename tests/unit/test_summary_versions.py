"""Schema_version 2 beside version 1: what each must and must not hold, and reading both.

Version 2 only adds (design, section 12), so a version-1 document stays valid and is written
back unchanged; a version-2 document must carry the new fields, and a week or month its days.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.exceptions import VerificationError
from sla_digest.report.summary import Summary, summary_problems
from tests.unit.test_summary_schema import hand_written_quiet_day

if TYPE_CHECKING:
    from collections.abc import Callable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "summaries"


def quiet_day_v2() -> dict[str, Any]:
    """The hand-written quiet day of version 1, with what version 2 adds written by hand."""
    doc = hand_written_quiet_day()
    doc["schema_version"] = 2
    doc = {
        **{k: doc[k] for k in list(doc)[:7]},
        "period": {"kind": "day", "start": "2026-11-20", "end": "2026-11-20", "days": 1},
        **{k: doc[k] for k in list(doc)[7:]},
    }
    doc["source"]["days"] = [{"date": "2026-11-20", "events": 0, "complete": True}]
    doc["source"]["missing_days"] = []
    return doc


def quiet_week() -> dict[str, Any]:
    """A quiet week of 16–22 November 2026 in Berlin, with one day missing, by hand."""
    doc = quiet_day_v2()
    doc["date"] = "2026-11-16"
    doc["window"] = {"since": 1794783600, "until": 1795388400}
    doc["period"] = {"kind": "week", "start": "2026-11-16", "end": "2026-11-22", "days": 7}
    days = ["2026-11-16", "2026-11-17", "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22"]
    doc["source"]["days"] = [{"date": d, "events": 0, "complete": True} for d in days]
    doc["source"]["missing_days"] = ["2026-11-18"]
    doc["source"]["complete"] = False
    nothing = {"count": 0, "mean": None, "p90": None, "compliance": None}
    doc = {**{k: v for k, v in doc.items() if k != "previous"}}
    doc["by_day"] = [
        {
            "date": d,
            "first_response": dict(nothing),
            "reply_time": dict(nothing),
            "conversation_resolved": dict(nothing),
        }
        for d in days
    ]
    doc["previous"] = None
    return doc


def _edit(change: Callable[[dict[str, Any]], None], base: Callable[[], dict[str, Any]]) -> Any:
    doc = copy.deepcopy(base())
    change(doc)
    return doc


def test_hand_written_documents_of_both_versions_and_a_week_are_valid() -> None:
    assert summary_problems(hand_written_quiet_day()) == []
    assert summary_problems(quiet_day_v2()) == []
    assert summary_problems(quiet_week()) == []


BROKEN: list[tuple[str, Callable[[], dict[str, Any]], Callable[[dict[str, Any]], None], str]] = [
    ("v2 without period", quiet_day_v2, lambda d: d.pop("period"), "'period' is a required"),
    ("v2 without days", quiet_day_v2, lambda d: d["source"].pop("days"), "'days' is a required"),
    (
        "v2 without missing_days",
        quiet_day_v2,
        lambda d: d["source"].pop("missing_days"),
        "'missing_days' is a required",
    ),
    ("week without by_day", quiet_week, lambda d: d.pop("by_day"), "'by_day' is a required"),
    ("day with by_day", quiet_day_v2, lambda d: d.update(by_day=[]), "$"),
    (
        "v1 with a period",
        hand_written_quiet_day,
        lambda d: d.update(
            period={"kind": "day", "start": "2026-11-20", "end": "2026-11-20", "days": 1}
        ),
        "$",
    ),
    ("v1 with days", hand_written_quiet_day, lambda d: d["source"].update(days=[]), "$.source"),
    ("unknown kind", quiet_week, lambda d: d["period"].update(kind="fortnight"), "$.period.kind"),
    (
        "by_day metric without p90",
        quiet_week,
        lambda d: d["by_day"][0]["first_response"].pop("p90"),
        "$.by_day[0].first_response",
    ),
    (
        "missing day not a date",
        quiet_week,
        lambda d: d["source"].update(missing_days=["18.11.2026"]),
        "$.source.missing_days[0]",
    ),
]


@pytest.mark.parametrize(
    ("base", "change", "where"),
    [pytest.param(base, change, where, id=label) for label, base, change, where in BROKEN],
)
def test_a_document_breaking_its_versions_rules_is_rejected_naming_where(
    base: Callable[[], dict[str, Any]], change: Callable[[dict[str, Any]], None], where: str
) -> None:
    # GIVEN a valid document edited against the rules of its version
    problems = summary_problems(_edit(change, base))
    # THEN it is rejected, a problem naming the place
    assert problems
    assert any(where in problem for problem in problems), problems


def test_a_version_2_previous_period_needs_its_start_and_end() -> None:
    # GIVEN a v2 day whose previous block has only version 1's date
    doc = quiet_day_v2()
    doc["previous"] = {"date": "2026-11-19", "overall": copy.deepcopy(doc["overall"])}
    # THEN it is rejected; with start and end it is valid
    assert summary_problems(doc)
    doc["previous"].update(start="2026-11-19", end="2026-11-19")
    assert summary_problems(doc) == []


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.name)
def test_every_archived_fixture_reads_as_its_own_version(path: Path) -> None:
    # GIVEN a stored summary WHEN read THEN its version is kept (1 stays 1)
    document = json.loads(path.read_text(encoding="utf-8"))
    summary = Summary.from_dict(document)
    assert summary.schema_version == document["schema_version"]
    assert summary.to_dict() == document


def test_hand_written_version_2_documents_read_back_unchanged() -> None:
    for document in (quiet_day_v2(), quiet_week()):
        assert Summary.from_dict(copy.deepcopy(document)).to_dict() == document


def test_a_version_1_document_claiming_a_period_is_refused_on_reading() -> None:
    doc = hand_written_quiet_day()
    doc["period"] = {"kind": "day", "start": "2026-11-20", "end": "2026-11-20", "days": 1}
    with pytest.raises(VerificationError, match=r"summary\.json at \$"):
        Summary.from_dict(doc)


def test_a_weeks_previous_block_is_start_end_and_overall_as_the_contract_writes_it() -> None:
    # GIVEN a week whose previous block is written as section 12 of the design writes it
    doc = quiet_week()
    overall = copy.deepcopy(doc["overall"])
    doc["previous"] = {"start": "2026-11-09", "end": "2026-11-15", "overall": overall}
    # THEN it is valid and reads back as it was written
    assert summary_problems(doc) == []
    assert Summary.from_dict(copy.deepcopy(doc)).to_dict() == doc
    # AND a day's keeps version 1's date beside them: without it a day's block is refused
    day = quiet_day_v2()
    day["previous"] = {"start": "2026-11-19", "end": "2026-11-19", "overall": overall}
    assert summary_problems(day)
