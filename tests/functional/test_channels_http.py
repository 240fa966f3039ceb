"""The hook channels against a real HTTP receiver on 127.0.0.1: what is retried, what is
refused, what is never done (follow a redirect, show the URL)."""

from __future__ import annotations

import json
import logging
import socket
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.delivery.channel import Delivery, Message
from sla_digest.delivery.hook import delivery_id
from sla_digest.delivery.http import HttpPolicy, HttpPoster
from sla_digest.delivery.slack import SlackChannel, slack_payload
from sla_digest.delivery.teams import TeamsChannel, teams_payload
from sla_digest.exceptions import ConfigError, DeliveryRejected, DeliveryUnavailable
from sla_digest.report.summary import Summary
from sla_digest_cli.sandbox.receiver import Receiver

if TYPE_CHECKING:
    from collections.abc import Iterator

ROOT = Path(__file__).resolve().parents[2]
DELIVERY = Delivery(account_id=7, start=date(2026, 11, 20))
WHERE = "SLA_DIGEST_SLACK_URL"
FAST = HttpPolicy(connect_timeout=1.0, read_timeout=0.4, attempts=3, base_delay=0.01,
                  max_delay=0.02, max_retry_after=5.0)  # fmt: skip


@pytest.fixture(scope="module")
def message() -> Message:
    path = ROOT / "tests" / "fixtures" / "summaries" / "acme-2026-11-20.json"
    summary = Summary.from_dict(json.loads(path.read_text(encoding="utf-8")))
    return Message(digest=None, summary=summary)  # type: ignore[arg-type]


@pytest.fixture
def hooks() -> Iterator[Receiver]:
    with Receiver(slow_seconds=1.0) as receiver:
        yield receiver


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def poster(sleeps: list[float]) -> HttpPoster:
    return HttpPoster(policy=FAST, sleep=sleeps.append, jitter=lambda: 1.0)


def slack(url: str, poster: HttpPoster) -> SlackChannel:
    return SlackChannel(url, where=WHERE, poster=poster)


def shown(exc: BaseException) -> str:
    return str(exc)


