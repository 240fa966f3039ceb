"""The README's signature-verification example, run as it is printed against a real signed
delivery, so the documentation cannot drift from what the webhook sends."""

from __future__ import annotations

import json
import re
import time
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.delivery.channel import Delivery, Message
from sla_digest.delivery.http import HttpPolicy, HttpPoster
from sla_digest.delivery.webhook import WebhookChannel, sign
from sla_digest.report.summary import Summary
from sla_digest_cli.sandbox.receiver import Receiver

if TYPE_CHECKING:
    from collections.abc import Callable

ROOT = Path(__file__).resolve().parents[2]
KEY = "whsec-readme-3b9d0c"
MARKER = "<!-- signature-example:"


def readme_example() -> str:
    """The Python block right after the example's marker in README.md."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(MARKER)
    match = re.compile(r"```python\n(.*?)```", re.DOTALL).search(text, start)
    assert match is not None, "no python block after the signature example's marker"
    return match.group(1)


@pytest.fixture(scope="module")
def verify() -> Callable[..., bool]:
    namespace: dict[str, Any] = {}
    exec(compile(readme_example(), "README.md", "exec"), namespace)
    function: Callable[..., bool] = namespace["verify"]
    return function


@pytest.fixture(scope="module")
def delivered() -> tuple[dict[str, str], bytes]:
    """One real webhook delivery of the Acme day, as the receiver got it."""
    path = ROOT / "tests" / "fixtures" / "summaries" / "acme-2026-11-20.json"
    summary = Summary.from_dict(json.loads(path.read_text(encoding="utf-8")))
    with Receiver() as hooks:
        channel = WebhookChannel(
            hooks.url("webhook"),
            signing_key=KEY,
            where="sla-digest/acme/hook",
            key_where="sla-digest/acme/hook-key",
            poster=HttpPoster(policy=HttpPolicy(attempts=1)),
        )
        message = Message(digest=None, summary=summary)  # type: ignore[arg-type]
        channel.deliver(message, Delivery(account_id=7, start=date(2026, 11, 20)))
        (got,) = hooks.received("webhook")
    # Header names as a receiving framework would present them.
    headers = {"SLA-Digest-Signature": got.headers["sla-digest-signature"]}
    return headers, got.body


def test_the_readme_example_is_about_fifteen_lines() -> None:
    lines = [line for line in readme_example().splitlines() if line.strip()]
    assert 10 <= len(lines) <= 16


def test_the_readme_example_accepts_a_real_signed_delivery(
    verify: Callable[..., bool], delivered: tuple[dict[str, str], bytes]
) -> None:
    # GIVEN a delivery just made; WHEN the README's function checks it; THEN it is genuine
    headers, body = delivered
    assert verify(headers, body, KEY) is True


def test_the_readme_example_refuses_a_changed_body_or_another_key(
    verify: Callable[..., bool], delivered: tuple[dict[str, str], bytes]
) -> None:
    headers, body = delivered
    # GIVEN one changed byte, or the wrong key; THEN the check fails
    assert verify(headers, body.replace(b'"account_id":7', b'"account_id":8'), KEY) is False
    assert verify(headers, body, "another-key") is False


def test_the_readme_example_refuses_a_replayed_old_request(
    verify: Callable[..., bool], delivered: tuple[dict[str, str], bytes]
) -> None:
    # GIVEN a correctly signed request from an hour ago
    _, body = delivered
    old = int(time.time()) - 3600
    headers = {"SLA-Digest-Signature": f"t={old},v1={sign(KEY, old, body)}"}
    # THEN it is refused as a replay
    assert verify(headers, body, KEY) is False
