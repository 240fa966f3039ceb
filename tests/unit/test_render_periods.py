"""Weekly and monthly digests: named by their period, a day-by-day chart of table cells, per-day
CSV rows and the trend against the previous period.

Expected strings come from the fixture's values (``acme-week-2026-11-16.json``: the week of
Monday 16 November 2026, ISO week 47, with Wednesday 18 missing) and the calendar, never from
the renderer.
"""

from __future__ import annotations

import csv
import io
import json
import random
import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from sla_digest.chatwoot.events import classify_rows
from sla_digest.config import SlaTargets
from sla_digest.report.period_summary import PeriodRows
from sla_digest.report.period_view import period_title
from sla_digest.report.periods import Period, period_of, period_window
from sla_digest.report.render import Digest, render_digest
from sla_digest.report.summary import Summary
from sla_digest.window import report_window
from tests.unit.test_period_summary import day_rows
from tests.unit.test_render_safety import Element, Tree, _inside

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
WEEK = ROOT / "tests" / "fixtures" / "summaries" / "acme-week-2026-11-16.json"
DAILY = ROOT / "tests" / "fixtures" / "summaries" / "acme-2026-11-20.json"
LATER = datetime(2030, 1, 1, tzinfo=UTC)


def load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def render(document: dict[str, Any], **options: Any) -> Digest:
    return render_digest(
        Summary.from_dict(document),
        templates_dir=TEMPLATES,
        archive_location="s3://acme-archive/reports/account_id=7/period=week/start=2026-11-16/",
        **options,
    )


@pytest.fixture(scope="module")
def week_doc() -> dict[str, Any]:
    return load(WEEK)


@pytest.fixture(scope="module")
def week(week_doc: dict[str, Any]) -> Digest:
    return render(week_doc)


def month_summary(*, rows_per_day: int, busy: bool = False) -> dict[str, Any]:
    """December 2026 (31 days), built from generated rows; ``busy`` adds 60 inboxes and 300
    agents whose names cost the most bytes once escaped."""
    month = period_of(date(2026, 12, 1), "month")
    rng = random.Random(9)
    gathered = PeriodRows(month, SlaTargets(first_response=1800.0), {3: True})
    for n, day in enumerate(month.dates()):
        rows = day_rows(day, rows_per_day, rng, 1_000_000 * (n + 1)) if rows_per_day else []
        events = classify_rows(rows, report_window(day, "Europe/Berlin", now=LATER))
        gathered.add_day(day, events, pages=1, complete=True, missing=0)
    document = gathered.summary(
        account_id=7,
        account_name="Acme Support",
        window=period_window(month, "Europe/Berlin", now=LATER),
        base_url="https://chat.acme.example",
        inbox_names={},
        agent_names={},
        previous=None,
        generated_at=datetime(2027, 1, 1, 6, 0, tzinfo=UTC),
    ).to_dict()
    if busy:
        template = next(iter(document["by_agent"].values()))
        worst = "<&>\"'" * 8 + "👩‍💻" * 10
        document["by_inbox"] = {str(i): {**template, "name": f"{i} {worst}"} for i in range(1, 61)}
        document["by_agent"] = {
            str(i): {**template, "name": f"{i} {worst}"} for i in range(1000, 1300)
        }
    return document


def enclosing(element: Element, tag: str) -> Element:
    """The nearest ancestor of ``element`` that is a ``tag``."""
    node = element.parent
    while node is not None and node.tag != tag:
        node = node.parent
    assert node is not None, f"no <{tag}> around <{element.tag}>"
    return node


# ----- names ---------------------------------------------------------------------------------


def test_the_subject_names_the_week_by_its_iso_number_and_dates(week: Digest) -> None:
    # GIVEN the week of Monday 16 November 2026 (ISO week 47), one day missing
    # THEN the subject names it as the contract's example does, and says the data is incomplete
    assert week.subject.startswith("Acme Support SLA digest Week 47 (16–22 Nov): first response")
    assert week.subject.endswith("(incomplete data)")
    assert week.date == "2026-11-16"
    assert week.csv_filename == "sla-digest-7-week-2026-11-16.csv"


