"""The digest shows the summary's numbers: expected strings are worked out by hand below.

The fixture ``acme-2026-11-20.json`` was written by hand; every expected string here comes from
its values with the arithmetic shown next to it, never from the renderer.
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sla_digest.exceptions import RenderError, VerificationError
from sla_digest.report.render import Digest, format_duration, render_digest
from sla_digest.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
SUMMARIES = ROOT / "tests" / "fixtures" / "summaries"
ARCHIVE = "s3://acme-archive/raw/account_id=7/date=2026-11-20/"


def load(name: str) -> dict[str, Any]:
    return json.loads((SUMMARIES / name).read_text(encoding="utf-8"))


def render(summary: dict[str, Any], **kwargs: Any) -> Digest:
    return render_digest(
        Summary.from_dict(summary), templates_dir=TEMPLATES, archive_location=ARCHIVE, **kwargs
    )


class _Visible(HTMLParser):
    """The text a reader sees: everything outside <head>, whitespace collapsed."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("head", "style", "title"):
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "style", "title"):
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _Visible()
    parser.feed(html)
    return " ".join(" ".join(parser.parts).split())


def squeeze(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def acme() -> Digest:
    return render(load("acme-2026-11-20.json"))


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (None, "—"),
        (0, "0s"),
        (42, "42s"),
        (59.4, "59s"),
        (59.5, "1m 00s"),  # rounds half up into the next unit
        (252, "4m 12s"),  # 4 × 60 + 12
        (3599.4, "59m 59s"),
        (3599.6, "1h 00m"),
        (11100, "3h 05m"),  # 3 × 3600 + 5 × 60
        (11129, "3h 05m"),  # 29 s rounds down
        (86399, "1d 00h"),  # 23h 59m 59s is a day when shown in hours
        (183600, "2d 03h"),  # 2 × 86400 + 3 × 3600
    ],
)
def test_durations_read_as_people_write_them(seconds: float | None, expected: str) -> None:
    # GIVEN a duration in seconds WHEN formatted THEN it reads in the largest sensible units
    assert format_duration(seconds) == expected


def _seconds_of(text: str) -> int:
    """Reads "3h 05m" back as seconds: an independent parser for the property below."""
    units = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(int(part[:-1]) * units[part[-1]] for part in text.split())


@given(st.floats(min_value=0, max_value=400 * 86400, allow_nan=False))
def test_a_formatted_duration_is_within_half_its_smallest_unit(seconds: float) -> None:
    # GIVEN any duration up to 400 days WHEN formatted and read back
    text = format_duration(seconds)
    smallest = {"s": 1, "m": 60, "h": 3600}[text[-1]]
    # THEN it is off by at most half of the last unit shown (plus float slack)
    assert abs(_seconds_of(text) - seconds) <= smallest / 2 + 1e-6
    # AND the second unit never overflows into the first ("60s", "24h" are never shown)
    parts = text.split()
    if len(parts) == 2:
        assert int(parts[1][:-1]) < {"s": 60, "m": 60, "h": 24}[parts[1][-1]]


def test_subject_names_the_account_the_day_and_the_headline(acme: Digest) -> None:
    # GIVEN first-response p90 611 s (10 × 60 + 11) and 47 of 50 within the SLA (94%)
    # THEN the subject carries both with the account name and date
    assert acme.subject == (
        "Acme Support SLA digest 2026-11-20: first response p90 10m 11s, SLA met 94%"
    )


@pytest.mark.parametrize(
    "expected",
    [
        # tile: count 50 vs 44 the day before: +6/44 = 13.6% → 14% more
        "Answered 50 ▲ 14% more than 2026-11-19",
        # mean 252 s vs 225 s: +27/225 = 12%; longer is worse, so "slower"
        "Mean 4m 12s ▲ 12% slower than 2026-11-19",
        # median 190 s both days
        "Median 3m 10s ● same as 2026-11-19",
        # p90 611 s vs 700 s: −89/700 = 12.7% → 13% faster
        "p90 10m 11s ▼ 13% faster than 2026-11-19",
        # SLA 47/50 = 94% vs 40/44 = 90.9% (shown 90%): 4 points better
        "SLA met 94% target 30m ▲ 4 pts better than 2026-11-19",
    ],
)
def test_headline_tiles_show_value_and_change_in_arrows_and_words(
    acme: Digest, expected: str
) -> None:
    # GIVEN the hand-made day WHEN its HTML is read as text THEN each tile says value and change
    assert expected in visible_text(acme.html)


