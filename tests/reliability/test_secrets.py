"""The access token stays secret: not in a log line (down to DEBUG), the output, the archive, the
email or an exception, whatever fails; and a token mangled by copy and paste is refused
without being shown.

Every test of this suite is also checked by the leak watch (``conftest.leak_watch``); the tests
here drive the paths where a token is most likely to slip out and look explicitly.
"""

from __future__ import annotations

import json
import logging
import sys
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from sla_digest.exceptions import AuthenticationError, ResponseError
from sla_digest_cli.cli import main
from sla_digest_cli.sandbox.server import FAULT_KINDS, SandboxServer
from tests.fixtures.aws import REGION

from .conftest import DAY, TOKEN, ZONE, LeakWatch, account_entry, collect, job, sqs_event

if TYPE_CHECKING:
    from collections.abc import Callable
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
