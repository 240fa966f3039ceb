"""The local delivery ledger (deliveries.json) and the configured channels built from
accounts.json entries: what is delivered once, what again, which secret is read when."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.delivery.configured import ChannelEntry, channels_for, email_only, secret_field
from sla_digest.delivery.ledger import FileLedger
from sla_digest.delivery.once import ExactlyOnce
from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

KEY = {"account_id": 7, "date": "2026-11-20", "channel": "slack", "target": "SLACK"}
NOW = datetime(2026, 11, 21, 7, tzinfo=UTC)


def sender(calls: list[str], name: str = "a") -> Any:
    def send() -> dict[str, Any]:
        calls.append(name)
        return {"sent": True, "message_id": f"id-{len(calls)}", "duplicate": False}

    return send


def test_a_second_run_finds_the_delivery_and_does_not_send(tmp_path: Path) -> None:
    # GIVEN a ledger that recorded one send
    ledger = FileLedger(tmp_path / "deliveries.json", clock=lambda: NOW)
    calls: list[str] = []
    first = ledger.once(KEY, sender(calls), force=False, where="account 7 2026-11-20")
    # WHEN the same key comes again (key order differing), from a new ledger on the same file
    again = FileLedger(tmp_path / "deliveries.json").once(
        dict(reversed(KEY.items())), sender(calls), force=False, where="account 7 2026-11-20"
    )
    # THEN it was sent once, and the second answer is the recorded one, as a duplicate
    assert calls == ["a"]
    assert first == ({"sent": True, "message_id": "id-1", "duplicate": False}, False)
    assert again == (first[0], True)
    stored = json.loads((tmp_path / "deliveries.json").read_text())
    assert stored["deliveries"] == [
        {"key": KEY, "outcome": first[0], "recorded_at": "2026-11-21T07:00:00+00:00"}
    ]


def test_force_sends_again_and_keeps_one_entry_per_key(tmp_path: Path) -> None:
    # GIVEN a recorded send
    ledger = FileLedger(tmp_path / "deliveries.json")
    calls: list[str] = []
    ledger.once(KEY, sender(calls), force=False, where="w")
    # WHEN forced
    outcome, duplicate = ledger.once(KEY, sender(calls), force=True, where="w")
    # THEN sent again, recorded in place of the first
    assert calls == ["a", "a"]
    assert (outcome["message_id"], duplicate) == ("id-2", False)
    assert len(ledger.entries()) == 1


def test_a_failed_send_records_nothing_so_the_next_run_tries_again(tmp_path: Path) -> None:
    # GIVEN a send that raises
    ledger = FileLedger(tmp_path / "deliveries.json")

    def fail() -> dict[str, Any]:
        raise RuntimeError("hook down")

    with pytest.raises(RuntimeError):
        ledger.once(KEY, fail, force=False, where="w")
    # THEN the ledger has no entry for it
    assert ledger.entries() == []


@pytest.mark.parametrize("content", ["not json", '{"deliveries": {}}', "[1, 2]"])
def test_a_file_that_is_not_a_ledger_is_refused_not_overwritten(
    tmp_path: Path, content: str
) -> None:
    # GIVEN a deliveries.json that is something else
    path = tmp_path / "deliveries.json"
    path.write_text(content)
    # WHEN a delivery is asked for
    with pytest.raises(ConfigError) as caught:
        FileLedger(path).once(KEY, sender([]), force=False, where="w")
    # THEN one line names the file, which is left as it was
    assert str(path) in str(caught.value)
    assert path.read_text() == content


@dataclass
class Email:
    recipients: Sequence[str]
    kind: str = "email"

    def identity(self) -> dict[str, Any]:
        return {"recipients": list(self.recipients)}


def build(entries: Any, read: Any = None, **options: Any) -> list[Any]:
    return channels_for(
        entries,
        account_id=7,
        read_secret=read or (lambda name: f"https://hooks.example.com/{name}"),
        email=Email,
        **options,
    )


def test_an_account_without_channels_has_its_email_only() -> None:
    # GIVEN the default of an account without "channels"
    (channel,) = build(email_only(("leads@acme.example",)))
    # THEN the one channel is email to its recipients, with the first release's key
    assert channel.identity() == {"recipients": ["leads@acme.example"]}


def test_channels_are_built_in_order_and_skip_those_not_for_this_period() -> None:
    # GIVEN the design's example: Teams only for weekly digests
    entries = [
        ChannelEntry("email", recipients=("leads@acme.example",)),
        ChannelEntry("slack", url_secret="sla-digest/acme/slack"),
        ChannelEntry("teams", url_secret="sla-digest/acme/teams", periods=("weekly",)),
        ChannelEntry("webhook", url_secret="sla-digest/acme/hook",
                     signing_secret="sla-digest/acme/hook-key"),
    ]  # fmt: skip
    # WHEN the daily and the weekly channels are built
    daily = [c.kind for c in build(entries, period="day")]
    weekly = [c.kind for c in build(entries, period="week")]
    # THEN Teams is there only for the week
    assert daily == ["email", "slack", "webhook"]
    assert weekly == ["email", "slack", "teams", "webhook"]


def test_secrets_are_read_only_when_a_channel_delivers(tmp_path: Path) -> None:
    # GIVEN a reader that records what it is asked for, and the channels behind a ledger
    asked: list[str] = []

    def read(name: str) -> str:
        asked.append(name)
        return "https://hooks.example.com/x"

    entries = [ChannelEntry("slack", url_secret="sla-digest/acme/slack")]
    channels = build(entries, read, ledger=FileLedger(tmp_path / "d.json"))
    # THEN building read nothing, and the channel is exactly-once with its own key
    assert asked == []
    assert isinstance(channels[0], ExactlyOnce)
    assert channels[0].identity() == {"channel": "slack", "target": "sla-digest/acme/slack"}


def test_an_unknown_channel_type_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError) as caught:
        build([ChannelEntry("pager")])
    assert "'pager'" in str(caught.value)


@pytest.mark.parametrize(
    ("text", "value"),
    [("https://hooks.example.com/a\n", "https://hooks.example.com/a"),
     ('{"url": " https://hooks.example.com/b "}', "https://hooks.example.com/b")],
)  # fmt: skip
def test_a_secret_holds_the_value_itself_or_json_with_one_key(text: str, value: str) -> None:
    assert secret_field(text, name="s", field="url", what="URL") == value


@pytest.mark.parametrize("text", ["", "  ", '{"link": "https://x"}', "{not json"])
def test_a_secret_without_the_value_says_what_to_store_without_showing_it(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        secret_field(text, name="sla-digest/acme/slack", field="url", what="URL")
    assert str(caught.value) == (
        'secret \'sla-digest/acme/slack\' holds no URL: store the URL itself or {"url": "..."}'
    )
