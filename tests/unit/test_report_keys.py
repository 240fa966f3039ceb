"""What a key under ``reports/`` names: the account, the week or month, the file."""

from __future__ import annotations

from datetime import date

import pytest

from sla_digest.archive.report import ReportArchive, parse_report_key
from sla_digest.report.periods import Period


@pytest.mark.parametrize(
    ("key", "account", "period", "name"),
    [
        (
            "reports/account_id=7/period=week/start=2026-11-16/summary.json",
            7,
            Period("week", date(2026, 11, 16), date(2026, 11, 22)),
            "summary.json",
        ),
        (
            "reports/account_id=12/period=month/start=2026-02-01/delivery.json",
            12,
            Period("month", date(2026, 2, 1), date(2026, 2, 28)),
            "delivery.json",
        ),
    ],
)
def test_a_report_key_names_its_account_period_and_file(
    key: str, account: int, period: Period, name: str
) -> None:
    # GIVEN a key a report writes WHEN it is parsed THEN it gives what was worked out by hand
    found = parse_report_key(key)
    assert found is not None
    assert (found.account_id, found.period, found.name) == (account, period, name)


@pytest.mark.parametrize(
    "key",
    [
        "reports/account_id=7/period=week/start=2026-02-30/summary.json",  # no such day
        "reports/account_id=7/period=day/start=2026-11-16/summary.json",
        "raw/account_id=7/date=2026-11-16/manifest.json",
        "prefix/reports/account_id=7/period=week/start=2026-11-16/summary.json",
    ],
)
def test_other_keys_name_no_report(key: str) -> None:
    assert parse_report_key(key) is None


def test_the_key_a_report_writes_parses_back_to_that_report(tmp_path) -> None:
    # GIVEN the summary key of November's report
    from sla_digest.archive import LocalArchive

    period = Period("month", date(2026, 11, 1), date(2026, 11, 30))
    report = ReportArchive(LocalArchive(tmp_path), 7, period)
    # WHEN it is parsed THEN it names the same account and month
    found = parse_report_key(report.summary_key)
    assert found is not None
    assert (found.account_id, found.period, found.name) == (7, period, "summary.json")
