"""AWS failing under the real functions: S3 writes throttled or failing midway, SES throttling and
rejecting, DynamoDB conditional failures and throttling in the idempotency guard, secrets that
are missing or unreadable, and a throttled SQS batch.

moto plays the services; errors are injected at the functions' own boto3 clients (a
``before-parameter-build`` hook), so botocore, Powertools and our translation of the errors all
run as they do in Lambda. Whatever fails: the job fails and is retried, the archive resumes and
verifies, and no digest is ever sent twice.
"""

from __future__ import annotations

import json
import time
from typing import TYPE_CHECKING, Any

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from sla_digest.archive import DayArchive, S3Archive, verify_day
from sla_digest.exceptions import ConfigError
from sla_digest_cli.sandbox.server import SandboxServer

from .conftest import (
    BUCKET,
    DAY,
    TABLE,
    TOKEN,
    ShortOnTime,
    account_entry,
    client_error,
    expected_ids,
    job,
    json_lines,
    ses_raw_messages,
    sqs_event,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import Deployed, FakeLambdaContext

DAY_KEYS = "account_id=7/date=2026-11-20"
MANIFEST = f"raw/{DAY_KEYS}/manifest.json"
MARKER = f"digests/{DAY_KEYS}/delivery.json"
PAGES = 24  # 600 events, 25 a page

# A function invocation that fails before recording a metric makes Powertools warn so.
pytestmark = pytest.mark.filterwarnings("ignore:No application metrics to publish:UserWarning")


@pytest.fixture
def account_7(deployed: Deployed, servers: Callable[..., SandboxServer]) -> SandboxServer:
    """Account 7 on a sandbox with 600 events on the report day; its token in its secret."""
    server = servers(events=600)
    deployed.put_config({"accounts": [account_entry(7, server.base_url)]})
    deployed.put_secret("sla-digest/7", json.dumps({"api_access_token": TOKEN}))
    return server


def handle(app: Any, context: FakeLambdaContext, *records: tuple[str, str]) -> list[str]:
    """Run the digest function on one SQS batch; the message ids SQS will deliver again.

    When every record fails, Powertools fails the whole invocation instead of listing them.
    """
    try:
        response = app.lambda_handler(sqs_event(*records), context)
    except BatchProcessingError:
        return [message_id for message_id, _ in records]
    return [item["itemIdentifier"] for item in response["batchItemFailures"]]


def error_lines(output: Callable[[], Any]) -> list[str]:
    return [line["message"] for line in json_lines(output().out) if line.get("level") == "ERROR"]


def archived_page_numbers(deployed: Deployed) -> set[int]:
    prefix = f"raw/{DAY_KEYS}/page-"
    return {
        int(key.removeprefix(prefix).removesuffix(".json"))
        for key in deployed.archived_keys()
        if key.startswith(prefix)
    }


def day_archive(deployed: Deployed) -> DayArchive:
    return DayArchive(S3Archive(BUCKET, s3=deployed.s3), 7, DAY)


def archived_ids(deployed: Deployed) -> set[int]:
    ids: set[int] = set()
    for _, body in day_archive(deployed).page_bodies():
        ids.update(row["id"] for row in json.loads(body)["payload"])
    return ids


# --------------------------------------------------------------------------- S3


def test_a_page_write_throttled_midway_fails_the_job_and_the_retry_resumes_from_the_archive(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN S3 answering SlowDown to every write of page 12
    deployed.faults.fail(
        "PutObject",
        client_error("SlowDown", "PutObject", "Please reduce your request rate.", 503),
        times=1_000,
        when=lambda params: params["Key"].endswith("page-00012.json"),
    )
    app = deployed.function("digest")
    # WHEN the job runs
    failed = handle(app, lambda_context, ("m-1", job(7)))
    # THEN it fails with one line naming the object and the code, leaving pages but no
    # manifest, and sends nothing
    assert failed == ["m-1"]
    (line,) = error_lines(output)
    assert f"cannot write s3://{BUCKET}/raw/{DAY_KEYS}/page-00012.json: SlowDown" in line
    kept = archived_page_numbers(deployed)
    assert kept
    assert 12 not in kept
    assert MANIFEST not in deployed.archived_keys()
    assert ses_raw_messages() == []
    # WHEN S3 recovers and SQS delivers the job again
    deployed.faults.clear()
    account_7.stats.reset()
    failed = handle(app, lambda_context, ("m-1", job(7)))
    # THEN only the pages not archived are fetched, the archive verifies, one email goes out
    assert failed == []
    assert account_7.stats.snapshot()["reporting_requests"] == PAGES - len(kept)
    assert verify_day(day_archive(deployed)) == []
    assert archived_ids(deployed) == expected_ids(account_7)
    assert len(ses_raw_messages()) == 1


def test_a_failed_manifest_write_leaves_the_day_unfinished_and_the_retry_fetches_no_page(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN S3 failing the manifest write once, after every page was archived
    deployed.faults.fail(
        "PutObject",
        client_error("InternalError", "PutObject", "We encountered an internal error.", 500),
        when=lambda params: params["Key"] == MANIFEST,
    )
    app = deployed.function("digest")
    # WHEN the job runs, fails, and is delivered again
    assert handle(app, lambda_context, ("m-1", job(7))) == ["m-1"]
    assert "InternalError" in error_lines(output)[0]
    assert MANIFEST not in deployed.archived_keys()
    assert archived_page_numbers(deployed) == set(range(1, PAGES + 1))
    account_7.stats.reset()
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    # THEN the retry used every archived page, asked Chatwoot for none, and delivered once
    assert account_7.stats.snapshot()["reporting_requests"] == 0
    assert verify_day(day_archive(deployed)) == []
    assert len(ses_raw_messages()) == 1


# --------------------------------------------------------------------------- SES


def test_ses_throttling_fails_the_job_and_the_retry_sends_the_one_email(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN SES throttling the first send
    deployed.faults.fail(
        "SendEmail",
        client_error(
            "TooManyRequestsException", "SendEmail", "Maximum sending rate exceeded.", 429
        ),
    )
    app = deployed.function("digest")
    # WHEN the job runs
    assert handle(app, lambda_context, ("m-1", job(7))) == ["m-1"]
    # THEN it failed as retryable, nothing was sent or recorded as sent
    (line,) = error_lines(output)
    assert "SES throttled the digest (TooManyRequestsException); retryable" in line
    assert ses_raw_messages() == []
    assert MARKER not in deployed.archived_keys()
    assert deployed.dynamodb.scan(TableName=TABLE)["Items"] == []
    asked = account_7.stats.reporting_requests
    # WHEN SQS delivers it again, and then once more (at least once)
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    # THEN exactly one email went out
    assert len(ses_raw_messages()) == 1
    assert MARKER in deployed.archived_keys()
    # AND the retry sent the archived digest without asking Chatwoot for the day again
    assert account_7.stats.reporting_requests == asked


def test_ses_rejecting_the_message_fails_each_try_clearly_until_fixed_then_sends_once(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN SES rejecting the message twice (the sender identity not verified yet)
    deployed.faults.fail(
        "SendEmail",
        client_error("MessageRejected", "SendEmail", "Email address is not verified."),
        times=2,
    )
    app = deployed.function("digest")
    # WHEN the job is tried twice
    failures = [handle(app, lambda_context, ("m-1", job(7))) for _ in range(2)]
    # THEN each try failed with what to fix, and nothing was sent
    assert failures == [["m-1"], ["m-1"]]
    lines = error_lines(output)
    assert len(lines) == 2
    for line in lines:
        assert "SES rejected the digest: Email address is not verified." in line
        assert "verified SES identity" in line
    assert ses_raw_messages() == []
    # WHEN the identity is fixed and the job is delivered twice more
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    # THEN exactly one email went out
    assert len(ses_raw_messages()) == 1


# --------------------------------------------------------------------------- DynamoDB


def test_a_throttled_idempotency_table_fails_the_job_before_anything_is_sent(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN DynamoDB throttling the write that claims the delivery
    deployed.faults.fail(
        "PutItem",
        client_error("ProvisionedThroughputExceededException", "PutItem", "Rate exceeded."),
    )
    app = deployed.function("digest")
    # WHEN the job runs
    assert handle(app, lambda_context, ("m-1", job(7))) == ["m-1"]
    # THEN it failed as retryable before sending; the retry sends the one email
    (line,) = error_lines(output)
    assert f"the idempotency table {TABLE!r} could not be used" in line
    assert "retryable" in line
    assert ses_raw_messages() == []
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    assert len(ses_raw_messages()) == 1


def test_a_conditional_failure_for_a_record_that_then_vanished_still_sends_once(
    deployed: Deployed, account_7: SandboxServer, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN the claim refused once as if another run held it, with no record to be found
    deployed.faults.fail(
        "PutItem",
        client_error(
            "ConditionalCheckFailedException", "PutItem", "The conditional request failed"
        ),
    )
    # WHEN the job runs
    failed = handle(deployed.function("digest"), lambda_context, ("m-1", job(7)))
    # THEN the guard looked, found nothing, claimed again and sent exactly once
    assert failed == []
    assert deployed.faults.calls["PutItem"] == 2
    assert len(ses_raw_messages()) == 1


def test_a_duplicate_delivery_while_the_first_is_sending_fails_and_sends_nothing(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN two function instances; the second gets the same job while the first is in SES
    first, second = deployed.function("digest"), deployed.function("digest")
    outcome: list[list[str]] = []

    def duplicate_now(**_: Any) -> None:
        if not outcome:
            outcome.append(handle(second, lambda_context, ("m-dup", job(7))))

    first.clients.sesv2.meta.events.register(
        "before-parameter-build.sesv2.SendEmail", duplicate_now
    )
    # WHEN the first runs the job
    failed = handle(first, lambda_context, ("m-1", job(7)))
    # THEN the duplicate failed on the conditional write (retryable), the first sent once
    assert outcome == [["m-dup"]]
    assert failed == []
    assert any(
        "being sent by another run right now; retryable" in line for line in error_lines(output)
    )
    assert len(ses_raw_messages()) == 1


def test_a_sent_digest_whose_record_cannot_be_completed_is_never_sent_again(
    deployed: Deployed, account_7: SandboxServer, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN DynamoDB failing the update that marks the delivery complete, after SES sent it
    deployed.faults.fail(
        "UpdateItem",
        client_error("ProvisionedThroughputExceededException", "UpdateItem", "Rate exceeded."),
    )
    app = deployed.function("digest")
    # WHEN the job runs
    failed = handle(app, lambda_context, ("m-1", job(7)))
    # THEN the email is out and the job counts as done (a failure would make SQS send it again)
    assert len(ses_raw_messages()) == 1
    assert failed == []
    assert MARKER in deployed.archived_keys()
    # WHEN the unfinished record's lease runs out and the job is delivered again
    for item in deployed.dynamodb.scan(TableName=TABLE)["Items"]:
        deployed.dynamodb.update_item(
            TableName=TABLE,
            Key={"id": item["id"]},
            UpdateExpression="SET in_progress_expiration = :past",
            ExpressionAttributeValues={":past": {"N": "0"}},
        )
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    # THEN still one email
    assert len(ses_raw_messages()) == 1


# --------------------------------------------------------------------------- secrets


BAD_SECRETS = {
    "missing": ("", "cannot be read (ResourceNotFoundException)"),
    "access-denied": (TOKEN, "cannot be read (AccessDeniedException)"),
    "no-token": ('{"token": "in the wrong key"}', "holds no token"),
    "empty": ("   ", "holds no token"),
    "mangled": ("\ufeff" + TOKEN, "access token is empty or has characters no token has"),
}


@pytest.mark.parametrize("case", sorted(BAD_SECRETS))
def test_a_bad_secret_fails_its_account_alone_and_the_batch_goes_on(
    deployed: Deployed,
    servers: Callable[..., SandboxServer],
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
    case: str,
) -> None:
    # GIVEN accounts 7 and 8 in one SQS batch; 7's secret is good, 8's is bad in one way
    value, fragment = BAD_SECRETS[case]
    server = servers(events=200)
    deployed.put_config(
        {"accounts": [account_entry(7, server.base_url), account_entry(8, server.base_url)]}
    )
    deployed.put_secret("sla-digest/7", TOKEN)
    if case != "missing":
        deployed.put_secret("sla-digest/8", value)
    if case == "access-denied":
        deployed.faults.fail(
            "GetSecretValue",
            client_error("AccessDeniedException", "GetSecretValue", "not authorized"),
            times=1_000,
            when=lambda params: params["SecretId"] == "sla-digest/8",
        )
    # WHEN the batch is handled
    failed = handle(deployed.function("digest"), lambda_context, ("m-8", job(8)), ("m-7", job(7)))
    # THEN account 8 failed with one line naming its secret's problem; account 7 was sent;
    # account 8's day holds nothing but the failure marker that keeps catch-up from repeating it
    assert failed == ["m-8"]
    (line,) = error_lines(output)
    assert fragment in line
    if case != "mangled":
        assert "secret 'sla-digest/8'" in line
    assert len(ses_raw_messages()) == 1
    assert [key for key in deployed.archived_keys() if "account_id=8" in key] == [
        "digests/account_id=8/date=2026-11-20/failure.json"
    ]


# --------------------------------------------------------------------------- dispatch


def test_an_unreadable_accounts_json_fails_the_dispatch_with_one_line_naming_it(
    deployed: Deployed, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN the function may not read accounts.json
    deployed.put_config({"accounts": [account_entry(7, "https://chat.acme.example")]})
    deployed.faults.fail(
        "GetObject", client_error("AccessDenied", "GetObject", "Access Denied", 403), times=5
    )
    # WHEN a schedule tick arrives
    with pytest.raises(ConfigError) as caught:
        deployed.function("dispatch").lambda_handler(
            {"scheduled_time": "2026-11-21T06:00:00Z"}, lambda_context
        )
    # THEN one line names the object and the code, and nothing is queued
    assert str(caught.value) == (
        f"s3://{BUCKET}/config/accounts.json cannot be read (AccessDenied)"
    )
    assert deployed.queued() == []


def test_a_throttled_sqs_batch_still_queues_every_job_exactly_once(
    deployed: Deployed, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN 25 accounts (three batches) and SQS throttling the second batch once
    deployed.put_config(
        {"accounts": [account_entry(n, "https://chat.acme.example") for n in range(1, 26)]}
    )
    throttled = client_error("RequestThrottled", "SendMessageBatch", "Request is throttled.")
    calls: list[dict[str, Any]] = []

    def second_batch(params: dict[str, Any]) -> bool:
        calls.append(params)
        return len(calls) == 2

    deployed.faults.fail("SendMessageBatch", throttled, when=second_batch)
    # WHEN a manual run for every account is dispatched
    deployed.function("dispatch").lambda_handler({"date": DAY.isoformat()}, lambda_context)
    # THEN each account is queued once
    assert sorted(body["account_id"] for body in deployed.queued()) == list(range(1, 26))


# --------------------------------------------------------------------------- the time limit


def test_a_job_running_short_of_time_stops_cleanly_and_the_retry_resumes_from_the_archive(
    deployed: Deployed,
    account_7: SandboxServer,
    lambda_context: FakeLambdaContext,
    output: Callable[[], Any],
) -> None:
    # GIVEN an invocation whose time runs short once ten pages have arrived
    app = deployed.function("digest")
    short = ShortOnTime(calls=10)
    # WHEN the job runs
    assert handle(app, short, ("m-1", job(7))) == ["m-1"]
    # THEN it stopped with one line saying the retry resumes, its eleven pages archived and
    # no manifest
    (line,) = error_lines(output)
    assert "to stay inside the time limit; the retry resumes from the archive" in line
    kept = archived_page_numbers(deployed)
    assert len(kept) == 11
    assert MANIFEST not in deployed.archived_keys()
    # WHEN SQS delivers the job again to an invocation with time enough
    account_7.stats.reset()
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    # THEN only the other pages were fetched, the archive verifies and one email went out
    assert account_7.stats.snapshot()["reporting_requests"] == PAGES - len(kept)
    assert verify_day(day_archive(deployed)) == []
    assert archived_ids(deployed) == expected_ids(account_7)
    assert len(ses_raw_messages()) == 1


def test_a_job_stopping_for_time_throws_away_few_fetched_pages_when_s3_is_slow(
    deployed: Deployed,
    servers: Callable[..., SandboxServer],
    lambda_context: FakeLambdaContext,
) -> None:
    # GIVEN a 200-page day, S3 taking 100 ms per page write (slower than the sandbox answers),
    # and an invocation running short of time once 60 pages have arrived
    server = servers(events=5000)
    deployed.put_config({"accounts": [account_entry(7, server.base_url)]})
    deployed.put_secret("sla-digest/7", TOKEN)
    app = deployed.function("digest")

    def slow_page_write(params: dict[str, Any], **_: Any) -> None:
        if "/page-" in params["Key"]:
            time.sleep(0.1)

    app.clients.s3.meta.events.register("before-parameter-build.s3.PutObject", slow_page_write)
    # WHEN the job stops for time, and the retry finishes it
    assert handle(app, ShortOnTime(calls=60), ("m-1", job(7))) == ["m-1"]
    assert handle(app, lambda_context, ("m-1", job(7))) == []
    # THEN the pages fetched but not archived by the stopped run were at most three times
    # the concurrency (8): the fetch does not run far ahead of the archive
    wasted = server.stats.snapshot()["reporting_requests"] - 200
    assert 0 <= wasted <= 3 * 8
    assert len(ses_raw_messages()) == 1
