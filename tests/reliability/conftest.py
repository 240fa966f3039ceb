"""Reliability suite support: a known token watched for leaks, whole days run against the
sandbox, and the deployed functions under moto with AWS faults injected at the client.

Every test of the suite runs under :func:`leak_watch`: whatever it logged (down to DEBUG), printed,
wrote to its temporary folder, stored in moto's S3 or sent through moto's SES, and every exception
it handed to the watch, is searched for :data:`TOKEN`, the hook path :data:`HOOK_TOKEN` and the
signing key :data:`SIGNING_KEY` when the test ends.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import traceback
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from botocore.exceptions import ClientError

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.chatwoot import ChatwootClient, RetryPolicy
from sla_digest.delivery.email import EmailChannel, OutboxMailer
from sla_digest.jobs.job import DayRequest, RunResult
from sla_digest.jobs.run import Ports, run_account_day
from sla_digest_cli.sandbox.server import SandboxOptions, SandboxServer
from tests.fixtures.aws import REGION, set_template_globals

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"

# The one access token of this suite: the sandbox's administrator token and the secrets' value.
TOKEN = "cwtok-Rel1ab1l1ty-9f3a7c2e51d84b06"
# The channels' secrets: the secret part of every hook URL (its path), the webhook signing key.
HOOK_TOKEN = "hookpath-Rel1ab1l1ty-6c0e2b94d1"
SIGNING_KEY = "whsec-Rel1ab1l1ty-8a4f1e7d03"
SECRETS = (TOKEN, HOOK_TOKEN, SIGNING_KEY)
DAY = date(2026, 11, 20)
ZONE = "Europe/Berlin"
NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
SENDER = "digest@acme.example"
RECIPIENT = "leads@acme.example"
BUCKET = "sla-digest-archive"
TABLE = "sla-digest-idempotency"
QUEUE = "sla-digest-jobs"
FAST_RETRIES = RetryPolicy(base_delay=0.005, max_delay=0.05)
# The event names Chatwoot writes (chatwoot-api.md); anything else is counted, not kept.
KNOWN_NAMES = frozenset(
    {
        "first_response",
        "reply_time",
        "conversation_resolved",
        "conversation_opened",
        "conversation_bot_resolved",
        "conversation_bot_handoff",
        "conversation_captain_inference_resolved",
        "conversation_captain_inference_handoff",
    }
)
_WATCHED_LOGGERS = ("sla_digest", "urllib3", "requests", "aws_lambda_powertools")
_SERVICES = ("s3", "sqs", "sesv2", "dynamodb", "secretsmanager")


# --------------------------------------------------------------------------- soak tests


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """This suite's ``slow`` tests (minutes each) run only when asked for: ``make soak``."""
    if "slow" in (config.getoption("markexpr") or ""):
        return
    skip = pytest.mark.skip(reason="a soak test: run it with `make soak` (pytest -m slow)")
    here = Path(__file__).parent
    for item in items:
        if item.get_closest_marker("slow") is not None and here in item.path.parents:
            item.add_marker(skip)


# --------------------------------------------------------------------------- the leak watch


@dataclass
class LeakWatch:
    """Texts a test produced, by where they came from; :meth:`leaks` names those holding TOKEN."""

    sources: list[tuple[str, bytes]] = field(default_factory=list)

    def add(self, label: str, data: str | bytes) -> None:
        raw = data.encode("utf-8", "backslashreplace") if isinstance(data, str) else data
        self.sources.append((label, raw))

    def add_exception(self, exc: BaseException) -> None:
        """The message, and the whole chain as a traceback would print it."""
        self.add(f"exception {type(exc).__name__}", str(exc))
        self.add("exception chain", "".join(traceback.format_exception(exc)))

    def add_tree(self, folder: Path) -> None:
        if folder.is_dir():
            for path in sorted(folder.rglob("*")):
                if path.is_file():
                    self.add(f"file {path.relative_to(folder)}", path.read_bytes())

    def add_bucket(self, s3: Any, bucket: str) -> None:
        paginator = s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                self.add(f"s3://{bucket}/{item['Key']}", body)

    def add_emails(self) -> None:
        for number, raw in enumerate(ses_raw_messages(), start=1):
            self.add(f"email {number}", raw)

    def leaks(self, *secrets: str) -> list[str]:
        """Where any of ``secrets`` (default: the token, a hook path, the signing key) is."""
        needles = [secret.encode() for secret in secrets or SECRETS]
        return [label for label, data in self.sources if any(needle in data for needle in needles)]