def test_the_subject_names_the_month() -> None:
    # GIVEN a quiet December 2026 WHEN rendered THEN the month is named in full
    digest = render(month_summary(rows_per_day=0))
    assert digest.subject == "Acme Support SLA digest December 2026: no first responses"
    assert "Monthly SLA digest" in digest.html
    assert "Acme Support · monthly SLA digest" in digest.text


def week_of(day: int, month: int = 11) -> Period:
    start = date(2026, month, day)
    return Period("week", start, start + timedelta(days=6))


@pytest.mark.parametrize(
    ("period", "short", "long"),
    [
        (week_of(16), "Week 47 (16–22 Nov)", "Week 47 (16–22 Nov 2026)"),
        # A Sunday week is named by the Monday inside it.
        (week_of(15), "Week 47 (15–21 Nov)", "Week 47 (15–21 Nov 2026)"),
        (week_of(30), "Week 49 (30 Nov – 6 Dec)", "Week 49 (30 Nov – 6 Dec 2026)"),
        # 2026 starts on a Thursday, so it has an ISO week 53.
        (week_of(28, 12), "Week 53 (28 Dec 2026 – 3 Jan 2027)", "Week 53 (28 Dec 2026 – 3 Jan 2027)"),  # noqa: E501
        (Period("month", date(2027, 2, 1), date(2027, 2, 28)), "February 2027", "February 2027"),
    ],
)  # fmt: skip
def test_periods_are_titled_as_people_name_them(period: Period, short: str, long: str) -> None:
    assert period_title(period) == short
    assert period_title(period, long=True) == long


def test_the_header_footer_and_warning_speak_of_the_week(week: Digest) -> None:
    text = week.text
    assert text.startswith(
        "Acme Support · weekly SLA digest\nWeek 47 (16–22 Nov 2026) · Europe/Berlin"
    )
    assert "Weekly SLA digest" in week.html
    # 16 Nov 00:00 CET to 23 Nov 00:00 CET: 7 × 24 hours, no DST change in that week
    assert (
        "Report week: Week 47 (16–22 Nov 2026), "
        "2026-11-16 00:00 CET to 2026-11-23 00:00 CET (168 hours" in text
    )
    assert "INCOMPLETE DATA: no data for Wed 18 Nov (it could not be fetched)" in text
    assert "no data for Wed 18 Nov (it could not be fetched)" in week.html


def test_the_trend_compares_with_the_previous_week_by_name(
    week: Digest, week_doc: dict[str, Any]
) -> None:
    # GIVEN a previous week of 9–15 November (week 46)
    assert (week_doc["previous"]["start"], week_doc["previous"]["end"]) == (
        "2026-11-09",
        "2026-11-15",
    )
    # THEN the tiles and the text compare with "week 46", the header with its dates
    assert "FIRST RESPONSE (changes compared with week 46)" in week.text
    assert "Changes compared with Week 46 (9–15 Nov 2026)." in week.html
    tiles = [line for line in week.text.splitlines() if "week 46" in line]
    assert len(tiles) >= 5


# ----- the chart -----------------------------------------------------------------------------


def test_the_chart_has_a_row_for_every_day_with_bars_against_the_busiest(
    week: Digest, week_doc: dict[str, Any]
) -> None:
    # GIVEN the fixture's first responses per day
    counts = {d["date"]: d["first_response"]["count"] for d in week_doc["by_day"]}
    busiest = max(counts.values())
    tree = Tree(week.html)
    fills = [td for td in tree.named("td") if td.attrs.get("class") == "dfill"]
    bars = [enclosing(td, "table") for td in fills]
    # THEN each day read has one bar, a presentational table as wide as its share of the
    # busiest day, in percent
    expected = [f"{round(100 * count / busiest)}%" for count in counts.values() if count]
    assert [bar.attrs.get("width") for bar in bars] == expected
    assert {bar.tag for bar in bars} == {"table"}
    assert all(bar.attrs.get("role") == "presentation" for bar in bars)
    # AND every bar cell is coloured with an attribute too (clients that drop styles)
    assert all(td.attrs.get("bgcolor") for td in fills)
    # AND the chart names every day of the week, the missing one saying so
    rows = [th for th in tree.named("th") if th.attrs.get("scope") == "row"]
    labels = ["".join(th.text) for th in rows]
    for label in (
        "Mon 16 Nov",
        "Tue 17 Nov",
        "Wed 18 Nov",
        "Thu 19 Nov",
        "Fri 20 Nov",
        "Sat 21 Nov",
        "Sun 22 Nov",
    ):
        assert label in labels
    assert tree.text().count("no data") >= 1


