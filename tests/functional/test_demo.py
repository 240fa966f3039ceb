"""`sla-digest demo`: the production path on one machine, as `make demo` runs it."""

from __future__ import annotations

import email
import json
from email import policy
from typing import TYPE_CHECKING

from sla_digest_cli.cli import main

if TYPE_CHECKING:
    from pathlib import Path


def test_the_demo_sends_two_digests_once_each_and_verifies_the_archive(
    tmp_path: Path, capsys
) -> None:
    # WHEN the demo runs
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out)]) == 0
    report = capsys.readouterr().out
    # THEN two days were dispatched and sent, the repeated job sent nothing more
    assert "2 digest(s) sent, 1 duplicate delivery suppressed, 2 archived day(s) verified" in report
    emails = sorted((out / "outbox").glob("*.eml"))
    assert len(emails) == 2
    # AND each email is a complete digest: text, HTML, the CSV and the breaches CSV
    message = email.message_from_bytes(emails[-1].read_bytes(), policy=policy.default)
    kinds = sorted(part.get_content_type() for part in message.walk() if not part.is_multipart())
    assert kinds == ["text/csv", "text/csv", "text/html", "text/plain"]
    names = [part.get_filename() for part in message.iter_attachments()]
    assert names[1:] == ["breaches.csv"]
    # AND the second day's summary carries the first as its trend, with the policy's targets
    summary = json.loads((out / "summary.json").read_text())
    assert summary["previous"]["date"] == "2026-11-19"
    assert summary["source"]["complete"] is True
    assert summary["overall"]["conversation_resolved"]["sla"]["target"] == 86400.0
    # AND the token of the sandbox administrator is in none of the files written
    from sla_digest_cli.sandbox.server import SandboxOptions

    token = SandboxOptions().admin_token.encode()
    for path in out.rglob("*"):
        if path.is_file():
            assert token not in path.read_bytes(), path
    # AND Slack, Teams and the webhook each got both days once, the webhook signed, and no
    # hook URL (a secret, like the token) is written into any file of the archive
    assert "slack: 2 message(s) received" in report
    assert "teams: 2 message(s) received" in report
    assert "webhook: 2 message(s) received, 2 with a valid signature" in report
    webhook = json.loads((out / "channels" / "webhook-2.json").read_text())
    assert webhook == summary
    for path in (out / "archive").rglob("*"):
        if path.is_file():
            assert b"/slack/" not in path.read_bytes(), path