@pytest.fixture(autouse=True)
def _package_loggers_without_stale_handlers() -> Iterator[None]:
    """A function's cold start copies its handler (bound to that test's captured stdout) onto
    the package's loggers; later tests must not write to that closed stream."""

    def reset() -> None:
        for name, item in list(logging.root.manager.loggerDict.items()):
            if name.startswith("sla_digest") and isinstance(item, logging.Logger):
                item.handlers.clear()
                item.propagate = True
                item.setLevel(logging.NOTSET)

    reset()
    yield
    reset()


@pytest.fixture(autouse=True)
def leak_watch(
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> Iterator[LeakWatch]:
    """After the test: no log record, output, file or registered artefact holds a secret."""
    for name in _WATCHED_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    watch = LeakWatch()
    yield watch
    collect(watch, caplog, capsys, tmp_path)
    leaked = watch.leaks()
    assert not leaked, f"a token, hook URL or signing key leaked into: {', '.join(leaked)}"


def collect(
    watch: LeakWatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    folder: Path,
) -> None:
    """Hand the watch every log record (with its traceback), the output and the files."""
    for record in caplog.records:
        watch.add(f"log {record.name}", record.getMessage())
        if record.exc_info and record.exc_info[1] is not None:
            watch.add_exception(record.exc_info[1])
    watch.add("log text", caplog.text)
    out, err = capsys.readouterr()
    watch.add("stdout", out)
    watch.add("stderr", err)
    watch.add_tree(folder)


@pytest.fixture
def output(capsys: pytest.CaptureFixture[str], leak_watch: LeakWatch) -> Callable[[], Any]:
    """``capsys.readouterr()`` that also hands what it read to the leak watch."""

    def read() -> Any:
        captured = capsys.readouterr()
        leak_watch.add("stdout", captured.out)
        leak_watch.add("stderr", captured.err)
        return captured

    return read


# --------------------------------------------------------------------------- sandbox days


@pytest.fixture
def servers() -> Iterator[Callable[..., SandboxServer]]:
    """Start sandboxes (of any ``SandboxServer`` class) with the suite's token; stop them all."""
    started: list[SandboxServer] = []

    def start(cls: type[SandboxServer] = SandboxServer, **options: Any) -> SandboxServer:
        options.setdefault("admin_token", TOKEN)
        server = cls(SandboxOptions(**options))
        started.append(server)
        return server.start()

    yield start
    for server in reversed(started):
        server.stop()


def window_of(server: SandboxServer) -> tuple[int, int]:
    return server.dataset.report_window()


def expected_rows(server: SandboxServer) -> list[dict[str, Any]]:
    """The rows the sandbox holds for the report day right now (after any change a test made)."""
    since, until = window_of(server)
    return list(server.dataset.events_between(since, until))


def expected_ids(server: SandboxServer) -> set[int]:
    return {row["id"] for row in expected_rows(server)}


def kept_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows a summary keeps: a known name and a numeric, non-negative value."""
    return [
        row
        for row in rows
        if row["name"] in KNOWN_NAMES
        and isinstance(row["value"], int | float)
        and not isinstance(row["value"], bool)
        and row["value"] >= 0
    ]


@dataclass
class DayRun:
    """One account-day run by the pipeline into a local folder (flat ``--out`` layout)."""

    server: SandboxServer
    out: Path
    result: RunResult | None = None
    error: BaseException | None = None

    @property
    def archive(self) -> DayArchive:
        return DayArchive(LocalArchive(self.out), self.server.options.account_id, DAY, flat=True)

    def archived_ids(self) -> set[int]:
        """Ids in the raw pages the manifest lists (read straight from the files)."""
        manifest = json.loads((self.out / "raw" / "manifest.json").read_bytes())
        ids: set[int] = set()
        for entry in manifest["pages"]:
            body = (self.out / "raw" / f"page-{entry['page']:05d}.json").read_bytes()
            ids.update(row["id"] for row in json.loads(body)["payload"])
        return ids

    def summary(self) -> dict[str, Any]:
        document: dict[str, Any] = json.loads((self.out / "summary.json").read_bytes())
        return document

    def emails(self) -> list[bytes]:
        return [path.read_bytes() for path in sorted((self.out / "outbox").glob("*.eml"))]


@pytest.fixture
def run_day(tmp_path: Path, leak_watch: LeakWatch) -> Callable[..., DayRun]:
    """Run the day of ``server`` through the whole pipeline, mailing to an outbox folder.

    A failure is kept on the returned run (and shown to the leak watch) instead of raised.
    """
    count = 0

    def run(
        server: SandboxServer,
        *,
        out: Path | None = None,
        token: str = TOKEN,
        retry: RetryPolicy = FAST_RETRIES,
        remaining_ms: Callable[[], int] | None = None,
        **client_options: Any,
    ) -> DayRun:
        nonlocal count
        count += 1
        folder = out if out is not None else tmp_path / f"run-{count}"
        day_run = DayRun(server=server, out=folder)
        request = DayRequest(
            account_id=server.options.account_id,
            account_name="Acme Support",
            base_url=server.base_url,
            timezone=server.options.timezone,
            day=server.options.day,
            recipients=(RECIPIENT,),
        )
        try:
            with ChatwootClient(server.base_url, token, retry=retry, **client_options) as client:
                email = EmailChannel(
                    OutboxMailer(folder / "outbox"), sender=SENDER, recipients=request.recipients
                )
                ports = Ports(
                    client=client,
                    archive=day_run.archive,
                    templates_dir=TEMPLATES,
                    channels=[email],
                    clock=lambda: NOW,
                    remaining_ms=remaining_ms,
                )
                day_run.result = run_account_day(request, ports)
        except Exception as exc:  # kept for the test to judge, whatever it is
            day_run.error = exc
            leak_watch.add_exception(exc)
        return day_run

    return run


# --------------------------------------------------------------------------- AWS


def ses_raw_messages() -> list[bytes]:
    """Raw MIME of every message moto's SES accepted."""
    from moto.core import DEFAULT_ACCOUNT_ID  # type: ignore[attr-defined]
    from moto.ses.models import ses_backends

    messages = ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages
    return [str(getattr(message, "raw_data", "")).encode() for message in messages]


def client_error(code: str, operation: str, message: str = "injected", status: int = 400) -> Any:
    response: Any = {
        "Error": {"Code": code, "Message": message},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, operation)


@dataclass
class Injector:
    """Raises chosen ``ClientError``s from a boto3 client's ``before-parameter-build`` event.

    ``fail(operation, error, times=, when=)``: the next ``times`` calls of ``operation`` whose
    parameters satisfy ``when`` raise ``error`` instead of reaching moto.
    """

    calls: dict[str, int] = field(default_factory=dict)
    _rules: list[list[Any]] = field(default_factory=list)

    def attach(self, client: Any) -> Any:
        client.meta.events.register("before-parameter-build", self._before_call)
        return client

    def fail(
        self,
        operation: str,
        error: Exception,
        *,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] = lambda params: True,
    ) -> None:
        self._rules.append([operation, error, times, when])

    def clear(self) -> None:
        self._rules.clear()

    def _before_call(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        name = model.name
        self.calls[name] = self.calls.get(name, 0) + 1
        for rule in self._rules:
            operation, error, times, when = rule
            if operation == name and times > 0 and when(params):
                rule[2] -= 1
                raise error


@dataclass
class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name: str = "sla-digest-reliability"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = "arn:aws:lambda:eu-west-1:123456789012:function:sla-digest"
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    remaining_ms: int = 300_000

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def powertools_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The template's Globals at DEBUG (every log line is watched for the token), no tracing."""
    set_template_globals(monkeypatch, log_level="DEBUG")
    monkeypatch.setenv("POWERTOOLS_TRACE_DISABLED", "true")


def load_function(name: str) -> ModuleType:
    """Import ``functions/<name>/app.py`` as a new module: a cold start."""
    logging.Logger.manager.loggerDict.pop("sla-digest", None)
    path = ROOT / "functions" / name / "app.py"
    spec = importlib.util.spec_from_file_location(f"{name}_app_{uuid.uuid4().hex}", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def account_entry(account_id: int, base_url: str, **extra: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "account_id": account_id,
        "name": f"Account {account_id}",
        "base_url": base_url,
        "token_secret": f"sla-digest/{account_id}",
        "timezone": ZONE,
        "recipients": [RECIPIENT],
    }
    entry.update(extra)
    return entry


@dataclass
class Deployed:
    """The template's resources in moto; the test's own clients here are never faulted."""

    s3: Any
    sqs: Any
    dynamodb: Any
    sesv2: Any
    secretsmanager: Any
    queue_url: str
    faults: Injector = field(default_factory=Injector)

    def put_config(self, document: Any) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=body)

    def put_secret(self, name: str, value: str) -> None:
        self.secretsmanager.create_secret(Name=name, SecretString=value)

    def clients(self) -> Any:
        """New application clients (``AwsClients``) whose calls go through :attr:`faults`."""
        from sla_digest.aws import AwsClients

        clients = AwsClients()
        for service in _SERVICES:
            self.faults.attach(getattr(clients, service))
        return clients

    def function(self, name: str) -> ModuleType:
        """A cold start of the function; the clients it builds go through :attr:`faults`."""
        module = load_function(name)
        for service in _SERVICES:
            self.faults.attach(getattr(module.clients, service))
        return module

    def archived_keys(self) -> set[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET)
        return {item["Key"] for item in listing.get("Contents", [])}

    def queued(self) -> list[dict[str, Any]]:
        """Every job body on the queue (received and deleted)."""
        bodies: list[dict[str, Any]] = []
        while True:
            batch = self.sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10)
            messages = batch.get("Messages", [])
            if not messages:
                return bodies
            for message in messages:
                bodies.append(json.loads(message["Body"]))
                self.sqs.delete_message(
                    QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )


