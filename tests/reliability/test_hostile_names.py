"""Names an attacker (or a careless admin) can set in Chatwoot, through the whole pipeline to
the email: markup, line breaks that try to add headers, spreadsheet formulas, bidi overrides,
control characters, a lone surrogate escape and a 5,000-character name.
"""

from __future__ import annotations

import csv
import email
import email.policy
import io
import json
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest_cli.sandbox.server import SandboxServer

from .conftest import RECIPIENT, expected_ids

if TYPE_CHECKING:
    from collections.abc import Callable

    from .conftest import DayRun

HOSTILE_INBOXES = {
    3: "<script>alert('inbox')</script>Website",
    5: "Support\r\nBcc: all@evil.example",
    8: '=HYPERLINK("https://evil.example","open")',
    12: "@SUM(A1:A9)",
    14: "-2+3",
}
LONG_NAME = "Agent " + "A" * 5000
HOSTILE_AGENTS = {
    1: '<img src=x onerror="alert(1)">',
    4: LONG_NAME,
    6: "Priya \u202egnp.exe",
    9: "Tom\x00\x1b[31m\x07 O'Neill",
    11: "Zoë \udc80 Lefèvre",  # a lone surrogate escape: not encodable as UTF-8
    15: "Mateus\r\nX-Injected: yes",
}


class HostileNamesSandbox(SandboxServer):
    """Inbox and agent names an attacker (or a careless admin) could set in Chatwoot.

    Served as ASCII-escaped JSON, so even a lone surrogate can be sent as ``\\udc80``.
    """

    def _respond(self, handler: Any, route: Any, query: dict[str, str]) -> int | None:
        endpoint = route[0] if route is not None else None
        if endpoint == "inboxes":
            inboxes = [
                {**inbox, "name": HOSTILE_INBOXES.get(inbox["id"], inbox["name"])}
                for inbox in self.dataset.inboxes
            ]
            return int(
                handler.send(200, json.dumps({"payload": inboxes}).encode(), "application/json")
            )
        if endpoint == "agents":
            agents = [
                {**agent, "available_name": HOSTILE_AGENTS.get(agent["id"], agent["name"])}
                for agent in self.dataset.agents
            ]
            return int(handler.send(200, json.dumps(agents).encode(), "application/json"))
        return super()._respond(handler, route, query)


@pytest.fixture
def hostile(servers: Callable[..., SandboxServer], run_day: Callable[..., DayRun]) -> DayRun:
    """The day of a sandbox with hostile names, run to the outbox."""
    return run_day(servers(HostileNamesSandbox, events=600))


def the_email(run: DayRun) -> email.message.EmailMessage:
    (raw,) = run.emails()
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(message, email.message.EmailMessage)
    return message


def test_hostile_names_do_not_stop_the_day(hostile: DayRun) -> None:
    # GIVEN / WHEN the day with hostile names is run
    # THEN it finished with every row, the lone surrogate shown as a replacement character
    assert hostile.error is None, type(hostile.error).__name__
    assert hostile.result is not None
    assert hostile.result.fetch.events.seen_ids == expected_ids(hostile.server)
    assert hostile.summary()["by_agent"]["11"]["name"] == "Zoë \ufffd Lefèvre"


def test_hostile_names_cannot_add_headers_to_the_email(hostile: DayRun) -> None:
    # GIVEN / WHEN the day with hostile names is mailed
    message = the_email(hostile)
    # THEN the message and each part carry only the headers the digest sets
    assert set(message.keys()) == {
        "Subject", "From", "To", "Date", "Message-ID", "Auto-Submitted",
        "X-Auto-Response-Suppress", "X-SLA-Digest-Account", "X-SLA-Digest-Date",
        "MIME-Version", "Content-Type",
    }  # fmt: skip
    assert message["To"] == RECIPIENT
    for part in message.walk():
        assert not {"Bcc", "Cc", "X-Injected"} & set(part.keys())


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]


def test_hostile_names_are_shown_as_text_in_the_html_part(hostile: DayRun) -> None:
    # GIVEN the email of the day with hostile names
    html = next(p for p in the_email(hostile).walk() if p.get_content_type() == "text/html")
    content = html.get_content()
    # WHEN its markup is parsed
    parser = _Tags()
    parser.feed(content)
    # THEN no name became markup: no script or image, no event handler; the text is escaped
    assert not {"script", "img", "iframe", "object"} & parser.tags
    assert parser.handlers == []
    assert "&lt;script&gt;" in content
    assert "\u202e" not in content
    assert "A" * 100 not in content
    assert len(html.get_payload(decode=True)) < 102 * 1024


def test_hostile_names_leave_no_control_characters_in_the_text_part(hostile: DayRun) -> None:
    # GIVEN the plain-text part of the email
    text = next(p for p in the_email(hostile).walk() if p.get_content_type() == "text/plain")
    content = text.get_content().replace("\r\n", "\n")  # the wire's line ends
    # THEN the only control character is the line feed, and no override reorders a line
    assert {ch for ch in content if ord(ch) < 32 or 127 <= ord(ch) < 160} <= {"\n"}
    assert "\u202e" not in content
    assert "Bcc: all@evil.example" in content  # flattened onto one line, harmless


def test_hostile_names_cannot_run_as_formulas_in_the_csv(hostile: DayRun) -> None:
    # GIVEN the CSV attachment
    attachment = next(the_email(hostile).iter_attachments())
    rows = list(csv.reader(io.StringIO(attachment.get_content().lstrip("\ufeff"))))
    header, body = rows[0], rows[1:]
    # THEN no cell starts with a formula character, and the long name is there in full
    for row in body:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    names = [row[header.index("name")] for row in body]
    assert '\'=HYPERLINK("https://evil.example","open")' in names
    assert "'@SUM(A1:A9)" in names
    assert "'-2+3" in names
    assert LONG_NAME in names
