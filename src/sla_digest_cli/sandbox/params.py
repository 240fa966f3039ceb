"""Query parameters read the way Rails and Kaminari read them, quirks included."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ServerFault", "epoch_param", "id_param", "ruby_to_i", "truthy"]

_RUBY_INTEGER = re.compile(r"\s*([+-]?\d+(?:_\d+)*)")
_EPOCH_SECONDS = re.compile(r"-?\d+")
_FALSE_VALUES = frozenset({"0", "f", "F", "false", "FALSE", "off", "OFF"})


class ServerFault(Exception):
    """A query Chatwoot answers with 500 (for example a non-numeric ``since``)."""


def ruby_to_i(text: str) -> int:
    """Ruby's ``String#to_i``: the leading integer, else 0 (how Kaminari reads ``page``)."""
    match = _RUBY_INTEGER.match(text)
    return int(match.group(1).replace("_", "")) if match else 0


def epoch_param(query: Mapping[str, str], key: str) -> int | None:
    """Epoch seconds of ``key``; ``None`` when absent or blank; :class:`ServerFault` otherwise."""
    raw = query.get(key, "")
    if raw == "":
        return None
    if not _EPOCH_SECONDS.fullmatch(raw):
        raise ServerFault(key)
    return int(raw)


def id_param(query: Mapping[str, str], key: str) -> int | None:
    raw = query.get(key, "")
    return None if raw == "" else ruby_to_i(raw)


def truthy(raw: str | None) -> bool:
    """ActiveModel's boolean cast: blank is false, and so are the usual spellings of false."""
    return raw is not None and raw != "" and raw not in _FALSE_VALUES