def test_slack_gets_the_block_kit_message_and_the_receipt_names_no_url(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN the Slack channel pointing at the receiver
    channel = slack(hooks.url("slack"), poster)
    # WHEN the digest is delivered
    receipt = channel.deliver(message, DELIVERY)
    # THEN Slack got exactly the payload, and the receipt holds the delivery id, not the URL
    (got,) = hooks.received("slack")
    assert got.json() == slack_payload(message.summary)
    assert got.headers["content-type"].startswith("application/json")
    assert receipt.channel == "slack"
    assert receipt.message_id == delivery_id(DELIVERY, "slack", WHERE)
    assert hooks.token not in receipt.message_id


def test_teams_gets_the_card_in_the_workflows_envelope(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN the Teams channel; WHEN it delivers
    TeamsChannel(hooks.url("teams"), where="SLA_DIGEST_TEAMS_URL", poster=poster).deliver(
        message, DELIVERY
    )
    # THEN the workflow got the envelope (and answered 202, which is success)
    (got,) = hooks.received("teams")
    assert got.status == 202
    assert got.json() == teams_payload(message.summary)


@pytest.mark.parametrize("fault", ["500", "503", "429"])
def test_a_transient_answer_is_retried_after_a_backoff(
    hooks: Receiver, poster: HttpPoster, sleeps: list[float], message: Message, fault: str
) -> None:
    # GIVEN a hook that fails once
    hooks.fail("slack", fault)
    # WHEN the digest is delivered
    slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN it was posted twice, the second time after the first backoff step
    assert [r.status for r in hooks.requests("slack")] == [int(fault), 200]
    assert sleeps == [0.01]


def test_a_429_with_retry_after_is_waited_out_as_asked(
    hooks: Receiver, poster: HttpPoster, sleeps: list[float], message: Message
) -> None:
    # GIVEN a hook that throttles once, asking for 1 second
    hooks.fail("slack", "429-retry-after")
    # WHEN the digest is delivered
    slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN the wait was the server's, not the backoff's
    assert sleeps == [1.0]
    assert len(hooks.received("slack")) == 1


def test_a_retry_after_beyond_the_bound_is_left_to_the_queue(
    hooks: Receiver, sleeps: list[float], message: Message
) -> None:
    # GIVEN a poster that waits at most half a second for a Retry-After of 1 second
    poster = HttpPoster(policy=HttpPolicy(max_retry_after=0.5), sleep=sleeps.append)
    hooks.fail("slack", "429-retry-after")
    # WHEN the digest is delivered
    with pytest.raises(DeliveryUnavailable) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN it gave up at once, retryable, saying how long the hook asked to wait
    assert sleeps == []
    assert "asking to wait 1 s" in shown(caught.value)


def test_a_hook_failing_every_attempt_is_retryable_and_names_the_channel_not_the_url(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN a hook answering 503 three times
    hooks.fail("slack", "503", "503", "503")
    # WHEN the digest is delivered
    with pytest.raises(DeliveryUnavailable) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN three attempts, one line naming the Slack hook of account 7, no URL
    assert len(hooks.requests("slack")) == 3
    text = shown(caught.value)
    assert text.startswith("the Slack hook of account 7: answered 503")
    assert "3 attempts" in text
    assert hooks.token not in text
    assert "127.0.0.1" not in text


@pytest.mark.parametrize("fault", ["404", "410", "403"])
def test_a_revoked_hook_is_refused_at_once_with_where_to_store_a_new_url(
    hooks: Receiver, poster: HttpPoster, message: Message, fault: str
) -> None:
    # GIVEN a hook that was revoked
    hooks.fail("slack", fault)
    # WHEN the digest is delivered
    with pytest.raises(DeliveryRejected) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN one attempt only, and a line saying what to do, without the URL
    text = shown(caught.value)
    assert len(hooks.requests("slack")) == 1
    assert f"answered {fault}" in text
    assert "revoked" in text
    assert WHERE in text
    assert hooks.token not in text


def test_a_413_is_refused_with_a_clear_line(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    hooks.fail("slack", "413")
    # GIVEN a receiver refusing the size; WHEN delivered
    with pytest.raises(DeliveryRejected) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN one attempt and a line about the size
    assert len(hooks.requests("slack")) == 1
    assert "too large (413)" in shown(caught.value)


def test_a_redirect_is_never_followed(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN a hook that redirects
    hooks.fail("slack", "redirect")
    # WHEN the digest is delivered
    with pytest.raises(DeliveryRejected) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN the redirect's target was never asked for
    assert hooks.redirects_followed == 0
    assert "redirect (302), which is never followed" in shown(caught.value)


@pytest.mark.parametrize("code", ["invalid_payload", "no_text", "channel_not_found"])
def test_slacks_200_error_bodies_are_refusals(
    hooks: Receiver, poster: HttpPoster, message: Message, code: str
) -> None:
    # GIVEN Slack answering 200 with an error body
    hooks.fail("slack", f"slack-{code}")
    # WHEN the digest is delivered
    with pytest.raises(DeliveryRejected) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN the refusal names Slack's code, once
    assert code in shown(caught.value)
    assert len(hooks.requests("slack")) == 1


def test_a_url_with_credentials_is_refused_before_any_request(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN a URL carrying a user and password
    url = hooks.url("slack").replace("http://", "http://user:p4ss@")
    # WHEN the digest is delivered
    with pytest.raises(ConfigError) as caught:
        slack(url, poster).deliver(message, DELIVERY)
    # THEN nothing was sent and the line shows neither the URL nor the password
    assert hooks.requests() == []
    assert "contains credentials" in shown(caught.value)
    assert "p4ss" not in shown(caught.value)


def test_a_tls_failure_is_retryable_with_a_clear_line(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN https to a server that speaks plain HTTP (the handshake cannot succeed)
    url = hooks.url("slack").replace("http://", "https://")
    # WHEN the digest is delivered
    with pytest.raises(DeliveryUnavailable) as caught:
        slack(url, poster).deliver(message, DELIVERY)
    # THEN a line about TLS, naming where the URL is kept, and no URL
    text = shown(caught.value)
    assert "TLS handshake failed" in text
    assert WHERE in text
    assert hooks.token not in text


def test_a_hook_too_slow_to_answer_is_retried_then_retryable(
    hooks: Receiver, poster: HttpPoster, message: Message
) -> None:
    # GIVEN a hook slower than the read timeout every time
    hooks.fail("slack", "slow", "slow", "slow")
    # WHEN the digest is delivered
    with pytest.raises(DeliveryUnavailable) as caught:
        slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN each attempt timed out
    assert "no answer in time" in shown(caught.value)


def test_an_unreachable_hook_is_retryable(poster: HttpPoster, message: Message) -> None:
    # GIVEN a loopback port nobody listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # WHEN the digest is delivered there
    with pytest.raises(DeliveryUnavailable) as caught:
        slack(f"http://127.0.0.1:{port}/slack/secret-path", poster).deliver(message, DELIVERY)
    # THEN it could not be reached, and the path is not shown
    assert "could not be reached" in shown(caught.value)
    assert "secret-path" not in shown(caught.value)


def test_urllib3_debug_lines_never_show_the_hook_path(
    hooks: Receiver, poster: HttpPoster, message: Message, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN every urllib3 line captured down to DEBUG
    caplog.set_level(logging.DEBUG, logger="urllib3")
    hooks.fail("slack", "500")
    # WHEN the digest is delivered (with one retry)
    slack(hooks.url("slack"), poster).deliver(message, DELIVERY)
    # THEN urllib3 logged its request lines, with the secret path blanked out
    lines: list[Any] = [r.getMessage() for r in caplog.records if r.name.startswith("urllib3")]
    assert any("POST /[hook-path-hidden]" in line for line in lines)
    assert hooks.token not in caplog.text
