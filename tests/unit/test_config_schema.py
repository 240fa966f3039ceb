"""accounts.json's published JSON Schema, and the keys of the second wave: digests, week_start,
breach_list_size, link_request_budget and channels."""

from __future__ import annotations

import json
import os
import re
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from sla_digest.config import (
    AccountConfig,
    ChannelConfig,
    accounts_schema,
    load_config,
)
from sla_digest.exceptions import ConfigError

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_SCHEMA = ROOT / "layers" / "shared" / "sla_digest" / "schemas" / "accounts.schema.json"
SOURCE = "accounts.json"


def account(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "account_id": 7,
        "name": "Acme Support",
        "base_url": "https://chat.acme.example",
        "token_secret": "sla-digest/acme",
        "recipients": ["leads@acme.example"],
    }
    entry.update(overrides)
    return entry


def only_account(entry: dict[str, Any], **document: Any) -> AccountConfig:
    config = load_config({"accounts": [entry], **document}, source=SOURCE)
    assert config.errors == ()
    (loaded,) = config.accounts
    return loaded


def only_error(entry: dict[str, Any], **document: Any) -> str:
    config = load_config({"accounts": [entry], **document}, source=SOURCE)
    assert config.accounts == ()
    (error,) = config.errors
    return error


def readme_example() -> dict[str, Any]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Configuration (`accounts.json`)", 1)[1]
    match = re.search(r"```json\n(.*?)\n```", section, re.DOTALL)
    assert match, "the Configuration section has a JSON example"
    example: dict[str, Any] = json.loads(match.group(1))
    return example


# --- the schema file ----------------------------------------------------------------------------


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    # GIVEN the schema as shipped in the package
    schema = json.loads(PACKAGE_SCHEMA.read_text(encoding="utf-8"))

    # THEN it declares draft 2020-12 and the draft's meta-schema accepts it
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_the_published_schema_at_the_root_is_a_relative_link_to_the_package_file() -> None:
    # GIVEN the schema editors are pointed at
    published = ROOT / "accounts.schema.json"

    # THEN it is a relative symbolic link that resolves to the package's file: one source of truth
    assert published.is_symlink()
    assert not os.path.isabs(os.readlink(published))
    assert published.resolve() == PACKAGE_SCHEMA.resolve()


def test_the_loader_reads_the_schema_shipped_inside_the_package() -> None:
    assert accounts_schema() == json.loads(PACKAGE_SCHEMA.read_text(encoding="utf-8"))


def test_every_account_key_has_a_title_or_description_for_editors() -> None:
    # GIVEN the account's properties, each a reference into $defs (possibly with its own text)
    schema = accounts_schema()
    properties = schema["$defs"]["account"]["properties"]

    # THEN each one, or the definition it refers to, carries help text
    for key, reference in properties.items():
        target = schema["$defs"][reference["$ref"].removeprefix("#/$defs/")]
        texts = {name for name in ("title", "description") if name in target or name in reference}
        assert texts, f"{key} has no title or description"


def test_schema_defaults_agree_with_the_record_defaults() -> None:
    # GIVEN the defaults the schema shows editors, and AccountConfig's own field defaults
    schema = accounts_schema()
    defaults = schema["properties"]["defaults"]["properties"]
    shown = {}
    for key, reference in defaults.items():
        target = schema["$defs"][reference["$ref"].removeprefix("#/$defs/")]
        if "default" in target:
            shown[key] = target["default"]
    record = {f.name: f.default for f in fields(AccountConfig) if f.name in shown}

    # THEN they are the same values (lists in JSON, tuples in the record)
    assert shown == {
        "timezone": "UTC",
        "send_hour": 7,
        "sla_basis": "calendar",
        "enabled": True,
        "digests": ["daily"],
        "week_start": "monday",
        "breach_list_size": 10,
        "link_request_budget": 100,
    }
    assert record == {key: tuple(v) if isinstance(v, list) else v for key, v in shown.items()}


def test_the_readme_example_validates_with_the_loader_and_with_the_bare_schema() -> None:
    # GIVEN the example of the README's Configuration section
    example = readme_example()

    # WHEN an editor checks it against the schema alone, and sla-digest loads it
    editor_errors = list(Draft202012Validator(accounts_schema()).iter_errors(example))
    config = load_config(json.dumps(example), source="README.md")

    # THEN neither finds a problem, and the document points editors at the schema
    assert editor_errors == []
    assert config.errors == ()
    assert [a.account_id for a in config.accounts] == [7]
    assert example["$schema"] == "./accounts.schema.json"


