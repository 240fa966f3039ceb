"""The digest is safe to open in any mail client, whatever names Chatwoot hands us."""

from __future__ import annotations

import csv
import io
import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from sla_digest.report.render import Digest, render_digest
from sla_digest.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "templates"
SUMMARIES = ROOT / "tests" / "fixtures" / "summaries"
REPORTS = "https://chat.acme.example/app/accounts/66/reports/overview"


def load(name: str) -> dict[str, Any]:
    return json.loads((SUMMARIES / name).read_text(encoding="utf-8"))


def render(summary: dict[str, Any], **kwargs: Any) -> Digest:
    return render_digest(
        Summary.from_dict(summary),
        templates_dir=TEMPLATES,
        archive_location="s3://bucket/raw/",
        **kwargs,
    )


class Element:
    def __init__(self, tag: str, attrs: dict[str, str], parent: Element | None) -> None:
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.text: list[str] = []


class Tree(HTMLParser):
    """Every element with its attributes and own text, plus the <style> blocks' CSS."""

    VOID = frozenset({"meta", "br", "img", "link", "hr", "input", "col", "area", "base", "wbr"})

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self.styles: list[str] = []
        self._stack: list[Element] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(
            tag, {k: v or "" for k, v in attrs}, self._stack[-1] if self._stack else None
        )
        self.elements.append(element)
        if tag not in self.VOID:
            self._stack.append(element)

    def handle_endtag(self, tag: str) -> None:
        while self._stack:
            if self._stack.pop().tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._stack:
            self._stack[-1].text.append(data)
            if self._stack[-1].tag == "style":
                self.styles.append(data)

    def named(self, tag: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag]

    def text(self) -> str:
        return " ".join(
            "".join(e.text) for e in self.elements if e.tag not in ("style", "title", "head")
        )


def names_in(tree: Tree) -> list[str]:
    return ["".join(e.text) for e in tree.named("bdi")]


@pytest.fixture(scope="module")
def hostile() -> Digest:
    return render(load("hostile-names.json"))


@pytest.fixture(scope="module")
def acme_tree() -> Tree:
    return Tree(render(load("acme-2026-11-20.json")).html)


# ----- hostile names -------------------------------------------------------------------------


def test_script_tags_in_names_are_shown_as_text_not_run(hostile: Digest) -> None:
    # GIVEN an inbox called "<script>alert(document.cookie)</script>"
    tree = Tree(hostile.html)
    # THEN no script element exists and the name is displayed literally
    assert tree.named("script") == []
    assert "<script>alert(document.cookie)</script>" in names_in(tree)


def test_event_handler_attributes_in_names_never_become_attributes(hostile: Digest) -> None:
    # GIVEN an inbox called '<img src=x onerror="alert(1)">'
    tree = Tree(hostile.html)
    # THEN no element carries an on* attribute and no img exists; the name is plain text
    assert [e.tag for e in tree.elements if any(a.startswith("on") for a in e.attrs)] == []
    assert tree.named("img") == []
    assert '<img src=x onerror="alert(1)">' in names_in(tree)


def test_quotes_and_closing_tags_in_names_cannot_break_the_table(hostile: Digest) -> None:
    # GIVEN an inbox called "\"quoted\" & 'single' </td></tr></table>"
    tree = Tree(hostile.html)
    # THEN it stays inside its cell as text
    assert "\"quoted\" & 'single' </td></tr></table>" in names_in(tree)


def test_line_breaks_in_names_are_flattened(hostile: Digest) -> None:
    # GIVEN an agent called "Line\r\nBreak\nAgent"
    # THEN both parts show it on one line
    assert "Line Break Agent" in names_in(Tree(hostile.html))
    assert "  Line Break Agent " in hostile.text


def test_right_to_left_names_are_isolated_and_overrides_removed(hostile: Digest) -> None:
    # GIVEN an agent called "\u202eevil\u202c שלום עולם" (a right-to-left override first)
    tree = Tree(hostile.html)
    # THEN the HTML isolates it in <bdi>, the text part in FSI…PDI, and the override is gone
    assert "evil שלום עולם" in names_in(tree)
    assert "\u2068evil שלום עולם\u2069" in hostile.text
    assert "\u202e" not in hostile.html
    assert "\u202e" not in hostile.text


def test_emoji_names_survive_intact(hostile: Digest) -> None:
    # GIVEN an agent called "🚀 Rocket 👩‍💻 Agent"
    # THEN the name is unchanged in both parts
    assert "🚀 Rocket 👩\u200d💻 Agent" in names_in(Tree(hostile.html))
    assert "🚀 Rocket 👩\u200d💻 Agent" in hostile.text


