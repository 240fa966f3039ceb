"""Weekly and monthly jobs through the real handlers under moto, against the sandbox Chatwoot.

The samples ``events/weekly-job.json`` and ``events/monthly-job.json`` are fed to the digest
handler; a schedule tick on the Monday after a week is fed to the dispatch handler.
"""

from __future__ import annotations

import copy
import json
from typing import TYPE_CHECKING, Any

import boto3
import pytest

from sla_digest.jobs.job import DigestJob
from tests.fixtures.aws import REGION
from tests.handlers.test_digest_handler import (
    BUCKET,
    archived_keys,
    deployed,  # noqa: F401 - the fixture, shared with the daily job's tests
    emails_sent,
    with_records,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

WEEK_KEYS = "reports/account_id=7/period=week/start=2026-11-16"


def set_digests(resources: Any, digests: list[str]) -> None:
    """Give account 7 of the deployed accounts.json these ``digests``."""
    key = "config/accounts.json"
    document = json.loads(resources["s3"].get_object(Bucket=BUCKET, Key=key)["Body"].read())
    document["accounts"][0]["digests"] = digests
    resources["s3"].put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())


@pytest.fixture
def weekly(deployed: Any) -> Any:  # noqa: F811
    """The deployed account, getting daily, weekly and monthly digests."""
    set_digests(deployed, ["daily", "weekly", "monthly"])
    return deployed


MONTH_KEYS = "reports/account_id=7/period=month/start=2026-11-01"


def with_body(event: dict[str, Any], body: str) -> dict[str, Any]:
    changed = copy.deepcopy(event)
    changed["Records"][0]["body"] = body
    return changed


@pytest.mark.parametrize(
    ("name", "period", "first"),
    [("weekly-job.json", "week", "2026-11-16"), ("monthly-job.json", "month", "2026-11-01")],
)
def test_the_sample_period_jobs_are_valid_jobs(
    sample_event: Callable[[str], Any], name: str, period: str, first: str
) -> None:
    (record,) = sample_event(name)["Records"]
    job = DigestJob.from_body(record["body"])
    assert (job.account_id, job.period, job.day.isoformat(), job.force) == (7, period, first, False)