def test_a_schema_reference_at_the_top_is_accepted_but_must_be_a_string() -> None:
    # GIVEN a document that names its schema, and one whose "$schema" is not a string
    named = {"$schema": "./accounts.schema.json", "accounts": [account()]}
    broken = {"$schema": 1, "accounts": [account()]}

    # THEN the first loads and the second is one line naming the key
    assert load_config(named, source=SOURCE).errors == ()
    with pytest.raises(ConfigError, match=r'^accounts.json: "\$schema" must be a string'):
        load_config(broken, source=SOURCE)


# --- the new keys: good values -----------------------------------------------------------------


def test_without_the_new_keys_an_account_gets_the_documented_defaults() -> None:
    acme = only_account(account())

    assert acme.digests == ("daily",)
    assert acme.week_start == "monday"
    assert acme.breach_list_size == 10
    assert acme.link_request_budget == 100


def test_without_channels_an_account_has_one_email_channel_to_its_recipients() -> None:
    # GIVEN an account with two recipients, weekly and monthly digests, and no channels
    acme = only_account(
        account(recipients=["a@acme.example", "b@acme.example"], digests=["weekly", "monthly"])
    )

    # THEN its one channel is email to those recipients, for every digest it gets
    assert acme.channels == (
        ChannelConfig(
            type="email",
            recipients=("a@acme.example", "b@acme.example"),
            periods=("weekly", "monthly"),
        ),
    )


@pytest.mark.parametrize(
    ("overrides", "attribute", "expected"),
    [
        ({"digests": ["daily", "weekly", "monthly"]}, "digests", ("daily", "weekly", "monthly")),
        ({"digests": ["monthly"]}, "digests", ("monthly",)),
        ({"week_start": "sunday"}, "week_start", "sunday"),
        ({"breach_list_size": 1}, "breach_list_size", 1),
        ({"breach_list_size": 100}, "breach_list_size", 100),
        ({"link_request_budget": 0}, "link_request_budget", 0),
        ({"link_request_budget": 10000}, "link_request_budget", 10000),
    ],
)
def test_each_new_key_takes_its_good_values(
    overrides: dict[str, Any], attribute: str, expected: object
) -> None:
    acme = only_account(account(**overrides))

    assert getattr(acme, attribute) == expected


def test_the_design_example_of_four_channels_becomes_typed_records() -> None:
    # GIVEN the four channels of the design, on an account with daily and weekly digests
    channels = [
        {"type": "email", "recipients": ["leads@acme.example"]},
        {"type": "slack", "url_secret": "sla-digest/acme/slack"},
        {"type": "teams", "url_secret": "sla-digest/acme/teams", "periods": ["weekly"]},
        {"type": "webhook", "url_secret": "sla-digest/acme/hook",
         "signing_secret": "sla-digest/acme/hook-key"},
    ]  # fmt: skip
    acme = only_account(account(digests=["daily", "weekly"], channels=channels))

    # THEN each is a ChannelConfig; periods default to the account's digests
    both = ("daily", "weekly")
    assert acme.channels == (
        ChannelConfig(type="email", recipients=("leads@acme.example",), periods=both),
        ChannelConfig(type="slack", url_secret="sla-digest/acme/slack", periods=both),
        ChannelConfig(type="teams", url_secret="sla-digest/acme/teams", periods=("weekly",)),
        ChannelConfig(
            type="webhook",
            url_secret="sla-digest/acme/hook",
            signing_secret="sla-digest/acme/hook-key",
            periods=both,
        ),
    )


def test_an_email_channel_without_addresses_uses_the_account_recipients() -> None:
    acme = only_account(account(recipients=["team@acme.example"], channels=[{"type": "email"}]))

    assert acme.channels[0].recipients == ("team@acme.example",)


def test_an_account_with_only_a_slack_channel_needs_no_recipients() -> None:
    # GIVEN an account without recipients whose one channel is Slack
    entry = account(channels=[{"type": "slack", "url_secret": "sla-digest/acme/slack"}])
    del entry["recipients"]

    # THEN it is valid and has no email recipients
    acme = only_account(entry)
    assert acme.recipients == ()
    assert [channel.type for channel in acme.channels] == ["slack"]


