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
    # AND the week of those days was sent once, from seven archived days, and verifies
    assert (
        "weekly digest Week 47 (16–22 Nov) sent: built from 7 archived days, report verified"
        in report
    )
    emails = sorted((out / "outbox").glob("*.eml"))
    assert len(emails) == 3
    # AND each email is a complete digest: text, HTML and the CSV attachment; the daily ones
    # also carry breaches.csv
    messages = [
        email.message_from_bytes(sent.read_bytes(), policy=policy.default) for sent in emails
    ]
    for message in messages:
        kinds = {p.get_content_type() for p in message.walk() if not p.is_multipart()}
        assert {"text/csv", "text/html", "text/plain"} <= kinds
    subjects = [str(message["Subject"]) for message in messages]
    assert sum("Week 47 (16–22 Nov)" in subject for subject in subjects) == 1
    for message, subject in zip(messages, subjects, strict=True):
        if "Week" not in subject:
            names = [part.get_filename() for part in message.iter_attachments()]
            assert names[1:] == ["breaches.csv"]
    weekly = json.loads((out / "weekly-summary.json").read_text())
    assert weekly["period"]["kind"] == "week"
    assert weekly["source"]["complete"] is True
    assert (out / "weekly-digest.html").is_file()
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
