"""The operator side of the command line: defaults and the commands it registers."""

from __future__ import annotations

from sla_digest_cli.cli import build_parser

CHATWOOT_DEV_PORT = 3000  # where `rails s` / Chatwoot's own development setup listens


def test_the_sandbox_does_not_default_to_chatwoots_development_port() -> None:
    # GIVEN the sandbox command without --port
    args = build_parser().parse_args(["sandbox"])

    # THEN it listens on a port of its own, so it can run beside a Chatwoot dev server
    assert args.port != CHATWOOT_DEV_PORT
    assert 1024 < args.port < 49152  # a registered-range port needs no privileges
