"""Conversations to act on, end to end against the sandbox: links, budget, CSAT, refusals.

Every expectation about ids and figures comes from the sandbox's own data
(``server.follow_up.data()``: its display-id table, its CSAT rows and surveys), never from
the code under test.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.archive import DayArchive, LocalArchive, verify_day
from sla_digest.chatwoot.client import ChatwootClient, RetryPolicy
from sla_digest.chatwoot.conversations import ROUND_WIDTH
from sla_digest.chatwoot.links import NOTHING_FOUND
from sla_digest.config import SlaTargets
from sla_digest.jobs.job import DayRequest
from sla_digest.jobs.run import Ports, run_account_day
from sla_digest.window import report_window
from sla_digest_cli.cli import main

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest.jobs.job import RunResult
    from sla_digest_cli.sandbox.server import SandboxServer

NOW = datetime(2026, 11, 21, 6, 0, tzinfo=UTC)
TARGETS = SlaTargets(first_response=1800.0, reply_time=3600.0, conversation_resolved=86400.0)
TEMPLATES = Path(__file__).resolve().parents[2] / "templates"


@dataclass
class Day:
    result: RunResult
    summary: dict[str, Any]
    archive: DayArchive


def run_day(
    server: SandboxServer,
    folder: Path,
    *,
    budget: int = 100,
    size: int = 10,
    remaining_ms: Callable[[], int] | None = None,
    **client: Any,
) -> Day:
    options = server.options
    request = DayRequest(
        account_id=options.account_id,
        account_name="Sandbox Support",
        base_url=server.base_url,
        timezone=options.timezone,
        day=options.day,
        targets=TARGETS,
        breach_list_size=size,
        link_request_budget=budget,
    )
    archive = DayArchive(LocalArchive(folder), options.account_id, options.day, flat=True)
    with ChatwootClient(server.base_url, options.admin_token, **client) as chatwoot:
        ports = Ports(
            client=chatwoot,
            archive=archive,
            templates_dir=TEMPLATES,
            clock=lambda: NOW,
            remaining_ms=remaining_ms,
        )
        result = run_account_day(request, ports)
    summary = json.loads((folder / "summary.json").read_text(encoding="utf-8"))
    return Day(result, summary, archive)


def shown_rows(summary: dict[str, Any]) -> list[dict[str, Any]]:
    return [row for metric in summary["breaches"].values() for row in metric["worst"]]


def test_every_link_opens_the_conversation_of_its_row(sandbox: SandboxServer, tmp_path) -> None:
    # GIVEN the sandbox's account (display ids with gaps, deletions, silent conversations)
    day = run_day(sandbox, tmp_path / "day")
    table = sandbox.follow_up.data()
    # WHEN the worst rows are listed with their links
    rows = shown_rows(day.summary)
    linked = [row for row in rows if row["display_id"] is not None]
    # THEN each display id is the one the sandbox gives that internal conversation id
    assert len(linked) >= 0.8 * len(rows)
    for row in linked:
        assert table.display_of(row["conversation_ref"]) == row["display_id"]
        assert row["url"] == (
            f"{sandbox.base_url}/app/accounts/7/conversations/{row['display_id']}"
        )
    # AND the conversation deleted after the day is listed without a link, never another's
    gone = [r for r in rows if r["conversation_ref"] == table.deleted_after_the_day]
    assert gone
    assert all(r["display_id"] is None and r["url"] is None for r in gone)
    # AND the extra requests stayed within the budget, as the summary says
    asked = sandbox.follow_up.requests["conversation_events"]
    assert asked <= 100
    assert day.summary["follow_up"]["links"]["requests"] == asked


def test_breaches_csv_has_every_row_over_target_with_the_same_links(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN a run
    day = run_day(sandbox, tmp_path / "day")
    table = sandbox.follow_up.data()
    # WHEN breaches.csv is read back from beside the digest
    lines = (tmp_path / "day" / "breaches.csv").read_text(encoding="utf-8-sig").splitlines()
    header, body = lines[0], [line.split(",") for line in lines[1:]]
    # THEN it has one line per row over a target (the totals), each link right where given
    assert header == (
        "metric,value_seconds,target_seconds,inbox,agent,conversation_ref,display_id,url,created_at"
    )
    totals = {m: b["total"] for m, b in day.summary["breaches"].items()}
    counted: dict[str, int] = {}
    for cells in body:
        counted[cells[0]] = counted.get(cells[0], 0) + 1
        ref, display = cells[-4], cells[-3]
        if display:
            assert table.display_of(int(ref)) == int(display)
    assert counted == {m: n for m, n in totals.items() if n}
    # AND the totals are the summary's breached counts
    for metric, total in totals.items():
        assert total == day.summary["overall"][metric]["sla"]["breached"]


def test_a_small_budget_is_never_exceeded_and_the_digest_says_so(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN a budget of five extra requests
    day = run_day(sandbox, tmp_path / "day", budget=5)
    # THEN five were made at most, the rest of the rows have no link and a note says why
    assert sandbox.follow_up.requests["conversation_events"] <= 5
    notes = day.summary["follow_up"]["notes"]
    assert any("the budget of 5 requests was spent" in note for note in notes)
    table = sandbox.follow_up.data()
    for row in shown_rows(day.summary):
        if row["display_id"] is not None:
            assert table.display_of(row["conversation_ref"]) == row["display_id"]
    assert "the budget of 5 requests was spent" in day.result.digest.text


def test_no_link_is_searched_when_the_run_has_no_time_left_for_it(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN an invocation with exactly the 30 s margin left once the pages are in
    # WHEN the day is run
    day = run_day(sandbox, tmp_path / "day", remaining_ms=lambda: 30_000)
    # THEN it finished, without a single link request, and the digest says why
    assert day.result.summary.source.complete is True
    assert sandbox.follow_up.requests["conversation_events"] == 0
    assert "the run had no time left for links" in day.result.digest.text


class LinkTime:
    """A clock on which every look at the time by the link search's threads takes a second."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        if threading.current_thread().name.startswith("chatwoot-links"):
            self.offset += 1.0
        return time.monotonic() + self.offset