def test_the_new_keys_and_channels_can_come_from_the_defaults() -> None:
    # GIVEN defaults for every new key, including an email and a Teams channel
    defaults = {
        "digests": ["daily", "weekly"],
        "week_start": "sunday",
        "breach_list_size": 5,
        "link_request_budget": 20,
        "channels": [{"type": "email"}, {"type": "teams", "url_secret": "sla-digest/teams"}],
    }
    # WHEN two accounts use them, the second overriding week_start
    config = load_config(
        {
            "defaults": defaults,
            "accounts": [account(), account(account_id=8, recipients=["b@acme.example"],
                                            week_start="monday")],
        },
        source=SOURCE,
    )  # fmt: skip

    # THEN each gets the defaults, its own recipients in the shared email channel
    first, second = config.accounts
    assert (first.digests, first.week_start, first.breach_list_size) == (
        ("daily", "weekly"),
        "sunday",
        5,
    )
    assert first.link_request_budget == 20
    assert second.week_start == "monday"
    assert first.channels[0].recipients == ("leads@acme.example",)
    assert second.channels[0].recipients == ("b@acme.example",)
    assert second.channels[1] == ChannelConfig(
        type="teams", url_secret="sla-digest/teams", periods=("daily", "weekly")
    )


# --- the new keys: bad values, one line naming the account and the key -------------------------

PREFIX = "accounts[0] (account_id 7): "


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"digests": ["daily", "hourly"]},
         "digests: 'hourly' is not one of daily, weekly, monthly"),
        ({"digests": []}, "digests must be a non-empty list of daily, weekly, monthly"),
        ({"digests": "weekly"},
         "digests 'weekly' must be a non-empty list of daily, weekly, monthly"),
        ({"digests": ["weekly", "weekly"]}, "digests: 'weekly' is listed twice"),
        ({"week_start": "mondy"}, "week_start 'mondy' must be 'monday' or 'sunday'"),
        ({"week_start": "Monday"}, "week_start 'Monday' must be 'monday' or 'sunday'"),
        ({"breach_list_size": 0}, "breach_list_size 0 is not a whole number from 1 to 100"),
        ({"breach_list_size": 101}, "breach_list_size 101 is not a whole number from 1 to 100"),
        ({"breach_list_size": 10.0}, "breach_list_size 10.0 is not a whole number from 1 to 100"),
        ({"breach_list_size": "10"}, "breach_list_size '10' is not a whole number from 1 to 100"),
        ({"link_request_budget": -1},
         "link_request_budget -1 is not a whole number from 0 to 10000"),
        ({"link_request_budget": True},
         "link_request_budget True is not a whole number from 0 to 10000"),
        ({"channels": []}, "channels must be a non-empty list of channel objects"),
        ({"channels": [{"type": "fax"}]},
         "channels[0].type: 'fax' is not one of email, slack, teams, webhook"),
        ({"channels": [{"type": "slack"}]},
         "channels[0]: url_secret is required for a slack channel"),
        ({"channels": [{"type": "teams"}]},
         "channels[0]: url_secret is required for a teams channel"),
        ({"channels": [{"type": "webhook", "url_secret": "sla-digest/hook"}]},
         "channels[0]: signing_secret is required for a webhook channel"),
        ({"channels": [{"url_secret": "sla-digest/hook"}]}, "channels[0]: type is required"),
        ({"channels": [{"type": "email", "to": ["a@acme.example"]}]},
         "channels[0]: unknown key 'to'"),
        ({"channels": [{"type": "slack", "url_secret": "s", "recipients": ["a@acme.example"]}]},
         "channels[0].recipients is not used by a slack channel"),
        ({"channels": [{"type": "email", "url_secret": "sla-digest/x"}]},
         "channels[0].url_secret is not used by an email channel"),
        ({"channels": [{"type": "email", "recipients": ["a@acme.example\r\nBcc: x@evil.example"]}]},
         r"channels[0].recipients: 'a@acme.example\r\nBcc: x@evil.example' contains whitespace"),
        ({"channels": [{"type": "email", "recipients": ["a@acme.example", "A@acme.example"]}]},
         "channels[0].recipients: 'a@acme.example' is listed twice"),
        ({"channels": [{"type": "teams", "url_secret": "s", "periods": ["yearly"]}]},
         "channels[0].periods: 'yearly' is not one of daily, weekly, monthly"),
        ({"channels": [{"type": "teams", "url_secret": "s", "periods": ["weekly"]}]},
         "channels[0].periods: 'weekly' is not one of the account's digests (daily)"),
        ({"channels": [{"type": "slack", "url_secret": "s"}, {"type": "slack", "url_secret": "s"}]},
         "channels[1] repeats channels[0]"),
    ],
)  # fmt: skip
def test_each_bad_new_value_is_one_line_naming_the_account_and_the_key(
    overrides: dict[str, Any], expected: str
) -> None:
    # GIVEN one account with one bad value of a new key
    error = only_error(account(**overrides))

    # THEN its one line names the entry, the account and the key
    assert error.startswith(PREFIX + expected), error
    assert "\n" not in error


def test_an_email_channel_with_no_addresses_anywhere_is_refused() -> None:
    # GIVEN an email channel without recipients on an account without recipients
    entry = account(channels=[{"type": "email"}])
    del entry["recipients"]

    # THEN the entry says where the addresses are missing
    assert only_error(entry) == (
        PREFIX + "channels[0]: an email channel needs recipients (its own or the account's)"
    )


