"""The access token stays secret: not in a log line (down to DEBUG), the output, the archive, the
email or an exception, whatever fails; and a token mangled by copy and paste is refused
without being shown. The same holds for the channels' hook URLs and the webhook signing key.

Every test of this suite is also checked by the leak watch (``conftest.leak_watch``); the tests
here drive the paths where a token is most likely to slip out and look explicitly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import sys
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from sla_digest import aws
from sla_digest.delivery.configured import ChannelEntry
from sla_digest.delivery.http import HttpPolicy, HttpPoster
from sla_digest.exceptions import AuthenticationError, ResponseError
from sla_digest_cli.cli import main
from sla_digest_cli.sandbox.receiver import Receiver
from sla_digest_cli.sandbox.server import FAULT_KINDS, SandboxServer
from tests.fixtures.aws import REGION

from .conftest import (
    DAY,
    HOOK_TOKEN,
    RECIPIENT,
    SIGNING_KEY,
    TOKEN,
    ZONE,
    LeakWatch,
    account_entry,
    collect,
    job,
    json_lines,
    ses_raw_messages,
    sqs_event,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from .conftest import DayRun, Deployed, FakeLambdaContext

PLANTED = "planted-5ecret-0042"


def test_the_leak_watch_finds_a_planted_secret_wherever_it_looks(
    aws: None,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    # GIVEN a secret planted in a log record's traceback, both output streams, a nested file,
    # an exception's cause and an S3 object
    try:
        try:
            raise ValueError(f"upstream said {PLANTED}")
        except ValueError as inner:
            raise RuntimeError("wrapped, message clean") from inner
    except RuntimeError as exc:
        logging.getLogger("sla_digest.planted").error("failed", exc_info=exc)
        wrapped = exc
    sys.stdout.write(f"out {PLANTED}\n")
    sys.stderr.write(f"err {PLANTED}\n")
    (tmp_path / "deep" / "er").mkdir(parents=True)
    (tmp_path / "deep" / "er" / "page.json").write_bytes(PLANTED.encode())
    s3 = boto3.client("s3", region_name=REGION)
    location: Any = {"LocationConstraint": REGION}
    s3.create_bucket(Bucket="planted", CreateBucketConfiguration=location)
    s3.put_object(Bucket="planted", Key="raw/x.json", Body=PLANTED.encode())
    # WHEN a fresh watch collects what the suite's watch collects
    watch = LeakWatch()
    collect(watch, caplog, capsys, tmp_path)
    watch.add_exception(wrapped)
    watch.add_bucket(s3, "planted")
    # THEN it names every place, and the suite's own token is in none of them
    found = set(watch.leaks(PLANTED))
    assert {
        "exception chain",
        "log text",
        "stdout",
        "stderr",
        "file deep/er/page.json",
        "s3://planted/raw/x.json",
    } <= found
    assert watch.leaks() == []


def test_the_digest_function_logging_at_debug_keeps_the_token_out_of_every_artefact(
    deployed: Deployed,
    servers: Callable[..., SandboxServer],
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
    leak_watch: LeakWatch,
) -> None:
    # GIVEN account 7 on a sandbox faulting a fifth of its answers, its token in the secret as
    # JSON, and the function logging at DEBUG
    server = servers(
        events=600, fault_rate=0.2, faults=tuple(sorted(FAULT_KINDS)), stall_seconds=0.1
    )
    deployed.put_config({"accounts": [account_entry(7, server.base_url)]})
    deployed.put_secret("sla-digest/7", json.dumps({"api_access_token": TOKEN}))
    # WHEN the job runs
    response = deployed.function("digest").lambda_handler(
        sqs_event(("m-1", job(7))), lambda_context
    )
    # THEN it was delivered, and the token is in no log line, archived object or email
    assert response == {"batchItemFailures": []}
    lines = output().out.splitlines()
    assert any('"level":"DEBUG"' in line and "reporting_events" in line for line in lines)
    leak_watch.add_bucket(deployed.s3, "sla-digest-archive")
    leak_watch.add_emails()
    objects = [label for label, _ in leak_watch.sources if label.startswith("s3://")]
    emails = [label for label, _ in leak_watch.sources if label.startswith("email")]
    assert len(objects) >= 24 + 6
    assert emails == ["email 1"]
    assert leak_watch.leaks() == []


def test_a_verbose_cli_run_through_faults_keeps_the_token_out_of_files_and_output(
    servers: Callable[..., SandboxServer],
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
    output: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    leak_watch: LeakWatch,
) -> None:
    # GIVEN a faulty sandbox and the token in the environment
    server = servers(events=400, fault_rate=0.25, shuffle_ties=True)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", TOKEN)
    out = tmp_path / "day"
    # WHEN the CLI runs the day verbosely, mailing to the outbox
    code = main(
        ["-v", "run", "--base-url", server.base_url, "--account-id", "7", "--date",
         DAY.isoformat(), "--timezone", ZONE, "--out", str(out), "--to", "leads@acme.example"]
    )  # fmt: skip
    # THEN it succeeded, and no file, log record or line of output holds the token
    captured = output()
    assert code == 0
    assert "events in" in captured.out
    assert any(record.name.startswith("sla_digest.") for record in caplog.records)
    leak_watch.add_tree(out)
    assert any(label.startswith("file outbox/") for label, _ in leak_watch.sources)
    assert leak_watch.leaks() == []


class EchoingSandbox(SandboxServer):
    """Answers reporting requests with an error whose text repeats the token it was sent."""

    status = 401

    def _respond(self, handler: Any, route: Any, query: dict[str, str]) -> int | None:
        if route is not None and route[0] == "reporting_events":
            token = handler.headers.get("api_access_token")
            return int(
                handler.send_json(self.status, {"error": f"token {token} is not valid here"})
            )
        return super()._respond(handler, route, query)


class EchoingForbidden(EchoingSandbox):
    status = 403


@pytest.mark.parametrize(
    ("server_class", "error"),
    [(EchoingSandbox, AuthenticationError), (EchoingForbidden, ResponseError)],
)
def test_an_error_text_that_repeats_the_token_is_reported_without_it(
    servers: Callable[..., SandboxServer],
    run_day: Callable[..., DayRun],
    server_class: type[SandboxServer],
    error: type[Exception],
) -> None:
    # GIVEN a Chatwoot (or a proxy in front of it) whose error text repeats the token
    server = servers(server_class, events=100)
    # WHEN the day is run
    run = run_day(server)
    # THEN the error quotes the server with the token blanked out
    assert isinstance(run.error, error)
    assert "token [token] is not valid here" in str(run.error)
    assert TOKEN not in str(run.error)


@pytest.mark.parametrize(
    "token",
    [
        "\ufeff" + TOKEN,  # a byte-order mark from a file saved as "UTF-8 with BOM"
        TOKEN + "\u200b",  # a zero-width space picked up when copying from a web page
        TOKEN[:10] + "\n" + TOKEN[10:],  # a line break inside
        TOKEN.replace("-", "\u2010"),  # a typographic hyphen
    ],
)
def test_a_token_mangled_by_copy_and_paste_is_one_line_that_does_not_show_it(
    servers: Callable[..., SandboxServer],
    tmp_path: Path,
    output: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    token: str,
) -> None:
    # GIVEN a token that is the right one but for characters no token has
    server = servers(events=100)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", token)
    # WHEN the CLI runs the day
    code = main(
        ["run", "--base-url", server.base_url, "--account-id", "7", "--date", DAY.isoformat(),
         "--timezone", ZONE, "--out", str(tmp_path / "day")]
    )  # fmt: skip
    err = output().err
    # THEN status 2 and one line about the token, which it does not show; nothing was sent
    assert code == 2
    assert err.count("\n") == 1
    assert "access token" in err
    assert TOKEN[12:] not in err
    assert server.stats.snapshot()["requests"] == 0


# --------------------------------------------------------------------------- channel secrets

FAST_HOOKS = HttpPolicy(connect_timeout=2.0, read_timeout=2.0, base_delay=0.01, max_delay=0.02)
CHANNELS: list[dict[str, Any]] = [
    {"type": "email", "recipients": [RECIPIENT]},
    {"type": "slack", "url_secret": "sla-digest/7/slack"},
    {"type": "teams", "url_secret": "sla-digest/7/teams"},
    {
        "type": "webhook",
        "url_secret": "sla-digest/7/hook",
        "signing_secret": "sla-digest/7/hook-key",
    },
]


class _WithChannels:
    """An account as the configuration will give it once it reads ``channels``."""

    def __init__(self, account: Any, channels: tuple[ChannelEntry, ...]) -> None:
        self._account = account
        self.channels = channels

    def __getattr__(self, name: str) -> Any:
        return getattr(self._account, name)


def configure_channels(deployed: Deployed, monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    """accounts.json with account 7's channels; while the config model does not read
    ``channels`` yet, the same entries are attached to the account the function loads."""
    from sla_digest.config import AccountConfig

    if "channels" in {item.name for item in dataclasses.fields(AccountConfig)}:
        deployed.put_config({"accounts": [account_entry(7, base_url, channels=CHANNELS)]})
        return
    deployed.put_config({"accounts": [account_entry(7, base_url)]})
    entries = tuple(
        ChannelEntry(
            item["type"],
            recipients=tuple(item.get("recipients", ())),
            url_secret=item.get("url_secret"),
            signing_secret=item.get("signing_secret"),
        )
        for item in CHANNELS
    )
    original = aws.read_config

    def read_config(*args: Any, **kwargs: Any) -> Any:
        config = original(*args, **kwargs)
        accounts = tuple(_WithChannels(account, entries) for account in config.accounts)
        return dataclasses.replace(config, accounts=accounts)

    monkeypatch.setattr(aws, "read_config", read_config)


@pytest.fixture
def hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A receiver whose hook paths hold the watched HOOK_TOKEN; quick retries."""
    monkeypatch.setattr(
        "sla_digest.delivery.hook.HttpPoster", lambda: HttpPoster(policy=FAST_HOOKS)
    )
    with Receiver(token=HOOK_TOKEN) as receiver:
        yield receiver


