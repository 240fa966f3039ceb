"""Weeks and months through the real dispatch handler under moto: manual and backfill events
that ask for them, and a week that fails permanently, held back by catch-up until a fix.

2026 calendar: 16 Nov is a Monday; Monday 23 Nov 07:00 in Berlin (CET, UTC+1) is 06:00 UTC,
when the week of 16 Nov falls due.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.exceptions import ConfigError
from tests.handlers.test_dispatch_handler import (
    deployed,  # noqa: F401 - the fixture, shared with the daily events' tests
    queued_jobs,
)
from tests.handlers.test_permanent_failures import (
    BUCKET,
    Pipeline,
    stack,  # noqa: F401 - the fixture: both functions' resources on the sandbox
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from sla_digest_cli.sandbox.server import SandboxServer


# --- manual and backfill events ------------------------------------------------------------------


def test_the_manual_weekly_sample_queues_the_weeks_body(
    deployed: dict[str, Any],  # noqa: F811
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the sample manual event for account 7's week of Monday 16 Nov
    app = load_handler("dispatch")

    # WHEN the real handler runs it
    result = app.lambda_handler(sample_event("manual-weekly.json"), lambda_context)

    # THEN one job is on the queue with the body of design section 12, and the result names it
    assert queued_jobs(deployed) == [
        {"account_id": 7, "period": "week", "date": "2026-11-16", "force": False}
    ]
    assert result["jobs"] == ["7/week/2026-11-16"]


def test_the_backfill_monthly_sample_queues_september_october_and_november(
    deployed: dict[str, Any],  # noqa: F811
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
    sample_event: Callable[[str], Any],
) -> None:
    # GIVEN the sample backfill of 1 Sep .. 30 Nov, months, for account 7
    app = load_handler("dispatch")

    app.lambda_handler(sample_event("backfill-monthly.json"), lambda_context)

    # THEN the three months whose 1st lies inside are queued, each as a month's job
    assert queued_jobs(deployed) == [
        {"account_id": 7, "period": "month", "date": f"2026-{month}-01", "force": False}
        for month in ("09", "10", "11")
    ]


@pytest.mark.filterwarnings("ignore:No application metrics to publish")
def test_a_manual_week_on_a_wednesday_fails_the_invocation_naming_its_monday(
    deployed: dict[str, Any],  # noqa: F811
    load_handler: Callable[[str], ModuleType],
    lambda_context: Any,
) -> None:
    event = {"accounts": [7], "period": "week", "date": "2026-11-18"}

    with pytest.raises(ConfigError) as caught:
        load_handler("dispatch").lambda_handler(event, lambda_context)

    assert str(caught.value) == (
        "2026-11-18 is not the first day of a week for account 7 "
        "(weeks start on monday: 2026-11-16)"
    )
    assert queued_jobs(deployed) == []


# --- a week that fails permanently ---------------------------------------------------------------


SECRET = "sla-digest/acme"
NOT_A_TOKEN = '{"note": "s3cr3t-but-not-a-token"}'
WEEK_FAILURE = "reports/account_id=7/period=week/start=2026-11-16/failure.json"
WEEK_DELIVERY = "reports/account_id=7/period=week/start=2026-11-16/delivery.json"
# Every quarter hour from Monday 23 Nov 06:00 UTC, when the week falls due.
TICKS = [f"2026-11-23T{hour:02d}:{minute:02d}:00Z" for hour in (6, 7) for minute in (0, 15, 30, 45)]


@pytest.fixture
def weekly(
    stack: dict[str, Any],  # noqa: F811
    sandbox: SandboxServer,
) -> dict[str, Any]:
    """Account 7 with weekly digests only, its token secret holding no token at all."""
    entry = {
        "account_id": 7,
        "name": "Acme Support",
        "base_url": sandbox.base_url,
        "token_secret": SECRET,
        "timezone": "Europe/Berlin",
        "recipients": ["leads@acme.example"],
        "digests": ["weekly"],
    }
    s3 = stack["s3"]
    s3.put_object(
        Bucket=BUCKET, Key="config/accounts.json", Body=json.dumps({"accounts": [entry]}).encode()
    )
    stack["secrets"].put_secret_value(SecretId=SECRET, SecretString=NOT_A_TOKEN)
    return stack


@pytest.fixture
def pipeline(
    weekly: dict[str, Any], load_handler: Callable[[str], ModuleType], lambda_context: Any
) -> Pipeline:
    return Pipeline(weekly, load_handler, lambda_context)


def test_a_week_that_fails_permanently_is_recorded_and_held_back_by_catch_up(
    pipeline: Pipeline,
) -> None:
    # GIVEN the week of 16 Nov, none of its days archived, and a secret without a token
    # WHEN eight ticks pass, two hours' worth, each inside the catch-up window
    queued = [pipeline.tick(at) for at in TICKS]

    # THEN the week was queued by the first tick only; its failure is on record under the
    # report's prefix with what would fix it, and the secret's content is nowhere in it
    assert [len(bodies) for bodies in queued] == [1, 0, 0, 0, 0, 0, 0, 0]
    assert json.loads(queued[0][0]) == {
        "account_id": 7,
        "period": "week",
        "date": "2026-11-16",
        "force": False,
    }
    failure = json.loads(
        pipeline.stack["s3"].get_object(Bucket=BUCKET, Key=WEEK_FAILURE)["Body"].read()
    )
    assert (failure["period"], failure["date"], failure["error"]) == (
        "week",
        "2026-11-16",
        "ConfigError",
    )
    assert list(failure["fingerprint"]["secrets"]) == [SECRET]
    assert "s3cr3t-but-not-a-token" not in json.dumps(failure)


def test_a_held_back_week_is_still_overdue_for_the_heartbeat(pipeline: Pipeline) -> None:
    # GIVEN the week failed on the 06:00 tick and is held back
    pipeline.tick(TICKS[0])

    # WHEN the tick at 08:00 UTC runs (send instant 06:00 UTC + 2 h)
    result = pipeline.dispatch.lambda_handler(
        {"scheduled_time": "2026-11-23T08:00:00Z"}, pipeline.context
    )

    # THEN nothing is queued, and the undelivered week counts as overdue
    assert (result["queued"], result["overdue"]) == (0, 1)


def test_after_the_secret_is_fixed_the_week_is_queued_again_and_delivered(
    pipeline: Pipeline, sandbox: SandboxServer
) -> None:
    # GIVEN the week failed on the first tick and was held back on the second
    assert len(pipeline.tick(TICKS[0])) == 1
    assert pipeline.tick(TICKS[1]) == []

    # WHEN the operator stores the token in the secret (its version, so the fingerprint, changes)
    pipeline.stack["secrets"].put_secret_value(
        SecretId=SECRET, SecretString=sandbox.options.admin_token
    )

    # THEN the next tick queues the week again, it is built and delivered, its failure marker
    # is gone, and the tick after that has nothing left to do
    pipeline.later()
    assert len(pipeline.tick(TICKS[2])) == 1
    keys = pipeline.keys()
    assert WEEK_DELIVERY in keys
    assert WEEK_FAILURE not in keys
    assert pipeline.tick(TICKS[3]) == []


def test_a_manual_run_still_queues_a_week_that_is_held_back(pipeline: Pipeline) -> None:
    pipeline.tick(TICKS[0])

    result = pipeline.dispatch.lambda_handler(
        {"accounts": [7], "period": "week", "date": "2026-11-16"}, pipeline.context
    )

    assert result["queued"] == 1
