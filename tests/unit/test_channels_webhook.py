"""The signed webhook: the summary document as sent, a signature a receiver can check with
nothing but HMAC-SHA256, and a delivery id that is the same for every attempt."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from sla_digest.delivery.channel import Delivery, Message
from sla_digest.delivery.hook import delivery_id
from sla_digest.delivery.webhook import WebhookChannel, sign
from sla_digest.exceptions import ConfigError
from sla_digest.report.summary import Summary

ROOT = Path(__file__).resolve().parents[2]
KEY = "whsec-unit-7c1d"
DAY = date(2026, 11, 20)


def document() -> dict[str, Any]:
    path = ROOT / "tests" / "fixtures" / "summaries" / "acme-2026-11-20.json"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def channel(**options: Any) -> WebhookChannel:
    options.setdefault("signing_key", KEY)
    return WebhookChannel(
        "https://receiver.example/hook",
        where="sla-digest/acme/hook",
        key_where="sla-digest/acme/hook-key",
        clock=lambda: 1795215600.7,
        **options,
    )


def request(hook: WebhookChannel, **delivery: Any) -> tuple[bytes, dict[str, str]]:
    summary = Summary.from_dict(document())
    message = Message(digest=None, summary=summary)  # type: ignore[arg-type]
    return hook.request(message, Delivery(account_id=7, start=DAY, **delivery))


def test_the_body_is_the_summary_document() -> None:
    # GIVEN the Acme day
    body, headers = request(channel())
    # THEN the body parses back to the stored summary.json, sent as JSON
    assert json.loads(body) == document()
    assert headers["Content-Type"] == "application/json; charset=utf-8"


def test_the_signature_verifies_with_an_independent_hmac_over_t_dot_body() -> None:
    # GIVEN a signed request at unix time 1795215600
    body, headers = request(channel())
    fields = dict(part.split("=", 1) for part in headers["SLA-Digest-Signature"].split(","))
    # WHEN a receiver recomputes HMAC-SHA256(key, "<t>.<raw body>") on its own
    expected = hmac.new(KEY.encode(), b"1795215600." + body, hashlib.sha256).hexdigest()
    # THEN it matches, and the same body with another timestamp or byte does not
    assert fields == {"t": "1795215600", "v1": expected}
    assert sign(KEY, 1795215601, body) != expected
    assert sign(KEY, 1795215600, body + b" ") != expected
    assert sign("another-key", 1795215600, body) != expected


def test_the_delivery_id_is_stable_per_account_period_start_and_channel() -> None:
    # GIVEN the same delivery twice, and deliveries that differ in one part each
    first = request(channel())[1]["SLA-Digest-Delivery"]
    again = request(channel())[1]["SLA-Digest-Delivery"]
    forced = request(channel(), force=True)[1]["SLA-Digest-Delivery"]
    day = Delivery(account_id=7, start=DAY)
    others = {
        delivery_id(Delivery(account_id=8, start=DAY), "webhook", "sla-digest/acme/hook"),
        delivery_id(Delivery(account_id=7, start=date(2026, 11, 21)), "webhook", "x"),
        delivery_id(Delivery(account_id=7, start=DAY, period="week"), "webhook", "x"),
        delivery_id(day, "slack", "sla-digest/acme/hook"),
        delivery_id(day, "webhook", "sla-digest/other/hook"),
    }
    # THEN repeats (forced or not) share the id; any other part makes another id
    assert first == again == forced
    assert first.startswith("sla-digest:7:day:2026-11-20:webhook:")
    assert first not in others
    assert len(others) == 5


def test_a_webhook_without_a_signing_key_is_refused_naming_where_to_put_one() -> None:
    # GIVEN a webhook whose signing secret is empty
    hook = channel(signing_key="  ")
    # WHEN its request is built
    with pytest.raises(ConfigError) as caught:
        request(hook)
    # THEN the line says which account and which secret to fill in
    assert "account 7" in str(caught.value)
    assert "sla-digest/acme/hook-key" in str(caught.value)


def test_the_channel_identity_names_its_type_and_where_its_url_is_kept_never_the_url() -> None:
    # GIVEN the channel
    identity = channel().identity()
    # THEN the exactly-once key gets the channel type and the secret's name
    assert identity == {"channel": "webhook", "target": "sla-digest/acme/hook"}
    assert "receiver.example" not in json.dumps(identity)
