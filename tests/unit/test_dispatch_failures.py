"""Permanent failures on record: the marker, what it holds back, and what it does not."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING

import pytest

from sla_digest.archive import DayArchive, LocalArchive
from sla_digest.config import load_config
from sla_digest.exceptions import (
    AuthenticationError,
    ConfigError,
    DeadlineExceeded,
    NotFoundError,
    WindowError,
)
from sla_digest.jobs.dispatch import plan_scheduled
from sla_digest.jobs.failure import (
    FailureRecord,
    Fingerprint,
    account_secrets,
    clear_failure,
    holds_back,
    read_failure,
    record_failure,
    records_failure,
)

if TYPE_CHECKING:
    from pathlib import Path

DAY = date(2026, 11, 20)
NOW = datetime(2026, 11, 21, 6, 5, tzinfo=UTC)
BEFORE = Fingerprint(config="etag-1", secrets=(("sla-digest/acme", "v1"),))


@pytest.fixture
def day(tmp_path: Path) -> DayArchive:
    return DayArchive(LocalArchive(tmp_path), 7, DAY)


def test_a_recorded_failure_names_the_error_the_message_and_what_would_fix_it(
    day: DayArchive, tmp_path: Path
) -> None:
    # GIVEN a 401 of the token
    error = AuthenticationError("Chatwoot rejected the API access token\nfor account 7")

    # WHEN recorded
    record_failure(day, error, BEFORE, now=NOW)

    # THEN failure.json sits beside the day's digest with exactly these fields, on one line
    stored = json.loads(
        (tmp_path / "digests/account_id=7/date=2026-11-20/failure.json").read_text()
    )
    assert stored == {
        "account_id": 7,
        "date": "2026-11-20",
        "error": "AuthenticationError",
        "message": "Chatwoot rejected the API access token for account 7",
        "recorded_at": "2026-11-21T06:05:00Z",
        "fingerprint": {"config": "etag-1", "secrets": {"sla-digest/acme": "v1"}},
    }


def test_the_same_failure_again_is_not_new_and_leaves_the_first_record(day: DayArchive) -> None:
    # GIVEN a failure on record
    assert record_failure(day, NotFoundError("account 7 not found"), BEFORE, now=NOW)

    # WHEN the same job fails the same way later (an SQS retry)
    later = datetime(2026, 11, 21, 6, 35, tzinfo=UTC)
    again = record_failure(day, NotFoundError("account 7 not found"), BEFORE, now=later)

    # THEN it is not a new failure and the record keeps its first time
    assert again is False
    record = read_failure(day)
    assert record is not None
    assert record.recorded_at == "2026-11-21T06:05:00Z"


def test_a_failure_after_a_fix_attempt_is_new(day: DayArchive) -> None:
    record_failure(day, AuthenticationError("bad token"), BEFORE, now=NOW)
    rotated = Fingerprint(config="etag-1", secrets=(("sla-digest/acme", "v2"),))

    assert record_failure(day, AuthenticationError("bad token"), rotated, now=NOW) is True
    record = read_failure(day)
    assert record is not None
    assert record.fingerprint == rotated


@pytest.mark.parametrize(
    ("current", "held"),
    [
        (BEFORE, True),
        (Fingerprint(config="etag-2", secrets=(("sla-digest/acme", "v1"),)), False),
        (Fingerprint(config="etag-1", secrets=(("sla-digest/acme", "v2"),)), False),
        (Fingerprint(config="etag-1", secrets=(("sla-digest/other", "v1"),)), False),
        (
            Fingerprint(
                config="etag-1",
                secrets=(("sla-digest/acme", "v1"), ("sla-digest/acme/slack", "v1")),
            ),
            False,
        ),
    ],
    ids=["unchanged", "config-changed", "secret-rotated", "other-secret", "secret-added"],
)
def test_a_day_is_held_back_only_while_config_and_secret_are_unchanged(
    day: DayArchive, current: Fingerprint, held: bool
) -> None:
    record_failure(day, AuthenticationError("bad token"), BEFORE, now=NOW)

    assert (holds_back(day, lambda: current) is not None) is held


def test_a_day_without_a_marker_is_not_held_and_needs_no_fingerprint(day: DayArchive) -> None:
    def never() -> Fingerprint:
        raise AssertionError("the fingerprint was read for a day without a failure")

    assert holds_back(day, never) is None


def test_a_success_removes_the_marker(day: DayArchive, tmp_path: Path) -> None:
    record_failure(day, AuthenticationError("bad token"), BEFORE, now=NOW)

    assert clear_failure(day) is True
    assert clear_failure(day) is False
    assert not list(tmp_path.rglob("failure.json"))


def test_an_unreadable_marker_holds_nothing_back(day: DayArchive) -> None:
    day.write_marker("failure.json", b'{"error": 1}')

    assert read_failure(day) is None
    assert holds_back(day, lambda: BEFORE) is None


@pytest.mark.parametrize(
    ("error", "recorded"),
    [
        (AuthenticationError("401"), True),
        (NotFoundError("404"), True),
        (ConfigError("accounts.json is not JSON"), True),
        (WindowError("2026-11-20 has not ended yet"), False),
        (DeadlineExceeded("stopped early"), False),
    ],
)
def test_only_permanent_failures_that_the_calendar_does_not_cure_are_recorded(
    error: Exception, recorded: bool
) -> None:
    assert records_failure(error) is recorded


def test_a_marker_reads_back_as_the_record_it_was() -> None:
    record = FailureRecord(7, "2026-11-20", "ConfigError", "bad", "2026-11-21T06:05:00Z", BEFORE)

    assert FailureRecord.parse(record.to_bytes()) == record


# --- dispatch ------------------------------------------------------------------------------------


def test_catch_up_leaves_a_held_back_day_out_and_says_why() -> None:
    # GIVEN a Berlin account whose 20 Nov (due 21 Nov 06:00 UTC) failed and is held back
    config = load_config(
        {
            "accounts": [
                {
                    "account_id": 7,
                    "base_url": "https://chat.example.com",
                    "token_secret": "sla-digest/acme",
                    "timezone": "Europe/Berlin",
                    "recipients": ["leads@example.com"],
                }
            ]
        },
        source="accounts.json",
    )

    def held(account: object, day: date) -> str | None:
        return "failed permanently (bad token)" if day == DAY else None

    # WHEN the 21 Nov 06:15 tick plans, 19 Nov being delivered
    plan = plan_scheduled(
        config,
        datetime(2026, 11, 21, 6, 15, tzinfo=UTC),
        delivered=lambda account_id, day: day < DAY,
        held=held,
    )

    # THEN nothing is queued and the skip line names the day and the reason
    assert plan.jobs == []
    assert plan.skipped == [
        "account 7 2026-11-19: already delivered",
        "account 7 2026-11-20: failed permanently (bad token)",
    ]


def test_an_accounts_secrets_are_its_token_and_its_channels_urls_and_keys() -> None:
    config = load_config(
        {
            "accounts": [
                {
                    "account_id": 7,
                    "base_url": "https://chat.example.com",
                    "token_secret": "sla-digest/acme",
                    "recipients": ["leads@example.com"],
                    "channels": [
                        {"type": "email", "recipients": ["leads@example.com"]},
                        {"type": "slack", "url_secret": "sla-digest/acme/slack"},
                        {
                            "type": "webhook",
                            "url_secret": "sla-digest/acme/hook",
                            "signing_secret": "sla-digest/acme/hook-key",
                        },
                    ],
                }
            ]
        },
        source="accounts.json",
    )

    assert account_secrets(config.accounts[0]) == (
        "sla-digest/acme",
        "sla-digest/acme/hook",
        "sla-digest/acme/hook-key",
        "sla-digest/acme/slack",
    )
