"""The operator commands with weeks and months: ``invoke``/``backfill --period``, ``redrive`` of
a week's job and ``status`` of an account's reports, on the moto stack of ``test_operate``.

2026 calendar: 16 Nov is a Monday, 18 Nov a Wednesday, 25 Nov a Wednesday. Berlin is UTC+1 in
November, so 30 Nov 23:30 UTC is already 1 Dec 00:30 there.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import pytest

from sla_digest.archive import S3Archive
from sla_digest.archive.report import ReportArchive
from sla_digest.aws import AwsClients, fingerprint_reader
from sla_digest.config import Settings
from sla_digest.exceptions import DeliveryRejected
from sla_digest.jobs.failure import record_failure
from sla_digest.report.periods import Period
from sla_digest_cli.cli import main
from sla_digest_cli.operate import invoke
from sla_digest_cli.stack import resolve_stack
from sla_digest_cli.status import stack_status
from tests.functional.test_operate import (
    ACCOUNTS,
    BUCKET,
    STACK,
    Deployed,
    deployed,  # noqa: F401 - the fixture: the stack under moto, dispatch really invoked
    out_lines,
)

# --- invoke --period ------------------------------------------------------------------------------


def test_invoke_period_week_sends_the_manual_weekly_event_and_queues_the_week(
    deployed: Deployed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # WHEN the operator invokes account 7's week of Monday 16 Nov
    code = main(["invoke", "--stack", STACK, "--account-id", "7", "--period", "week",
                 "--date", "2026-11-16"])  # fmt: skip

    # THEN the function got the event of events/manual-weekly.json, the week's job is queued
    assert code == 0
    assert deployed.dispatch.events == [
        {"accounts": [7], "period": "week", "date": "2026-11-16", "force": False}
    ]
    assert deployed.queued() == [
        {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}
    ]
    assert out_lines(capsys) == ["queued 1 job(s): 7/week/2026-11-16"]


def test_invoke_without_a_period_sends_the_event_it_always_did(
    deployed: Deployed,  # noqa: F811
) -> None:
    main(["invoke", "--stack", STACK, "--account-id", "7", "--date", "2026-11-20"])

    assert deployed.dispatch.events == [{"accounts": [7], "date": "2026-11-20", "force": False}]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_invoke_of_a_week_on_its_wednesday_is_refused_naming_its_monday(
    deployed: Deployed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["invoke", "--stack", STACK, "--account-id", "7", "--period", "week",
                 "--date", "2026-11-18"])  # fmt: skip

    assert code == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line == (
        "sla-digest: error: the dispatch function refused the request: 2026-11-18 is not the "
        "first day of a week for account 7 (weeks start on monday: 2026-11-16)"
    )
    assert deployed.queued() == []


@pytest.mark.parametrize(
    ("period", "now", "expected"),
    [
        # Wednesday 25 Nov: the last week over in Berlin is that of Monday 16 Nov
        ("week", datetime(2026, 11, 25, 12, tzinfo=UTC), "2026-11-16"),
        # 30 Nov 23:30 UTC is 1 Dec in Berlin: November is over there (in UTC it is not yet)
        ("month", datetime(2026, 11, 30, 23, 30, tzinfo=UTC), "2026-11-01"),
    ],
)
def test_invoke_of_a_period_defaults_to_the_last_one_over_in_the_accounts_zone(
    deployed: Deployed,  # noqa: F811
    period: Any,
    now: datetime,
    expected: str,
) -> None:
    stack = resolve_stack(STACK, clients=deployed.clients)

    invoke(stack, 7, None, clients=deployed.clients, now=now, period=period)

    assert deployed.dispatch.events[0]["date"] == expected
    assert deployed.dispatch.events[0]["period"] == period


def test_an_unknown_period_flag_is_a_usage_error(
    deployed: Deployed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as caught:
        main(["invoke", "--stack", STACK, "--account-id", "7", "--period", "fortnight"])

    assert caught.value.code == 2
    assert "invalid choice: 'fortnight'" in capsys.readouterr().err
    assert deployed.dispatch.events == []


@pytest.mark.parametrize("command", ["invoke", "backfill"])
def test_the_help_of_invoke_and_backfill_offers_the_period(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main([command, "--help"])

    assert "--period {day,week,month}" in capsys.readouterr().out


# --- backfill --period ----------------------------------------------------------------------------


def test_a_long_backfill_of_months_queues_each_month_once_across_its_events(
    deployed: Deployed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN 1 Jan .. 30 Nov: 334 days, so four events of at most 92 days: 1 Jan..2 Apr,
    # 3 Apr..3 Jul, 4 Jul..3 Oct, 4 Oct..30 Nov
    code = main(["backfill", "--stack", STACK, "--from", "2026-01-01", "--to", "2026-11-30",
                 "--account-id", "7", "--period", "month"])  # fmt: skip

    # THEN each event names the months; every 1st from January to November is queued once
    assert code == 0
    events = deployed.dispatch.events
    assert [(e["from"], e["to"], e["period"]) for e in events] == [
        ("2026-01-01", "2026-04-02", "month"),
        ("2026-04-03", "2026-07-03", "month"),
        ("2026-07-04", "2026-10-03", "month"),
        ("2026-10-04", "2026-11-30", "month"),
    ]
    jobs = deployed.queued()
    assert [job["date"] for job in jobs] == [f"2026-{month:02d}-01" for month in range(1, 12)]
    assert {(job["account_id"], job["period"]) for job in jobs} == {(7, "month")}
    assert out_lines(capsys)[1] == (
        "queued 4 job(s): 7/month/2026-01-01, 7/month/2026-02-01, 7/month/2026-03-01, "
        "7/month/2026-04-01"
    )


def test_a_backfill_of_weeks_in_which_no_week_starts_says_so(
    deployed: Deployed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN Tuesday 17 .. Thursday 19 Nov: no Monday inside
    code = main(["backfill", "--stack", STACK, "--from", "2026-11-17", "--to", "2026-11-19",
                 "--account-id", "7", "--period", "week", "--archive-only"])  # fmt: skip

    assert code == 0
    assert deployed.dispatch.events == [
        {"from": "2026-11-17", "to": "2026-11-19", "period": "week", "accounts": [7],
         "deliver": False}
    ]  # fmt: skip
    assert out_lines(capsys) == [
        "2026-11-17 .. 2026-11-19:",
        "queued 0 job(s): none",
        "skipped 1 account(s) disabled, or where no week starts (the dispatch log says)",
    ]


# --- redrive --------------------------------------------------------------------------------------


def test_redrive_names_a_weeks_job_as_a_week(
    deployed: Deployed,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    body = {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}
    deployed.sqs.send_message(QueueUrl=deployed.dlq, MessageBody=json.dumps(body))

    main(["redrive", "--stack", STACK])

    assert out_lines(capsys) == [
        "moved 1 job(s) from the dead-letter queue to the jobs queue: 7/week/2026-11-16"
    ]


# --- status ---------------------------------------------------------------------------------------


def put(stack: Deployed, key: str, document: dict[str, Any]) -> None:
    stack.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())


def test_status_shows_the_weeks_reports_their_failure_and_the_overdue_week(
    deployed: Deployed,  # noqa: F811
) -> None:
    # GIVEN account 7 with weekly digests too; the weeks of 9 and 16 Nov built, the first
    # delivered by email, the second failed permanently (a channel refused it)
    weekly = json.loads(json.dumps(ACCOUNTS))
    weekly["accounts"][0]["digests"] = ["daily", "weekly"]
    put(deployed, "config/accounts.json", weekly)
    reports = "reports/account_id=7/period=week"
    for start in ("2026-11-09", "2026-11-16"):
        put(deployed, f"{reports}/start={start}/summary.json", {"source": {"complete": True}})
    put(
        deployed,
        f"{reports}/start=2026-11-09/delivery.json",
        {
            "account_id": 7,
            "period": "week",
            "date": "2026-11-09",
            "channels": [{"channel": "email", "message_id": "m-1"}],
            "recorded_at": "2026-11-16T06:01:12Z",
        },
    )
    reader = fingerprint_reader(Settings(archive_bucket=BUCKET), AwsClients())
    record_failure(
        ReportArchive(
            S3Archive(BUCKET, s3=deployed.s3),
            7,
            Period("week", date(2026, 11, 16), date(2026, 11, 22)),
        ),
        DeliveryRejected("account 7 week 2026-11-16: slack refused the digest (404)"),
        reader(("sla-digest/acme",)),
        now=datetime(2026, 11, 23, 6, 2, tzinfo=UTC),
    )
    stack = resolve_stack(STACK, clients=deployed.clients)

    # WHEN status is read on Monday 23 Nov at 09:00 UTC: the week was due at 06:00 UTC (07:00
    # in Berlin), so overdue from 08:00 UTC, as are the days of 21 and 22 Nov
    lines = stack_status(
        stack, clients=deployed.clients, account_id=7, now=datetime(2026, 11, 23, 9, tzinfo=UTC)
    )

    # THEN the weeks have their lines (no month: the account has no monthly digests, and none
    # is archived), the week's failure is held back, and the week is overdue beside the days
    assert lines == [
        "account 7 (Acme Support): Europe/Berlin, sent at 07:00, enabled",
        "  last archived day  none",
        "  last delivery      none",
        "  last week report   2026-11-16 (complete; 2 weeks archived)",
        "  last week sent     2026-11-09 at 2026-11-16T06:01:12Z by email",
        "  failure            week 2026-11-16 DeliveryRejected at 2026-11-23T06:02:00Z: account 7 "
        "week 2026-11-16: slack refused the digest (404) (held back until accounts.json or one "
        "of the account's secrets changes)",
        "  overdue            2026-11-21: not delivered by 2026-11-22T08:00:00Z",
        "  overdue            2026-11-22: not delivered by 2026-11-23T08:00:00Z",
        "  overdue            week/2026-11-16: not delivered by 2026-11-23T08:00:00Z",
        "jobs queue: 0 waiting; dead-letter queue: 0 failed job(s)",
    ]