@pytest.mark.parametrize(
    "expected",
    [
        "Answered 50 ▲ 14% more than 2026-11-19",
        "Mean 4m 12s ▲ 12% slower than 2026-11-19",
        "Median 3m 10s ● same as 2026-11-19",
        "p90 10m 11s ▼ 13% faster than 2026-11-19",
        "SLA met 94% ▲ 4 pts better than 2026-11-19",
    ],
)
def test_text_alternative_has_the_same_headline_numbers(acme: Digest, expected: str) -> None:
    # GIVEN the same day WHEN the plain-text part is read THEN it shows the same tiles
    assert expected in squeeze(acme.text)


@pytest.mark.parametrize(
    ("label", "figures"),
    [
        # reply time: mean 1304.2 s = 21m 44s; p50 540 s; p90 3712 s = 61m 52s → 1h 02m;
        # SLA 118/132 = 89.4% → 89% (rounded down, so 99.9% never reads 100%)
        ("Reply time", "132 21m 44s 9m 00s 1h 02m met 89% — target 1h"),
        # resolution: mean 29160 s = 486 min; p50 14400 s; p90 93600 s = 26 h; 55/61 = 90.2%
        ("Resolution time", "61 8h 06m 4h 00m 1d 02h met 90% — target 1d"),
    ],
)
def test_all_metrics_appear_with_sla_in_words(acme: Digest, label: str, figures: str) -> None:
    # GIVEN the other two metrics WHEN the digest is read THEN both parts state them alike
    assert figures in visible_text(acme.html)
    assert f"{label} {figures}" in squeeze(acme.text)


def test_business_hours_figures_are_shown_beside_calendar_time(acme: Digest) -> None:
    # GIVEN business-hours first response mean 201.3 s (3m 21s) and p90 540 s (9m 00s)
    # THEN both parts state them
    expected = "business hours: mean 3m 21s, p90 9m 00s"
    assert expected in visible_text(acme.html)
    assert expected in squeeze(acme.text)


def test_bot_handoff_captain_and_reopen_counts_are_listed(acme: Digest) -> None:
    # GIVEN counts opened 4, bot resolved 7, bot handoff 12, Captain 3 and 2, resolutions 61
    html = visible_text(acme.html)
    text = squeeze(acme.text)
    # THEN each appears with its label in both parts
    for line in (
        "Resolved 61",
        "Reopened 4",
        "Resolved by a bot 7",
        "Handed off by a bot 12",
        "Resolved by Captain 3",
        "Handed off by Captain 2",
    ):
        assert line in html
        assert line in text


@pytest.mark.parametrize(
    "row",
    [
        # 30 answered, p50 150 s, p90 480 s, 29/30 = 96.7% → 96%, 40 resolved
        "Website chat 30 2m 30s 8m 00s met 96% 40",
        # 18, 280 s, 1300 s, 16/18 = 88.9% → 88%, 20
        "Email 18 4m 40s 21m 40s met 88% 20",
        # name null: the inbox was deleted
        "Inbox #5 (deleted) 2 2m 00s 2m 50s met 100% 1",
    ],
)
def test_inbox_rows_show_names_and_first_response_figures(acme: Digest, row: str) -> None:
    # GIVEN the three inboxes WHEN the digest is read THEN each row holds its figures
    assert row in visible_text(acme.html)
    assert row in squeeze(acme.text.replace("\u2068", "").replace("\u2069", ""))


def test_agents_are_listed_by_breaches_then_activity_with_unassigned_last() -> None:
    # GIVEN agents with SLA breaches (first response + reply + resolution) and activity:
    # Ana 0+6+3 = 9 breaches; Arabic name 2+4+1 = 7 and 85 rows; deleted 12: 1+4+2 = 7 and 19;
    # "none" (Unassigned): 0 and 37 rows
    digest = render(load("acme-2026-11-20.json"))
    html = visible_text(digest.html)
    names = [
        "Ana Souza",
        "محمد الأحمد",
        "Agent #12 (no longer in the account)",
        "Unassigned",
    ]
    # THEN the most breaches come first, equal breaches by activity, and Unassigned last
    positions = [html.index(name) for name in names]
    assert positions == sorted(positions)


