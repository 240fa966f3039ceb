"""``sla-digest run --from/--to`` and ``sla-digest report`` end to end against the sandbox."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest_cli.cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from sla_digest_cli.sandbox.server import SandboxServer

ZONE = "Europe/Berlin"
WEEK_DAYS = [f"2026-11-{day}" for day in range(16, 23)]
REPORT_FILES = ["breaches.csv", "digest.csv", "digest.html", "digest.txt", "summary.json"]


@pytest.fixture
def server(sandbox_factory: Any, monkeypatch: pytest.MonkeyPatch) -> SandboxServer:
    running: SandboxServer = sandbox_factory(events=200)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", running.options.admin_token)
    return running


def run_range(server: SandboxServer, root: Path, first: str, last: str) -> int:
    return main(
        [
            "run",
            "--base-url", server.base_url,
            "--account-id", "7",
            "--timezone", ZONE,
            "--sla", "first_response=30m,reply_time=1h",
            "--from", first,
            "--to", last,
            "--out", str(root),
        ]
    )  # fmt: skip


def report(root: Path, out: Path, *extra: str) -> int:
    return main(
        [
            "report",
            "--period", "week",
            "--archive", str(root),
            "--account-id", "7",
            "--timezone", ZONE,
            "--out", str(out),
            "--date", "2026-11-18",
            *extra,
        ]
    )  # fmt: skip


def test_run_from_to_archives_each_day_in_the_archive_layout(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # WHEN a week is run as a range
    root = tmp_path / "archive"
    assert run_range(server, root, WEEK_DAYS[0], WEEK_DAYS[-1]) == 0
    # THEN every day is under the archive's keys, with its trend from the day before
    for day in WEEK_DAYS:
        assert (root / "raw" / "account_id=7" / f"date={day}" / "manifest.json").is_file()
        assert (root / "digests" / "account_id=7" / f"date={day}" / "digest.html").is_file()
    friday = json.loads(
        (root / "summaries" / "account_id=7" / "date=2026-11-20" / "summary.json").read_text()
    )
    assert friday["previous"]["date"] == "2026-11-19"
    assert "7 days written to" in capsys.readouterr().out


def test_report_builds_the_week_from_the_archive_without_asking_chatwoot(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the week archived by run --from/--to
    root, out = tmp_path / "archive", tmp_path / "week"
    assert run_range(server, root, WEEK_DAYS[0], WEEK_DAYS[-1]) == 0
    server.stats.reset()
    capsys.readouterr()
    # WHEN the week's report is asked for with any day inside it
    code = report(root, out)
    # THEN it is written to --out and archived, and Chatwoot was not asked
    assert code == 0
    assert sorted(p.name for p in out.iterdir()) == REPORT_FILES
    archived = root / "reports" / "account_id=7" / "period=week" / "start=2026-11-16"
    assert (out / "summary.json").read_bytes() == (archived / "summary.json").read_bytes()
    assert server.stats.snapshot()["reporting_requests"] == 0
    summary = json.loads((out / "summary.json").read_text())
    # AND it judges by the targets the days were judged by, and names the account's URL
    assert summary["overall"]["first_response"]["sla"]["target"] == 1800.0
    assert summary["source"]["base_url"] == server.base_url
    # AND the week has its conversations to act on, and breaches.csv beside the digest
    assert "breaches" in summary
    assert (out / "breaches.csv").is_file()
    printed = capsys.readouterr().out
    assert "account 7 week 2026-11-16 (Week 47 (16–22 Nov)):" in printed
    assert "over 7 of 7 days" in printed


def test_report_fetches_only_the_days_missing_when_given_the_url(
    server: SandboxServer, tmp_path: Path
) -> None:
    # GIVEN Thursday and Friday archived
    root, out = tmp_path / "archive", tmp_path / "week"
    assert run_range(server, root, "2026-11-19", "2026-11-20") == 0
    server.stats.reset()
    # WHEN the report is asked for with --base-url
    assert report(root, out, "--base-url", server.base_url) == 0
    # THEN the other five days are archived now, each asked for once (a page each: empty)
    for day in WEEK_DAYS:
        assert (root / "raw" / "account_id=7" / f"date={day}" / "manifest.json").is_file()
    assert server.stats.snapshot()["reporting_requests"] == 5
    assert json.loads((out / "summary.json").read_text())["source"]["complete"] is True


def test_report_without_the_url_marks_missing_days_and_exits_non_zero(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root, out = tmp_path / "archive", tmp_path / "week"
    assert run_range(server, root, "2026-11-19", "2026-11-20") == 0
    capsys.readouterr()
    assert report(root, out) == 1
    printed = capsys.readouterr().out
    assert "INCOMPLETE: no data for 2026-11-16, 2026-11-17, 2026-11-18, 2026-11-21, 2026-11-22" in (
        printed
    )
    assert "no data for Mon 16 Nov" in (out / "digest.txt").read_text()


def test_verify_covers_the_archived_report_and_names_an_edited_figure(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a week archived and reported
    root, out = tmp_path / "archive", tmp_path / "week"
    assert run_range(server, root, WEEK_DAYS[0], WEEK_DAYS[-1]) == 0
    assert report(root, out) == 0
    capsys.readouterr()
    # WHEN the archive is verified THEN the report is re-derived from its days' pages
    assert main(["verify", str(root)]) == 0
    printed = capsys.readouterr().out
    assert "OK   account 7 week 2026-11-16: the report matches the raw pages of its days" in printed
    assert "1 of 1 archived reports verified" in printed
    # AND a figure edited in the archived report is named
    stored = root / "reports" / "account_id=7" / "period=week" / "start=2026-11-16" / "summary.json"
    document = json.loads(stored.read_text())
    document["overall"]["first_response"]["count"] += 1
    stored.write_text(json.dumps(document))
    assert main(["verify", str(root)]) == 1
    assert "summary mismatch: overall.first_response.count" in capsys.readouterr().out


def _flat_day(tmp_path: Path) -> Path:
    folder = tmp_path / "flat" / "raw"
    folder.mkdir(parents=True)
    (folder / "manifest.json").write_text("{}")
    return tmp_path / "flat"


def _stranger(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"\xff\xd8")
    return folder


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        (lambda root, tmp: ["--period", "fortnight"], "period 'fortnight': use week or month"),
        (lambda root, tmp: ["--week-start", "Monday"], "'Monday' is not one of monday, sunday"),
        (lambda root, tmp: ["--date", "2999-01-06"], "has not ended yet"),
        (lambda root, tmp: ["--archive", str(tmp / "nowhere")], "does not exist"),
        (lambda root, tmp: ["--archive", str(_stranger(tmp))], "is not an archive folder"),
        (lambda root, tmp: ["--archive", str(_flat_day(tmp))], "is one day's --out folder"),
        (lambda root, tmp: ["--deliver", "pigeon"], "'pigeon' is not a channel"),
    ],
    ids=["period", "week-start", "not-ended", "no-folder", "not-an-archive", "flat-day", "deliver"],
)  # fmt: skip
def test_bad_input_is_one_line_and_a_non_zero_exit(
    server: SandboxServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    change: Any,
    fragment: str,
) -> None:
    # GIVEN an archived day, and otherwise valid flags with one bad value (later flags win)
    root = tmp_path / "archive"
    assert run_range(server, root, "2026-11-20", "2026-11-20") == 0
    capsys.readouterr()
    # WHEN the report is asked for
    code = report(root, tmp_path / "week", *change(root, tmp_path))
    err = capsys.readouterr().err
    # THEN it fails with one line naming the problem, and nothing was written
    assert code != 0
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err
    assert not (tmp_path / "week").exists()


def test_a_day_failing_its_manifest_is_refused_by_name_and_nothing_is_overwritten(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the week archived, then one page of Friday changed by a byte
    root, out = tmp_path / "archive", tmp_path / "week"
    assert run_range(server, root, WEEK_DAYS[0], WEEK_DAYS[-1]) == 0
    page = root / "raw" / "account_id=7" / "date=2026-11-20" / "page-00002.json"
    changed = page.read_bytes().replace(b'"value":', b'"value" :', 1)
    page.write_bytes(changed)
    capsys.readouterr()
    # WHEN the week's report is asked for, with Chatwoot there to ask
    code = report(root, out, "--base-url", server.base_url)
    err = capsys.readouterr().err
    # THEN one line names the day and the page; nothing was written or fetched again
    assert code != 0
    assert len(err.strip().splitlines()) == 1
    assert "account 7 2026-11-20 fails verification and is refused: page 2" in err
    assert "Traceback" not in err
    assert page.read_bytes() == changed
    assert not out.exists()
    assert not (root / "reports").exists()


def test_a_range_needs_both_ends(server: SandboxServer, tmp_path: Path, capsys: Any) -> None:
    code = main(
        [
            "run", "--base-url", server.base_url, "--account-id", "7", "--timezone", ZONE,
            "--from", "2026-11-16", "--out", str(tmp_path / "archive"),
        ]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code != 0
    assert "a range needs both --from D1 and --to D2" in err
    assert len(err.strip().splitlines()) == 1


def test_the_weeks_conversations_to_act_on_pool_its_days_without_asking_chatwoot(
    server: SandboxServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the week archived day by day, each day with its own breaches and links
    root, out = tmp_path / "archive", tmp_path / "week"
    assert run_range(server, root, WEEK_DAYS[0], WEEK_DAYS[-1]) == 0
    days = [
        json.loads((root / "summaries" / "account_id=7" / f"date={d}" / "summary.json").read_text())
        for d in WEEK_DAYS
    ]
    server.stats.reset()
    # WHEN the week's report is built
    assert report(root, out) == 0
    week = json.loads((out / "summary.json").read_text())
    # THEN Chatwoot was not asked for anything (links come from the days' archive) ...
    assert server.stats.snapshot()["requests"] == 0
    # ... each metric's total is the days' totals added up and equals the week's SLA count
    for metric in ("first_response", "reply_time"):
        daily = sum(day["breaches"][metric]["total"] for day in days if "breaches" in day)
        assert week["breaches"][metric]["total"] == daily
        assert week["breaches"][metric]["total"] == week["overall"][metric]["sla"]["breached"]
        # ... and its worst row is the worst of any day's
        worst_days = [day["breaches"][metric]["worst"][0]["value"] for day in days
                      if day["breaches"][metric]["worst"]]  # fmt: skip
        assert week["breaches"][metric]["worst"][0]["value"] == max(worst_days)
    # AND breaches.csv lists every row over a target (one line each, plus the header)
    lines = (out / "breaches.csv").read_text(encoding="utf-8-sig").strip().splitlines()
    assert len(lines) - 1 == sum(week["breaches"][m]["total"] for m in week["breaches"])
    # AND verify re-derives the week, conversations to act on included
    capsys.readouterr()
    assert main(["verify", str(root)]) == 0
