"""What the ``sla-digest`` commands share: exit codes, the token, templates, argument types."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sla_digest.exceptions import ConfigError, SlaDigestError

if TYPE_CHECKING:
    from datetime import date

__all__ = [
    "EXIT_ERROR",
    "EXIT_USAGE",
    "TOKEN_VARIABLE",
    "date_arg",
    "positive_int",
    "say",
    "templates_dir",
    "token",
]

TOKEN_VARIABLE = "CHATWOOT_API_TOKEN"  # noqa: S105 - the name of a variable, not a token
EXIT_ERROR = 1
EXIT_USAGE = 2


def token() -> str:
    token = os.environ.get(TOKEN_VARIABLE, "").strip()
    if not token:
        raise ConfigError(
            f"set {TOKEN_VARIABLE} to the access token of a Chatwoot administrator "
            "(Profile settings → Access token)"
        )
    return token


def templates_dir(flag: str | None) -> Path:
    """--templates, then TEMPLATES_DIR, then the templates folder of a source checkout."""
    candidates = [flag, os.environ.get("TEMPLATES_DIR")]
    candidates.append(str(Path(__file__).resolve().parents[2] / "templates"))
    for candidate in candidates:
        if candidate and (Path(candidate) / "digest.html.j2").is_file():
            return Path(candidate)
    raise ConfigError("digest templates not found: pass --templates DIR or set TEMPLATES_DIR")


def date_arg(text: str) -> date:
    from sla_digest.window import parse_date

    try:
        return parse_date(text)
    except SlaDigestError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from exc
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be greater than zero")
    return value


def say(text: str) -> None:
    sys.stdout.write(text + "\n")
