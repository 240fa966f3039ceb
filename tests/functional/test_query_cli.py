"""``sla-digest query`` and ``dataset rebuild`` over an archive the pipeline wrote from the sandbox.

The expected answers are computed here, in plain Python, from the rows of the dataset files
read with nothing but gzip and json; the summary the run wrote is the reference for the rows.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sla_digest.archive import DayArchive, LocalArchive, verify_day
from sla_digest.dataset import check_day
from sla_digest_cli.cli import main

ROOT = Path(__file__).resolve().parents[2]
QUERIES = ROOT / "queries"
DAYS = ("2026-11-19", "2026-11-20")
ZONE = "Europe/Berlin"
TARGETS = {"first_response": 1800, "reply_time": 3600, "conversation_resolved": 86400}


@pytest.fixture
def archive(sandbox_factory, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Two account-days run through the whole pipeline into an archive folder."""
    server = sandbox_factory(events=400)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    config = tmp_path / "accounts.json"
    account = {
        "account_id": server.options.account_id,
        "base_url": server.base_url,
        "token_secret": "sla-digest/sandbox",
        "timezone": ZONE,
        "recipients": ["leads@example.com"],
    }
    config.write_text(json.dumps({"accounts": [account]}))
    root = tmp_path / "archive"
    for day in DAYS:
        assert main(["run", "--config", str(config), "--date", day, "--out", str(root)]) == 0
    return root


def dataset_files(root: Path) -> dict[str, Path]:
    return {
        path.parent.name.removeprefix("date="): path
        for path in (root / "datasets" / "events").glob("account_id=7/date=*/events.json.gz")
    }


def rows_of(root: Path) -> list[dict[str, Any]]:
    """Every row of every file, with the partition columns taken from the folder names."""
    rows = []
    for day, path in sorted(dataset_files(root).items()):
        for line in gzip.decompress(path.read_bytes()).decode().splitlines():
            rows.append({**json.loads(line), "account_id": "7", "date": day})
    return rows


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    rank = (len(ordered) - 1) * fraction
    lower = math.floor(rank)
    if lower >= len(ordered) - 1:
        return ordered[-1]
    return ordered[lower] + (ordered[lower + 1] - ordered[lower]) * (rank - lower)


def query_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    capsys.readouterr()
    assert main(["query", *argv, "--format", "json"]) == 0
    result: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    return result


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


# --- the rows -------------------------------------------------------------------------------


def test_each_archived_day_has_the_summarys_events_as_rows(archive: Path) -> None:
    # GIVEN two days archived by the pipeline
    files = dataset_files(archive)
    assert sorted(files) == list(DAYS)
    for day in DAYS:
        summary = json.loads(
            (archive / "summaries" / "account_id=7" / f"date={day}" / "summary.json").read_text()
        )
        # WHEN the day's rows are read
        rows = [row for row in rows_of(archive) if row["date"] == day]
        # THEN there is one per event the summary counts, each id once
        assert len(rows) == summary["source"]["events"]
        assert len({row["id"] for row in rows}) == len(rows)
        # AND the figures computed from them are the summary's
        overall = summary["overall"]
        for metric in TARGETS:
            values = [row["value"] for row in rows if row["name"] == metric]
            assert len(values) == overall[metric]["count"]
            if values:
                assert sum(values) / len(values) == pytest.approx(overall[metric]["mean"])
                assert percentile(values, 0.9) == pytest.approx(overall[metric]["p90"])
        for name, count in overall["counts"].items():
            assert sum(row["name"] == name for row in rows) == count
        for inbox, block in summary["by_inbox"].items():
            inbox_id = None if inbox == "none" else int(inbox)
            mine = [row for row in rows if row["inbox_id"] == inbox_id]
            counted = sum(block[metric]["count"] for metric in TARGETS)
            assert len(mine) == counted + sum(block["counts"].values())
            assert {row["inbox_name"] for row in mine} == {block["name"]}


# --- the shipped queries --------------------------------------------------------------------