def test_the_link_search_stops_when_its_time_is_up_and_the_run_goes_on(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN 6 s for links beyond the run's 30 s margin, on a clock where each of the search's
    # looks at the time takes a second
    # WHEN the day is run
    day = run_day(sandbox, tmp_path / "day", remaining_ms=lambda: 36_000, clock=LinkTime())
    # THEN the search stopped well within its budget of 100, the run still finished with the
    # links it found, and the digest says why the search ended
    asked = sandbox.follow_up.requests["conversation_events"]
    assert 0 < asked < 12
    assert day.result.summary.source.complete is True
    assert "the run's time for links ran out" in day.result.digest.text


@pytest.mark.parametrize(
    ("status", "said"), [(401, "HTTP 401"), (404, "conversations in a row and none was found")]
)
def test_a_refused_per_conversation_endpoint_leaves_rows_unlinked_not_the_run_failed(
    sandbox: SandboxServer, tmp_path, status: int, said: str
) -> None:
    # GIVEN a Chatwoot whose per-conversation endpoint refuses (401) or is missing (404)
    if status == 401:
        sandbox.follow_up.forbidden.add("conversation_events")
    else:
        sandbox.follow_up.absent.add("conversation_events")
    # WHEN the day is run
    day = run_day(sandbox, tmp_path / "day")
    # THEN the digest is made, no row has a link, one note says why, and it stopped early
    assert all(row["url"] is None for row in shown_rows(day.summary))
    assert any(said in note for note in day.summary["follow_up"]["notes"])
    assert sandbox.follow_up.requests["conversation_events"] <= NOTHING_FOUND + ROUND_WIDTH
    assert "Conversations to act on" in day.result.digest.html


def test_throttled_link_requests_count_against_the_budget(sandbox: SandboxServer, tmp_path) -> None:
    # GIVEN a per-conversation endpoint that answers 429 thirty times
    sandbox.follow_up.queue("conversation_events", *[429] * 30)
    # WHEN the day is run with a budget of twelve
    day = run_day(
        sandbox, tmp_path / "day", budget=12, retry=RetryPolicy(base_delay=0.0, max_delay=0.0)
    )
    # THEN twelve requests at most reached it, throttled ones included, and the run is whole
    assert sandbox.follow_up.requests["conversation_events"] <= 12
    assert day.summary["follow_up"]["links"]["requests"] <= 12
    assert day.summary["source"]["complete"] is True


def test_csat_figures_are_the_sandboxs_own_for_the_day(sandbox: SandboxServer, tmp_path) -> None:
    # GIVEN the sandbox's CSAT rows of conversations created on the report day, and surveys
    # sent on it (counted here from its data)
    day = run_day(sandbox, tmp_path / "day")
    window = report_window(
        sandbox.options.day, sandbox.options.timezone, now=NOW, allow_partial=False
    )
    data = sandbox.follow_up.data()
    rows = [row for at, row in data.csat if window.since <= at < window.until]
    valid = [row for row in rows if row["rating"] in (1, 2, 3, 4, 5)]
    satisfied = sum(1 for row in valid if row["rating"] >= 4)
    sent = sum(1 for at in data.surveys_sent if window.since <= at < window.until)
    low = sorted(
        (row for row in valid if row["rating"] <= 2),
        key=lambda row: (-row["created_at"], -row["id"]),
    )
    # THEN the summary's CSAT agrees
    csat = day.summary["csat"]
    assert (csat["responses"], csat["satisfied"], csat["sent"]) == (len(valid), satisfied, sent)
    assert csat["score"] == satisfied / len(valid)
    assert csat["ignored"] == len(rows) - len(valid)
    assert [item["display_id"] for item in csat["low"]] == [r["conversation_id"] for r in low][:10]


@pytest.mark.parametrize(
    ("switch", "endpoint", "key"),
    [
        ("absent", "csat", "csat"),
        ("forbidden", "csat", "csat"),
        ("absent", "applied_slas", "sla_misses"),
        ("forbidden", "applied_slas", "sla_misses"),
    ],
)
def test_a_missing_or_forbidden_endpoint_is_left_out_with_a_line_and_asked_once(
    sandbox: SandboxServer, tmp_path, switch: str, endpoint: str, key: str
) -> None:
    # GIVEN the endpoint switched off (older Chatwoot, SLA feature off) or forbidden
    getattr(sandbox.follow_up, switch).add(endpoint)
    # WHEN the day is run
    day = run_day(sandbox, tmp_path / "day")
    # THEN the part is null, one note names it, it was asked once, and the rest is there
    assert day.summary[key] is None
    word = "CSAT" if key == "csat" else "SLA policy misses"
    assert any(note.startswith(f"{word} left out") for note in day.summary["follow_up"]["notes"])
    assert sandbox.follow_up.requests[endpoint] == 1
    assert day.summary["breaches"]["first_response"]["total"] > 0


def test_csat_and_sla_pages_are_archived_listed_and_verified(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN a finished day
    day = run_day(sandbox, tmp_path / "day")
    manifest = json.loads((tmp_path / "day" / "raw" / "manifest.json").read_text())
    # THEN the CSAT and SLA pages, the metrics and the link record are listed with checksums
    listed = set(manifest["resources"])
    assert {"csat_00001", "csat_metrics", "applied_slas_00001", "follow_up"} <= listed
    assert verify_day(day.archive) == []
    # AND a CSAT page changed afterwards is caught by verify
    page = tmp_path / "day" / "raw" / "csat_00001.json"
    page.write_bytes(page.read_bytes().replace(b'"rating":5', b'"rating":1', 1))
    problems = verify_day(day.archive)
    assert any("resource 'csat_00001'" in problem for problem in problems)


def test_a_rerun_of_the_day_asks_for_no_link_it_already_has(
    sandbox_factory: Callable[..., SandboxServer], tmp_path
) -> None:
    # GIVEN a small day whose links were all searched within the budget
    server = sandbox_factory(events=150)
    first = run_day(server, tmp_path / "day")
    assert first.summary["follow_up"]["links"]["requests"] < 100
    asked = server.follow_up.requests["conversation_events"]
    # WHEN the same day is run again
    second = run_day(server, tmp_path / "day")
    # THEN no link request is made again and the same links come out
    assert server.follow_up.requests["conversation_events"] == asked
    assert second.summary["follow_up"]["links"]["requests"] == 0
    assert second.summary["breaches"] == first.summary["breaches"]


def test_the_run_line_prints_the_extra_requests_within_the_budget(
    sandbox: SandboxServer, tmp_path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    # GIVEN the CLI pointed at the sandbox
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)
    # WHEN one day is run
    code = main(
        [
            "run",
            "--base-url", sandbox.base_url,
            "--account-id", "7",
            "--date", "2026-11-20",
            "--timezone", sandbox.options.timezone,
            "--out", str(tmp_path / "cli"),
            "--sla", "first_response=30m,reply_time=1h",
        ]
    )  # fmt: skip
    # THEN its line names the extra requests, as many as the sandbox saw, within the budget
    line = capsys.readouterr().out.splitlines()[0]
    asked = sandbox.follow_up.requests["conversation_events"]
    assert code == 0
    assert f"; {asked} extra requests for links (budget 100)" in line
    assert asked <= 100


def test_verify_rebuilds_the_section_and_names_what_was_changed(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN a finished day whose summary is edited afterwards: one breach fewer, a link moved
    day = run_day(sandbox, tmp_path / "day")
    path = tmp_path / "day" / "summary.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["breaches"]["reply_time"]["total"] -= 1
    worst = doc["breaches"]["first_response"]["worst"][0]
    worst["display_id"] = 1
    path.write_text(json.dumps(doc), encoding="utf-8")
    # WHEN the day is verified
    problems = verify_day(day.archive)
    # THEN both edits are named against what the archived pages give
    assert any(p.startswith("summary mismatch: breaches.reply_time.total") for p in problems)
    assert any("breaches.first_response.worst" in p and "display_id" in p for p in problems)


def test_names_in_breaches_csv_stay_one_cell_and_never_a_formula(
    sandbox: SandboxServer, tmp_path
) -> None:
    # GIVEN agents whose names hold a formula and a line break (renamed in Chatwoot)
    for agent in sandbox.dataset.agents:
        agent["name"] = agent["available_name"] = f'=HYPERLINK("x")\r\n{agent["id"]}'
    # WHEN the day is run
    run_day(sandbox, tmp_path / "day")
    text = (tmp_path / "day" / "breaches.csv").read_text(encoding="utf-8-sig")
    rows = list(csv.reader(text.splitlines()))
    # THEN every line is one row of nine cells, and no agent cell starts like a formula
    assert {len(row) for row in rows} == {9}
    agents = [row[4] for row in rows[1:]]
    assert any(cell.startswith("'=HYPERLINK") for cell in agents)
    assert not any(cell.startswith("=") for cell in agents)