def test_a_webhook_url_pasted_where_its_secret_name_belongs_is_refused_without_repeating_it() -> (
    None
):
    # GIVEN a Slack webhook URL (a credential) written as url_secret
    url = "https://hooks.slack.example/services/T000/B000/XXXXXXXXXXXXXXXXXXXX"
    error = only_error(account(channels=[{"type": "slack", "url_secret": url}]))

    # THEN the line says what to do and never repeats the URL or any part of its path
    assert error.startswith(PREFIX + "channels[0].url_secret looks like a URL")
    assert "hooks.slack.example" not in error
    assert "XXXXXXXX" not in error


def test_a_bad_signing_secret_name_is_named_but_not_repeated() -> None:
    # GIVEN a signing secret given as what looks like the key itself, with a space
    channel = {"type": "webhook", "url_secret": "sla-digest/hook", "signing_secret": "k3y w1th"}

    error = only_error(account(channels=[channel]))

    assert error == (
        PREFIX + "channels[0].signing_secret is not a Secrets Manager secret name or ARN"
    )


def test_a_misspelt_key_is_named_with_the_key_it_probably_meant() -> None:
    assert only_error(account(week_strat="sunday")) == (
        PREFIX + "unknown key 'week_strat' (did you mean 'week_start'?)"
    )


def test_a_bad_new_key_in_the_defaults_makes_the_document_unusable() -> None:
    # GIVEN a defaults block with a misspelt week_start
    document = {"defaults": {"week_start": "sundy"}, "accounts": [account()]}

    # THEN one line names defaults and the key
    with pytest.raises(
        ConfigError, match=r"^accounts.json: defaults: week_start 'sundy' must be 'monday' or"
    ):
        load_config(document, source=SOURCE)


def test_a_bad_channel_leaves_the_other_accounts_running() -> None:
    # GIVEN a good account, one with a Slack channel missing its secret, and another good one
    entries = [
        account(account_id=1),
        account(account_id=2, channels=[{"type": "slack"}]),
        account(account_id=3, digests=["weekly"]),
    ]

    # WHEN loaded
    config = load_config({"accounts": entries}, source=SOURCE)

    # THEN accounts 1 and 3 are kept and account 2 is one line
    assert [a.account_id for a in config.accounts] == [1, 3]
    assert config.errors == (
        "accounts[1] (account_id 2): channels[0]: url_secret is required for a slack channel",
    )


# --- what JSON Schema alone would let through -------------------------------------------------


def test_a_whole_number_written_as_a_float_is_not_an_account_id() -> None:
    # GIVEN account_id 7.0, which JSON Schema itself counts as an integer
    error = only_error(account(account_id=7.0))

    assert error == "accounts[0]: account_id 7.0 is not a positive integer"


def test_a_number_too_long_to_convert_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match=r"^accounts.json: is not valid JSON \(a number is too"):
        load_config('{"accounts": [{"account_id": 1' + "0" * 5000 + "}]}", source=SOURCE)


def test_a_deeply_nested_value_in_one_entry_leaves_the_others_running() -> None:
    # GIVEN recipients nested 900 lists deep in account 7 and a good account 8
    nested: list[Any] = []
    for _ in range(900):
        nested = [nested]
    document = {"accounts": [account(recipients=[nested]), account(account_id=8)]}

    # WHEN loaded
    config = load_config(json.dumps(document), source=SOURCE)

    # THEN account 8 is kept and account 7 is one line about its recipients
    assert [a.account_id for a in config.accounts] == [8]
    (error,) = config.errors
    assert error.startswith(PREFIX + "recipients[0] is not an email address")


def test_a_long_bad_value_is_cut_short_in_its_line() -> None:
    error = only_error(account(timezone="Europe/" + "x" * 5000))

    assert len(error) < 200
    assert error.endswith("… is not an IANA name such as 'Europe/Berlin'")


def test_the_same_bytes_read_again_are_not_validated_again() -> None:
    # GIVEN a document as two separate reads of the same object (as S3 returns it each time)
    text = json.dumps({"accounts": [account()]})
    first_read, second_read = text.encode(), text.encode()

    # WHEN both are loaded, and then a changed document
    first = load_config(first_read, source=SOURCE)
    second = load_config(second_read, source=SOURCE)
    changed = load_config(text.replace("leads@", "team@").encode(), source=SOURCE)

    # THEN the second read is the first result, and the changed one is validated afresh
    assert second is first
    assert changed.accounts[0].recipients == ("team@acme.example",)
