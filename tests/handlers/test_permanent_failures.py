"""A day that fails permanently (a bad token) is queued by catch-up once, not on every tick.

Both real handlers under moto, the digest one against the sandbox Chatwoot: schedule ticks go
to the dispatch handler, whatever it queues goes to the digest handler as an SQS event.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from tests.fixtures.aws import REGION

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from sla_digest_cli.sandbox.server import SandboxServer

ROOT = Path(__file__).resolve().parents[2]
BUCKET = "sla-digest-archive"
TABLE = "sla-digest-idempotency"
SENDER = "digest@acme.example"
SECRET = "sla-digest/acme"
FAILURE_KEY = "digests/account_id=7/date=2026-11-20/failure.json"
DELIVERY_KEY = "digests/account_id=7/date=2026-11-20/delivery.json"
# Berlin 07:00 on 21 Nov is 06:00 UTC: 20 Nov is due from that tick on (every 15 minutes).
TICKS = [f"2026-11-21T{hour:02d}:{minute:02d}:00Z" for hour in (6, 7) for minute in (0, 15, 30, 45)]


def accounts(base_url: str, *, name: str = "Acme Support") -> bytes:
    entry = {
        "account_id": 7,
        "name": name,
        "base_url": base_url,
        "token_secret": SECRET,
        "timezone": "Europe/Berlin",
        "recipients": ["leads@acme.example"],
    }
    return json.dumps({"accounts": [entry]}).encode()


@pytest.fixture
def stack(aws: None, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """Both functions' resources; account 7's secret holds a token Chatwoot does not know."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=accounts(sandbox.base_url))
    # 19 Nov, the other day of the catch-up window, went out already
    s3.put_object(
        Bucket=BUCKET, Key="digests/account_id=7/date=2026-11-19/delivery.json", Body=b"{}"
    )
    secrets = boto3.client("secretsmanager", region_name=REGION)
    secrets.create_secret(Name=SECRET, SecretString="revoked-token")
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    boto3.client("ses", region_name=REGION).verify_email_identity(EmailAddress=SENDER)
    for name, value in (
        ("ARCHIVE_BUCKET", BUCKET),
        ("JOBS_QUEUE_URL", queue_url),
        ("IDEMPOTENCY_TABLE", TABLE),
        ("SENDER_ADDRESS", SENDER),
        ("TEMPLATES_DIR", str(ROOT / "templates")),
    ):
        monkeypatch.setenv(name, value)
    return {"s3": s3, "sqs": sqs, "secrets": secrets, "queue_url": queue_url}


class Pipeline:
    """The two handlers, fed as the schedule and SQS would feed them."""

    def __init__(self, stack: dict[str, Any], load: Callable[[str], ModuleType], context: Any):
        self.stack = stack
        self.load = load
        self.dispatch = load("dispatch")
        self.digest = load("digest")
        self.context = context
        self.queued: list[str] = []

    def later(self) -> None:
        """New cold starts, as after the quarter of an hour between ticks: the digest
        function's five-minute token cache does not outlive that."""
        self.dispatch = self.load("dispatch")
        self.digest = self.load("digest")

    def tick(self, scheduled_time: str) -> list[str]:
        """One schedule tick, then every job it queued run by the digest function once."""
        self.dispatch.lambda_handler(
            {"scheduled_time": scheduled_time, "execution_id": scheduled_time}, self.context
        )
        bodies = self.drain()
        self.queued.extend(bodies)
        for body in bodies:
            self.run_job(body)
        return bodies

    def drain(self) -> list[str]:
        sqs, url = self.stack["sqs"], self.stack["queue_url"]
        bodies = []
        while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get(
            "Messages", []
        ):
            for message in messages:
                bodies.append(message["Body"])
                sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
        return bodies

    def run_job(self, body: str) -> bool:
        """Whether the job succeeded (a batch of one that fails raises, as Lambda reports it)."""
        record = {"messageId": f"m-{len(self.queued)}", "body": body, "attributes": {}}
        event = {"Records": [{**record, "eventSource": "aws:sqs", "receiptHandle": "r"}]}
        try:
            result = self.digest.lambda_handler(event, self.context)
        except BatchProcessingError:
            return False
        return not result["batchItemFailures"]

    def keys(self) -> set[str]:
        listing = self.stack["s3"].list_objects_v2(Bucket=BUCKET)
        return {item["Key"] for item in listing.get("Contents", [])}


