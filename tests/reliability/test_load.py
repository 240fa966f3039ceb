"""Load: a busy day through the pipeline with bounded retries and memory, and 200 accounts
dispatched in one run.

The big day runs in a process of its own (``load_run.py``) so its peak resident size is the
pipeline's alone; the bound here is generous so it is not flaky on a loaded machine (the strict
200 MB target is measured by ``make bench``).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest
from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

from sla_digest.archive import DayArchive, S3Archive, verify_day
from sla_digest_cli.sandbox.server import SandboxServer

from .conftest import (
    BUCKET,
    DAY,
    ROOT,
    TOKEN,
    ZONE,
    ShortOnTime,
    account_entry,
    expected_rows,
    job,
    json_lines,
    kept_rows,
    ses_raw_messages,
    sqs_event,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from .conftest import Deployed, FakeLambdaContext, LeakWatch

MEMORY_BOUND_MB = 400
# Faults the client must absorb with one retry each (no stalls: they would only cost time).
LOAD_FAULTS = ("500", "502", "503", "429", "reset", "truncated", "html200")


def run_in_own_process(server: SandboxServer, out: Path, leak_watch: LeakWatch) -> dict[str, Any]:
    completed = subprocess.run(
        [sys.executable, "-m", "tests.reliability.load_run", server.base_url, str(out),
         DAY.isoformat(), ZONE],
        cwd=ROOT,
        env={**os.environ, "CHATWOOT_API_TOKEN": TOKEN},
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    leak_watch.add("load run stdout", completed.stdout)
    leak_watch.add("load run stderr", completed.stderr)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report: dict[str, Any] = json.loads(completed.stdout.splitlines()[-1])
    return report


def archived_ids(out: Path) -> list[int]:
    """Every row id in the pages the manifest lists, read from the files (repeats kept)."""
    manifest = json.loads((out / "raw" / "manifest.json").read_bytes())
    ids: list[int] = []
    for entry in manifest["pages"]:
        body = (out / "raw" / f"page-{entry['page']:05d}.json").read_bytes()
        ids.extend(row["id"] for row in json.loads(body)["payload"])
    return ids


def test_a_day_of_100000_events_completes_exactly_with_bounded_retries_and_memory(
    servers: Callable[..., SandboxServer], tmp_path: Path, leak_watch: LeakWatch
) -> None:
    # GIVEN a day of 100,000 events (4,000 pages) on a sandbox faulting 1 % of its answers
    # (about 20 s on two cores, so it runs with every `make test`)
    events = 100_000
    server = servers(events=events, fault_rate=0.01, faults=LOAD_FAULTS, seed=17)
    pages = math.ceil(events / 25)
    out = tmp_path / "day"
    # WHEN the pipeline runs the day in a process of its own
    report = run_in_own_process(server, out, leak_watch)
    # THEN every row of the day is archived exactly once and the summary counts what it keeps
    rows = expected_rows(server)
    ids = archived_ids(out)
    assert len(ids) == len(rows) == events
    assert set(ids) == {row["id"] for row in rows}
    assert (report["complete"], report["meta_count"], report["pages"]) == (True, events, pages)
    assert report["events"] == len(kept_rows(rows))
    # AND each injected fault cost one retry (a 429 is counted as throttled, not as a failure
    # retried), and no page was asked for twice
    injected = server.stats.snapshot()["faults"]
    faults = sum(injected.values())
    assert faults > 0
    assert injected["429"] > 0
    assert (report["retries"], report["throttled"]) == (faults - injected["429"], injected["429"])
    assert server.stats.snapshot()["reporting_requests"] == pages + faults
    # AND the pipeline's memory grew by less than the bound
    assert report["peak_mb"] - report["baseline_mb"] < MEMORY_BOUND_MB


# --------------------------------------------------------------------------- 200 accounts

ZONES = (
    "UTC",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
    "Africa/Nairobi",
)
SCHEDULED = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
CATCH_UP = timedelta(days=2)


def due(zone: str, send_hour: int) -> list[date]:
    """Days whose digest falls due in (SCHEDULED − 2 days, SCHEDULED]: a day is due when its
    account's clock first shows the next day at send_hour. No zone here changes its offset
    between 15 and 22 November 2026, so the wall time converts directly."""
    local_today = SCHEDULED.astimezone(ZoneInfo(zone)).date()
    days = []
    for back in range(1, 6):
        day = local_today - timedelta(days=back)
        instant = datetime.combine(day + timedelta(days=1), time(send_hour), ZoneInfo(zone))
        if SCHEDULED - CATCH_UP < instant <= SCHEDULED:
            days.append(day)
    return days


def test_two_hundred_accounts_are_dispatched_once_each_in_batches_of_ten(
    deployed: Deployed, lambda_context: FakeLambdaContext
) -> None:
    # GIVEN 200 accounts over ten zones and every send hour; every 17th disabled, and every
    # 11th already delivered its oldest due day
    accounts = []
    expected: set[tuple[int, str]] = set()
    skipped = 0
    for number in range(1, 201):
        zone, hour = ZONES[number % len(ZONES)], number % 24
        enabled = number % 17 != 0
        accounts.append(
            account_entry(number, "https://chat.acme.example", timezone=zone, send_hour=hour,
                          enabled=enabled)
        )  # fmt: skip
        if not enabled:
            skipped += 1
            continue
        days = due(zone, hour)
        if number % 11 == 0 and days:
            delivered = min(days)
            key = f"digests/account_id={number}/date={delivered}/delivery.json"
            deployed.s3.put_object(Bucket=BUCKET, Key=key, Body=b"{}")
            days.remove(delivered)
            skipped += 1
        expected.update((number, day.isoformat()) for day in days)
    deployed.put_config({"accounts": accounts})
    app = deployed.function("dispatch")
    batches: list[int] = []
    app.clients.sqs.meta.events.register(
        "before-parameter-build.sqs.SendMessageBatch",
        lambda params, **_: batches.append(len(params["Entries"])),
    )
    # WHEN the schedule ticks
    result = app.lambda_handler(
        {"scheduled_time": SCHEDULED.isoformat().replace("+00:00", "Z")}, lambda_context
    )
    # THEN every due account-day is queued exactly once, in batches of at most ten
    queued = Counter((body["account_id"], body["date"]) for body in deployed.queued())
    assert set(queued) == expected
    assert set(queued.values()) == {1}
    assert (result["queued"], result["skipped"], result["errors"]) == (
        len(expected),
        skipped,
        0,
    )
    assert batches == [10] * (len(expected) // 10) + (
        [len(expected) % 10] if len(expected) % 10 else []
    )


# --------------------------------------------------------------------------- soak


@pytest.mark.slow
def test_a_day_too_long_for_one_invocation_is_finished_across_three_from_the_s3_archive(
    deployed: Deployed, servers: Callable[..., SandboxServer], output: Callable[[], Any]
) -> None:
    # GIVEN a 100,000-event day (4,000 pages) and invocations that run short of time after
    # 1,500 pages each, as against a Chatwoot throttling to ~300 requests a minute
    server = servers(events=100_000, fault_rate=0.005, faults=LOAD_FAULTS, seed=29)
    deployed.put_config({"accounts": [account_entry(7, server.base_url)]})
    deployed.put_secret("sla-digest/7", TOKEN)
    app = deployed.function("digest")
    event = sqs_event(("m-1", job(7)))
    # WHEN SQS delivers the job three times
    outcomes = []
    for context in (ShortOnTime(calls=1500), ShortOnTime(calls=1500), ShortOnTime(calls=10**6)):
        try:
            outcomes.append(app.lambda_handler(event, context)["batchItemFailures"])
        except BatchProcessingError:
            outcomes.append("failed")
    # THEN the first two stopped for time and the third finished; each page was fetched once,
    # but for the few in flight when a run stopped (at most 3 × the concurrency of 8 each)
    assert outcomes == ["failed", "failed", []]
    errors = [line for line in json_lines(output().out) if line.get("level") == "ERROR"]
    assert len(errors) == 2
    assert all("stay inside the time limit" in line["message"] for line in errors)
    faults = sum(server.stats.snapshot()["faults"].values())
    wasted = server.stats.snapshot()["reporting_requests"] - 4000 - faults
    assert 0 <= wasted <= 2 * 3 * 8
    # AND the archive verifies, holds every row once, and one email went out
    archive = DayArchive(S3Archive(BUCKET, s3=deployed.s3), 7, DAY)
    assert verify_day(archive) == []
    ids = [row["id"] for _, body in archive.page_bodies() for row in json.loads(body)["payload"]]
    assert sorted(ids) == sorted(row["id"] for row in expected_rows(server))
    assert len(ses_raw_messages()) == 1
