"""``sla-digest run --deliver email,slack,teams,webhook`` against the sandbox Chatwoot and a
real local receiver: what each channel gets, exactly once; a failing channel retried alone;
``--force``; and every bad hook a clear line while the other channels are delivered."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.delivery import http
from sla_digest.delivery.http import HttpPolicy
from sla_digest_cli.cli import main
from sla_digest_cli.sandbox.receiver import Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

DAY = "2026-11-20"
ZONE = "Europe/Berlin"
SIGNING_KEY = "whsec-functional-5d2e9a"
ALL = "email,slack,teams,webhook"
FAST = HttpPolicy(connect_timeout=2.0, read_timeout=2.0, attempts=3, base_delay=0.01,
                  max_delay=0.02, max_retry_after=2.0)  # fmt: skip


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """The receiver, its URLs and the signing key in the environment; quick retries."""
    monkeypatch.setattr("sla_digest.delivery.hook.HttpPoster", lambda: http.HttpPoster(policy=FAST))
    with Receiver() as receiver:
        monkeypatch.setenv("SLA_DIGEST_SLACK_URL", receiver.url("slack"))
        monkeypatch.setenv("SLA_DIGEST_TEAMS_URL", receiver.url("teams"))
        monkeypatch.setenv("SLA_DIGEST_WEBHOOK_URL", receiver.url("webhook"))
        monkeypatch.setenv("SLA_DIGEST_WEBHOOK_SECRET", SIGNING_KEY)
        yield receiver


@pytest.fixture
def chatwoot(sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    server = sandbox_factory(events=300)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    return server


def run(server: Any, out: Path, *extra: str) -> int:
    return main(
        ["run", "--base-url", server.base_url, "--account-id", "7", "--date", DAY,
         "--timezone", ZONE, "--out", str(out), "--to", "leads@acme.example",
         "--sla", "first_response=30m,reply_time=1h", *extra]
    )  # fmt: skip


def counts(hooks: Receiver, out: Path) -> dict[str, int]:
    """What each channel has received so far (email: messages in the outbox)."""
    found = {kind: len(hooks.received(kind)) for kind in ("slack", "teams", "webhook")}
    return {"email": len(list((out / "outbox").glob("*.eml"))), **found}


def no_secret_in(hooks: Receiver, out: Path, *texts: str) -> None:
    for text in texts:
        assert hooks.token not in text
        assert SIGNING_KEY not in text
    for path in out.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            assert hooks.token.encode() not in data, path
            assert SIGNING_KEY.encode() not in data, path


def test_each_channel_gets_its_message_once_and_the_ledger_records_it(
    chatwoot: Any, hooks: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the sandbox day and every channel chosen
    out = tmp_path / "day"
    # WHEN the day is run
    code = run(chatwoot, out, "--deliver", ALL)
    captured = capsys.readouterr()
    # THEN each channel got one message, each said so, and deliveries.json has four entries
    assert code == 0
    assert counts(hooks, out) == {"email": 1, "slack": 1, "teams": 1, "webhook": 1}
    for kind in ("email", "slack", "teams", "webhook"):
        assert f"  {kind}: delivered" in captured.out
    ledger = json.loads((out / "deliveries.json").read_text())
    channels = sorted(e["key"].get("channel", "email") for e in ledger["deliveries"])
    assert channels == ["email", "slack", "teams", "webhook"]
    # AND the previews of the two chat messages are there
    assert (out / "previews" / "slack.html").is_file()
    assert (out / "previews" / "teams.html").is_file()
    no_secret_in(hooks, out, captured.out, captured.err)


def test_the_payloads_have_the_contracts_shapes(
    chatwoot: Any, hooks: Receiver, tmp_path: Path
) -> None:
    # GIVEN / WHEN the day is delivered to the three hooks
    out = tmp_path / "day"
    assert run(chatwoot, out, "--deliver", "slack,teams,webhook") == 0
    slack = hooks.received("slack")[0].json()
    teams = hooks.received("teams")[0].json()
    webhook = hooks.received("webhook")[0]
    summary = json.loads((out / "summary.json").read_text())
    # THEN Slack has blocks within the limit and a fallback; Teams the card envelope
    assert 0 < len(slack["blocks"]) <= 50
    assert slack["text"].startswith(f"Account #7 SLA digest {DAY}: first response p90 ")
    (attachment,) = teams["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["content"]["version"] == "1.5"
    assert len(hooks.received("teams")[0].body) < 28 * 1024
    # AND the webhook body is the summary.json the run archived, as JSON
    assert webhook.headers["content-type"].startswith("application/json")
    assert webhook.json() == summary


def test_the_webhook_signature_verifies_with_an_independent_hmac(
    chatwoot: Any, hooks: Receiver, tmp_path: Path
) -> None:
    # GIVEN the day delivered to the webhook
    assert run(chatwoot, tmp_path / "day", "--deliver", "webhook") == 0
    (got,) = hooks.received("webhook")
    # WHEN the receiver recomputes the signature over the raw bytes it got
    fields = dict(part.split("=", 1) for part in got.headers["sla-digest-signature"].split(","))
    signed = fields["t"].encode() + b"." + got.body
    expected = hmac.new(SIGNING_KEY.encode(), signed, hashlib.sha256).hexdigest()
    # THEN it matches, and the delivery id names the account, period, day and channel
    assert hmac.compare_digest(fields["v1"], expected)
    assert got.headers["sla-digest-delivery"].startswith(f"sla-digest:7:day:{DAY}:webhook:")


def test_a_rerun_delivers_nothing_new(
    chatwoot: Any, hooks: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a day delivered to every channel
    out = tmp_path / "day"
    assert run(chatwoot, out, "--deliver", ALL) == 0
    capsys.readouterr()
    # WHEN the same command runs again
    code = run(chatwoot, out, "--deliver", ALL)
    # THEN no channel got a second message, and each says it was already delivered
    assert code == 0
    assert counts(hooks, out) == {"email": 1, "slack": 1, "teams": 1, "webhook": 1}
    assert capsys.readouterr().out.count("already delivered (deliveries.json)") == 4


def test_a_failing_channel_is_retried_alone_on_the_next_run(
    chatwoot: Any, hooks: Receiver, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN Teams answering 503 on every attempt of the first run
    out = tmp_path / "day"
    hooks.fail("teams", "503", "503", "503")
    # WHEN the day is run
    first = run(chatwoot, out, "--deliver", ALL)
    err = capsys.readouterr().err
    # THEN the others were delivered, and one line names Teams and account 7
    assert first == 1
    assert counts(hooks, out) == {"email": 1, "slack": 1, "teams": 0, "webhook": 1}
    assert err.count("\n") == 1
    assert "1 of 4 channels failed (teams)" in err
    assert "the Teams workflow of account 7: answered 503" in err
    # WHEN it is run again, Teams being back
    second = run(chatwoot, out, "--deliver", ALL)
    # THEN only Teams got a message now
    assert second == 0
    assert counts(hooks, out) == {"email": 1, "slack": 1, "teams": 1, "webhook": 1}
    no_secret_in(hooks, out, err)


def test_force_delivers_everything_again(chatwoot: Any, hooks: Receiver, tmp_path: Path) -> None:
    # GIVEN a day delivered to every channel
    out = tmp_path / "day"
    assert run(chatwoot, out, "--deliver", ALL) == 0
    # WHEN it is run again with --force
    assert run(chatwoot, out, "--deliver", ALL, "--force") == 0
    # THEN each channel got a second message, with the same webhook delivery id
    assert counts(hooks, out) == {"email": 2, "slack": 2, "teams": 2, "webhook": 2}
    ids = {r.headers["sla-digest-delivery"] for r in hooks.received("webhook")}
    assert len(ids) == 1


def test_without_deliver_nothing_is_posted_and_no_ledger_is_kept(
    chatwoot: Any, hooks: Receiver, tmp_path: Path
) -> None:
    # GIVEN the hooks configured in the environment, but no --deliver
    out = tmp_path / "day"
    # WHEN the day is run
    assert run(chatwoot, out) == 0
    # THEN only the outbox got the digest, as before
    assert counts(hooks, out) == {"email": 1, "slack": 0, "teams": 0, "webhook": 0}
    assert not (out / "deliveries.json").exists()
    assert not (out / "previews").exists()


def test_an_unknown_channel_name_is_a_usage_error(
    chatwoot: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN / WHEN a misspelt channel
    with pytest.raises(SystemExit) as caught:
        run(chatwoot, tmp_path / "day", "--deliver", "email,slak")
    # THEN argparse's usage error names it and the choices
    assert caught.value.code == 2
    assert "'slak' is not a channel; choose from email,slack,teams,webhook" in (
        capsys.readouterr().err
    )


BAD_SLACK = [
    ("404", "answered 404 (no_service): the hook was revoked"),
    ("410", "answered 410 (channel_is_archived): the hook was revoked"),
    ("403", "answered 403 (action_prohibited): the hook was revoked"),
    ("413", "refused the message as too large (413"),
    ("slack-invalid_payload", "Slack refused the message (invalid_payload)"),
    ("slack-no_text", "Slack refused the message (no_text)"),
    ("slack-channel_not_found", "Slack refused the message (channel_not_found)"),
    ("redirect", "answered with a redirect (302), which is never followed"),
]


@pytest.mark.parametrize(("fault", "words"), BAD_SLACK)
def test_a_refusing_slack_hook_is_one_clear_line_and_the_others_are_delivered(
    chatwoot: Any,
    hooks: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    fault: str,
    words: str,
) -> None:
    # GIVEN Slack refusing the message
    out = tmp_path / "day"
    hooks.fail("slack", fault)
    # WHEN the day is delivered everywhere
    code = run(chatwoot, out, "--deliver", ALL)
    err = capsys.readouterr().err
    # THEN exit 1 with one line naming Slack, the account and the cause; the rest went out
    assert code == 1
    assert err.count("\n") == 1
    assert "(slack): slack: the Slack hook of account 7: " in err
    assert words in err
    assert len(hooks.requests("slack")) == 1  # refusals are not retried
    assert hooks.redirects_followed == 0
    assert counts(hooks, out) == {"email": 1, "slack": 0, "teams": 1, "webhook": 1}
    no_secret_in(hooks, out, err)


@pytest.mark.parametrize(
    ("setting", "words"),
    [
        ("tls", "the TLS handshake failed"),
        ("credentials", "contains credentials (user:password@)"),
        ("plain-http", "must use https (plain http only to localhost)"),
        ("unset", "environment variable SLA_DIGEST_SLACK_URL is not set"),
    ],
)
def test_a_bad_slack_url_is_one_clear_line_and_the_others_are_delivered(
    chatwoot: Any,
    hooks: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    setting: str,
    words: str,
) -> None:
    # GIVEN a Slack URL that cannot be used
    url = hooks.url("slack")
    bad = {
        "tls": url.replace("http://", "https://"),
        "credentials": url.replace("http://", "http://user:pw-7f3c@"),
        "plain-http": f"http://hooks.example.com/slack/{hooks.token}",
        "unset": "",
    }[setting]
    monkeypatch.setenv("SLA_DIGEST_SLACK_URL", bad)
    out = tmp_path / "day"
    # WHEN the day is delivered everywhere
    code = run(chatwoot, out, "--deliver", ALL)
    err = capsys.readouterr().err
    # THEN one line says what is wrong without the URL, and the other channels delivered
    assert code == 1
    assert err.count("\n") == 1
    assert words in err
    assert "pw-7f3c" not in err
    assert hooks.requests("slack") == []
    assert counts(hooks, out) == {"email": 1, "slack": 0, "teams": 1, "webhook": 1}
    no_secret_in(hooks, out, err)


def test_a_webhook_without_a_signing_key_is_not_sent_unsigned(
    chatwoot: Any,
    hooks: Receiver,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN no signing key
    monkeypatch.delenv("SLA_DIGEST_WEBHOOK_SECRET")
    # WHEN the webhook and Slack are delivered
    code = run(chatwoot, tmp_path / "day", "--deliver", "slack,webhook")
    err = capsys.readouterr().err
    # THEN nothing unsigned was posted, the line says which variable to set, Slack delivered
    assert code == 1
    assert hooks.requests("webhook") == []
    assert "environment variable SLA_DIGEST_WEBHOOK_SECRET is not set" in err
    assert len(hooks.received("slack")) == 1