def test_sla_compliance_per_inbox_and_day_matches_a_plain_computation(archive, capsys) -> None:
    # GIVEN the shipped query (account 7, November 2026, the default targets)
    got = query_json(
        capsys,
        "--archive",
        str(archive),
        "--file",
        str(QUERIES / "sla_compliance_by_inbox_day.sql"),
    )
    # WHEN the same is counted row by row
    groups: dict[tuple[Any, ...], list[float]] = defaultdict(list)
    for row in rows_of(archive):
        if row["name"] in TARGETS and "2026-11-01" <= row["date"] <= "2026-11-30":
            key = (row["date"], row["inbox_id"], row["inbox_name"], row["name"])
            groups[key].append(row["value"])
    expected = []
    for (day, inbox_id, inbox_name, metric), values in groups.items():
        met = sum(value <= TARGETS[metric] for value in values)
        expected.append(
            {
                "report_day": day,
                "inbox_id": inbox_id,
                "inbox_name": inbox_name,
                "metric": metric,
                "events": len(values),
                "met": met,
                "breached": len(values) - met,
                "compliance": met / len(values),
            }
        )
    # THEN the answers are the same, and there is something to compare
    assert len(expected) > 3
    key = lambda row: (row["report_day"], str(row["inbox_id"]), row["metric"])  # noqa: E731
    assert sorted(got, key=key) == sorted(expected, key=key)


def test_p90_first_response_per_agent_and_week_matches_a_plain_computation(archive, capsys) -> None:
    got = query_json(
        capsys,
        "--archive",
        str(archive),
        "--file",
        str(QUERIES / "p90_first_response_by_agent_week.sql"),
    )
    groups: dict[tuple[str, Any], list[dict[str, Any]]] = defaultdict(list)
    for row in rows_of(archive):
        if row["name"] == "first_response":
            day = date.fromisoformat(row["date"])
            groups[(day - timedelta(days=day.weekday())).isoformat(), row["user_id"]].append(row)
    expected = [
        {
            "week_start": week,
            "user_id": user_id,
            "user_name": max((r["user_name"] for r in rows if r["user_name"]), default=None),
            "responses": len(rows),
            "p90_seconds": percentile([r["value"] for r in rows], 0.9),
        }
        for (week, user_id), rows in groups.items()
    ]
    assert len(expected) > 3
    key = lambda row: (row["week_start"], str(row["user_id"]))  # noqa: E731
    got, expected = sorted(got, key=key), sorted(expected, key=key)
    assert [{**row, "p90_seconds": None} for row in got] == [
        {**row, "p90_seconds": None} for row in expected
    ]
    for mine, theirs in zip(got, expected, strict=True):
        assert mine["p90_seconds"] == pytest.approx(theirs["p90_seconds"], rel=1e-12)


def test_breaches_by_hour_of_week_match_a_plain_computation(archive, capsys) -> None:
    got = query_json(
        capsys, "--archive", str(archive), "--file", str(QUERIES / "breaches_by_hour_of_week.sql")
    )
    zone = ZoneInfo(ZONE)
    groups: dict[tuple[int, int], list[bool]] = defaultdict(list)
    for row in rows_of(archive):
        if row["name"] in TARGETS:
            local = utc(row["created_at"]).astimezone(zone)
            groups[local.isoweekday(), local.hour].append(row["value"] > TARGETS[row["name"]])
    expected = [
        {
            "weekday": weekday,
            "local_hour": hour,
            "events": len(flags),
            "breaches": sum(flags),
            "breach_share": sum(flags) / len(flags),
        }
        for (weekday, hour), flags in sorted(groups.items())
    ]
    assert sum(row["breaches"] for row in expected) > 0
    assert got == expected


# --- the command ----------------------------------------------------------------------------


