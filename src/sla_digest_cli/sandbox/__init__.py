"""A Chatwoot-compatible server on 127.0.0.1 for the demo, the tests and the benchmark.

Owns the sandbox: its options (``options``), seeded data (``generate``, ``data``), the answers
(``server``, with Chatwoot's v2 summary report in ``reports`` and Rails' parameter quirks in
``params``), injected faults and the rate limiter (``faults``) and the HTTP plumbing
(``httpd``). Never part of the Lambda layer.

The names below load on first use, so importing one submodule does not start the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sla_digest_cli.sandbox.options import SandboxOptions
    from sla_digest_cli.sandbox.server import SandboxServer, serve

__all__ = ["SandboxOptions", "SandboxServer", "serve"]

_HOMES: dict[str, str] = {"SandboxOptions": "options", "SandboxServer": "server", "serve": "server"}


def __getattr__(name: str) -> object:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value: object = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