@pytest.fixture
def pipeline(
    stack: dict[str, Any], load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> Pipeline:
    return Pipeline(stack, load_handler, lambda_context)


def test_a_bad_token_day_is_queued_by_catch_up_once_not_on_every_tick(pipeline: Pipeline) -> None:
    # GIVEN account 7 whose token Chatwoot rejects (401 Invalid Access Token)
    # WHEN eight schedule ticks pass, two hours' worth, each inside the catch-up window
    queued = [pipeline.tick(at) for at in TICKS]

    # THEN 20 Nov was queued by the first tick only, and its failure is on record with what
    # would fix it, but never the token
    assert [len(bodies) for bodies in queued] == [1, 0, 0, 0, 0, 0, 0, 0]
    failure = json.loads(
        pipeline.stack["s3"].get_object(Bucket=BUCKET, Key=FAILURE_KEY)["Body"].read()
    )
    assert failure["error"] == "AuthenticationError"
    assert "Invalid Access Token" in failure["message"]
    assert list(failure["fingerprint"]["secrets"]) == [SECRET]
    assert "revoked-token" not in json.dumps(failure)


def test_after_the_secret_changes_the_day_is_queued_again_and_delivered(
    pipeline: Pipeline, sandbox: SandboxServer
) -> None:
    # GIVEN the day failed on the first tick and was held back on the second
    assert len(pipeline.tick(TICKS[0])) == 1
    assert pipeline.tick(TICKS[1]) == []

    # WHEN the operator stores the right token
    pipeline.stack["secrets"].put_secret_value(
        SecretId=SECRET, SecretString=sandbox.options.admin_token
    )

    # THEN the next tick queues the day again, it is delivered, and its failure marker is gone
    pipeline.later()
    assert len(pipeline.tick(TICKS[2])) == 1
    keys = pipeline.keys()
    assert DELIVERY_KEY in keys
    assert FAILURE_KEY not in keys
    assert pipeline.tick(TICKS[3]) == []


def test_after_accounts_json_changes_the_day_is_queued_again(
    pipeline: Pipeline, sandbox: SandboxServer
) -> None:
    # GIVEN the day failed and is held back
    pipeline.tick(TICKS[0])
    assert pipeline.tick(TICKS[1]) == []

    # WHEN accounts.json is uploaded with a change
    pipeline.stack["s3"].put_object(
        Bucket=BUCKET,
        Key="config/accounts.json",
        Body=accounts(sandbox.base_url, name="Acme Customer Care"),
    )

    # THEN the next tick tries the day again (it fails again: the token is still wrong)
    assert len(pipeline.tick(TICKS[2])) == 1
    assert pipeline.tick(TICKS[3]) == []


def test_uploading_the_same_accounts_json_again_changes_nothing(
    pipeline: Pipeline, sandbox: SandboxServer
) -> None:
    # GIVEN the day failed and is held back
    pipeline.tick(TICKS[0])

    # WHEN the very same accounts.json is uploaded again (same content, same ETag)
    pipeline.stack["s3"].put_object(
        Bucket=BUCKET, Key="config/accounts.json", Body=accounts(sandbox.base_url)
    )

    # THEN the day stays held back
    assert pipeline.tick(TICKS[1]) == []


def test_sqs_retries_of_the_failing_job_count_one_permanent_failure(
    pipeline: Pipeline,
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the failing job, as SQS delivers it up to its redrive limit (five receives)
    (body,) = pipeline.tick(TICKS[0])
    for _ in range(4):
        assert not pipeline.run_job(body)

    # THEN each attempt counts as a digest failure, but the permanent failure once
    metrics = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    failures = [m for m in metrics if "DigestFailures" in m]
    assert len(failures) == 5
    assert sum(m.get("PermanentFailures", [0.0])[0] for m in failures) == 1.0


def test_a_manual_run_still_queues_a_day_that_is_held_back(pipeline: Pipeline) -> None:
    # GIVEN the day failed and is held back from catch-up
    pipeline.tick(TICKS[0])

    # WHEN the operator runs it by hand (after a fix made in Chatwoot, say)
    result = pipeline.dispatch.lambda_handler(
        {"accounts": [7], "date": "2026-11-20"}, pipeline.context
    )

    # THEN it is queued
    assert result["queued"] == 1