def test_the_weekly_sample_archives_its_days_and_the_report_and_sends_one_email(
    weekly: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN nothing archived yet for the week of 16 November
    app = load_handler("digest")
    # WHEN the digest handler gets the weekly sample
    response = app.lambda_handler(sample_event("weekly-job.json"), lambda_context)
    # THEN no record failed; every day of the week was archived first, and the report
    keys = archived_keys(weekly)
    assert response == {"batchItemFailures": []}
    for day in range(16, 23):
        assert f"raw/account_id=7/date=2026-11-{day}/manifest.json" in keys
        # AND no day was delivered on its own
        assert f"digests/account_id=7/date=2026-11-{day}/delivery.json" not in keys
    assert {
        f"{WEEK_KEYS}/summary.json",
        f"{WEEK_KEYS}/digest.html",
        f"{WEEK_KEYS}/digest.txt",
        f"{WEEK_KEYS}/digest.csv",
        f"{WEEK_KEYS}/delivery.json",
    } <= keys
    # AND exactly one email went out: the week's
    assert emails_sent(weekly) == 1
    summary = json.loads(
        weekly["s3"].get_object(Bucket=BUCKET, Key=f"{WEEK_KEYS}/summary.json")["Body"].read()
    )
    assert summary["period"]["kind"] == "week"
    assert summary["source"]["complete"] is True


def test_a_weekly_job_delivered_twice_sends_one_email_and_force_sends_again(
    weekly: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the weekly sample handled once
    event = sample_event("weekly-job.json")
    load_handler("digest").lambda_handler(event, lambda_context)
    # WHEN SQS delivers it again, to a new cold start
    again = load_handler("digest").lambda_handler(event, lambda_context)
    # THEN it succeeds without a second email
    assert again == {"batchItemFailures": []}
    assert emails_sent(weekly) == 1
    # AND a forced job sends the week once more
    forced = with_body(
        event, '{"account_id": 7, "period": "week", "date": "2026-11-16", "force": true}'
    )
    assert load_handler("digest").lambda_handler(forced, lambda_context) == {
        "batchItemFailures": []
    }
    assert emails_sent(weekly) == 2


def test_the_monthly_sample_builds_november_from_its_thirty_days(
    weekly: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    response = load_handler("digest").lambda_handler(
        sample_event("monthly-job.json"), lambda_context
    )
    assert response == {"batchItemFailures": []}
    summary = json.loads(
        weekly["s3"].get_object(Bucket=BUCKET, Key=f"{MONTH_KEYS}/summary.json")["Body"].read()
    )
    assert summary["period"] == {
        "kind": "month",
        "start": "2026-11-01",
        "end": "2026-11-30",
        "days": 30,
    }
    assert len(summary["by_day"]) == 30
    assert emails_sent(weekly) == 1


def test_a_period_job_whose_date_is_not_the_first_day_fails_alone_with_a_clear_line(
    weekly: Any,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
    json_lines: Callable[[str], list[dict[str, Any]]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a batch with a week job dated on its Wednesday before the sample's good one
    good = sample_event("weekly-job.json")["Records"][0]["body"]
    bad = '{"account_id": 7, "period": "week", "date": "2026-11-18", "force": false}'
    event = with_records(sample_event("weekly-job.json"), ("bad-week", bad), ("good-week", good))
    # WHEN handled
    response = load_handler("digest").lambda_handler(event, lambda_context)
    # THEN only the bad record fails, with one line naming the week's first day
    assert response == {"batchItemFailures": [{"itemIdentifier": "bad-week"}]}
    errors = [line for line in json_lines(capsys.readouterr().out) if line.get("level") == "ERROR"]
    assert len(errors) == 1
    assert "2026-11-18 is not the first day of its week (2026-11-16" in errors[0]["message"]
    assert emails_sent(weekly) == 1


def test_an_account_without_weekly_digests_gets_its_week_archived_but_not_sent(
    deployed: Any,  # noqa: F811
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN an account whose digests are daily only (its email channel takes days only)
    set_digests(deployed, ["daily"])
    # WHEN a weekly job arrives all the same (sent by hand)
    response = load_handler("digest").lambda_handler(
        sample_event("weekly-job.json"), lambda_context
    )
    # THEN the week is built and archived, and no channel sends it
    assert response == {"batchItemFailures": []}
    keys = archived_keys(deployed)
    assert f"{WEEK_KEYS}/summary.json" in keys
    assert f"{WEEK_KEYS}/delivery.json" not in keys
    assert emails_sent(deployed) == 0


def test_the_monday_schedule_tick_queues_the_week_for_weekly_accounts(
    aws: None,
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN an account with daily and weekly digests in Berlin, send hour 7
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    accounts = {
        "accounts": [
            {
                "account_id": 7,
                "base_url": "https://chat.acme.example",
                "token_secret": "sla-digest/acme",
                "timezone": "Europe/Berlin",
                "recipients": ["leads@acme.example"],
                "digests": ["daily", "weekly"],
            }
        ]
    }
    s3.put_object(Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps(accounts).encode())
    sqs = boto3.client("sqs", region_name=REGION)
    queue_url = sqs.create_queue(QueueName="jobs")["QueueUrl"]
    monkeypatch.setenv("ARCHIVE_BUCKET", BUCKET)
    monkeypatch.setenv("JOBS_QUEUE_URL", queue_url)
    # WHEN the schedule fires on Monday 23 November at 07:00 CET
    event = {"scheduled_time": "2026-11-23T06:00:00Z", "execution_id": "tick"}
    result = load_handler("dispatch").lambda_handler(event, lambda_context)
    # THEN the week of 16 November is queued beside the days due
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    bodies = [json.loads(message["Body"]) for message in messages]
    assert {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False} in bodies
    assert "7/week/2026-11-16" in result["jobs"]