def test_inboxes_are_listed_by_breaches_before_volume() -> None:
    # GIVEN Website chat (176 rows, 8 breaches), Email (90 rows, 15 breaches), deleted #5 (0)
    digest = render(load("acme-2026-11-20.json"))
    text = visible_text(digest.html)
    # THEN Email, with more breaches, comes before the busier Website chat
    positions = [text.index(name) for name in ("Email", "Website chat", "Inbox #5 (deleted)")]
    assert positions == sorted(positions)


def test_an_agent_without_first_responses_shows_no_data_rather_than_zero(acme: Digest) -> None:
    # GIVEN the "none" agent with no first responses but 6 resolutions
    # THEN its row shows dashes and "no data" for SLA
    assert "Unassigned 0 — — no data 6" in visible_text(acme.html)


def test_times_are_shown_in_the_account_time_zone(acme: Digest) -> None:
    # GIVEN generated_at 06:00:04Z in November: Berlin is UTC+1 (CET)
    # THEN the digest says 07:00 CET
    assert "Generated 2026-11-21 07:00 CET" in visible_text(acme.html)
    assert "Generated 2026-11-21 07:00 CET" in acme.text


def test_footer_states_events_pages_ignored_rows_and_the_archive(acme: Digest) -> None:
    # GIVEN 318 events from 13 pages; ignored 2 unknown names + 1 invalid = 3
    for part in (visible_text(acme.html), squeeze(acme.text)):
        # THEN the reader can see where the numbers come from
        assert "318 events kept from 13 pages (complete)" in part
        assert "Ignored: 3 rows (unknown event name 2, invalid value 1, outside the day 0)" in part
        assert f"Raw data archived at {ARCHIVE}" in part


def test_link_goes_to_the_account_reports_in_chatwoot(acme: Digest) -> None:
    # GIVEN base_url https://chat.acme.example and account 7
    expected = "https://chat.acme.example/app/accounts/7/reports/overview"
    # THEN the link is the reports overview of that account
    assert f'href="{expected}"' in acme.html
    assert expected in acme.text


def test_incomplete_day_shows_a_visible_warning_with_the_gap() -> None:
    # GIVEN a summary marked incomplete with 4 events missing
    digest = render(load("quiet-incomplete-2026-03-29.json"))
    # THEN both parts warn and say how many are missing, and the subject flags it
    assert "Incomplete data: 4 events reported by Chatwoot could not be fetched" in visible_text(
        digest.html
    )
    assert "INCOMPLETE DATA: 4 events reported by Chatwoot could not be fetched" in digest.text
    assert digest.subject.endswith("(incomplete data)")


def test_complete_day_shows_no_warning(acme: Digest) -> None:
    # GIVEN a complete day THEN no warning is shown
    assert "Incomplete data" not in visible_text(acme.html)
    assert "INCOMPLETE" not in acme.text


def test_day_without_previous_says_there_is_nothing_to_compare() -> None:
    # GIVEN previous null
    digest = render(load("quiet-incomplete-2026-03-29.json"))
    # THEN the tiles say so instead of inventing a change
    assert "no earlier day to compare" in visible_text(digest.html)
    assert "▲" not in digest.text
    assert "▼" not in digest.text


def test_account_without_name_and_sla_is_still_labelled_and_headlined() -> None:
    # GIVEN account 3 without a name and without SLA targets; p90 55.6 s rounds to 56 s
    digest = render(load("quiet-incomplete-2026-03-29.json"))
    # THEN the subject names it by id and leaves out the SLA part
    assert digest.subject == (
        "Account #3 SLA digest 2026-03-29: first response p90 56s (incomplete data)"
    )
    assert "no target set" in visible_text(digest.html)


def test_dst_day_reports_its_real_length_in_local_time() -> None:
    # GIVEN 29 March 2026 in Berlin: clocks jump from 02:00 to 03:00, a 23-hour day
    digest = render(load("quiet-incomplete-2026-03-29.json"))
    # THEN the day runs from midnight CET to midnight CEST and lasts 23 hours
    assert (
        "2026-03-29 00:00 CET to 2026-03-30 00:00 CEST (23 hours, Europe/Berlin)"
        in visible_text(digest.html)
    )


def test_empty_tables_say_there_was_no_activity() -> None:
    # GIVEN no inbox and no agent rows
    digest = render(load("quiet-incomplete-2026-03-29.json"))
    # THEN each section says so
    assert "No inboxes had activity on this day." in visible_text(digest.html)
    assert "No agents had activity on this day." in digest.text