def test_csv_and_table_give_the_same_rows_as_json(archive, capsys) -> None:
    sql = "SELECT name, count(*) AS n FROM events GROUP BY name ORDER BY name"
    as_json = query_json(capsys, "--archive", str(archive), sql)
    assert main(["query", "--archive", str(archive), sql, "--format", "csv"]) == 0
    records = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [(r["name"], int(r["n"])) for r in records] == [(r["name"], r["n"]) for r in as_json]
    assert main(["query", "--archive", str(archive), sql]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split() == ["name", "n"]
    assert table[-1] == f"({len(as_json)} rows)"


def test_a_failing_query_prints_duckdbs_message_on_one_line_and_exits_1(archive, capsys) -> None:
    # GIVEN a query naming a column the table does not have
    capsys.readouterr()
    # WHEN it runs THEN the exit code is 1 and stderr is one line with DuckDB's words
    assert main(["query", "--archive", str(archive), "SELECT no_such_column FROM events"]) == 1
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("sla-digest: error: query failed:")
    assert "no_such_column" in lines[0]
    assert "Traceback" not in captured.err
    assert captured.out == ""


def test_sql_and_a_file_together_are_a_usage_error(archive, capsys) -> None:
    assert main(["query", "--archive", str(archive), "SELECT 1", "--file", "x.sql"]) == 2
    assert "either SQL or --file" in capsys.readouterr().err


def test_an_archive_without_a_dataset_answers_with_no_rows(tmp_path, capsys) -> None:
    assert query_json(capsys, "--archive", str(tmp_path), "SELECT * FROM events") == []


def test_an_s3_archive_is_read_with_the_users_credentials(archive, capsys, aws) -> None:
    import boto3

    # GIVEN the archive copied into a bucket under a prefix
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="audit", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in archive.rglob("*"):
        if path.is_file() and "outbox" not in path.parts:
            key = "team/" + path.relative_to(archive).as_posix()
            s3.put_object(Bucket="audit", Key=key, Body=path.read_bytes())
    sql = 'SELECT "date", count(*) AS n, sum(value) AS total FROM events GROUP BY 1 ORDER BY 1'
    # WHEN the same query runs on the folder and on the bucket THEN the answers are equal
    local = query_json(capsys, "--archive", str(archive), sql)
    remote = query_json(capsys, "--archive", "s3://audit/team", sql)
    assert remote == local
    assert [row["date"] for row in local] == list(DAYS)


# --- rebuild --------------------------------------------------------------------------------


def test_rebuild_writes_missing_files_and_replaces_corrupt_ones(archive, capsys) -> None:
    # GIVEN one day whose file is gone (archived before the dataset) and one whose file is cut
    files = dataset_files(archive)
    before = {row["id"]: row for row in rows_of(archive)}
    files[DAYS[0]].unlink()
    files[DAYS[1]].write_bytes(files[DAYS[1]].read_bytes()[:100])
    days = [DayArchive(LocalArchive(archive), 7, date.fromisoformat(day)) for day in DAYS]
    assert all(check_day(day) for day in days)
    capsys.readouterr()
    # WHEN the dataset is rebuilt from the raw pages
    assert main(["dataset", "rebuild", "--archive", str(archive)]) == 0
    out = capsys.readouterr().out
    # THEN both days have their rows back, and they match their raw pages
    assert "2 of 2 archived days rebuilt" in out
    assert {row["id"]: row for row in rows_of(archive)} == before
    assert [check_day(day) for day in days] == [[], []]


def test_rebuild_takes_only_the_days_asked_for(archive, capsys) -> None:
    files = dataset_files(archive)
    for path in files.values():
        path.unlink()
    capsys.readouterr()
    assert (
        main(["dataset", "rebuild", "--archive", str(archive), "--from", DAYS[1], "--to", DAYS[1]])
        == 0
    )
    assert sorted(dataset_files(archive)) == [DAYS[1]]
    assert "1 of 1 archived days rebuilt" in capsys.readouterr().out


def test_rebuild_reports_a_day_whose_raw_pages_changed_and_goes_on(archive, capsys) -> None:
    # GIVEN a raw page of the first day that no longer matches its manifest
    page = archive / "raw" / "account_id=7" / f"date={DAYS[0]}" / "page-00001.json"
    page.write_bytes(page.read_bytes().replace(b'"payload"', b'"payload" '))
    capsys.readouterr()
    # WHEN the dataset is rebuilt THEN that day fails on one line, the other is rebuilt
    assert main(["dataset", "rebuild", "--archive", str(archive)]) == 1
    captured = capsys.readouterr()
    assert f"account 7 {DAYS[0]}" in captured.err
    assert "does not match its manifest" in captured.err
    assert "1 of 2 archived days rebuilt" in captured.out


def test_verify_names_a_corrupt_dataset_and_passes_a_day_archived_before_it(
    archive, capsys
) -> None:
    # GIVEN one day whose dataset file is cut short, and one archived before the dataset existed
    files = dataset_files(archive)
    files[DAYS[0]].write_bytes(files[DAYS[0]].read_bytes()[:100])
    files[DAYS[1]].unlink()
    days = [DayArchive(LocalArchive(archive), 7, date.fromisoformat(day)) for day in DAYS]
    capsys.readouterr()
    # WHEN the archive is verified
    code = main(["verify", str(archive)])
    out = capsys.readouterr()
    # THEN the cut file is named with the fix, and the day without a dataset is not at fault
    assert code == 1
    assert "events dataset is not gzip NDJSON" in out.out + out.err
    (problem,) = verify_day(days[0])
    assert "dataset rebuild" in problem
    assert verify_day(days[1]) == []
