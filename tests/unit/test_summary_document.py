"""The typed summary reads and writes ``summary.json`` exactly, and names what it cannot read."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from sla_digest.chatwoot.events import COUNTED_NAMES, DURATION_NAMES, classify_rows
from sla_digest.config import SlaTargets
from sla_digest.exceptions import VerificationError
from sla_digest.report.metrics import COUNT_KEYS, HEADLINE, IGNORED, METRIC_KEYS
from sla_digest.report.summary import Summary, build_summary
from sla_digest.window import report_window

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "summaries"
DAY = report_window(date(2026, 11, 20), "Europe/Berlin", now=datetime(2030, 1, 1, tzinfo=UTC))


def load(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def schema() -> dict[str, Any]:
    """The shipped schema, read as a file: an account of the contract apart from the code."""
    text = files("sla_digest.report").joinpath("schemas/summary.schema.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def built() -> Summary:
    """A small built day with SLA blocks, null ids and a previous day."""
    created = "2026-11-20T09:00:00.000Z"
    rows = [
        {
            "id": i,
            "name": name,
            "value": 90.0 * i,
            "value_in_business_hours": None if i == 2 else 45.0 * i,
            "inbox_id": inbox,
            "user_id": user,
            "created_at": created,
        }
        for i, (name, inbox, user) in enumerate(
            [
                ("first_response", 3, 4),
                ("first_response", 3, None),
                ("reply_time", None, 4),
                ("conversation_bot_handoff", 3, 4),
            ],
            start=1,
        )
    ]
    yesterday = load(FIXTURES / "acme-2026-11-20.json")
    return build_summary(
        account_id=7,
        account_name="Acme Support",
        window=DAY,
        base_url="https://chat.acme.example",
        events=classify_rows(rows, DAY),
        pages=1,
        complete=True,
        targets=SlaTargets(first_response=120.0, reply_time=3600.0),
        inbox_names={3: "Website Chat"},
        inbox_working_hours={3: True},
        agent_names={4: "Jonas"},
        previous=yesterday,
        generated_at=datetime(2026, 11, 21, 6, 0, 3, tzinfo=UTC),
    )


# ----- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.name)
def test_every_stored_fixture_reads_and_writes_back_unchanged(path: Path) -> None:
    # GIVEN a stored summary.json
    document = load(path)
    # WHEN read into records and written out again
    again = Summary.from_dict(copy.deepcopy(document)).to_dict()
    # THEN it is the same document, key order included
    assert again == document
    assert json.dumps(again) == json.dumps(document)


def test_a_built_summary_survives_a_round_trip_through_json() -> None:
    # GIVEN a built summary WHEN written as JSON and read back THEN the records are equal
    summary = built()
    assert Summary.from_dict(json.loads(json.dumps(summary.to_dict()))) == summary


def test_the_document_lists_its_keys_in_the_contract_order() -> None:
    # GIVEN a built summary WHEN written
    document = built().to_dict()
    # THEN the top level and a metric follow the order the contract writes them in
    assert list(document) == [
        "schema_version",
        "account_id",
        "account_name",
        "date",
        "timezone",
        "window",
        "generated_at",
        "period",
        "source",
        "overall",
        "by_inbox",
        "by_agent",
        "previous",
    ]
    assert list(document["by_inbox"]["3"]) == [
        "name",
        "first_response",
        "reply_time",
        "conversation_resolved",
        "counts",
    ]
    first = document["overall"]["first_response"]
    assert list(first) == ["count", "mean", "p50", "p90", "p95", "max", "business_hours", "sla"]
    assert list(first["sla"]) == ["target", "basis", "met", "breached", "compliance"]


def test_only_the_previous_days_date_and_overall_block_are_kept() -> None:
    # GIVEN yesterday's full stored summary as the previous day
    yesterday = load(FIXTURES / "acme-2026-11-20.json")
    # WHEN today is built with it
    previous = built().to_dict()["previous"]
    # THEN the trend holds its date (a day: its start and end too) and overall block,
    # unchanged, and nothing else
    assert previous == {
        "date": yesterday["date"],
        "start": yesterday["date"],
        "end": yesterday["date"],
        "overall": yesterday["overall"],
    }


def test_records_give_typed_access_to_the_figures() -> None:
    # GIVEN the hand-made Acme day: first response p90 611 s, 47 of 50 within 1800 s
    summary = Summary.from_dict(load(FIXTURES / "acme-2026-11-20.json"))
    first = summary.overall.metrics["first_response"]
    # THEN the records say so without string keys below the block
    assert (first.count, first.p90) == (50, 611.0)
    assert first.sla is not None
    assert (first.sla.met, first.sla.total, first.sla.target) == (47, 50, 1800.0)
    assert summary.day == date(2026, 11, 20)
    assert summary.by_inbox["5"].name is None
    assert summary.previous is not None
    assert summary.previous.day == date(2026, 11, 19)


# ----- documents that do not read ---------------------------------------------------------------


def test_a_document_missing_a_figure_is_refused_naming_the_place() -> None:
    # GIVEN a stored summary whose reply_time metric lost its p90
    document = load(FIXTURES / "acme-2026-11-20.json")
    del document["overall"]["reply_time"]["p90"]
    # WHEN read
    with pytest.raises(VerificationError) as caught:
        Summary.from_dict(document)
    # THEN the one-line error names the path of the problem
    assert "summary.json at $.overall.reply_time: 'p90' is a required property" in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_document_of_another_schema_version_is_refused_naming_the_version() -> None:
    # GIVEN a summary written by a later version
    document = load(FIXTURES / "acme-2026-11-20.json")
    document["schema_version"] = 3
    # WHEN read THEN the error says which version it is and which ones are read
    with pytest.raises(
        VerificationError, match="schema_version 3: this version reads schema_version 1 and 2"
    ):
        Summary.from_dict(document)


def test_a_json_array_is_not_a_summary() -> None:
    # GIVEN a summary.json holding a list WHEN read THEN the error says it is not an object
    with pytest.raises(VerificationError, match="not an object"):
        Summary.from_dict([1, 2])  # type: ignore[arg-type]


def test_a_previous_day_with_a_broken_overall_block_is_refused() -> None:
    # GIVEN a previous-day document whose overall block has no counts
    yesterday = load(FIXTURES / "acme-2026-11-20.json")
    del yesterday["overall"]["counts"]
    # WHEN a day is built with it THEN it is refused as not a summary.json
    with pytest.raises(VerificationError, match=r"not a summary\.json"):
        build_summary(
            account_id=7,
            account_name=None,
            window=DAY,
            base_url="https://chat.acme.example",
            events=classify_rows([], DAY),
            pages=0,
            complete=True,
            targets=SlaTargets(),
            inbox_names={},
            inbox_working_hours={},
            agent_names={},
            previous=yesterday,
            generated_at=datetime(2026, 11, 21, 6, 0, tzinfo=UTC),
        )


# ----- the metric catalogue ----------------------------------------------------------------------


def test_the_metric_catalogue_matches_the_schema_and_the_event_names() -> None:
    # GIVEN the schema's block and counts, and the event names the client classifies
    defs = schema()["$defs"]
    timed = [key for key in defs["block"]["required"] if key != "counts"]
    # THEN the catalogue lists the same metrics and counts, in the same order
    assert list(METRIC_KEYS) == timed == list(DURATION_NAMES)
    assert list(COUNT_KEYS) == defs["counts"]["required"] == list(COUNTED_NAMES)
    ignored = schema()["properties"]["source"]["properties"]["ignored"]["required"]
    assert [key for key, _ in IGNORED] == ignored
    assert HEADLINE in METRIC_KEYS


# ----- the package's surface ---------------------------------------------------------------------


def _loaded_after(statement: str, modules: list[str]) -> dict[str, bool]:
    code = (
        "import json, sys\n"
        f"{statement}\n"
        f"print(json.dumps({{name: name in sys.modules for name in {modules!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    loaded: dict[str, bool] = json.loads(result.stdout)
    return loaded


def test_importing_the_summary_module_loads_neither_jinja_nor_the_renderer() -> None:
    # GIVEN a fresh interpreter WHEN the summary module and the package's Summary are used
    loaded = _loaded_after(
        "import sla_digest.report.summary\nimport sla_digest.report as r\nr.Summary",
        ["jinja2", "sla_digest.report.render", "sla_digest.report.view"],
    )
    # THEN neither the renderer nor Jinja2 was imported
    assert loaded == {
        "jinja2": False,
        "sla_digest.report.render": False,
        "sla_digest.report.view": False,
    }


def test_the_package_exports_its_names_on_first_use() -> None:
    import sla_digest.report as report
    from sla_digest.report.render import render_digest

    # GIVEN the package WHEN a listed name is asked for THEN it is the module's own object
    assert report.render_digest is render_digest
    assert report.Summary is Summary
    # AND dir() shows every exported name
    assert set(report.__all__) <= set(dir(report))
    # AND a name that is not exported is an AttributeError naming it
    with pytest.raises(AttributeError, match="no_such_name"):
        _ = report.no_such_name
