"""Malformed and hostile input at every door: accounts.json, manual events, SQS bodies, tokens and
the names Chatwoot sends. Each is refused with one line that names what to fix, or rendered
harmless, and never stops the good input beside it.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.exceptions import ConfigError
from sla_digest_cli.cli import main
from sla_digest_cli.sandbox.server import SandboxServer

from .conftest import (
    DAY,
    TOKEN,
    account_entry,
    job,
    json_lines,
    sqs_event,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Deployed, FakeLambdaContext, LeakWatch

# --------------------------------------------------------------------------- accounts.json

# (entry overrides, a fragment the problem line must hold); each is one bad account entry.
HOSTILE_ENTRIES: list[tuple[dict[str, Any], str]] = [
    ({"account_id": 8, "colour": "blue"}, "unknown key 'colour'"),
    ({"account_id": 9, "timezone": "Mars/Olympus_Mons"}, "'Mars/Olympus_Mons' is not an IANA"),
    ({"account_id": 10, "timezone": "../../../etc/passwd"}, "'../../../etc/passwd' is not an"),
    ({"account_id": 11, "base_url": "http://chat.acme.example"}, "must use https"),
    ({"account_id": 12, "base_url": "https://admin:pw@chat.acme.example"}, "credentials"),
    ({"account_id": 13, "base_url": "javascript:alert(1)"}, "is not a URL"),
    (
        {"account_id": 14, "recipients": ["leads@acme.example\r\nBcc: all@evil.example"]},
        "line breaks",
    ),
    ({"account_id": 15, "recipients": ["a@acme.example, b@evil.example"]}, "not an email"),
    ({"account_id": 16, "recipients": ["Leads <leads@acme.example>"]}, "not an email"),
    ({"account_id": 17, "name": "Acme\r\nBcc: all@evil.example"}, "line breaks"),
    ({"account_id": 18, "send_hour": 24}, "send_hour 24"),
    ({"account_id": 19, "sla": {"first_response": "soon"}}, "'soon' is not a duration"),
    ({"account_id": 20, "token_secret": "a secret; rm -rf /"}, "token_secret"),
]

# A function invocation that fails before recording a metric makes Powertools warn so.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


def hostile_config(good_base_url: str) -> dict[str, Any]:
    """Account 7 is good; every other entry is bad in one way (two share account_id 21)."""
    entries: list[Any] = [account_entry(7, good_base_url)]
    for overrides, _ in HOSTILE_ENTRIES:
        entries.append(account_entry(overrides["account_id"], "https://chat.acme.example"))
        entries[-1].update(overrides)
    entries.append(account_entry(21, "https://chat.acme.example"))
    entries.append(account_entry(21, "https://other.acme.example"))
    entries.append("account 22, please")
    return {"defaults": {"send_hour": 7}, "accounts": entries}


EXPECTED_PROBLEMS = [fragment for _, fragment in HOSTILE_ENTRIES] + [
    "account_id 21 is also used by",
    "account_id 21 is also used by",
    "must be an object",
]


def test_hostile_entries_are_each_left_out_with_their_reason_and_the_good_account_is_queued(
    deployed: Deployed, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN accounts.json with one good account among sixteen bad entries
    deployed.put_config(hostile_config("https://chat.acme.example"))
    app = deployed.function("dispatch")
    # WHEN a manual run for every account is dispatched
    result = app.lambda_handler({"date": DAY.isoformat()}, lambda_context)
    # THEN only the good account is queued, once, and each bad entry has its own line
    assert deployed.queued() == [{"account_id": 7, "date": DAY.isoformat(), "force": False}]
    assert result["queued"] == 1
    problems = result["problems"]
    assert result["errors"] == len(problems) == len(EXPECTED_PROBLEMS)
    for problem, fragment in zip(problems, EXPECTED_PROBLEMS, strict=True):
        assert fragment in problem
        assert "\n" not in problem
        assert "\r" not in problem


def test_each_bad_entry_names_its_position_in_the_file(
    deployed: Deployed, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN the hostile accounts.json
    deployed.put_config(hostile_config("https://chat.acme.example"))
    # WHEN dispatched
    result = deployed.function("dispatch").lambda_handler({"date": "2026-11-20"}, lambda_context)
    # THEN the lines name accounts[1] … accounts[16], in order
    positions = [problem.split(":", 1)[0].split(" ", 1)[0] for problem in result["problems"]]
    assert positions == [f"accounts[{index}]" for index in range(1, len(EXPECTED_PROBLEMS) + 1)]


@pytest.mark.parametrize(
    ("document", "fragment"),
    [
        (b"{'accounts': []}", "is not valid JSON"),
        (b'{"accounts": ["caf\xe9"]}', "not UTF-8"),
        (b"[]", 'must be a JSON object with an "accounts" list'),
        (b'{"accounts": {"7": {}}}', '"accounts" must be a list'),
        (b'{"accounts": [], "secrets": {"token": "x"}}', "unknown top-level key 'secrets'"),
        (b'{"defaults": {"timezone": "Nowhere/City"}, "accounts": []}', "defaults: timezone"),
        (b'{"defaults": {"account_id": 7}, "accounts": []}', "unknown key 'account_id'"),
    ],
)
def test_an_unreadable_accounts_json_fails_the_dispatch_with_one_line(
    deployed: Deployed,
    lambda_context: FakeLambdaContext,
    leak_watch: LeakWatch,
    document: bytes,
    fragment: str,
) -> None:
    # GIVEN an accounts.json that cannot be read as a whole
    deployed.put_config(document)
    app = deployed.function("dispatch")
    # WHEN a manual run is dispatched
    with pytest.raises(ConfigError) as caught:
        app.lambda_handler({"date": "2026-11-20"}, lambda_context)
    leak_watch.add_exception(caught.value)
    # THEN one line names the file and the problem, and nothing is queued
    message = str(caught.value)
    assert message.startswith("s3://sla-digest-archive/config/accounts.json: ")
    assert fragment in message
    assert "\n" not in message
    assert deployed.queued() == []


def test_a_deeply_nested_accounts_json_fails_the_dispatch_with_one_line(
    deployed: Deployed, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN an accounts.json nested 100,000 levels deep
    deployed.put_config(b'{"accounts": ' + b"[" * 100_000)
    app = deployed.function("dispatch")
    # WHEN dispatched THEN it is a ConfigError, not a crash
    with pytest.raises(ConfigError, match=r"accounts\.json"):
        app.lambda_handler({"date": "2026-11-20"}, lambda_context)


def test_the_cli_runs_the_good_account_and_lists_every_bad_entry_on_its_own_line(
    servers: Callable[..., SandboxServer],
    tmp_path: Path,
    output: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN the hostile accounts.json with account 7 on the sandbox
    server = servers(events=200)
    config = tmp_path / "accounts.json"
    config.write_text(json.dumps(hostile_config(server.base_url)))
    monkeypatch.setenv("CHATWOOT_API_TOKEN", TOKEN)
    out = tmp_path / "archive"
    # WHEN run --config
    code = main(["run", "--config", str(config), "--date", DAY.isoformat(), "--out", str(out)])
    captured = output()
    # THEN account 7's day is archived, and each bad entry is one stderr line (beside the one
    # note that token_secret is not read locally); exit status 1
    assert code == 1
    assert (out / "raw/account_id=7/date=2026-11-20/manifest.json").is_file()
    assert "account 7 2026-11-20: " in captured.out
    lines = captured.err.strip().splitlines()
    notes = [line for line in lines if line.startswith("sla-digest: note: token_secret")]
    assert len(notes) == 1
    lines.remove(notes[0])
    assert len(lines) == len(EXPECTED_PROBLEMS)
    for line, fragment in zip(lines, EXPECTED_PROBLEMS, strict=True):
        assert line.startswith("sla-digest: skipped: accounts[")
        assert fragment in line
    assert "Traceback" not in captured.err


def test_the_cli_refuses_an_unreadable_accounts_json_with_one_line_and_status_2(
    tmp_path: Path, output: Callable[[], Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN an accounts.json that is not JSON
    config = tmp_path / "accounts.json"
    config.write_bytes(b"accounts:\n  - 7\n")
    monkeypatch.setenv("CHATWOOT_API_TOKEN", TOKEN)
    # WHEN run --config
    code = main(["run", "--config", str(config), "--out", str(tmp_path / "out")])
    err = output().err
    # THEN one line naming the file, status 2, nothing written
    assert code == 2
    assert err.count("\n") == 1
    assert f"{config}: is not valid JSON" in err
    assert not (tmp_path / "out").exists()


# --------------------------------------------------------------------------- manual events


@pytest.mark.parametrize(
    ("event", "fragment"),
    [
        ({"date": "2026-02-30"}, "not a calendar date"),
        ({"date": "yesterday"}, "not a calendar date"),
        ({"date": "2026-11-20T00:00:00Z"}, "not a calendar date"),
        ({"date": 20261120}, "is not a date in the form YYYY-MM-DD"),
        ({"date": "2099-01-01"}, "has not ended yet"),
        ({"from": "2000-01-01", "to": "2026-11-20"}, "too long"),
        ({"from": "2026-11-20", "to": "2026-11-01"}, "is after"),
        ({"from": "2026-11-01"}, 'needs both "from" and "to"'),
        ({"accounts": [], "date": "2026-11-20"}, "non-empty list of account ids"),
        ({"accounts": ["7"], "date": "2026-11-20"}, "non-empty list of account ids"),
        ({"accounts": [True], "date": "2026-11-20"}, "non-empty list of account ids"),
        ({"date": "2026-11-20", "force": "yes"}, "must be true or false"),
        ({"date": "2026-11-20", "dry_run": True}, "unknown key 'dry_run'"),
        ({"scheduled_time": "tomorrow"}, "not an ISO-8601 instant"),
        ({"scheduled_time": "2026-11-21T06:00:00"}, "not an ISO-8601 instant with a zone"),
        ({"hello": "world"}, "not one of the known forms"),
    ],
)
def test_a_malformed_manual_event_is_refused_with_one_line_and_queues_nothing(
    deployed: Deployed,
    lambda_context: FakeLambdaContext,
    leak_watch: LeakWatch,
    event: dict[str, Any],
    fragment: str,
) -> None:
    # GIVEN a valid accounts.json with account 7
    deployed.put_config({"accounts": [account_entry(7, "https://chat.acme.example")]})
    app = deployed.function("dispatch")
    # WHEN the malformed event is dispatched
    with pytest.raises(ConfigError) as caught:
        app.lambda_handler(event, lambda_context)
    leak_watch.add_exception(caught.value)
    # THEN one line names the problem and nothing is queued
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)
    assert deployed.queued() == []


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_a_date_at_the_end_of_the_calendar_is_refused_with_one_line(
    deployed: Deployed, lambda_context: FakeLambdaContext, day: str
) -> None:
    # GIVEN account 7 configured
    deployed.put_config({"accounts": [account_entry(7, "https://chat.acme.example")]})
    app = deployed.function("dispatch")
    # WHEN a day the calendar can hold but no time zone can is dispatched THEN a ConfigError
    with pytest.raises(ConfigError):
        app.lambda_handler({"date": day}, lambda_context)


# --------------------------------------------------------------------------- SQS bodies

BAD_BODIES: list[tuple[str, str, str]] = [
    ("empty", "", "job body is not JSON"),
    ("prose", "run account 7 please", "job body is not JSON"),
    ("list", '[7, "2026-11-20"]', "must be a JSON object"),
    ("null", "null", "must be a JSON object"),
    ("no-date", '{"account_id": 7}', "job date must be a string"),
    ("text-id", '{"account_id": "7", "date": "2026-11-20"}', "positive integer"),
    ("float-id", '{"account_id": 7.0, "date": "2026-11-20"}', "positive integer"),
    ("negative-id", '{"account_id": -7, "date": "2026-11-20"}', "positive integer"),
    ("bad-date", '{"account_id": 7, "date": "2026-13-01"}', "not a calendar date"),
    ("force-text", '{"account_id": 7, "date": "2026-11-20", "force": "true"}', "force must be"),
    ("extra-key", '{"account_id": 7, "date": "2026-11-20", "to": "x@evil.example"}', "unknown"),
    ("nested", "[" * 50_000, "job body is not JSON"),
    ("future", '{"account_id": 7, "date": "2099-01-01"}', "has not ended yet"),
    ("unknown-account", '{"account_id": 404, "date": "2026-11-20"}', "account 404"),
]


@pytest.fixture
def one_good_account(deployed: Deployed, servers: Callable[..., SandboxServer]) -> SandboxServer:
    server = servers(events=200)
    deployed.put_config({"accounts": [account_entry(7, server.base_url)]})
    deployed.put_secret("sla-digest/7", TOKEN)
    return server


def test_every_invalid_sqs_body_fails_alone_with_one_clear_error_line(
    deployed: Deployed,
    one_good_account: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN one batch: fourteen bad bodies and the good job last
    records = [(name, body) for name, body, _ in BAD_BODIES] + [("good", job(7))]
    app = deployed.function("digest")
    # WHEN the digest function handles it
    response = app.lambda_handler(sqs_event(*records), lambda_context)
    # THEN exactly the bad records are failed, the good one archived its day
    failed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert failed == [name for name, _, _ in BAD_BODIES]
    assert "raw/account_id=7/date=2026-11-20/manifest.json" in deployed.archived_keys()
    # AND each bad record logged one ERROR line naming its problem, without a traceback
    errors = [line for line in json_lines(output().out) if line.get("level") == "ERROR"]
    assert [line["correlation_id"] for line in errors] == failed
    for line, (_, _, fragment) in zip(errors, BAD_BODIES, strict=True):
        assert fragment in line["message"]
        assert "exception" not in line
