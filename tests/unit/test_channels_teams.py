"""The Teams message: an Adaptive Card of version at most 1.5, valid against the published
schema (a vendored copy), under 28 KB, with every name from Chatwoot in a markdown-free run."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from sla_digest.delivery.teams import MAX_MESSAGE_BYTES, payload_bytes, teams_card, teams_payload
from sla_digest.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures"
SCHEMA = FIXTURES / "adaptive-card" / "adaptive-card-1.5.schema.json"


def document(name: str) -> dict[str, Any]:
    path = FIXTURES / "summaries" / f"{name}.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA.read_text(encoding="utf-8"))
    return loaded


@pytest.fixture(scope="module")
def validator(schema: dict[str, Any]) -> Any:
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def walk(node: Any) -> Any:
    """Every object in a card, depth first."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk(item)


def version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split("."))


def huge_day() -> dict[str, Any]:
    """600 inboxes and agents with 200-character names: far more than any card can list."""
    doc = document("acme-2026-11-20")
    for scope, key in (("by_inbox", "1"), ("by_agent", "11")):
        template = doc[scope][key]
        for index in range(600):
            block = copy.deepcopy(template)
            block["name"] = f"{'Ж' * 190} {index}"
            doc[scope][str(5000 + index)] = block
    return doc


def test_the_vendored_schema_rejects_what_is_not_an_adaptive_card(validator: Any) -> None:
    # GIVEN the vendored schema: it must be able to fail, or the tests below prove nothing
    card = teams_card(Summary.from_dict(document("acme-2026-11-20")))
    misspelt = copy.deepcopy(card)
    misspelt["body"].append({"type": "TextBlock", "txt": "a typo"})
    host_key = {**card, "msteams": {"width": "Full"}}
    # THEN a misspelt element and a host-specific key are both errors
    assert list(validator.iter_errors(misspelt))
    assert list(validator.iter_errors(host_key))


@pytest.mark.parametrize("name", ["acme-2026-11-20", "hostile-names", "huge"])
def test_the_card_is_valid_against_the_adaptive_card_schema(validator: Any, name: str) -> None:
    # GIVEN a fixture day (or a huge made-up one)
    doc = huge_day() if name == "huge" else document(name)
    # WHEN its card is built
    card = teams_card(Summary.from_dict(doc))
    # THEN the schema finds nothing wrong with it
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(card)]
    assert errors == []


@pytest.mark.parametrize("name", ["acme-2026-11-20", "hostile-names", "huge"])
def test_the_card_and_every_element_in_it_need_at_most_version_1_5(
    schema: dict[str, Any], name: str
) -> None:
    # GIVEN a card, and the version the schema gives each element type
    doc = huge_day() if name == "huge" else document(name)
    card = teams_card(Summary.from_dict(doc))
    definitions = schema["definitions"]
    # THEN the card asks for 1.5 at most, and uses no element newer than that
    assert version(card["version"]) <= (1, 5)
    used = {node["type"] for node in walk(card["body"]) if "type" in node}
    used |= {node["type"] for node in walk(card.get("actions", [])) if "type" in node}
    for kind in used:
        assert kind in definitions, kind
        assert version(definitions[kind].get("version", "1.0")) <= (1, 5), kind


@pytest.mark.parametrize("name", ["acme-2026-11-20", "hostile-names", "huge"])
def test_the_message_is_under_28_kb_in_the_workflows_envelope(name: str) -> None:
    # GIVEN a day
    doc = huge_day() if name == "huge" else document(name)
    # WHEN the message is built
    payload = teams_payload(Summary.from_dict(doc))
    # THEN it is the Workflows envelope around one card, under 28 KB as posted
    assert payload["type"] == "message"
    (attachment,) = payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["type"] == "AdaptiveCard"
    assert len(payload_bytes(payload)) < 28 * 1024 == MAX_MESSAGE_BYTES


def test_names_from_chatwoot_appear_only_in_runs_that_render_no_markdown() -> None:
    # GIVEN names that are markdown links and emphasis
    doc = document("acme-2026-11-20")
    doc["account_name"] = "[Acme](https://evil.example) **Support**"
    doc["by_inbox"]["1"]["name"] = "[click me](https://evil.example)"
    doc["by_agent"]["11"]["name"] = "_Ana_ **Souza**"
    card = teams_card(Summary.from_dict(doc))
    names = ("[Acme](https://evil.example)", "[click me](https://evil.example)", "_Ana_")
    # THEN each name is in a TextRun, and in no TextBlock, fact or fallback-free place
    runs = [node["text"] for node in walk(card["body"]) if node.get("type") == "TextRun"]
    markdown = [node["text"] for node in walk(card["body"]) if node.get("type") == "TextBlock"]
    markdown += [f["title"] + f["value"] for n in walk(card["body"]) for f in n.get("facts", [])]
    for name in names:
        assert any(name in run for run in runs), name
        assert not any(name in text for text in markdown), name


def test_the_card_opens_the_account_reports_and_states_the_headline() -> None:
    # GIVEN the Acme day
    card = teams_card(Summary.from_dict(document("acme-2026-11-20")))
    # THEN its one action opens the reports, and the fallback text has the headline
    assert card["actions"] == [
        {
            "type": "Action.OpenUrl",
            "title": "Open the reports in Chatwoot",
            "url": "https://chat.acme.example/app/accounts/7/reports/overview",
        }
    ]
    assert card["fallbackText"] == (
        "Acme Support SLA digest 2026-11-20: first response p90 10m 11s, SLA met 94%"
    )
    values = [node["text"] for node in walk(card["body"]) if node.get("type") == "TextBlock"]
    assert "10m 11s" in values  # p90 611 s
    assert "▼ 13% faster than 2026-11-19" in values  # 611 / 700 = −12.7 %


def test_a_card_over_the_limit_lists_fewer_rows_until_it_fits(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a limit just below the size of the full Acme message
    from sla_digest.delivery import teams

    day = Summary.from_dict(document("acme-2026-11-20"))
    full = payload_bytes(teams_payload(day))
    monkeypatch.setattr(teams, "MAX_MESSAGE_BYTES", len(full) - 1)
    # WHEN the message is built again
    trimmed = teams_payload(day)
    # THEN it fits, with fewer listed rows, and the headline is still there
    assert len(payload_bytes(trimmed)) <= len(full) - 1
    runs = [n for n in walk(trimmed) if n.get("type") == "RichTextBlock"]
    assert len(runs) < len([n for n in walk(json.loads(full)) if n.get("type") == "RichTextBlock"])
    assert trimmed["attachments"][0]["content"]["fallbackText"].endswith("SLA met 94%")
