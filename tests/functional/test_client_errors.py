"""Errors a person must fix, from a real server: each cause its own message, the token in none."""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest.chatwoot import ChatwootClient, RetryPolicy
from sla_digest.exceptions import AuthenticationError, ChatwootError, NotFoundError
from sla_digest.window import report_window

if TYPE_CHECKING:
    from collections.abc import Callable

    from sla_digest_cli.sandbox.server import SandboxServer

WINDOW = report_window(date(2026, 11, 20), "Europe/Berlin", now=datetime(2026, 11, 22, tzinfo=UTC))
ADMIN = "adm-5e1b77c0d2a94f36"  # a fake admin token; the tests look for leaks of it

# cause → (sandbox options, which token, account id, error class, key phrase of the message)
CASES: dict[str, tuple[dict[str, Any], str, int, type[ChatwootError], str]] = {
    "invalid token": ({}, "no-such-token", 7, AuthenticationError, "check the token"),
    "agent's token": ({}, "agent", 7, AuthenticationError, "administrator's access token"),
    "not a member": ({}, "other", 7, AuthenticationError, "not a member of account 7"),
    "suspended": ({"suspended": True}, "admin", 7, AuthenticationError, "suspended"),
    "bot token": ({}, "bot", 7, AuthenticationError, "belongs to a bot"),
    "unknown account": ({}, "admin", 8, NotFoundError, "account 8 not found at http://"),
    "before 4.8": ({"version": "4.7"}, "admin", 7, NotFoundError, "Chatwoot 4.8 or newer"),
}


def token_for(server: SandboxServer, which: str) -> str:
    options = server.options
    tokens = {
        "admin": options.admin_token,
        "agent": options.agent_token,
        "bot": options.bot_token,
        "other": options.other_account_token,
    }
    return tokens.get(which, which)


def fail(
    sandbox_factory: Callable[..., SandboxServer], case: str
) -> tuple[ChatwootError, SandboxServer]:
    options, which, account, error_class, _ = CASES[case]
    server = sandbox_factory(events=50, admin_token=ADMIN, **options)
    with (
        ChatwootClient(server.base_url, token_for(server, which)) as client,
        pytest.raises(error_class) as caught,
    ):
        client.reporting_events(account, WINDOW)
    return caught.value, server


@pytest.mark.parametrize("case", list(CASES))
def test_each_refusal_ends_the_run_with_a_message_naming_the_cause(
    sandbox_factory: Callable[..., SandboxServer], case: str
) -> None:
    # GIVEN a sandbox that refuses the request for this cause
    # WHEN the day is fetched
    error, server = fail(sandbox_factory, case)
    # THEN the message carries the cause's key phrase, and nothing was retried
    assert CASES[case][4] in str(error)
    assert server.base_url in str(error)
    assert server.stats.snapshot()["reporting_requests"] == 1


def test_every_cause_has_a_different_message(
    sandbox_factory: Callable[..., SandboxServer],
) -> None:
    # GIVEN / WHEN each cause ends a fetch
    messages = {str(fail(sandbox_factory, case)[0]) for case in CASES}
    # THEN no two causes share a message
    assert len(messages) == len(CASES)


def test_the_token_appears_in_no_log_output_or_error(
    sandbox_factory: Callable[..., SandboxServer],
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN debug logging everywhere and a sandbox that faults a third of the time
    caplog.set_level(logging.DEBUG)
    server = sandbox_factory(events=200, admin_token=ADMIN, fault_rate=0.3, shuffle_ties=True)
    with ChatwootClient(
        server.base_url, ADMIN, retry=RetryPolicy(base_delay=0.01, max_delay=0.1)
    ) as client:
        # WHEN a day is fetched with retries, and then an unknown account is asked for
        client.reporting_events(7, WINDOW, with_context=True)
        with pytest.raises(NotFoundError) as caught:
            client.reporting_events(99, WINDOW)
        shown = repr(client)
    # THEN the token is in no log record, output, error message or repr
    out, err = capsys.readouterr()
    assert len(caplog.records) > 10
    assert ADMIN not in caplog.text
    assert ADMIN not in out + err
    assert ADMIN not in str(caught.value)
    assert ADMIN not in shown


def test_a_closed_port_is_named_by_host_and_port_as_refused() -> None:
    # GIVEN a port on 127.0.0.1 that nothing listens on (bound, then released)
    import socket

    from sla_digest.chatwoot import ChatwootClient, RetryPolicy
    from sla_digest.exceptions import RetryBudgetExhausted
    from sla_digest.window import report_window

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    window = report_window(date(2026, 11, 20), "Europe/Berlin", allow_partial=True)
    client = ChatwootClient(
        f"http://127.0.0.1:{port}", "token", retry=RetryPolicy(base_delay=0.01, max_delay=0.02)
    )
    # WHEN the day is asked for THEN the one line says nothing answers at that host and port,
    # rather than blaming an overloaded Chatwoot
    with client, pytest.raises(RetryBudgetExhausted) as caught:
        client.reporting_events(7, window)
    message = str(caught.value)
    assert f"nothing answers at 127.0.0.1:{port} (connection refused" in message
    assert "overloaded" not in message