def test_very_long_names_are_cut_with_an_ellipsis(hostile: Digest) -> None:
    # GIVEN an agent whose name is 10,240 "A"s
    tree = Tree(hostile.html)
    # THEN the tables show 39 of them and "…", never the whole name
    assert "A" * 39 + "…" in names_in(tree)
    assert "A" * 41 not in hostile.html
    assert "A" * 41 not in hostile.text


def test_account_name_with_line_breaks_cannot_reach_the_subject_as_headers(
    hostile: Digest,
) -> None:
    # GIVEN the account name "Evil\r\nBcc: victim@example.com\r\n<script>…"
    # THEN the subject is a single line
    assert "\r" not in hostile.subject
    assert "\n" not in hostile.subject
    assert hostile.subject.startswith("Evil Bcc: victim@example.com <script>")


# ----- email-client safety -------------------------------------------------------------------


@pytest.mark.parametrize("fixture", ["acme-2026-11-20.json", "hostile-names.json"])
def test_html_has_no_script_and_no_external_resource(fixture: str) -> None:
    # GIVEN a rendered digest
    tree = Tree(render(load(fixture)).html)
    # THEN nothing runs and nothing loads: no script, link, img, frames, forms or url()
    forbidden = {"script", "link", "img", "iframe", "object", "embed", "form", "video", "audio"}
    assert {e.tag for e in tree.elements} & forbidden == set()
    assert [e.attrs["src"] for e in tree.elements if "src" in e.attrs] == []
    hrefs = [e.attrs["href"] for e in tree.elements if "href" in e.attrs]
    assert hrefs == [REPORTS.replace("/66/", f"/{load(fixture)['account_id']}/")]
    styles = " ".join(tree.styles) + " ".join(e.attrs.get("style", "") for e in tree.elements)
    assert "url(" not in styles
    assert "@import" not in styles


def test_every_element_with_a_class_is_styled_inline(acme_tree: Tree) -> None:
    # GIVEN the inlined HTML THEN each classed element carries its own style attribute
    unstyled = [
        (e.tag, e.attrs["class"])
        for e in acme_tree.elements
        if e.attrs.get("class") and not e.attrs.get("style", "").strip()
    ]
    assert unstyled == []


def test_style_block_keeps_only_media_queries(acme_tree: Tree) -> None:
    # GIVEN the CSS left in <style> after inlining
    css = " ".join(acme_tree.styles)
    # WHEN every @media block is removed (by brace matching, not by the code under test)
    outside = []
    depth = 0
    in_media = False
    index = 0
    while index < len(css):
        if css.startswith("@media", index) and depth == 0:
            in_media = True
        char = css[index]
        if char == "{":
            depth += 1
        elif char == "}":
            depth -= 1
            if depth == 0 and in_media:
                in_media = False
                index += 1
                continue
        if not in_media:
            outside.append(char)
        index += 1
    # THEN nothing else is left: no styling lives only in the <style> block
    assert "".join(outside).strip() == ""
    assert "prefers-color-scheme: dark" in css.replace(
        "prefers-color-scheme:dark", "prefers-color-scheme: dark"
    )


def test_layout_tables_are_presentational_and_data_tables_have_headers(acme_tree: Tree) -> None:
    # GIVEN every table THEN it is either role="presentation" or a data table with <th>
    def has_header(table: Element) -> bool:
        return any(e.tag == "th" and _inside(e, table) for e in acme_tree.elements)

    tables = acme_tree.named("table")
    assert tables
    for table in tables:
        assert table.attrs.get("role") == "presentation" or has_header(table)


def _inside(element: Element, ancestor: Element) -> bool:
    node = element.parent
    while node is not None:
        if node is ancestor:
            return True
        node = node.parent
    return False


def test_dark_mode_is_declared_and_every_coloured_box_sets_its_text_colour(
    acme_tree: Tree,
) -> None:
    # GIVEN the meta tags and inline styles
    metas = {e.attrs.get("name"): e.attrs.get("content") for e in acme_tree.named("meta")}
    # THEN the digest declares both schemes
    assert metas.get("color-scheme") == "light dark"
    # AND every element with a background colour also fixes its text colour
    for element in acme_tree.elements:
        style = element.attrs.get("style", "")
        if re.search(r"(^|;)\s*background-color\s*:", style):
            assert re.search(r"(^|;)\s*color\s*:", style), (element.tag, style)


def test_bars_are_table_cells_sized_in_percent(acme_tree: Tree) -> None:
    # GIVEN Website chat's first-response SLA 29/30 = 96.7%, shown as 96%
    bars = [e for e in acme_tree.named("table") if e.attrs.get("class") == "bar"]
    widths = [
        [c.attrs.get("width") for c in acme_tree.named("td") if _inside(c, bar)] for bar in bars
    ]
    # THEN some bar is two cells of 96% and 4%
    assert ["96%", "4%"] in widths