@pytest.fixture
def deployed(
    aws: None,
    powertools_environment: None,
    monkeypatch: pytest.MonkeyPatch,
    leak_watch: LeakWatch,
) -> Iterator[Deployed]:
    """Bucket, queue, idempotency table, verified sender; the functions' variables set.

    When the test ends, every archived object and every email is shown to the leak watch.
    """
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})  # type: ignore[typeddict-item]
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    world = Deployed(
        s3=s3,
        sqs=sqs,
        dynamodb=dynamodb,
        sesv2=boto3.client("sesv2", region_name=REGION),
        secretsmanager=boto3.client("secretsmanager", region_name=REGION),
        queue_url=queue_url,
    )
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("JOBS_QUEUE_URL", queue_url)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    monkeypatch.setenv("SENDER_ADDRESS", SENDER)
    monkeypatch.setenv("TEMPLATES_DIR", str(TEMPLATES))
    yield world
    world.faults.clear()
    leak_watch.add_bucket(s3, BUCKET)
    leak_watch.add_emails()


def sqs_event(*bodies: tuple[str, str]) -> dict[str, Any]:
    """An SQS event with one record per (message id, body)."""
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"handle-{message_id}",
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1795305600000",
                    "SenderId": "AIDAEXAMPLE",
                    "ApproximateFirstReceiveTimestamp": "1795305600001",
                },
                "messageAttributes": {},
                "md5OfBody": "0" * 32,
                "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:{QUEUE}",
                "awsRegion": REGION,
            }
            for message_id, body in bodies
        ]
    }


def job(account_id: int, day: date = DAY, *, force: bool = False) -> str:
    return json.dumps({"account_id": account_id, "date": day.isoformat(), "force": force})


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of output that is a JSON object (the functions' logs and metrics)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


@dataclass
class ShortOnTime(FakeLambdaContext):
    """A context whose invocation runs short of time after ``calls`` questions about it."""

    calls: int = 10

    def get_remaining_time_in_millis(self) -> int:
        self.calls -= 1
        return 300_000 if self.calls >= 0 else 20_000
