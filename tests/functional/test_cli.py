"""The ``sla-digest`` command end to end against the sandbox: files written, errors, audit."""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from datetime import date
from typing import TYPE_CHECKING, Any

import pytest

import sla_digest_cli.sandbox.server
from sla_digest.archive import DayArchive, LocalArchive, verify_day
from sla_digest_cli.cli import main

if TYPE_CHECKING:
    from pathlib import Path

DAY = "2026-11-20"
ZONE = "Europe/Berlin"


@pytest.fixture
def cli_sandbox(sandbox_factory, monkeypatch: pytest.MonkeyPatch):
    server = sandbox_factory(events=300)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    return server


def run_flags(server, out: Path, *extra: str) -> int:
    return main(
        [
            "run",
            "--base-url", server.base_url,
            "--account-id", str(server.options.account_id),
            "--date", DAY,
            "--timezone", ZONE,
            "--out", str(out),
            *extra,
        ]
    )  # fmt: skip


def test_run_writes_the_flat_archive_layout_with_pages_byte_for_byte(cli_sandbox, tmp_path):
    # GIVEN the sandbox and an empty output folder
    out = tmp_path / "day"
    # WHEN one account-day is run from flags
    code = run_flags(cli_sandbox, out, "--sla", "first_response=30m,reply_time=1h")
    # THEN the contract's files are there and every page matches its manifest entry
    assert code == 0
    for name in ("summary.json", "digest.html", "digest.txt", "raw/manifest.json"):
        assert (out / name).is_file(), name
    manifest = json.loads((out / "raw" / "manifest.json").read_text())
    assert manifest["pages"], "no pages archived"
    for entry in manifest["pages"]:
        body = (out / "raw" / f"page-{entry['page']:05d}.json").read_bytes()
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert len(body) == entry["bytes"]
    # AND the summary counts exactly the window's events of the sandbox's own data
    since, until = cli_sandbox.dataset.report_window()
    rows = cli_sandbox.dataset.events_between(since, until)
    known = {
        "first_response", "reply_time", "conversation_resolved", "conversation_opened",
        "conversation_bot_resolved", "conversation_bot_handoff",
        "conversation_captain_inference_resolved", "conversation_captain_inference_handoff",
    }  # fmt: skip
    valid = [
        r for r in rows
        if r["name"] in known and isinstance(r["value"], float) and r["value"] >= 0
    ]  # fmt: skip
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"]["events"] == len(valid)
    assert summary["overall"]["first_response"]["sla"]["target"] == 1800.0


def test_the_outbox_gets_the_message_when_recipients_are_given(cli_sandbox, tmp_path):
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out, "--to", "leads@example.com") == 0
    messages = list((out / "outbox").glob("*.eml"))
    assert len(messages) == 1
    assert b"leads@example.com" in messages[0].read_bytes()


def test_verify_passes_on_a_fresh_run_and_names_a_flipped_byte(cli_sandbox, tmp_path, capsys):
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    capsys.readouterr()
    # GIVEN a clean archive THEN verify passes
    assert main(["verify", str(out)]) == 0
    assert "1 of 1 archived days verified" in capsys.readouterr().out
    # WHEN one byte of page 2 is flipped
    page = out / "raw" / "page-00002.json"
    data = bytearray(page.read_bytes())
    data[40] ^= 0x01
    page.write_bytes(bytes(data))
    # THEN verify fails and names the page
    assert main(["verify", str(out)]) == 1
    report = capsys.readouterr().out
    assert "FAIL" in report
    assert "2" in report
    assert "sha256" in report or "checksum" in report


