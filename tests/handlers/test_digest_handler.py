"""The real digest handler under moto, against the sandbox Chatwoot: SQS records in, archived
days and exactly one email per account-day out."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from sla_digest.jobs.job import DigestJob
from tests.fixtures.aws import REGION

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from sla_digest_cli.sandbox.server import SandboxServer


ROOT = Path(__file__).resolve().parents[2]
BUCKET = "sla-digest-archive"
TABLE = "sla-digest-idempotency"
SENDER = "digest@acme.example"
DAY_KEYS = "account_id=7/date=2026-11-20"


@pytest.fixture
def deployed(aws: None, sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The template's resources for the digest function, with account 7 on the sandbox."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    accounts = {
        "accounts": [
            {
                "account_id": 7,
                "name": "Acme Support",
                "base_url": sandbox.base_url,
                "token_secret": "sla-digest/acme",
                "timezone": "Europe/Berlin",
                "recipients": ["leads@acme.example"],
            }
        ]
    }
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps(accounts).encode())
    boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="sla-digest/acme",
        SecretString=json.dumps({"api_access_token": sandbox.options.admin_token}),
    )
    boto3.client("dynamodb", region_name=REGION).create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    ses = boto3.client("ses", region_name=REGION)
    ses.verify_email_identity(EmailAddress=SENDER)
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("IDEMPOTENCY_TABLE", TABLE)
    monkeypatch.setenv("SENDER_ADDRESS", SENDER)
    monkeypatch.setenv("TEMPLATES_DIR", str(ROOT / "templates"))
    return {"s3": s3, "ses": ses}


def emails_sent(deployed: Any) -> int:
    """Messages SES accepted (moto's record; its send quota counts recipients, not messages)."""
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.ses.models import ses_backends

    return len(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def archived_keys(deployed: Any) -> set[str]:
    listing = deployed["s3"].list_objects_v2(Bucket=BUCKET)
    return {item["Key"] for item in listing.get("Contents", [])}


def with_records(event: dict[str, Any], *bodies: tuple[str, str]) -> dict[str, Any]:
    """The sample event with its record repeated for each (message id, body)."""
    template = event["Records"][0]
    records = []
    for message_id, body in bodies:
        record = copy.deepcopy(template)
        record["messageId"] = message_id
        record["body"] = body
        records.append(record)
    return {"Records": records}


def test_the_sample_job_body_is_a_valid_job(sample_event: Callable[[str], Any]) -> None:
    (record,) = sample_event("digest-job.json")["Records"]

    job = DigestJob.from_body(record["body"])

    assert (job.account_id, job.day.isoformat(), job.force) == (7, "2026-11-20", False)


def test_the_sample_job_archives_the_day_and_sends_one_email(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the sandbox's 600 events of 20 Nov: 25 rows a page, so 24 pages
    app = load_handler("digest")

    # WHEN the real handler gets the sample SQS event
    response = app.lambda_handler(sample_event("digest-job.json"), lambda_context)

    # THEN no record failed, the archive holds the day under the contract's keys, and one
    # email went out
    assert response == {"batchItemFailures": []}
    keys = archived_keys(deployed)
    assert {f"raw/{DAY_KEYS}/page-{n:05d}.json" for n in range(1, 25)} <= keys
    assert f"raw/{DAY_KEYS}/page-00025.json" not in keys
    assert {
        f"raw/{DAY_KEYS}/manifest.json",
        f"summaries/{DAY_KEYS}/summary.json",
        f"digests/{DAY_KEYS}/digest.html",
        f"digests/{DAY_KEYS}/digest.txt",
        f"digests/{DAY_KEYS}/delivery.json",
    } <= keys
    assert emails_sent(deployed) == 1


def test_a_record_delivered_twice_sends_one_email(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the sample job handled once
    app = load_handler("digest")
    event = sample_event("digest-job.json")
    app.lambda_handler(event, lambda_context)

    # WHEN SQS delivers the same message again (at-least-once), to a new cold start
    again = load_handler("digest").lambda_handler(event, lambda_context)

    # THEN it succeeds without a second email
    assert again == {"batchItemFailures": []}
    assert emails_sent(deployed) == 1


def test_the_same_job_twice_in_one_batch_sends_one_email(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    body = '{"account_id": 7, "date": "2026-11-20", "force": false}'
    event = with_records(sample_event("digest-job.json"), ("m-1", body), ("m-2", body))

    response = load_handler("digest").lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": []}
    assert emails_sent(deployed) == 1


def test_a_malformed_record_fails_alone(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN a batch with a broken body before a good job
    event = with_records(
        sample_event("digest-job.json"),
        ("bad-1", '{"account_id": "seven", "date": "2026-11-20"}'),
        ("good-1", '{"account_id": 7, "date": "2026-11-20", "force": false}'),
    )

    # WHEN handled
    response = load_handler("digest").lambda_handler(event, lambda_context)

    # THEN only the broken record is reported for retry, and the good one was delivered
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert emails_sent(deployed) == 1


def test_a_job_for_an_unknown_account_fails_with_a_clear_log_line(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    event = with_records(
        sample_event("digest-job.json"),
        ("m-5", '{"account_id": 5, "date": "2026-11-20", "force": false}'),
        ("m-7", '{"account_id": 7, "date": "2026-11-20", "force": false}'),
    )

    response = load_handler("digest").lambda_handler(event, lambda_context)

    assert response == {"batchItemFailures": [{"itemIdentifier": "m-5"}]}
    errors = [line for line in json_lines(capsys.readouterr().out) if line.get("level") == "ERROR"]
    assert len(errors) == 1
    assert "account 5" in errors[0]["message"]
    assert errors[0]["correlation_id"] == "m-5"


def test_logs_carry_the_message_id_and_metrics_the_work_done(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the sample job
    event = sample_event("digest-job.json")
    message_id = event["Records"][0]["messageId"]

    # WHEN handled
    load_handler("digest").lambda_handler(event, lambda_context)

    # THEN the package's log lines are the handler's JSON with the message id, and the
    # metrics count one digest sent, the 24 pages fetched and the events the summary kept
    lines = json_lines(capsys.readouterr().out)
    ours = [line for line in lines if str(line.get("name", "")).startswith("sla_digest")]
    assert ours
    assert {line["correlation_id"] for line in ours} == {message_id}
    (metrics,) = [line for line in lines if "_aws" in line]
    assert metrics["DigestsSent"] == [1.0]
    assert metrics["PagesFetched"] == [24.0]
    summary = json.loads(
        deployed["s3"]
        .get_object(Bucket=BUCKET, Key=f"summaries/{DAY_KEYS}/summary.json")["Body"]
        .read()
    )
    assert metrics["EventsFetched"] == [float(summary["source"]["events"])]
    assert "DigestFailures" not in metrics


def test_an_archive_only_job_archives_and_summarises_the_day_without_delivering_it(
    deployed: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the sample archive-only job (deliver false) for 20 Nov
    app = load_handler("digest")

    # WHEN the real handler runs it
    response = app.lambda_handler(sample_event("digest-job-archive-only.json"), lambda_context)

    # THEN the day is archived with its summary and digest, no email left, no delivery marker
    # was written (so the schedule would still deliver the day), and the metric says archived
    assert response == {"batchItemFailures": []}
    keys = archived_keys(deployed)
    assert {
        f"raw/{DAY_KEYS}/manifest.json",
        f"summaries/{DAY_KEYS}/summary.json",
        f"digests/{DAY_KEYS}/digest.html",
    } <= keys
    assert f"digests/{DAY_KEYS}/delivery.json" not in keys
    assert emails_sent(deployed) == 0
    (metrics,) = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    assert metrics["DaysArchived"] == [1.0]
    assert "DigestsSent" not in metrics


def test_an_archive_only_job_for_a_day_already_archived_does_not_fetch_again(
    deployed: Any,
    sandbox: SandboxServer,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the day archived once by an archive-only job
    event = sample_event("digest-job-archive-only.json")
    load_handler("digest").lambda_handler(event, lambda_context)
    requests_before = sandbox.stats.snapshot()["requests"]

    # WHEN the same job comes again
    response = load_handler("digest").lambda_handler(event, lambda_context)

    # THEN it succeeds without asking Chatwoot and still sends nothing
    assert response == {"batchItemFailures": []}
    assert sandbox.stats.snapshot()["requests"] == requests_before
    assert emails_sent(deployed) == 0


def test_a_delivering_job_after_an_archive_only_one_sends_the_archived_day_once(
    deployed: Any,
    sandbox: SandboxServer,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the day archived by an archive-only job
    load_handler("digest").lambda_handler(
        sample_event("digest-job-archive-only.json"), lambda_context
    )
    requests_before = sandbox.stats.snapshot()["requests"]

    # WHEN the ordinary job for that day arrives (the schedule's)
    response = load_handler("digest").lambda_handler(
        sample_event("digest-job.json"), lambda_context
    )

    # THEN the archived digest is sent, without fetching the day again
    assert response == {"batchItemFailures": []}
    assert emails_sent(deployed) == 1
    assert sandbox.stats.snapshot()["requests"] == requests_before
    assert f"digests/{DAY_KEYS}/delivery.json" in archived_keys(deployed)
