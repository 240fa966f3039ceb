"""accounts.json validation, SLA target resolution and the Lambda settings."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from sla_digest.config import (
    AccountConfig,
    Settings,
    SlaTargets,
    load_config,
    resolve_targets,
    validate_base_url,
)
from sla_digest.exceptions import ConfigError

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


def only_error(accounts: list[dict[str, Any]], **document: Any) -> str:
    config = load_config({"accounts": accounts, **document}, source=SOURCE)
    assert len(config.errors) == 1, config.errors
    return config.errors[0]


# --- a good document ----------------------------------------------------------------------


def test_defaults_are_merged_into_an_account_that_does_not_set_them() -> None:
    # GIVEN defaults for zone, hour, basis and targets, and an account that sets none of them
    document = {
        "defaults": {
            "timezone": "Europe/Berlin",
            "send_hour": 6,
            "sla_basis": "business_hours",
            "sla": {"first_response": "30m", "reply_time": 3600},
        },
        "accounts": [account()],
    }

    # WHEN the document is loaded
    config = load_config(json.dumps(document), source=SOURCE)

    # THEN the account carries the defaults (30m = 1800 s)
    assert config.errors == ()
    assert config.accounts == (
        AccountConfig(
            account_id=7,
            name="Acme Support",
            base_url="https://chat.acme.example",
            token_secret="sla-digest/acme",
            recipients=("leads@acme.example",),
            timezone="Europe/Berlin",
            send_hour=6,
            sla_policy=None,
            sla={},
            sla_basis="business_hours",
            enabled=True,
            default_sla={"first_response": 1800.0, "reply_time": 3600.0},
        ),
    )


def test_an_account_value_beats_the_default_and_sla_metrics_merge_one_by_one() -> None:
    # GIVEN defaults with two targets, and an account overriding one target and the hour
    document = {
        "defaults": {"send_hour": 6, "sla": {"first_response": "30m", "reply_time": "1h"}},
        "accounts": [account(send_hour=9, sla={"reply_time": "2h"})],
    }

    # WHEN it is loaded
    (acme,) = load_config(document, source=SOURCE).accounts

    # THEN the account's own values win and the other default target stays
    assert acme.send_hour == 9
    assert acme.sla_targets == SlaTargets(first_response=1800.0, reply_time=7200.0)


def test_built_in_defaults_apply_when_the_document_has_none() -> None:
    # GIVEN a document without "defaults"
    (acme,) = load_config({"accounts": [account()]}, source=SOURCE).accounts

    # THEN the documented fallbacks hold: UTC, 07:00, calendar basis, enabled
    assert (acme.timezone, acme.send_hour, acme.sla_basis, acme.enabled) == (
        "UTC",
        7,
        "calendar",
        True,
    )


def test_a_trailing_slash_on_base_url_is_dropped() -> None:
    config = load_config(
        {"accounts": [account(base_url="https://chat.acme.example/")]}, source=SOURCE
    )

    assert config.accounts[0].base_url == "https://chat.acme.example"


def test_raw_bytes_are_accepted() -> None:
    # GIVEN the document as the bytes S3 returns
    raw = json.dumps({"accounts": [account()]}).encode()

    # THEN it loads like the parsed form
    assert load_config(raw, source=SOURCE).accounts[0].account_id == 7


@pytest.mark.parametrize(
    "base_url",
    ["http://127.0.0.1:8080", "http://127.9.9.9", "http://[::1]:3000", "http://localhost:3000"],
)
def test_plain_http_is_allowed_for_loopback_hosts(base_url: str) -> None:
    config = load_config({"accounts": [account(base_url=base_url)]}, source=SOURCE)

    assert config.errors == ()


# --- each bad entry: one clear line naming the entry and key --------------------------------


def test_a_bad_time_zone_names_the_entry_and_the_zone() -> None:
    # GIVEN two good accounts before a third with a zone that does not exist
    entries = [account(account_id=1), account(account_id=2), account(account_id=9)]
    entries[2]["timezone"] = "Mars/Base"

    # WHEN it is loaded
    error = only_error(entries)

    # THEN the line names the position, the id, the key and the value
    assert error == (
        "accounts[2] (account_id 9): timezone 'Mars/Base' is not an IANA name "
        "such as 'Europe/Berlin'"
    )


def test_good_entries_survive_a_bad_one() -> None:
    # GIVEN a bad entry between two good ones
    entries = [account(account_id=1), account(account_id=2, send_hour=25), account(account_id=3)]

    # WHEN it is loaded
    config = load_config({"accounts": entries}, source=SOURCE)

    # THEN both good accounts are kept, and the bad one is reported
    assert [a.account_id for a in config.accounts] == [1, 3]
    assert len(config.errors) == 1
    assert config.errors[0].startswith("accounts[1] (account_id 2): send_hour 25")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"send_hour": 24}, "send_hour 24 is not a whole hour from 0 to 23"),
        ({"send_hour": "7"}, "send_hour '7' is not a whole hour from 0 to 23"),
        ({"send_hour": True}, "send_hour True is not a whole hour from 0 to 23"),
        ({"account_id": 0}, "account_id 0 is not a positive integer"),
        ({"account_id": "7"}, "account_id '7' is not a positive integer"),
        ({"enabled": "yes"}, "enabled 'yes' must be true or false"),
        ({"sla_basis": "wall"}, "sla_basis 'wall' must be 'calendar' or 'business_hours'"),
        ({"sla": {"first_response": "soon"}}, "sla.first_response: 'soon' is not a duration"),
        ({"sla": {"first_response": "-5m"}}, "sla.first_response: '-5m' is not a duration"),
        ({"sla": {"first_response": 0}}, "sla.first_response: 0 must be a positive duration"),
        ({"sla": {"handle_time": "5m"}}, "sla: unknown metric 'handle_time'"),
        ({"token_secret": "my secret"}, "token_secret 'my secret' is not a Secrets Manager"),
        ({"recipients": []}, "recipients must be a non-empty list of email addresses"),
        ({"name": "Acme\r\nBcc: x@evil.example"}, "contains line breaks"),
        ({"timezone": "localtime"}, "timezone 'localtime' is not an IANA name"),
    ],
)
def test_each_bad_value_is_reported_with_its_key(overrides: dict[str, Any], expected: str) -> None:
    # GIVEN one account with one bad value
    error = only_error([account(**overrides)])

    # THEN the error line names the entry and says what is wrong
    assert error.startswith("accounts[0]")
    assert expected in error


@pytest.mark.parametrize(
    "address",
    [
        "leads@acme.example\r\nBcc: everyone@evil.example",
        "leads@acme.example\nBcc: everyone@evil.example",
        "leads@acme.example, everyone@evil.example",
        "Leads <leads@acme.example>",
        "leads@acme.example ",
        "leads",
        "leads@localhost",
        "leads..team@acme.example",
        "@acme.example",
        "leads@acme..example",
    ],
)
def test_recipients_that_are_not_one_plain_address_are_refused(address: str) -> None:
    # GIVEN a recipient that is not exactly one plain address (header injection among them)
    error = only_error([account(recipients=["ok@acme.example", address])])

    # THEN the entry is refused because of its recipients
    assert error.startswith("accounts[0] (account_id 7): recipients: ")


def test_the_same_recipient_twice_is_refused() -> None:
    error = only_error([account(recipients=["a@acme.example", "A@acme.example"])])

    assert "'a@acme.example' is listed twice" in error


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("http://chat.acme.example", "must use https (plain http only for localhost)"),
        ("http://10.0.0.5:3000", "must use https (plain http only for localhost)"),
        ("ftp://chat.acme.example", "is not a URL"),
        ("chat.acme.example", "is not a URL"),
        ("https://user:pw@chat.acme.example", "must not contain credentials"),
        ("https://chat.acme.example/?x=1", "must not have a query or fragment"),
        ("https://chat.acme.example:99999", "is not a URL"),
    ],
)
def test_base_urls_that_are_not_https_or_loopback_http_are_refused(
    base_url: str, expected: str
) -> None:
    error = only_error([account(base_url=base_url)])

    assert "base_url" in error
    assert expected in error


def test_a_missing_required_key_is_named() -> None:
    # GIVEN an account without base_url and without recipients
    entry = account()
    del entry["base_url"], entry["recipients"]

    # THEN both missing keys are named in the entry's one line
    assert only_error([entry]) == (
        "accounts[0] (account_id 7): base_url is required; recipients is required"
    )


def test_recipients_may_come_from_the_defaults() -> None:
    # GIVEN recipients only in the defaults
    entry = account()
    del entry["recipients"]
    config = load_config(
        {"defaults": {"recipients": ["team@acme.example"]}, "accounts": [entry]}, source=SOURCE
    )

    assert config.accounts[0].recipients == ("team@acme.example",)


def test_several_problems_in_one_entry_make_one_line() -> None:
    error = only_error([account(send_hour=30, timezone="Nowhere")])

    assert error.count("accounts[0]") == 1
    assert "timezone 'Nowhere'" in error
    assert "send_hour 30" in error


def test_every_entry_sharing_an_account_id_is_refused() -> None:
    # GIVEN account 7 twice (which recipients were meant is unknowable) and account 8 once
    entries = [account(), account(account_id=8), account(recipients=["other@acme.example"])]

    # WHEN it is loaded
    config = load_config({"accounts": entries}, source=SOURCE)

    # THEN only account 8 is kept and both entries of 7 say where the other is
    assert [a.account_id for a in config.accounts] == [8]
    assert config.errors == (
        "accounts[0] (account_id 7): account_id 7 is also used by accounts[2]",
        "accounts[2] (account_id 7): account_id 7 is also used by accounts[0]",
    )


def test_an_entry_that_is_not_an_object_is_reported() -> None:
    assert only_error(["acme"]) == "accounts[0]: must be an object"


def test_a_job_for_a_rejected_account_says_why() -> None:
    # GIVEN account 9 rejected for its zone
    config = load_config({"accounts": [account(account_id=9, timezone="Mars/Base")]}, source=SOURCE)

    # WHEN a job asks for account 9, THEN the error is the entry's own line
    with pytest.raises(ConfigError, match=r"^accounts\[0\] \(account_id 9\): timezone"):
        config.account(9)


def test_a_job_for_an_unknown_account_names_the_source() -> None:
    config = load_config({"accounts": [account()]}, source="s3://bucket/config/accounts.json")

    with pytest.raises(
        ConfigError, match=r"^account 5 is not configured in s3://bucket/config/accounts.json$"
    ):
        config.account(5)


# --- a broken document raises -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ('{"accounts": [', r"^accounts.json: is not valid JSON \(.* at line 1, column 15\)$"),
        (b"\xff\xfe", r"^accounts.json: is not "),
        ("[]", r'^accounts.json: must be a JSON object with an "accounts" list$'),
        ('{"accounts": {}}', r'^accounts.json: "accounts" must be a list of account objects$'),
        ("{}", r'^accounts.json: "accounts" must be a list'),
        ('{"acounts": []}', r"^accounts.json: unknown top-level key 'acounts'"),
        ('{"defaults": [], "accounts": []}', r'^accounts.json: "defaults" must be an object$'),
        (
            '{"defaults": {"timezone": "Mars/Base"}, "accounts": []}',
            r"^accounts.json: defaults: timezone 'Mars/Base' is not an IANA name",
        ),
        (
            '{"defaults": {"account_id": 3}, "accounts": []}',
            r"^accounts.json: defaults: unknown key 'account_id'",
        ),
    ],
)
def test_a_broken_document_raises_one_clear_line(data: str | bytes, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        load_config(data, source=SOURCE)

    assert "\n" not in str(caught.value)


# --- resolve_targets ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Policy:
    name: str
    first_response: float | None
    reply_time: float | None
    conversation_resolved: float | None


POLICIES = [
    Policy("Standard", first_response=900, reply_time=3600, conversation_resolved=None),
    Policy("Premium", first_response=300, reply_time=600, conversation_resolved=14400),
]


def test_targets_come_from_the_named_policy() -> None:
    # GIVEN an account that names the Premium policy and sets nothing explicit
    config = load_config({"accounts": [account(sla_policy="Premium")]}, source=SOURCE)

    # WHEN its targets are resolved
    targets = resolve_targets(config.accounts[0], POLICIES)

    # THEN they are Premium's thresholds
    assert targets == SlaTargets(
        first_response=300.0, reply_time=600.0, conversation_resolved=14400.0, basis="calendar"
    )


def test_explicit_sla_values_override_the_policy_and_fill_its_gaps() -> None:
    # GIVEN Standard (no resolution threshold), an account reply_time and a default resolution
    document = {
        "defaults": {"sla": {"conversation_resolved": "1d"}, "sla_basis": "business_hours"},
        "accounts": [account(sla_policy="Standard", sla={"reply_time": "2h"})],
    }
    (acme,) = load_config(document, source=SOURCE).accounts

    # WHEN resolved
    targets = resolve_targets(acme, POLICIES)

    # THEN first_response is Standard's 900 s, reply_time the account's 2 h, resolution the
    # default's 1 d, and the basis is carried over
    assert targets == SlaTargets(
        first_response=900.0,
        reply_time=7200.0,
        conversation_resolved=86400.0,
        basis="business_hours",
    )


def test_shared_defaults_do_not_overrule_the_policy_an_account_names() -> None:
    # GIVEN defaults for all three metrics (the design's own example) and an account that
    # names Premium and sets its own first-response target
    document = {
        "defaults": {"sla": {"first_response": "30m", "reply_time": "1h",
                             "conversation_resolved": "24h"}},
        "accounts": [account(sla_policy="Premium", sla={"first_response": "10m"})],
    }  # fmt: skip
    (acme,) = load_config(document, source=SOURCE).accounts

    # WHEN resolved
    targets = resolve_targets(acme, POLICIES)

    # THEN the account's own value wins, Premium's thresholds beat the shared defaults
    assert targets == SlaTargets(
        first_response=600.0, reply_time=600.0, conversation_resolved=14400.0
    )


def test_defaults_fill_what_neither_the_account_nor_its_policy_sets() -> None:
    document = {
        "defaults": {"sla": {"conversation_resolved": "2d"}},
        "accounts": [account(sla_policy="Standard")],
    }
    (acme,) = load_config(document, source=SOURCE).accounts
    assert resolve_targets(acme, POLICIES).conversation_resolved == 172800.0


def test_without_a_policy_only_explicit_targets_are_set() -> None:
    (acme,) = load_config(
        {"accounts": [account(sla={"first_response": 60})]}, source=SOURCE
    ).accounts

    assert resolve_targets(acme, []) == SlaTargets(first_response=60.0)


def test_sla_targets_hold_the_explicit_values_and_basis_only() -> None:
    # GIVEN a policy name, one explicit target and a business-hours basis
    entry = account(sla_policy="Premium", sla={"reply_time": "2h"}, sla_basis="business_hours")
    (acme,) = load_config({"accounts": [entry]}, source=SOURCE).accounts

    # THEN sla_targets carries just what the document says, not the policy's thresholds
    assert acme.sla_targets == SlaTargets(reply_time=7200.0, basis="business_hours")


def test_an_unknown_policy_name_is_a_config_error_naming_it() -> None:
    (acme,) = load_config({"accounts": [account(sla_policy="Gold")]}, source=SOURCE).accounts

    with pytest.raises(ConfigError, match=r"sla_policy 'Gold' is not an SLA policy") as caught:
        resolve_targets(acme, POLICIES)

    assert "'Premium', 'Standard'" in str(caught.value)


# --- Settings ------------------------------------------------------------------------------------

ENVIRONMENT = {
    "ARCHIVE_BUCKET": "archive",
    "CONFIG_KEY": "config/other.json",
    "JOBS_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
    "IDEMPOTENCY_TABLE": "idempotency",
    "SENDER_ADDRESS": "digest@acme.example",
    "TEMPLATES_DIR": "/opt/templates",
    "UNRELATED": "ignored",
}


def test_settings_read_exactly_the_contract_variables() -> None:
    settings = Settings.from_env(ENVIRONMENT, required=Settings.DIGEST)

    assert settings == Settings(
        archive_bucket="archive",
        config_key="config/other.json",
        jobs_queue_url="https://sqs.eu-west-1.amazonaws.com/123456789012/jobs",
        idempotency_table="idempotency",
        sender_address="digest@acme.example",
        templates_dir=Path("/opt/templates"),
    )


def test_config_key_defaults_to_the_documented_key() -> None:
    environ = {"ARCHIVE_BUCKET": "archive", "JOBS_QUEUE_URL": "https://q"}

    settings = Settings.from_env(environ, required=Settings.DISPATCH)

    assert settings.config_key == "config/accounts.json"


def test_a_missing_required_variable_is_named_in_one_line() -> None:
    # GIVEN the digest's variables without SENDER_ADDRESS (and an empty TEMPLATES_DIR)
    environ = {k: v for k, v in ENVIRONMENT.items() if k != "SENDER_ADDRESS"}
    environ["TEMPLATES_DIR"] = ""

    # THEN both are named
    with pytest.raises(
        ConfigError,
        match=r"^environment variable SENDER_ADDRESS and TEMPLATES_DIR are not set",
    ):
        Settings.from_env(environ, required=Settings.DIGEST)


def test_a_variable_the_function_does_not_need_may_be_missing() -> None:
    environ = {"ARCHIVE_BUCKET": "archive", "JOBS_QUEUE_URL": "https://q"}

    settings = Settings.from_env(environ, required=Settings.DISPATCH)

    assert settings.sender_address == ""


def test_a_sender_that_is_not_an_address_is_refused() -> None:
    environ = {**ENVIRONMENT, "SENDER_ADDRESS": "digest@acme.example\nBcc: x@evil.example"}

    with pytest.raises(ConfigError, match=r"^environment variable SENDER_ADDRESS: "):
        Settings.from_env(environ, required=Settings.DIGEST)


# --- validate_base_url (the CLI's --base-url) ---------------------------------------------------


def test_a_base_url_flag_loses_its_trailing_slash() -> None:
    assert validate_base_url("https://chat.acme.example/", where="--base-url") == (
        "https://chat.acme.example"
    )


def test_a_plain_http_base_url_flag_is_refused_with_the_flag_name() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^--base-url: 'http://chat.acme.example' must use https \(plain http only for",
    ):
        validate_base_url("http://chat.acme.example", where="--base-url")


def test_a_name_with_a_lone_surrogate_is_refused_for_its_entry_only() -> None:
    # GIVEN a name that cannot be encoded as UTF-8 next to a good account
    document = {"accounts": [account(name="Acme \udc80"), account(account_id=8, name="Good")]}
    config = load_config(document, source=SOURCE)
    # THEN the bad entry is reported and the other one survives
    assert [a.account_id for a in config.accounts] == [8]
    assert "lone surrogate" in config.errors[0]


def test_a_document_nested_too_deeply_is_one_config_error() -> None:
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(b'{"accounts": ' + b"[" * 100_000, source=SOURCE)
