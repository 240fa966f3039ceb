"""Which hook URLs may be posted to: https anywhere, plain http to loopback only, never a URL
with credentials in it; and the refusal never shows the URL."""

from __future__ import annotations

import pytest

from sla_digest.delivery.http import HttpAnswer, check_hook_url, is_loopback
from sla_digest.exceptions import ConfigError

WHERE = "sla-digest/acme/slack"


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.slack.com/services/T000/B000/XXXX",
        "https://prod-00.westeurope.logic.azure.com:443/workflows/abc/triggers/manual/paths/invoke?sig=s",
        "http://127.0.0.1:8080/hook",
        "http://localhost/hook",
        "http://[::1]:9000/hook",
    ],
)
def test_https_urls_and_plain_http_to_loopback_are_accepted(url: str) -> None:
    # GIVEN / WHEN / THEN: the URL comes back as it was
    assert check_hook_url(url, what="the Slack hook of account 7", where=WHERE) == url


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("http://hooks.example.com/s3cr3t", "must use https"),
        ("https://user:s3cr3t@hooks.example.com/x", "contains credentials"),
        ("https://:s3cr3t@hooks.example.com/x", "contains credentials"),
        ("ftp://hooks.example.com/s3cr3t", "is not a URL"),
        ("hooks.example.com/s3cr3t", "is not a URL"),
        ("https://hooks.example.com/s3cr3t path", "is not a URL"),
        ("https://hooks.example.com:99999/s3cr3t", "is not a URL"),
        ("", "is not a URL"),
    ],
)
def test_other_urls_are_refused_with_a_line_that_does_not_show_them(url: str, problem: str) -> None:
    # GIVEN a URL that must not be posted to
    # WHEN it is checked
    with pytest.raises(ConfigError) as caught:
        check_hook_url(url, what="the Slack hook of account 7", where=WHERE)
    # THEN the line names the channel, the secret and the problem, and not the URL's secret part
    text = str(caught.value)
    assert text.startswith(f"the Slack hook of account 7: the URL in {WHERE} ")
    assert problem in text
    assert "s3cr3t" not in text


@pytest.mark.parametrize(
    ("host", "loopback"),
    [("localhost", True), ("LOCALHOST.", True), ("127.0.0.2", True), ("::1", True),
     ("[::1]", True), ("10.0.0.1", False), ("localhost.evil.example", False), ("", False)],
)  # fmt: skip
def test_only_loopback_hosts_count_as_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


@pytest.mark.parametrize(
    ("body", "reason"),
    [(b"invalid_payload", "invalid_payload"), (b" no_text\n", "no_text"),
     (b"<html>https://hooks.example.com/s3cr3t</html>", None), (b"", None)],
)  # fmt: skip
def test_an_answer_body_is_quoted_only_when_it_is_a_short_code(
    body: bytes, reason: str | None
) -> None:
    # GIVEN an answer body; THEN only a short code is ever repeated in a message
    assert HttpAnswer(400, {}, body).reason() == reason
