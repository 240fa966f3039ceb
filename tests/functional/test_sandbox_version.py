"""The sandbox answers ``GET /api`` as Chatwoot does, so ``doctor`` can be tried against it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import pytest
import requests

from sla_digest_cli.cli import main

if TYPE_CHECKING:
    from pathlib import Path


@pytest.mark.parametrize(("version", "expected"), [("4.15", "4.15.0"), ("4.7", "4.7.0")])
def test_get_api_answers_the_version_without_a_token(
    sandbox_factory, version: str, expected: str
) -> None:
    # GIVEN a sandbox of a given version WHEN /api is asked without a token
    server = sandbox_factory(version=version, events=10)
    answer = requests.get(f"{server.base_url}/api", timeout=5)
    # THEN it answers its version with a patch part, as Chatwoot's own endpoint does
    assert answer.status_code == 200
    assert answer.json()["version"] == expected


def test_doctor_against_the_sandbox_itself_passes_every_check(
    sandbox_factory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN the sandbox's account and its administrator's token
    server = sandbox_factory(events=10)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    account = {
        "account_id": server.options.account_id,
        "base_url": server.base_url,
        "token_secret": "sla-digest/sandbox",
        "timezone": server.options.timezone,
        "recipients": ["leads@example.com"],
    }
    config = tmp_path / "accounts.json"
    config.write_text(json.dumps({"accounts": [account]}))
    # WHEN doctor runs THEN the version check passes and nothing fails
    code = main(["doctor", "--config", str(config)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "✔ Chatwoot 4.15.0 (4.8 or newer)" in out
    assert "✖" not in out
