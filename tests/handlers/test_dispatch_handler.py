"""The real dispatch handler under moto: sample events in, jobs on the SQS queue out."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from sla_digest.exceptions import ConfigError
from sla_digest.jobs.dispatch import parse_event
from sla_digest.jobs.job import DigestJob
from tests.fixtures.aws import REGION

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

BUCKET = "sla-digest-archive"
ACCOUNTS = {
    "defaults": {"send_hour": 7},
    "accounts": [
        {
            "account_id": 7,
            "name": "Acme",
            "base_url": "https://chat.acme.example",
            "token_secret": "sla-digest/acme",
            "timezone": "Europe/Berlin",
            "recipients": ["leads@acme.example"],
        },
        {
            "account_id": 8,
            "base_url": "https://chat.globex.example",
            "token_secret": "sla-digest/globex",
            "timezone": "UTC",
            "recipients": ["ops@globex.example"],
        },
        {
            "account_id": 9,
            "base_url": "https://chat.initech.example",
            "token_secret": "sla-digest/initech",
            "timezone": "Asia/Kolkata",
            "recipients": ["support@initech.example"],
        },
    ],
}


@pytest.fixture
def deployed(aws: None, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The resources the template creates for the dispatch function, and its environment."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps(ACCOUNTS).encode())
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("JOBS_QUEUE_URL", queue_url)
    return {"s3": s3, "sqs": sqs, "queue_url": queue_url}


def mark_delivered(s3: Any, account_id: int, day: str) -> None:
    """The delivery marker the digest side writes (archive contract key)."""
    key = f"digests/account_id={account_id}/date={day}/delivery.json"
    s3.put_object(Bucket=BUCKET, Key=key, Body=b'{"message_id": "x"}')


def queued_jobs(deployed: dict[str, Any]) -> list[dict[str, Any]]:
    sqs, url = deployed["sqs"], deployed["queue_url"]
    bodies: list[dict[str, Any]] = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return sorted(bodies, key=lambda b: (b["account_id"], b["date"]))
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def test_the_sample_dispatch_events_are_accepted_by_the_parser(
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the three sample events shipped for sam local/remote invoke
    kinds = [
        parse_event(sample_event(name)).kind
        for name in ("schedule.json", "manual-run.json", "backfill.json")
    ]

    # THEN each parses as the form its name promises
    assert kinds == ["schedule", "manual", "backfill"]


def test_the_schedule_event_queues_the_due_accounts_for_their_report_day(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the sample tick of 21 Nov 06:00 UTC: its catch-up window (19 Nov 06:00, 21 Nov
    # 06:00] holds Berlin's 19 and 20 Nov (07:00 CET = 06:00 UTC), Kolkata's 19 and 20 Nov
    # (07:00 IST = 01:30 UTC) and UTC's 18 and 19 Nov (07:00 UTC); the older days were sent
    for account_id, day in ((7, "19"), (8, "18"), (8, "19"), (9, "19")):
        mark_delivered(deployed["s3"], account_id, f"2026-11-{day}")
    app = load_handler("dispatch")

    # WHEN the real handler runs the sample schedule event
    result = app.lambda_handler(sample_event("schedule.json"), lambda_context)

    # THEN 20 Nov is queued for accounts 7 and 9 only
    assert queued_jobs(deployed) == [
        {"account_id": 7, "date": "2026-11-20", "force": False},
        {"account_id": 9, "date": "2026-11-20", "force": False},
    ]
    assert (result["kind"], result["queued"], result["errors"]) == ("schedule", 2, 0)


def test_a_missed_day_without_a_delivery_marker_is_caught_up(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN account 8 (UTC 07:00) never delivered 19 Nov (due 20 Nov 07:00 UTC)
    for account_id, day in ((7, "19"), (8, "18"), (9, "19")):
        mark_delivered(deployed["s3"], account_id, f"2026-11-{day}")
    app = load_handler("dispatch")

    # WHEN the 21 Nov 06:00 UTC tick runs
    app.lambda_handler(sample_event("schedule.json"), lambda_context)

    # THEN 19 Nov is queued for account 8 beside the days now due
    assert queued_jobs(deployed) == [
        {"account_id": 7, "date": "2026-11-20", "force": False},
        {"account_id": 8, "date": "2026-11-19", "force": False},
        {"account_id": 9, "date": "2026-11-20", "force": False},
    ]


def test_the_manual_event_queues_that_day(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    app = load_handler("dispatch")

    result = app.lambda_handler(sample_event("manual-run.json"), lambda_context)

    assert queued_jobs(deployed) == [{"account_id": 7, "date": "2026-11-20", "force": False}]
    assert result["jobs"] == ["7/2026-11-20"]


def test_the_backfill_event_queues_every_day_of_its_range(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    app = load_handler("dispatch")

    app.lambda_handler(sample_event("backfill.json"), lambda_context)

    # 1 Nov .. 20 Nov for account 7: twenty jobs, three SendMessageBatch calls
    assert [job["date"] for job in queued_jobs(deployed)] == [
        f"2026-11-{day:02d}" for day in range(1, 21)
    ]


# A failed invocation has no metrics to flush; Powertools warns about that, rightly.
@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_bad_event_fails_the_invocation_with_one_clear_line(
    deployed: dict[str, Any], load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    app = load_handler("dispatch")

    with pytest.raises(ConfigError, match=r"^backfill from 2026-11-20 is after to 2026-11-01$"):
        app.lambda_handler({"from": "2026-11-20", "to": "2026-11-01"}, lambda_context)

    assert queued_jobs(deployed) == []


def test_logs_are_json_with_the_execution_id_as_correlation_id(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the handler, and the sample schedule event with its execution id
    app = load_handler("dispatch")
    event = sample_event("schedule.json")

    # WHEN it runs
    app.lambda_handler(event, lambda_context)

    # THEN the package's own log lines come out as the handler's JSON, with the correlation id
    lines = json_lines(capsys.readouterr().out)
    ours = [line for line in lines if str(line.get("name", "")).startswith("sla_digest")]
    assert ours, "no sla_digest log line in the output"
    assert all(line["correlation_id"] == event["execution_id"] for line in ours)
    assert all(line["service"] == "sla-digest" for line in ours)


def test_the_queued_count_is_published_as_a_metric(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    app = load_handler("dispatch")

    app.lambda_handler(sample_event("manual-run.json"), lambda_context)

    metrics = [line for line in json_lines(capsys.readouterr().out) if "_aws" in line]
    assert metrics[-1]["JobsQueued"] == [1.0]
    assert metrics[-1]["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SlaDigest"


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_importing_the_handler_reads_nothing_and_a_missing_variable_is_named_on_use(
    aws: None, load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    # GIVEN no ARCHIVE_BUCKET / JOBS_QUEUE_URL: the import (a cold start) still succeeds
    app = load_handler("dispatch")

    # WHEN it is invoked, THEN the error names what the deployment is missing
    with pytest.raises(
        ConfigError,
        match=r"^environment variable ARCHIVE_BUCKET and JOBS_QUEUE_URL are not set",
    ):
        app.lambda_handler({"date": "2026-11-20"}, lambda_context)


def test_every_sample_event_is_accepted_by_the_handler_it_is_for(
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN every file in events/: those with Records are SQS events (digest-job*.json and the
    # weekly and monthly jobs), the rest dispatch events
    from tests.handlers.conftest import EVENTS

    names = sorted(path.name for path in EVENTS.glob("*.json"))

    # THEN each parses: the dispatch events as events, each SQS record's body as a job
    for name in names:
        if "Records" in sample_event(name):
            for record in sample_event(name)["Records"]:
                DigestJob.from_body(record["body"])
        else:
            parse_event(sample_event(name))
    assert "backfill-archive-only.json" in names


def test_the_archive_only_backfill_queues_jobs_that_say_deliver_false(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the sample archive-only backfill of 1..20 Nov for account 7
    app = load_handler("dispatch")

    # WHEN the real handler runs it
    result = app.lambda_handler(sample_event("backfill-archive-only.json"), lambda_context)

    # THEN twenty jobs are queued, each carrying deliver false, and the result names them so
    jobs = queued_jobs(deployed)
    assert [job["date"] for job in jobs] == [f"2026-11-{day:02d}" for day in range(1, 21)]
    assert {job["deliver"] for job in jobs} == {False}
    assert result["jobs"][0] == "7/2026-11-01 (archive only)"


# --- deployed before accounts.json exists ------------------------------------------------------


def test_ticks_before_accounts_json_exists_end_normally_with_one_warning_a_day(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a stack deployed but no accounts.json uploaded yet
    deployed["s3"].delete_object(Bucket=BUCKET, Key="config/accounts.json")
    app = load_handler("dispatch")

    # WHEN a whole UTC day of quarter-hour ticks runs (96 of them, from 00:00)
    results = [
        app.lambda_handler(
            {"scheduled_time": f"2026-11-21T{minute // 60:02d}:{minute % 60:02d}:00Z"},
            lambda_context,
        )
        for minute in range(0, 24 * 60, 15)
    ]

    # THEN every tick ended normally with nothing queued, no line is an error, and exactly one
    # warning names the object to upload
    assert {(r["queued"], r["errors"], r["config"]) for r in results} == {(0, 0, "missing")}
    lines = [
        line
        for line in json_lines(capsys.readouterr().out)
        if str(line.get("name", "")).startswith("sla_digest")
    ]
    assert not [line for line in lines if line["level"] == "ERROR"]
    (warning,) = [line for line in lines if line["level"] == "WARNING"]
    assert "s3://sla-digest-archive/config/accounts.json does not exist" in warning["message"]
    assert queued_jobs(deployed) == []


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_manual_run_before_accounts_json_exists_fails_with_the_upload_hint(
    deployed: dict[str, Any], load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> None:
    # GIVEN no accounts.json
    deployed["s3"].delete_object(Bucket=BUCKET, Key="config/accounts.json")

    # WHEN a person asks for a day, THEN they are told, in one line, what to upload where
    with pytest.raises(ConfigError, match=r"accounts\.json does not exist: upload accounts\.json"):
        load_handler("dispatch").lambda_handler({"date": "2026-11-20"}, lambda_context)


# --- the heartbeat ----------------------------------------------------------------------------


def published(lines: list[dict[str, Any]]) -> dict[str, Any]:
    (metrics,) = [line for line in lines if "_aws" in line]
    return metrics


def test_each_schedule_tick_publishes_how_many_digests_are_overdue(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN the 21 Nov 09:00 UTC tick: Berlin's 20 Nov (due 06:00 UTC) and Kolkata's 20 Nov
    # (due 01:30 UTC) are past send hour + 2 h; UTC's 20 Nov (07:00) is too; only Kolkata's
    # and UTC's went out; the older days of the window were all delivered
    for account_id, day in ((7, "19"), (8, "18"), (8, "19"), (9, "19"), (8, "20"), (9, "20")):
        mark_delivered(deployed["s3"], account_id, f"2026-11-{day}")
    app = load_handler("dispatch")

    # WHEN the tick runs
    result = app.lambda_handler({"scheduled_time": "2026-11-21T09:00:00Z"}, lambda_context)

    # THEN one digest (Berlin's) is overdue, as a metric in the application's namespace
    assert result["overdue"] == 1
    metrics = published(json_lines(capsys.readouterr().out))
    assert metrics["OverdueDigests"] == [1.0]
    assert metrics["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "SlaDigest"


def test_a_manual_run_publishes_no_heartbeat(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    load_handler("dispatch").lambda_handler(sample_event("manual-run.json"), lambda_context)

    assert "OverdueDigests" not in published(json_lines(capsys.readouterr().out))


def test_a_tick_without_accounts_json_publishes_no_heartbeat_so_the_alarm_sees_missing_data(
    deployed: dict[str, Any],
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    deployed["s3"].delete_object(Bucket=BUCKET, Key="config/accounts.json")

    load_handler("dispatch").lambda_handler(sample_event("schedule.json"), lambda_context)

    assert "OverdueDigests" not in published(json_lines(capsys.readouterr().out))