# ----- size and CSV --------------------------------------------------------------------------


def _busy_summary() -> dict[str, Any]:
    """60 inboxes and 300 agents with names that cost the most bytes once escaped."""
    summary = load("acme-2026-11-20.json")
    template = summary["by_agent"]["11"]
    worst = "<&>\"'" * 8 + "👩‍💻" * 10
    summary["by_inbox"] = {str(i): {**template, "name": f"{i} {worst}"} for i in range(1, 61)}
    summary["by_agent"] = {str(i): {**template, "name": f"{i} {worst}"} for i in range(1000, 1300)}
    return summary


@pytest.fixture(scope="module")
def busy() -> Digest:
    return render(_busy_summary())


def test_html_stays_under_100_kb_for_60_inboxes_and_300_agents(busy: Digest) -> None:
    # GIVEN a busy account with hostile-length names
    # THEN the HTML is below Gmail's clipping size with room to spare
    assert len(busy.html.encode("utf-8")) < 100_000


def test_capped_tables_say_the_csv_has_every_row(busy: Digest) -> None:
    # GIVEN 300 agents and 60 inboxes, 25 rows shown each
    # THEN the note is in both parts
    for note in (
        "showing 25 of 300 agents; all rows in the attached CSV",
        "showing 25 of 60 inboxes; all rows in the attached CSV",
    ):
        assert note in Tree(busy.html).text()
        assert note in busy.text


def test_csv_carries_every_inbox_and_agent(busy: Digest) -> None:
    # GIVEN the busy account WHEN its CSV is read
    rows = list(csv.reader(io.StringIO(busy.csv.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    # THEN there is one row per inbox and per agent, 60 + 300
    assert header[:3] == ["scope", "id", "name"]
    assert len(body) == 360
    assert sorted({row[0] for row in body}) == ["agent", "inbox"]
    assert sum(row[0] == "inbox" for row in body) == 60


def test_csv_is_utf8_with_a_byte_order_mark_and_crlf(busy: Digest) -> None:
    # GIVEN the CSV bytes THEN spreadsheets see UTF-8 (BOM) and RFC 4180 line ends
    assert busy.csv.startswith(b"\xef\xbb\xbf")
    assert busy.csv.count(b"\r\n") == 361


def test_csv_numbers_equal_the_summary_values() -> None:
    # GIVEN Website chat: first response mean 200 s, p90 480 s, SLA 29/30, reply count 80
    digest = render(load("acme-2026-11-20.json"))
    rows = list(csv.DictReader(io.StringIO(digest.csv.decode("utf-8-sig"))))
    website = next(r for r in rows if r["scope"] == "inbox" and r["id"] == "1")
    # THEN the CSV holds the same seconds and counts
    assert website["name"] == "Website chat"
    assert website["first_response_mean_s"] == "200"
    assert website["first_response_p90_s"] == "480"
    assert website["first_response_sla_target_s"] == "1800"
    assert (website["first_response_sla_met"], website["first_response_sla_breached"]) == (
        "29",
        "1",
    )
    assert website["first_response_sla_compliance"] == "0.9667"  # 29/30 to four places
    assert website["reply_time_count"] == "80"
    assert website["conversation_bot_handoff"] == "12"
    gone = next(r for r in rows if r["scope"] == "agent" and r["id"] == "12")
    assert gone["name"] == "Agent #12 (no longer in the account)"
    nobody = next(r for r in rows if r["scope"] == "agent" and r["id"] == "none")
    assert nobody["first_response_mean_s"] == ""  # null stays empty, not 0


@pytest.mark.parametrize(
    ("raw", "cell"),
    [
        (
            '=HYPERLINK("http://evil.example","click")',
            '\'=HYPERLINK("http://evil.example","click")',
        ),
        ("+1 555 0100", "'+1 555 0100"),
        ("@everyone", "'@everyone"),
        ("-2+3", "'-2+3"),
    ],
)
def test_csv_cells_that_could_run_as_formulas_are_neutralised(
    hostile: Digest, raw: str, cell: str
) -> None:
    # GIVEN names a spreadsheet would evaluate
    names = [row[2] for row in csv.reader(io.StringIO(hostile.csv.decode("utf-8-sig")))]
    # THEN each starts with an apostrophe and is otherwise unchanged (and not cut)
    assert cell in names
    assert raw not in names


def test_csv_keeps_long_names_whole(hostile: Digest) -> None:
    # GIVEN the 10 KB name THEN the CSV keeps it in full: the file is the complete record
    names = [row[2] for row in csv.reader(io.StringIO(hostile.csv.decode("utf-8-sig")))]
    assert "A" * 10240 in names
