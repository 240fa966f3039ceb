"""``sla-digest doctor`` against the sandbox Chatwoot: one line per check, the fix on each ✖.

The sandbox answers Chatwoot's API but not ``GET /api`` (the version), so a small front
(:class:`~tests.fixtures.chatwoot_front.ChatwootFront`) answers that and passes the rest on.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

import pytest

from sla_digest_cli.cli import main
from tests.fixtures.chatwoot_front import ChatwootFront

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from sla_digest_cli.sandbox.server import SandboxServer

ACCOUNT = {
    "account_id": 7,
    "name": "Acme Support",
    "token_secret": "sla-digest/acme",
    "timezone": "Europe/Berlin",
    "recipients": ["leads@acme.example"],
    "sla_policy": "Standard",
}


@pytest.fixture
def front(sandbox: SandboxServer) -> Iterator[ChatwootFront]:
    with ChatwootFront(sandbox.base_url, version="4.15.0") as chatwoot:
        yield chatwoot


def write_config(tmp_path: Path, *accounts: dict[str, Any]) -> str:
    path = tmp_path / "accounts.json"
    path.write_text(json.dumps({"accounts": list(accounts)}))
    return str(path)


def doctor(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, list[str], str]:
    """Exit status, the printed lines, and everything printed (stdout and stderr)."""
    code = main(["doctor", *args])
    captured = capsys.readouterr()
    return code, captured.out.splitlines(), captured.out + captured.err


def marked(lines: list[str], mark: str) -> list[str]:
    return [line.strip()[2:] for line in lines if line.strip().startswith(mark)]


def test_a_sound_setup_passes_every_check_with_one_line_each(
    sandbox: SandboxServer,
    front: ChatwootFront,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN an accounts.json for the sandbox's account 7 and its administrator's token
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)
    config = write_config(tmp_path, {**ACCOUNT, "base_url": front.base_url})

    # WHEN doctor checks it
    code, lines, printed = doctor(capsys, "--config", config)

    # THEN every check passed, each on its own line, and the token never appears
    assert code == 0
    assert marked(lines, "✖") == []
    passed = marked(lines, "✔")
    assert passed[0] == "valid: 1 account(s), 1 enabled"
    assert passed[1:6] == [
        f"{front.base_url.removeprefix('http://')} answers (plain http: loopback only)",
        "Chatwoot 4.15.0 (4.8 or newer)",
        "the token is valid and an administrator's",
        "account 7 found",
        "SLA policy 'Standard' exists",
    ]
    assert passed[6].startswith("time zone Europe/Berlin (it is ")
    assert lines[-1] == "all checks passed"
    assert sandbox.options.admin_token not in printed


def test_without_aws_the_token_secret_is_said_to_be_unused_locally(
    sandbox: SandboxServer,
    front: ChatwootFront,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)
    config = write_config(tmp_path, {**ACCOUNT, "base_url": front.base_url})

    _, lines, _ = doctor(capsys, "--config", config)

    assert marked(lines, "·") == [
        "token_secret 'sla-digest/acme' is not used locally: the token comes from "
        "CHATWOOT_API_TOKEN (add --aws --stack NAME to read the secret)"
    ]


@pytest.mark.parametrize(
    ("token", "expected"),
    [
        ("not-a-token-chatwoot-knows", "Chatwoot rejects the token (Invalid Access Token)"),
        ("agent_token", "the token is valid but its user is not an administrator of account 7"),
        ("bot_token", "the token is a bot's"),
        ("other_account_token", "the token's user is not a member of account 7"),
    ],
)
def test_each_refused_token_is_named_with_its_fix(
    sandbox: SandboxServer,
    front: ChatwootFront,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    token: str,
    expected: str,
) -> None:
    # GIVEN a token Chatwoot refuses for its own reason (chatwoot-api.md's 401 bodies)
    value = getattr(sandbox.options, token, token)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", value)

    # WHEN checked
    code, lines, printed = doctor(capsys, "--base-url", front.base_url, "--account-id", "7")

    # THEN exit 1, one ✖ line names the reason, and the token is not printed
    assert code == 1
    (failure,) = marked(lines, "✖")
    assert failure.startswith(expected)
    assert value not in printed


def test_a_suspended_account_is_named(
    sandbox_factory: Callable[..., SandboxServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    server = sandbox_factory(suspended=True)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    with ChatwootFront(server.base_url) as chatwoot:
        code, lines, _ = doctor(capsys, "--base-url", chatwoot.base_url, "--account-id", "7")

    assert code == 1
    assert marked(lines, "✖") == [
        "account 7 is suspended: reactivate it in Chatwoot or set enabled to false"
    ]


def test_an_unknown_account_is_not_found_while_the_token_is_valid(
    sandbox: SandboxServer,
    front: ChatwootFront,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)

    code, lines, _ = doctor(capsys, "--base-url", front.base_url, "--account-id", "99")

    assert code == 1
    assert "the token is valid" in marked(lines, "✔")
    assert marked(lines, "✖") == [f"account 99 not found at {front.base_url}: check account_id"]


def test_chatwoot_older_than_4_8_fails_on_its_version_and_its_missing_api(
    sandbox_factory: Callable[..., SandboxServer],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN Chatwoot 4.7: /api says 4.7.2 and reporting_events answers 404
    server = sandbox_factory(version="4.7")
    monkeypatch.setenv("CHATWOOT_API_TOKEN", server.options.admin_token)
    with ChatwootFront(server.base_url, version="4.7.2") as chatwoot:
        code, lines, _ = doctor(capsys, "--base-url", chatwoot.base_url, "--account-id", "7")

    # THEN both say what is needed
    assert code == 1
    failures = marked(lines, "✖")
    assert failures[0] == (
        "Chatwoot 4.7.2 is older than 4.8, which added the reporting-events API: upgrade Chatwoot"
    )
    assert failures[1].startswith(f"{chatwoot.base_url} has no reporting-events API (HTTP 404)")


def test_a_server_without_a_version_is_not_taken_for_chatwoot(
    sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN the sandbox as it is: no GET /api
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)

    code, lines, _ = doctor(capsys, "--base-url", sandbox.base_url, "--account-id", "7")

    assert code == 1
    assert marked(lines, "✖") == [
        f"GET {sandbox.base_url}/api gave no Chatwoot version (HTTP 404): is base_url the "
        "address of Chatwoot itself, such as https://app.chatwoot.com?"
    ]


def test_a_named_sla_policy_the_account_lacks_is_named_with_the_ones_it_has(
    sandbox: SandboxServer,
    front: ChatwootFront,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)
    names = sorted(repr(policy["name"]) for policy in sandbox.dataset.sla_policies)

    code, lines, _ = doctor(
        capsys, "--base-url", front.base_url, "--account-id", "7", "--sla-policy", "Gold"
    )

    assert code == 1
    assert marked(lines, "✖") == [
        f"sla_policy 'Gold' is not an SLA policy of account 7 (it has: {', '.join(names)}): "
        "correct the name"
    ]


def test_an_invalid_time_zone_fails(
    sandbox: SandboxServer,
    front: ChatwootFront,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)

    code, lines, _ = doctor(
        capsys, "--base-url", front.base_url, "--account-id", "7", "--timezone", "Europe/Berln"
    )

    assert code == 1
    assert marked(lines, "✖") == [
        "unknown time zone 'Europe/Berln': use an IANA name such as 'Europe/Berlin'"
    ]


def test_a_closed_port_is_named_by_host_and_port(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a loopback port nothing listens on
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CHATWOOT_API_TOKEN", "whatever")

    # WHEN checked, THEN one ✖ names host, port and the reason; the other checks are skipped
    code, lines, _ = doctor(capsys, "--base-url", f"http://127.0.0.1:{port}", "--account-id", "7")

    assert code == 1
    assert marked(lines, "✖") == [
        f"cannot reach 127.0.0.1:{port} (connection refused): check base_url and that "
        "Chatwoot runs there"
    ]


def test_an_untrusted_certificate_fails_the_tls_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN an https server on loopback with a self-signed certificate
    monkeypatch.setenv("CHATWOOT_API_TOKEN", "whatever")
    with SelfSignedServer(tmp_path) as port:
        code, lines, _ = doctor(
            capsys, "--base-url", f"https://127.0.0.1:{port}", "--account-id", "7"
        )

    # THEN the TLS check fails with the reason and what to fix
    assert code == 1
    (failure,) = marked(lines, "✖")
    assert failure.startswith(f"TLS with 127.0.0.1:{port} failed (certificate not trusted)")


def test_plain_http_to_a_remote_host_is_refused_before_any_request(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["doctor", "--base-url", "http://chat.acme.example", "--account-id", "7"])

    assert code == 2
    assert "must use https" in capsys.readouterr().err


def test_invalid_entries_of_accounts_json_each_fail_with_their_key(
    sandbox: SandboxServer,
    front: ChatwootFront,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN a good entry and one with a misspelt time zone
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)
    bad = {**ACCOUNT, "account_id": 8, "base_url": front.base_url, "timezone": "Europe/Berln"}
    config = write_config(tmp_path, {**ACCOUNT, "base_url": front.base_url}, bad)

    code, lines, _ = doctor(capsys, "--config", config)

    # THEN the bad entry is a ✖ naming it and its key, and the good one is still checked
    assert code == 1
    (failure,) = marked(lines, "✖")
    assert "accounts[1]" in failure
    assert "Europe/Berln" in failure
    assert "account 7 found" in marked(lines, "✔")


def test_without_a_token_the_token_checks_fail_once_and_are_skipped(
    front: ChatwootFront, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("CHATWOOT_API_TOKEN", raising=False)

    code, lines, _ = doctor(capsys, "--base-url", front.base_url, "--account-id", "7")

    assert code == 1
    (failure,) = marked(lines, "✖")
    assert failure.startswith("no token: set CHATWOOT_API_TOKEN")


def test_doctor_without_a_config_or_an_account_is_a_usage_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["doctor"]) == 2
    assert "doctor needs --config accounts.json" in capsys.readouterr().err


# --- a local run says where its token comes from -------------------------------------------------


def test_run_with_a_config_says_once_that_token_secret_is_not_used_locally(
    sandbox: SandboxServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN two enabled accounts, each naming a token_secret (8 is unknown to the sandbox)
    monkeypatch.setenv("CHATWOOT_API_TOKEN", sandbox.options.admin_token)
    config = write_config(
        tmp_path,
        {**ACCOUNT, "base_url": sandbox.base_url},
        {
            **ACCOUNT,
            "account_id": 8,
            "token_secret": "sla-digest/other",
            "base_url": sandbox.base_url,
        },
    )

    # WHEN run locally
    main(["run", "--config", config, "--date", "2026-11-20", "--out", str(tmp_path / "out")])

    # THEN one line, once, says the secret is not read and where the token comes from
    err = capsys.readouterr().err
    note = (
        "sla-digest: note: token_secret is not used by a local run; the token comes from "
        "CHATWOOT_API_TOKEN\n"
    )
    assert err.count(note) == 1


# --- a TLS server whose certificate nothing trusts -----------------------------------------------


class SelfSignedServer:
    """An https server on loopback with a fresh self-signed certificate; yields its port."""

    def __init__(self, folder: Path) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
        now = dt.datetime.now(dt.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        (folder / "cert.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        (folder / "key.pem").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(folder / "cert.pem", folder / "key.pem")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self.send_response(200)
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> int:
        self._thread.start()
        port: int = self._server.server_address[1]
        return port

    def __exit__(self, *exc_info: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()