def test_the_digest_function_delivering_through_hook_faults_keeps_urls_and_key_secret(
    deployed: Deployed,
    servers: Callable[..., SandboxServer],
    hooks: Receiver,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    leak_watch: LeakWatch,
) -> None:
    # GIVEN account 7 with email, Slack, Teams and a webhook, their URLs and signing key in
    # Secrets Manager (one as JSON), the function logging at DEBUG; Slack answers 503 once
    # and the Teams hook has been revoked
    server = servers(events=200)
    configure_channels(deployed, monkeypatch, server.base_url)
    deployed.put_secret("sla-digest/7", json.dumps({"api_access_token": TOKEN}))
    deployed.put_secret("sla-digest/7/slack", hooks.url("slack"))
    deployed.put_secret("sla-digest/7/teams", json.dumps({"url": hooks.url("teams")}))
    deployed.put_secret("sla-digest/7/hook", hooks.url("webhook") + "\n")
    deployed.put_secret("sla-digest/7/hook-key", SIGNING_KEY)
    hooks.fail("slack", "503")
    hooks.fail("teams", "404")
    function = deployed.function("digest")
    # WHEN the job runs, and runs again from the queue once the hook is back
    with pytest.raises(BatchProcessingError) as caught:
        function.lambda_handler(sqs_event(("m-1", job(7))), lambda_context)
    leak_watch.add_exception(caught.value)
    second = function.lambda_handler(sqs_event(("m-2", job(7))), lambda_context)
    # THEN the first run failed its only record (the batch) for Teams alone, without a URL
    failed = [line for line in json_lines(output().out) if line.get("level") == "ERROR"]
    assert len(failed) == 1
    assert "1 of 4 channels failed (teams)" in failed[0]["message"]
    assert "the Teams workflow of account 7: answered 404" in failed[0]["message"]
    # AND the retry delivered Teams only: every channel has exactly one message
    assert second == {"batchItemFailures": []}
    assert {kind: len(hooks.received(kind)) for kind in ("slack", "teams", "webhook")} == {
        "slack": 1,
        "teams": 1,
        "webhook": 1,
    }
    assert len(ses_raw_messages()) == 1
    # AND the webhook was signed with the key from Secrets Manager (the leak watch checks the
    # logs, the archive and the email for the URLs and the key when the test ends)
    body = hooks.received("webhook")[0].body
    signature = hooks.received("webhook")[0].headers["sla-digest-signature"]
    timestamp = signature.split(",")[0].removeprefix("t=")
    expected = hmac.new(SIGNING_KEY.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    assert signature.endswith(f",v1={expected.hexdigest()}")


def test_a_verbose_cli_run_to_failing_hooks_keeps_urls_and_key_out_of_files_and_output(
    servers: Callable[..., SandboxServer],
    hooks: Receiver,
    tmp_path: Path,
    output: Callable[[], Any],
    monkeypatch: pytest.MonkeyPatch,
    leak_watch: LeakWatch,
) -> None:
    # GIVEN the hooks' URLs and signing key in the environment; Slack answers 500 once, Teams
    # redirects, the webhook receiver refuses the size
    server = servers(events=200)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", TOKEN)
    monkeypatch.setenv("SLA_DIGEST_SLACK_URL", hooks.url("slack"))
    monkeypatch.setenv("SLA_DIGEST_TEAMS_URL", hooks.url("teams"))
    monkeypatch.setenv("SLA_DIGEST_WEBHOOK_URL", hooks.url("webhook"))
    monkeypatch.setenv("SLA_DIGEST_WEBHOOK_SECRET", SIGNING_KEY)
    hooks.fail("slack", "500")
    hooks.fail("teams", "redirect")
    hooks.fail("webhook", "413")
    out = tmp_path / "day"
    argv = ["-v", "run", "--base-url", server.base_url, "--account-id", "7", "--date",
            DAY.isoformat(), "--timezone", ZONE, "--out", str(out), "--to", RECIPIENT,
            "--deliver", "email,slack,teams,webhook"]  # fmt: skip
    # WHEN the CLI runs the day verbosely, then again once the hooks are fine
    first = main(argv)
    second = main(argv)
    captured = output()
    # THEN the first run named the two refusals, the second delivered them, and no file
    # (ledger, previews, outbox), log record or line of output holds a URL or the key
    assert (first, second) == (1, 0)
    assert "2 of 4 channels failed (teams, webhook)" in captured.err
    leak_watch.add_tree(out)
    files = {label for label, _ in leak_watch.sources}
    assert {"file deliveries.json", "file previews/slack.html", "file previews/teams.html"} <= files
    assert leak_watch.leaks(HOOK_TOKEN, SIGNING_KEY) == []