def test_the_text_part_draws_the_same_chart(week: Digest, week_doc: dict[str, Any]) -> None:
    lines = week.text.split("DAY BY DAY", 1)[1].split("ALL RESPONSE TIMES", 1)[0].splitlines()
    for entry in week_doc["by_day"]:
        day = date.fromisoformat(entry["date"])
        label = f"{day:%a} {day.day} {day:%b}"
        (line,) = [line for line in lines if line.strip().startswith(label)]
        assert re.search(rf"\b{entry['first_response']['count']}\b", line)
    (missing,) = [line for line in lines if "Wed 18 Nov" in line]
    assert "no data" in missing


def test_the_chart_is_email_safe_and_readable_in_dark_mode(week: Digest) -> None:
    tree = Tree(week.html)
    forbidden = {"script", "img", "link", "iframe", "object", "embed", "form", "svg", "canvas"}
    assert {e.tag for e in tree.elements} & forbidden == set()
    # every classed element is styled inline; every coloured box sets its text colour
    assert [e.tag for e in tree.elements if e.attrs.get("class") and not e.attrs.get("style")] == []
    for element in tree.elements:
        style = element.attrs.get("style", "")
        if re.search(r"(^|;)\s*background-color\s*:", style):
            assert re.search(r"(^|;)\s*color\s*:", style), (element.tag, style)
    # the bars get a lighter fill in dark mode
    css = " ".join(tree.styles).replace(" ", "")
    dark = css.split("prefers-color-scheme:dark", 1)[1]
    assert ".dfill" in dark
    # the chart itself is a data table with column headers
    labels = [th for th in tree.named("th") if th.attrs.get("class") == "dl"]
    chart = enclosing(labels[0], "table")
    assert any(th.attrs.get("scope") == "col" and _inside(th, chart) for th in tree.named("th"))


def test_a_busy_month_stays_under_gmails_clipping_size() -> None:
    # GIVEN 31 days, 60 inboxes and 300 agents with the costliest names
    digest = render(month_summary(rows_per_day=30, busy=True))
    # THEN the HTML stays under 100 KB (Gmail clips at 102 KB), chart included
    assert digest.html.count('class="dfill"') == 31
    assert len(digest.html.encode("utf-8")) < 100_000


# ----- CSV -----------------------------------------------------------------------------------


def test_the_csv_has_a_row_per_day_read(week: Digest, week_doc: dict[str, Any]) -> None:
    rows = list(csv.DictReader(io.StringIO(week.csv.decode("utf-8-sig"))))
    days = [row for row in rows if row["scope"] == "day"]
    assert [row["id"] for row in days] == [d["date"] for d in week_doc["by_day"]]
    for row, entry in zip(days, week_doc["by_day"], strict=True):
        first = entry["first_response"]
        assert int(row["first_response_count"]) == first["count"]
        assert float(row["first_response_p90_s"]) == pytest.approx(first["p90"], abs=5e-4)
        assert float(row["first_response_mean_s"]) == pytest.approx(first["mean"], abs=5e-4)
        assert float(row["first_response_sla_compliance"]) == pytest.approx(
            first["compliance"], abs=5e-5
        )
        # columns a day does not have stay empty
        assert row["first_response_p50_s"] == ""
    assert "2026-11-18" not in [row["id"] for row in days]
    # the inbox and agent rows are still there, before the days
    assert rows[0]["scope"] == "inbox"


# ----- the daily digest is unchanged -----------------------------------------------------------


def test_a_daily_digest_keeps_its_words_and_has_no_chart() -> None:
    digest = render(load(DAILY))
    assert "Daily SLA digest" in digest.html
    assert "Day by day" not in digest.html
    assert "DAY BY DAY" not in digest.text
    assert "Report day: Friday 20 November 2026" in digest.text
    assert digest.csv_filename == "sla-digest-7-2026-11-20.csv"
    assert b"\r\nday," not in digest.csv
