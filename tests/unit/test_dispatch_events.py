"""Dispatch events (schedule, manual, backfill), manual planning and queuing in batches."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sla_digest.config import Config, load_config
from sla_digest.exceptions import ConfigError, QueueError
from sla_digest.jobs.dispatch import DispatchRequest, parse_event, plan_requested, queue_jobs
from sla_digest.jobs.job import DigestJob


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def config_of(*accounts: dict[str, Any]) -> Config:
    entries = [
        {
            "base_url": "https://chat.example.com",
            "token_secret": "sla-digest/example",
            "recipients": ["leads@example.com"],
            **account,
        }
        for account in accounts
    ]
    return load_config({"accounts": entries}, source="accounts.json")


# --- parsing ---------------------------------------------------------------------------------


def test_a_schedule_event_gives_its_scheduled_time_in_utc() -> None:
    request = parse_event({"scheduled_time": "2026-11-21T06:00:00Z", "execution_id": "abc-123"})

    assert request == DispatchRequest(
        kind="schedule", scheduled_time=utc("2026-11-21T06:00"), execution_id="abc-123"
    )


def test_a_manual_event_is_one_day_for_the_listed_accounts() -> None:
    request = parse_event({"accounts": [7, 8], "date": "2026-11-20", "force": True})

    assert request == DispatchRequest(
        kind="manual",
        accounts=(7, 8),
        first=date(2026, 11, 20),
        last=date(2026, 11, 20),
        force=True,
    )


def test_a_backfill_event_without_accounts_means_all_accounts() -> None:
    request = parse_event({"from": "2026-11-01", "to": "2026-11-20"})

    assert request == DispatchRequest(
        kind="backfill", accounts=None, first=date(2026, 11, 1), last=date(2026, 11, 20)
    )


def test_a_backfill_of_92_days_is_accepted() -> None:
    # 1 Aug .. 31 Oct: 31 + 30 + 31 = 92 days
    request = parse_event({"from": "2026-08-01", "to": "2026-10-31"})

    assert (request.first, request.last) == (date(2026, 8, 1), date(2026, 10, 31))


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ([], r"^dispatch event must be a JSON object"),
        ({}, r"^dispatch event is not one of the known forms"),
        ({"scheduled_time": "2026-11-21T06:00:00"}, r"is not an ISO-8601 instant with a zone"),
        ({"scheduled_time": "yesterday"}, r"^scheduled_time 'yesterday' is not an ISO-8601"),
        ({"scheduled_time": "2026-11-21T06:00:00Z", "date": "x"}, r"unknown key 'date'"),
        ({"date": "2026-02-30"}, r"^date: date '2026-02-30' is not a calendar date"),
        ({"date": "20261120"}, r"^date: date '20261120' is not a calendar date"),
        ({"date": 20261120}, r"^date 20261120 is not a date in the form YYYY-MM-DD$"),
        ({"date": "2026-11-20", "force": "yes"}, r"^force 'yes' must be true or false$"),
        ({"date": "2026-11-20", "accounts": []}, r"^accounts \[\] must be a non-empty list"),
        ({"date": "2026-11-20", "accounts": ["7"]}, r"must be a non-empty list of account ids"),
        ({"date": "2026-11-20", "accounts": [True]}, r"must be a non-empty list of account ids"),
        ({"date": "2026-11-20", "acounts": [7]}, r"unknown key 'acounts'"),
        ({"from": "2026-11-01"}, r'^backfill event needs both "from" and "to"'),
        ({"from": "2026-11-20", "to": "2026-11-01"}, r"^backfill from 2026-11-20 is after to"),
        # 1 Aug .. 1 Nov: 93 days
        ({"from": "2026-08-01", "to": "2026-11-01"}, r"^backfill of 93 days is too long"),
    ],
)
def test_a_bad_event_is_one_clear_config_error(event: Any, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        parse_event(event)

    assert "\n" not in str(caught.value)


# --- manual and backfill planning -------------------------------------------------------------


def jobs(config: Config, event: dict[str, Any], now: str) -> list[tuple[int, str, bool]]:
    plan = plan_requested(config, parse_event(event), now=utc(now))
    return [(j.account_id, j.day.isoformat(), j.force) for j in plan.jobs]


def test_a_manual_run_without_accounts_queues_every_enabled_account() -> None:
    config = config_of({"account_id": 7}, {"account_id": 8, "enabled": False}, {"account_id": 9})

    queued = jobs(config, {"date": "2026-11-20"}, now="2026-11-22T00:00")

    assert queued == [(7, "2026-11-20", False), (9, "2026-11-20", False)]


def test_a_backfill_queues_each_day_of_the_range_with_force() -> None:
    config = config_of({"account_id": 7})

    queued = jobs(
        config,
        {"accounts": [7], "from": "2026-11-01", "to": "2026-11-03", "force": True},
        now="2026-11-22T00:00",
    )

    assert queued == [
        (7, "2026-11-01", True),
        (7, "2026-11-02", True),
        (7, "2026-11-03", True),
    ]


def test_a_day_not_over_in_the_accounts_zone_is_refused() -> None:
    # GIVEN a Berlin account: 20 Nov ends at 21 Nov 00:00 CET = 20 Nov 23:00 UTC
    config = config_of({"account_id": 7, "timezone": "Europe/Berlin"})

    # WHEN it is asked for at 22:59 UTC, THEN the day is refused, naming account and zone
    with pytest.raises(ConfigError, match=r"^account 7: 2026-11-20 has not ended yet in Europe/"):
        jobs(config, {"accounts": [7], "date": "2026-11-20"}, now="2026-11-20T22:59")


def test_a_day_is_accepted_the_moment_it_has_ended() -> None:
    config = config_of({"account_id": 7, "timezone": "Europe/Berlin"})

    queued = jobs(config, {"accounts": [7], "date": "2026-11-20"}, now="2026-11-20T23:00")

    assert queued == [(7, "2026-11-20", False)]


def test_a_backfill_reaching_into_today_is_refused() -> None:
    config = config_of({"account_id": 7})

    with pytest.raises(ConfigError, match="2026-11-22 has not ended yet in UTC"):
        jobs(config, {"from": "2026-11-20", "to": "2026-11-22"}, now="2026-11-22T12:00")


def test_an_unknown_account_is_an_error_line_and_the_others_are_queued() -> None:
    config = config_of({"account_id": 7})

    plan = plan_requested(
        config, parse_event({"accounts": [5, 7], "date": "2026-11-20"}), now=utc("2026-11-22")
    )

    assert [(j.account_id, j.day) for j in plan.jobs] == [(7, date(2026, 11, 20))]
    assert plan.errors == ["account 5 is not configured in accounts.json"]


def test_a_disabled_account_asked_for_by_id_is_skipped_with_a_reason() -> None:
    config = config_of({"account_id": 7, "enabled": False})

    plan = plan_requested(
        config, parse_event({"accounts": [7], "date": "2026-11-20"}), now=utc("2026-11-22")
    )

    assert plan.jobs == []
    assert plan.skipped == ["account 7: disabled (set enabled to true to run it)"]


# --- queuing -------------------------------------------------------------------------------------


class FakeSqs:
    """An in-memory SendMessageBatch that fails chosen entries a chosen number of times."""

    def __init__(self, failures: dict[str, int] | None = None, sender_fault: bool = False):
        self.failures = dict(failures or {})
        self.sender_fault = sender_fault
        self.calls: list[list[str]] = []
        self.accepted: list[str] = []

    def send_message_batch(self, *, QueueUrl: str, Entries: list[dict[str, str]]) -> Any:
        assert QueueUrl == "https://sqs.example/jobs"
        assert len(Entries) <= 10
        self.calls.append([entry["MessageBody"] for entry in Entries])
        failed = []
        for entry in Entries:
            body = entry["MessageBody"]
            if self.failures.get(body, 0) > 0:
                self.failures[body] -= 1
                failed.append(
                    {"Id": entry["Id"], "Code": "InternalError", "SenderFault": self.sender_fault}
                )
            else:
                self.accepted.append(body)
        return {"Successful": [], "Failed": failed}


def body(account_id: int, day: str, force: bool = False) -> str:
    return json.dumps({"account_id": account_id, "date": day, "force": force}).replace(" ", "")


def november(days: int) -> list[DigestJob]:
    return [DigestJob(account_id=7, day=date(2026, 11, n)) for n in range(1, days + 1)]


def test_jobs_go_out_in_batches_of_ten_as_the_documented_body() -> None:
    sqs = FakeSqs()

    count = queue_jobs(november(23), sqs=sqs, queue_url="https://sqs.example/jobs")

    assert count == 23
    assert [len(call) for call in sqs.calls] == [10, 10, 3]
    assert sqs.accepted[0] == '{"account_id":7,"date":"2026-11-01","force":false}'
    assert sqs.accepted == [body(7, f"2026-11-{n:02d}") for n in range(1, 24)]


def test_an_entry_sqs_fails_once_is_retried_alone() -> None:
    # GIVEN SQS failing the 2 Nov job once
    sqs = FakeSqs(failures={body(7, "2026-11-02"): 1})
    pauses: list[float] = []

    # WHEN three jobs are queued
    queue_jobs(november(3), sqs=sqs, queue_url="https://sqs.example/jobs", sleep=pauses.append)

    # THEN the second call carries only the failed job, after a pause, and all three arrive
    assert sqs.calls[1] == [body(7, "2026-11-02")]
    assert len(pauses) == 1
    assert sorted(sqs.accepted) == [body(7, f"2026-11-0{n}") for n in (1, 2, 3)]


def test_an_entry_that_keeps_failing_raises_after_the_other_batches_are_sent() -> None:
    # GIVEN SQS failing the 1 Nov job on every attempt
    sqs = FakeSqs(failures={body(7, "2026-11-01"): 99})

    # WHEN twelve jobs (two batches) are queued
    with pytest.raises(QueueError, match=r"^1 of 12 jobs could not be queued: 7/2026-11-01 "):
        queue_jobs(
            november(12), sqs=sqs, queue_url="https://sqs.example/jobs", sleep=lambda s: None
        )

    # THEN three attempts were made for it and the other eleven were sent
    assert sum(call.count(body(7, "2026-11-01")) for call in sqs.calls) == 3
    assert len(sqs.accepted) == 11


def test_a_sender_fault_is_not_retried() -> None:
    sqs = FakeSqs(failures={body(7, "2026-11-01"): 1}, sender_fault=True)

    with pytest.raises(QueueError, match="7/2026-11-01"):
        queue_jobs(november(1), sqs=sqs, queue_url="https://sqs.example/jobs", sleep=lambda s: None)

    assert len(sqs.calls) == 1


class _RefusingQueue:
    """An SQS client whose every batch is refused with one error code."""

    def __init__(self, code: str, status: int) -> None:
        self.calls = 0
        self._error = {"Error": {"Code": code, "Message": "no"},
                       "ResponseMetadata": {"HTTPStatusCode": status}}  # fmt: skip

    def send_message_batch(self, **_: object) -> dict:
        from botocore.exceptions import ClientError

        self.calls += 1
        raise ClientError(self._error, "SendMessageBatch")  # type: ignore[arg-type]


def test_a_queue_that_denies_access_fails_at_once_without_retrying() -> None:
    # GIVEN 25 jobs and a queue the function may not write to
    from datetime import date

    from sla_digest.jobs.dispatch import queue_jobs
    from sla_digest.jobs.job import DigestJob

    jobs = [DigestJob(account_id=n, day=date(2026, 11, 20)) for n in range(1, 26)]
    queue = _RefusingQueue("AccessDenied", 403)
    # WHEN queued THEN one clear error after a single call: no later batch could succeed
    with pytest.raises(QueueError, match="AccessDenied"):
        queue_jobs(jobs, sqs=queue, queue_url="https://sqs.example/q", sleep=lambda _: None)  # type: ignore[arg-type]
    assert queue.calls == 1


def test_a_throttled_queue_is_retried_then_every_job_is_named() -> None:
    from datetime import date

    from sla_digest.jobs.dispatch import queue_jobs
    from sla_digest.jobs.job import DigestJob

    jobs = [DigestJob(account_id=n, day=date(2026, 11, 20)) for n in range(1, 13)]
    queue = _RefusingQueue("ThrottlingException", 400)
    with pytest.raises(QueueError, match=r"^12 of 12 jobs could not be queued"):
        queue_jobs(jobs, sqs=queue, queue_url="https://sqs.example/q", sleep=lambda _: None)  # type: ignore[arg-type]
    # two batches, three attempts each
    assert queue.calls == 6