@pytest.mark.parametrize(
    ("current", "previous", "expected"),
    [
        (300.0, None, "no data on 2026-11-19"),
        (300.0, 0.0, "▲ up from 0s on 2026-11-19"),
        (0.0, 0.0, "● same as 2026-11-19"),
        (None, 200.0, "was 3m 20s on 2026-11-19"),
        # 201 vs 200: 0.5% rounds to 1%
        (201.0, 200.0, "▲ 1% slower than 2026-11-19"),
        # 200.8 vs 200: 0.4% rounds to 0
        (200.8, 200.0, "● about the same as 2026-11-19"),
    ],
)
def test_mean_change_handles_absent_and_zero_previous_values(
    current: float | None, previous: float | None, expected: str
) -> None:
    # GIVEN a day whose mean first response and the previous day's are edge values
    summary = load("acme-2026-11-20.json")
    summary["overall"]["first_response"]["mean"] = current
    summary["previous"]["overall"]["first_response"]["mean"] = previous
    # WHEN rendered THEN the mean tile states the change without dividing by zero
    assert expected in squeeze(render(summary).text)


def test_table_note_says_how_many_rows_are_shown_when_capped() -> None:
    # GIVEN four agents and room for two
    digest = render(load("acme-2026-11-20.json"), max_rows=2)
    # THEN both parts say that the CSV holds the rest
    note = "showing 2 of 4 agents; all rows in the attached CSV"
    assert note in visible_text(digest.html)
    assert note in digest.text
    assert "Agent #12 (no longer in the account)" not in visible_text(digest.html)


def test_rendering_twice_gives_identical_bytes() -> None:
    # GIVEN one summary WHEN rendered twice (as a re-render from the archive does)
    summary = load("acme-2026-11-20.json")
    first, second = render(copy.deepcopy(summary)), render(summary)
    # THEN every part is byte for byte the same
    assert first == second


def test_a_summary_of_another_schema_version_is_refused_clearly() -> None:
    # GIVEN a summary from a future schema
    summary = load("acme-2026-11-20.json")
    summary["schema_version"] = 3
    # THEN reading it to render fails with a one-line error naming the version
    with pytest.raises(VerificationError, match="schema_version 3") as caught:
        render(summary)
    assert "\n" not in str(caught.value)


def test_a_broken_summary_is_a_clear_error_not_a_key_error() -> None:
    # GIVEN a summary missing its overall block
    summary = load("acme-2026-11-20.json")
    del summary["overall"]
    # THEN the error names what is missing, by its place in the document
    with pytest.raises(VerificationError, match=r"summary\.json at \$: 'overall' is a required"):
        render(summary)


def test_a_summary_with_an_unknown_time_zone_is_a_render_error() -> None:
    # GIVEN a summary whose time zone is not an IANA name (the schema only asks for a string)
    summary = load("acme-2026-11-20.json")
    summary["timezone"] = "Mars/Olympus_Mons"
    # THEN rendering fails with a RenderError naming the zone
    with pytest.raises(RenderError, match="Mars/Olympus_Mons"):
        render(summary)


def test_missing_templates_folder_is_reported_by_path(tmp_path: Path) -> None:
    # GIVEN a folder without the digest templates
    # THEN the error names the missing template
    with pytest.raises(RenderError, match=r"digest\.html\.j2"):
        render_digest(
            Summary.from_dict(load("acme-2026-11-20.json")),
            templates_dir=tmp_path,
            archive_location="x",
        )


def test_an_incomplete_day_with_no_measurable_gap_says_the_data_changed() -> None:
    # GIVEN a summary marked incomplete whose gap could not be measured (missing 0)
    import copy
    import json
    from pathlib import Path

    from sla_digest.report.render import render_digest

    root = Path(__file__).resolve().parents[2]
    fixture = next((root / "tests" / "fixtures" / "summaries").glob("acme-*.json"))
    summary = copy.deepcopy(json.loads(fixture.read_text()))
    summary["source"]["complete"] = False
    summary["source"]["missing"] = 0
    # WHEN rendered
    digest = render_digest(
        Summary.from_dict(summary), templates_dir=root / "templates", archive_location="x"
    )
    # THEN both parts warn that the data changed, and never claim "0 events" were missing
    for part in (digest.html, digest.text):
        assert "the data in Chatwoot changed while it was fetched" in part
        assert "0 events reported by Chatwoot" not in part
