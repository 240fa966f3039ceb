"""The JSON Schema of summary.json: it accepts the contract and rejects hand-edited copies."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, date, datetime
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from jsonschema import Draft202012Validator

from sla_digest.chatwoot.events import classify_rows
from sla_digest.config import SlaTargets
from sla_digest.exceptions import VerificationError
from sla_digest.report.summary import build_summary, summary_schema, validate_summary
from sla_digest.window import report_window

if TYPE_CHECKING:
    from collections.abc import Callable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "summaries"
DAY = report_window(date(2026, 11, 20), "Europe/Berlin", now=datetime(2030, 1, 1, tzinfo=UTC))


def empty_metric() -> dict[str, Any]:
    nothing = {"mean": None, "p50": None, "p90": None, "p95": None, "max": None}
    return {"count": 0, **nothing, "business_hours": dict(nothing)}


def empty_block() -> dict[str, Any]:
    return {
        "first_response": empty_metric(),
        "reply_time": empty_metric(),
        "conversation_resolved": empty_metric(),
        "counts": {
            "conversation_opened": 0,
            "conversation_bot_resolved": 0,
            "conversation_bot_handoff": 0,
            "conversation_captain_inference_resolved": 0,
            "conversation_captain_inference_handoff": 0,
        },
    }


def hand_written_quiet_day() -> dict[str, Any]:
    """A summary written from the contract by hand: a quiet day, nothing to measure."""
    return {
        "schema_version": 1,
        "account_id": 7,
        "account_name": None,
        "date": "2026-11-20",
        "timezone": "Europe/Berlin",
        "window": {"since": 1795129200, "until": 1795215600},
        "generated_at": "2026-11-21T06:00:03Z",
        "source": {
            "base_url": "https://chat.acme.example",
            "events": 0,
            "pages": 1,
            "complete": True,
            "missing": 0,
            "ignored": {"unknown_name": 0, "invalid": 0, "outside_window": 0},
        },
        "overall": empty_block(),
        "by_inbox": {},
        "by_agent": {},
        "previous": None,
    }


def rich_summary() -> dict[str, Any]:
    """A built summary with every optional part: sla blocks, "none" keys, a previous day."""
    created = "2026-11-20T09:00:00.000Z"
    rows = [
        {
            "id": i,
            "name": name,
            "value": 60.0 * i,
            "value_in_business_hours": 30.0 * i,
            "inbox_id": inbox,
            "user_id": user,
            "conversation_id": 100 + i,
            "created_at": created,
        }
        for i, (name, inbox, user) in enumerate(
            [
                ("first_response", 3, 4),
                ("reply_time", 5, None),
                ("conversation_resolved", None, 6),
                ("conversation_opened", 3, 4),
            ],
            start=1,
        )
    ]
    return build_summary(
        account_id=7,
        account_name="Acme Support",
        window=DAY,
        base_url="https://chat.acme.example",
        events=classify_rows(rows, DAY),
        pages=1,
        complete=True,
        targets=SlaTargets(first_response=1800.0, reply_time=3600.0),
        inbox_names={3: "Website Chat"},
        inbox_working_hours={3: True, 5: False},
        agent_names={4: "Jonas"},
        previous={"date": "2026-11-19", "overall": empty_block()},
        generated_at=datetime(2026, 11, 21, 6, 0, 3, tzinfo=UTC),
    ).to_dict()


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(VerificationError) as caught:
        validate_summary(document)
    return caught.value.problems


def test_the_schema_is_valid_draft_2020_12() -> None:
    # GIVEN the shipped schema / WHEN checked against the meta-schema / THEN it is valid
    schema = summary_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_schema_ships_inside_the_package() -> None:
    # GIVEN the installed package / WHEN looking for the schema beside the code
    resource = files("sla_digest.report").joinpath("schemas/summary.schema.json")
    # THEN it is there, so the Lambda layer carries it
    assert json.loads(resource.read_text(encoding="utf-8")) == summary_schema()


def test_a_hand_written_contract_document_validates() -> None:
    # GIVEN a quiet day written from the contract / WHEN validated / THEN no error
    validate_summary(hand_written_quiet_day())


def test_a_built_summary_with_every_optional_part_validates() -> None:
    # GIVEN a summary with SLA blocks, null ids and a previous day / WHEN validated / THEN fine
    summary = rich_summary()
    assert "none" in summary["by_inbox"]
    assert "sla" in summary["overall"]["first_response"]
    validate_summary(summary)


@pytest.mark.parametrize("path", sorted(FIXTURES.glob("*.json")), ids=lambda path: path.name)
def test_stored_summary_fixtures_follow_the_schema(path: Path) -> None:
    # GIVEN a summary fixture other tests render from / WHEN validated / THEN it is a contract doc
    validate_summary(json.loads(path.read_text(encoding="utf-8")))


def _drop(*keys: str | int) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for key in keys[:-1]:
            target = target[key]
        del target[keys[-1]]

    return edit


def _set(value: Any, *keys: str) -> Callable[[dict[str, Any]], None]:
    def edit(document: dict[str, Any]) -> None:
        target = document
        for key in keys[:-1]:
            target = target[key]
        target[keys[-1]] = value

    return edit


BROKEN: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("missing overall", _drop("overall"), "$: 'overall' is a required property"),
    ("missing p90", _drop("overall", "reply_time", "p90"), "$.overall.reply_time"),
    ("missing inbox name", _drop("by_inbox", "3", "name"), "$.by_inbox['3']"),
    ("missing count", _drop("by_agent", "4", "counts", "conversation_opened"), "counts"),
    ("missing missing", _drop("source", "missing"), "$.source"),
    ("extra top-level key", _set(1, "extra"), "'extra' was unexpected"),
    ("extra metric key", _set(1.0, "overall", "first_response", "p99"), "first_response"),
    ("extra block key", _set({}, "overall", "teams"), "$.overall"),
    ("extra sla key", _set(1, "overall", "first_response", "sla", "grace"), "sla"),
    ("count as text", _set("3", "overall", "first_response", "count"), "count"),
    ("mean as text", _set("60", "overall", "first_response", "mean"), "mean"),
    ("negative max", _set(-1.0, "overall", "first_response", "max"), "max"),
    ("complete as text", _set("yes", "source", "complete"), "$.source.complete"),
    ("schema version 3", _set(3, "schema_version"), "$.schema_version"),
    ("account id as text", _set("7", "account_id"), "$.account_id"),
    ("date not a date", _set("20.11.2026", "date"), "$.date"),
    ("local generation time", _set("2026-11-21T07:00:03+01:00", "generated_at"), "generated"),
    ("unknown basis", _set("wall", "overall", "first_response", "sla", "basis"), "basis"),
    ("compliance above 1", _set(1.5, "overall", "first_response", "sla", "compliance"), "compl"),
    ("complete but missing", _set(3, "source", "missing"), "$.source.missing"),
    ("inbox key not an id", _set({}, "by_inbox", "chat"), "by_inbox"),
    ("previous without date", _drop("previous", "date"), "$.previous"),
    ("name as number", _set(5, "by_agent", "4", "name"), "$.by_agent['4'].name"),
]


@pytest.mark.parametrize(
    ("edit", "where"),
    [pytest.param(edit, where, id=label) for label, edit, where in BROKEN],
)
def test_a_hand_edited_summary_is_rejected_naming_where(
    edit: Callable[[dict[str, Any]], None], where: str
) -> None:
    # GIVEN a valid summary, edited by hand
    document = copy.deepcopy(rich_summary())
    edit(document)
    # WHEN validated
    problems = problems_of(document)
    # THEN it is rejected, and a problem names the place
    assert any(where in problem for problem in problems), problems


def test_every_problem_is_listed_with_its_json_path() -> None:
    # GIVEN a summary broken in two unrelated places
    document = rich_summary()
    document["account_id"] = "seven"
    del document["overall"]["counts"]
    # WHEN validated
    problems = problems_of(document)
    # THEN both are reported, each starting with its path
    assert len(problems) == 2
    assert any(problem.startswith("$.account_id: ") for problem in problems)
    assert any(problem.startswith("$.overall: ") for problem in problems)


def test_validation_errors_are_short_lines() -> None:
    # GIVEN an overall block replaced by a huge wrong value
    document = rich_summary()
    document["overall"] = ["x" * 5000]
    # WHEN validated / THEN the one problem stays a readable line
    problems = problems_of(document)
    assert all(len(problem) < 300 for problem in problems)


def test_importing_the_summary_module_does_not_load_jsonschema() -> None:
    # GIVEN a fresh interpreter (the Lambda's cold start)
    code = "import sys, sla_digest.report.summary; print('jsonschema' in sys.modules)"
    # WHEN the module is imported
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    # THEN jsonschema has not been imported
    assert result.stdout.strip() == "False"