class CountingArchive(LocalArchive):
    """A local archive that counts how often each object is read."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: Counter[str] = Counter()

    def get(self, key: str) -> bytes:
        self.reads[key] += 1
        return super().get(key)


def test_verify_reads_each_archived_page_once(cli_sandbox, tmp_path):
    # GIVEN a finished day of several pages
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    pages = sorted(path.name for path in (out / "raw").glob("page-*.json"))
    assert len(pages) > 1
    store = CountingArchive(out)
    # WHEN it is verified: checksums, then the summary re-derived from the pages
    problems = verify_day(DayArchive(store, 0, date.min, flat=True))
    # THEN it passes, and every page was read exactly once
    assert problems == []
    assert {key: store.reads[key] for key in (f"raw/{name}" for name in pages)} == {
        f"raw/{name}": 1 for name in pages
    }


def test_verify_names_a_page_whose_checksum_holds_but_which_is_not_a_chatwoot_page(
    cli_sandbox, tmp_path
):
    # GIVEN a finished day whose page 2 was replaced, manifest entry and all, by an HTML page
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    body = b"<html>502 Bad Gateway</html>"
    (out / "raw" / "page-00002.json").write_bytes(body)
    manifest_path = out / "raw" / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    entry = next(item for item in manifest["pages"] if item["page"] == 2)
    entry.update(sha256=hashlib.sha256(body).hexdigest(), bytes=len(body))
    manifest_path.write_text(json.dumps(manifest))
    # WHEN it is verified
    problems = verify_day(DayArchive(LocalArchive(out), 0, date.min, flat=True))
    # THEN the checksums pass but the page is named as unreadable
    assert problems == ["archived page 2 is not a Chatwoot page"]


def test_verify_names_an_edited_summary_number(cli_sandbox, tmp_path, capsys):
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    summary_path = out / "summary.json"
    summary = json.loads(summary_path.read_text())
    summary["overall"]["first_response"]["mean"] = 1.0
    summary_path.write_text(json.dumps(summary))
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    assert "overall.first_response.mean" in capsys.readouterr().out


def test_render_reproduces_the_archived_digest_byte_for_byte(cli_sandbox, tmp_path):
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    rendered = tmp_path / "rendered"
    assert main(["render", str(out), "--out", str(rendered), "--check"]) == 0
    assert (rendered / "digest.html").read_bytes() == (out / "digest.html").read_bytes()
    assert (rendered / "digest.txt").read_bytes() == (out / "digest.txt").read_bytes()


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_render_check_without_out_compares_in_memory_and_writes_nothing(
    cli_sandbox, tmp_path, capsys, monkeypatch
):
    # GIVEN an archived day, and a working directory that is empty
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    before = _snapshot(out)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    # WHEN the digest is re-rendered with --check and no --out
    code = main(["render", str(out), "--check"])
    # THEN the check passes and says so on one line
    assert code == 0
    assert capsys.readouterr().out.splitlines() == [
        f"OK   {out}: re-rendered digest is identical to the archived one"
    ]
    # AND nothing was written: not in the working directory, not in the archived day
    assert list(cwd.iterdir()) == []
    assert _snapshot(out) == before


def test_render_check_fails_on_a_changed_digest_and_writes_nothing(
    cli_sandbox, tmp_path, capsys, monkeypatch
):
    # GIVEN an archived day whose digest.txt was edited afterwards (a copy of the original kept)
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    original = (out / "digest.txt").read_text(encoding="utf-8").splitlines()[0].strip()
    (out / "digest.txt").write_text("edited\n", encoding="utf-8")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    capsys.readouterr()
    # WHEN the digest is re-rendered with --check
    code = main(["render", str(out), "--check"])
    # THEN the check fails, naming the day and the first line that differs (the HTML is
    # unchanged, so it is digest.txt's first line), and writes nothing
    assert code == 1
    shown = original if len(original) <= 60 else original[:59] + "…"  # clipped to 60
    assert capsys.readouterr().out.splitlines() == [
        f"FAIL {out}: re-rendered digest differs from the archived one",
        f"     first difference: digest.txt line 1: archived 'edited', re-rendered {shown!r}"
        " (figures are checked by verify; a layout change means the day was rendered by "
        "another release's templates)",
    ]
    assert list(cwd.iterdir()) == []


def test_render_without_check_or_out_writes_into_rendered_in_the_working_directory(
    cli_sandbox, tmp_path, monkeypatch
):
    # GIVEN an archived day and an empty working directory
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    # WHEN the digest is re-rendered without --check or --out
    assert main(["render", str(out)]) == 0
    # THEN it is written to the documented default folder, byte for byte the archived one
    assert (cwd / "rendered" / "digest.html").read_bytes() == (out / "digest.html").read_bytes()
    assert (cwd / "rendered" / "digest.txt").read_bytes() == (out / "digest.txt").read_bytes()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--timezone", "Mars/Base"], "Mars/Base"),
        (["--base-url", "http://chat.example.com"], "https"),
        (["--date", "2999-01-01"], "has not ended yet"),
    ],
)
def test_user_errors_are_one_line_without_traceback(cli_sandbox, tmp_path, capsys, args, fragment):
    # GIVEN otherwise valid flags with one bad value (later flags win in argparse)
    code = run_flags(cli_sandbox, tmp_path / "day", *args)
    err = capsys.readouterr().err
    # THEN a non-zero exit and exactly one line naming the problem
    assert code != 0
    assert fragment in err
    assert len(err.strip().splitlines()) == 1
    assert "Traceback" not in err


def test_a_missing_token_names_the_variable(sandbox, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("CHATWOOT_API_TOKEN", raising=False)
    assert run_flags(sandbox, tmp_path / "day") != 0
    assert "CHATWOOT_API_TOKEN" in capsys.readouterr().err


def test_a_wrong_token_is_a_clear_error_and_the_token_never_appears(
    sandbox, tmp_path, capsys, monkeypatch
):
    secret = "wrong-token-5f2c9a"
    monkeypatch.setenv("CHATWOOT_API_TOKEN", secret)
    out = tmp_path / "day"
    assert run_flags(sandbox, out) != 0
    captured = capsys.readouterr()
    assert "token" in captured.err.lower()
    assert secret not in captured.err + captured.out
    for path in out.rglob("*") if out.exists() else []:
        if path.is_file():
            assert secret.encode() not in path.read_bytes()


def test_verify_and_render_work_on_an_s3_archive_root(cli_sandbox, tmp_path, capsys, aws):
    import boto3

    # GIVEN two account-days archived with the full layout, copied into an S3 bucket
    config = tmp_path / "accounts.json"
    config.write_text(
        json.dumps(
            {
                "accounts": [
                    {
                        "account_id": cli_sandbox.options.account_id,
                        "base_url": cli_sandbox.base_url,
                        "token_secret": "sla-digest/sandbox",
                        "timezone": ZONE,
                        "recipients": ["leads@example.com"],
                    }
                ]
            }
        )
    )
    local = tmp_path / "archive"
    for day in ("2026-11-19", DAY):
        assert main(["run", "--config", str(config), "--date", day, "--out", str(local)]) == 0
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="audit", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    for path in local.rglob("*"):
        if path.is_file() and "outbox" not in path.parts:
            s3.put_object(
                Bucket="audit", Key=path.relative_to(local).as_posix(), Body=path.read_bytes()
            )
    capsys.readouterr()
    # WHEN the whole bucket is verified THEN both days pass
    assert main(["verify", "s3://audit"]) == 0
    assert "2 of 2 archived days verified" in capsys.readouterr().out
    # AND a digest re-renders from S3 alone; it names the S3 location of the raw data, which is
    # the only difference from the copy rendered when the day was archived locally
    rendered = tmp_path / "rendered"
    args = ["render", "s3://audit", "--account-id", "7", "--date", DAY, "--out", str(rendered)]
    assert main(args) == 0
    html = (rendered / "digest.html").read_text()
    original = (local / "digests" / "account_id=7" / f"date={DAY}" / "digest.html").read_text()
    assert f"s3://audit/raw/account_id=7/date={DAY}/" in html
    local_location = str(local / "raw" / "account_id=7" / f"date={DAY}")
    s3_location = f"s3://audit/raw/account_id=7/date={DAY}/"
    assert html.replace(s3_location, "") == original.replace(local_location, "")
    # AND the second day's summary carries the first day as its trend
    summary = json.loads(
        (local / "summaries" / "account_id=7" / f"date={DAY}" / "summary.json").read_text()
    )
    assert summary["previous"]["date"] == "2026-11-19"


def test_verify_names_a_missing_page(cli_sandbox, tmp_path, capsys):
    out = tmp_path / "day"
    assert run_flags(cli_sandbox, out) == 0
    (out / "raw" / "page-00003.json").unlink()
    capsys.readouterr()
    assert main(["verify", str(out)]) == 1
    report = capsys.readouterr().out
    assert "page 3" in report or "page-00003" in report
    assert "missing" in report


def test_sandbox_flags_set_the_rate_limit_and_its_window(monkeypatch: pytest.MonkeyPatch):
    # GIVEN the sandbox command, with the server replaced by one that records its options
    served: list[Any] = []
    monkeypatch.setattr(
        sla_digest_cli.sandbox.server, "serve", lambda options, **_: served.append(options)
    )
    # WHEN it is asked for Chatwoot Cloud's limiter: 300 requests per 60-second window
    code = main(["sandbox", "--port", "0", "--rate-limit", "300", "--rate-window", "60"])
    # THEN the sandbox gets exactly that
    assert code == 0
    (options,) = served
    assert (options.rate_limit, options.rate_window) == (300, 60.0)
