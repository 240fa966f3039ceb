"""The JSON Schema of ``accounts.json``: its validator, its format checkers, and its errors as the
one-line problems that name the key and say what to write instead.

The schema (``schemas/accounts.schema.json``, published at the repository root for editors)
says what the document may hold. What a schema cannot say is said here by named ``format``
checkers: a time zone exists, ``base_url`` is https unless the host is loopback, a duration
parses, an address is one plain address, text is one line of valid Unicode, no URL is pasted
where a secret's name belongs. :mod:`sla_digest.config` builds the records from a valid document.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import math
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeGuard
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from sla_digest.exceptions import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "SCHEMA_RESOURCE",
    "Located",
    "accounts_schema",
    "builtin_defaults",
    "describe",
    "document_problem",
    "duration_seconds",
    "is_int",
    "shown",
    "validate_address",
    "validate_base_url",
    "validator",
]

SCHEMA_RESOURCE = "schemas/accounts.schema.json"

# A schema error and the path of the value it is about, below the entry (or ``defaults``).
type Located = tuple[tuple[Any, ...], ValidationError]

_MAX_SHOWN = 80  # characters of a bad value an error line repeats
# Keys whose values name secrets: an error never repeats them, in case a secret was pasted in.
_SECRET_KEYS = frozenset({"url_secret", "signing_secret"})
# Keywords reported once per key and kind; for the others one problem per key is enough, the
# one that says most plainly what to write instead (the type first, a format last).
_PER_KIND = frozenset({"required", "additionalProperties", "uniqueItems", "maxItems"})


def accounts_schema() -> dict[str, Any]:
    """The JSON Schema of ``accounts.json``, as shipped inside the package."""
    from importlib.resources import files

    text = files(__package__).joinpath(SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@functools.cache
def builtin_defaults() -> Mapping[str, Any]:
    """The schema's ``default`` of every key that ``defaults`` may set: one source of truth."""
    schema = accounts_schema()
    found: dict[str, Any] = {}
    for key, ref in schema["properties"]["defaults"]["properties"].items():
        definition = schema["$defs"][ref["$ref"].removeprefix("#/$defs/")]
        if "default" in definition:
            found[key] = definition["default"]
    return found


@functools.cache
def validator() -> Validator:
    """A draft 2020-12 validator of the schema, with this module's format checkers."""
    # jsonschema is imported here, not at module level: a cold start pays for it only when a
    # function reads the configuration.
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.validators import create

    formats = FormatChecker(formats=())
    for name, check in _FORMATS.items():
        formats.checks(name, raises=ValueError)(check)
    # JSON Schema counts 7.0 as an integer; an account id or an hour must be written 7.
    types = Draft202012Validator.TYPE_CHECKER.redefine(
        "integer", lambda _checker, value: is_int(value)
    )
    strict = create(
        meta_schema=Draft202012Validator.META_SCHEMA,
        validators=Draft202012Validator.VALIDATORS,
        type_checker=types,
        format_checker=formats,
    )
    schema = accounts_schema()
    checking: Validator = strict(_inlined(schema, schema["$defs"]), format_checker=formats)
    return checking


def _inlined(node: Any, definitions: Mapping[str, Any]) -> Any:
    """``node`` with each ``$ref`` to a definition replaced by it, beside annotations of its own.

    The schema has no cycles, and resolving references was half of what validating a large
    document cost.
    """
    if isinstance(node, list):
        return [_inlined(item, definitions) for item in node]
    if not isinstance(node, dict):
        return node
    own = {key: _inlined(value, definitions) for key, value in node.items() if key != "$ref"}
    if "$ref" not in node:
        return own
    target = definitions[node["$ref"].removeprefix("#/$defs/")]
    return {**_inlined(target, definitions), **own}


def document_problem(errors: Sequence[ValidationError]) -> str | None:
    """The one problem that makes the document unusable as a whole, if any (not ``defaults``).

    A misspelt ``accounts`` is also a missing one: the unknown key is named first.
    """
    for error in sorted(errors, key=lambda e: e.validator != "additionalProperties"):
        path = tuple(error.absolute_path)
        keyword, _, value, schema = _parts(error)
        if len(path) > 1 or (path == ("defaults",) and keyword != "type"):
            continue  # inside an entry or ``defaults``: not the document's shape
        if not path and keyword == "additionalProperties":
            allowed = list(schema["properties"])
            unknown = next(key for key in value if key not in allowed)
            return f"unknown top-level key {shown(unknown)} (allowed: {', '.join(allowed)})"
        if (not path and keyword == "required") or path == ("accounts",):
            return '"accounts" must be a list of account objects'
        name = f'"{path[0]}" ' if path else ""
        return name + str(schema.get("errorMessage", "is not valid"))
    return None


def describe(located: Sequence[Located], root: Any) -> list[str]:
    """One problem per bad key of ``root`` (an entry or ``defaults``), in document order."""
    chosen: dict[tuple[Any, ...], Located] = {}
    for path, error in located:
        slot = (path, error.validator) if error.validator in _PER_KIND else (path,)
        if slot not in chosen or _rank(error) < _rank(chosen[slot][1]):
            chosen[slot] = (path, error)
    keys = list(root) if isinstance(root, dict) else []

    def position(item: Located) -> tuple[Any, ...]:
        path = item[0]
        first = keys.index(path[0]) if path and path[0] in keys else -1
        rest = tuple((0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in path[1:])
        return (first, rest, _rank(item[1]))

    problems: list[str] = []
    for path, error in sorted(chosen.values(), key=position):
        problems.extend(_explain(path, error, root))
    return problems


def shown(value: Any) -> str:
    """A bad value as an error line repeats it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= _MAX_SHOWN else text[: _MAX_SHOWN - 1] + "…"


def is_int(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _parts(error: ValidationError) -> tuple[str, Any, Any, Mapping[str, Any]]:
    """The failed keyword, its value in the schema, the bad instance and the subschema."""
    schema = error.schema if isinstance(error.schema, Mapping) else {}
    value: Any = error.validator_value
    instance: Any = error.instance
    return str(error.validator), value, instance, schema


def _rank(error: ValidationError) -> int:
    return {"type": 0, "format": 2}.get(str(error.validator), 1)


def _explain(path: tuple[Any, ...], error: ValidationError, root: Any) -> list[str]:
    keyword, expected, value, schema = _parts(error)
    name = _path_name(path)
    at = f"{name}: " if path else ""
    if keyword == "additionalProperties":
        allowed = list(schema.get("properties", {}))
        noun = "metric" if path[-1:] == ("sla",) else "key"
        return [
            f"{at}unknown {noun} {shown(key)}{_suggestion(key, allowed)}"
            for key in value
            if key not in allowed
        ]
    if keyword == "required":
        kind = value.get("type") if path else None
        suffix = f" for {_a(kind)} channel" if isinstance(kind, str) else ""
        return [f"{at}{key} is required{suffix}" for key in expected if key not in value]
    if keyword == "not":
        parent = functools.reduce(lambda node, step: node[step], path[:-1], root)
        return [f"{name} is not used by {_a(str(parent.get('type')))} channel"]
    if keyword == "uniqueItems":
        return [_repeated_item(path, value)]
    if keyword == "maxItems":
        return [f"{name} has {len(value)} entries; at most {expected} are allowed"]
    if keyword == "format" and error.cause is not None:
        reason = str(error.cause)
    elif keyword == "enum" and "errorMessage" not in schema:
        reason = _one_of(expected)
    else:
        reason = str(schema.get("errorMessage", f"does not satisfy {keyword!r} of the schema"))
    return [_problem(path, value, reason)]


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in ("a", "e", "i", "o", "u") else f"a {word}"


def _problem(path: tuple[Any, ...], value: Any, reason: str) -> str:
    """``key value reason``, or ``a.b: value reason`` below the top; secrets never repeated."""
    if not path:
        return reason
    if path[-1] in _SECRET_KEYS or isinstance(value, dict | list):
        return f"{_path_name(path)} {reason}"
    separator = ": " if len(path) > 1 else " "
    if isinstance(path[-1], int):  # a list item: the value says which one
        path = path[:-1]
    return f"{_path_name(path)}{separator}{shown(value)} {reason}"


def _path_name(path: tuple[Any, ...]) -> str:
    name = ""
    for step in path:
        name += f"[{step}]" if isinstance(step, int) else (f".{step}" if name else str(step))
    return name


def _one_of(values: Sequence[Any]) -> str:
    if len(values) == 2:
        return f"must be {values[0]!r} or {values[1]!r}"
    return f"is not one of {', '.join(str(v) for v in values)}"


def _suggestion(key: str, allowed: list[str]) -> str:
    from difflib import get_close_matches

    close = get_close_matches(key, allowed, n=1)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return f" (allowed: {', '.join(allowed)})" if len(allowed) <= 6 else ""


def _repeated_item(path: tuple[Any, ...], items: list[Any]) -> str:
    seen: dict[str, int] = {}
    for index, item in enumerate(items):
        text = json.dumps(item, sort_keys=True)
        if text in seen:
            if isinstance(item, dict | list):
                return f"{_path_name(path)}[{index}] repeats {_path_name(path)}[{seen[text]}]"
            return f"{_path_name(path)}: {shown(item)} is listed twice"
        seen[text] = index
    return f"{_path_name(path)} lists an entry twice"


# --------------------------------------------------------------------------------------------
# Format checkers: each returns True or raises ValueError with the reason
# --------------------------------------------------------------------------------------------

# A deliberately plain address syntax: no display names, quotes or comments, so nothing that
# reaches a mail header can carry a second header or a second recipient.
_LOCAL_PART = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}")
_DOMAIN_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhd])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_BAD_URL = "is not a URL such as 'https://chat.example.com'"
_BAD_ZONE = "is not an IANA name such as 'Europe/Berlin'"


def duration_seconds(raw: Any) -> float:
    """The seconds of ``90``, ``'90s'``, ``'30m'``, ``'4h'``, ``'1d'``, or ValueError(reason)."""
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        try:
            seconds = float(raw)
        except OverflowError:
            seconds = math.inf
    elif isinstance(raw, str) and (match := _DURATION.fullmatch(raw.strip())):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ValueError("is not a duration such as 90, '90s', '30m' or '4h'")
    if not math.isfinite(seconds) or seconds <= 0:
        raise ValueError("must be a positive duration")
    return seconds


def validate_base_url(raw: Any, *, where: str = "base_url") -> str:
    """A Chatwoot base URL without its trailing slash: https, or plain http for loopback hosts."""
    problem = _base_url_problem(raw)
    if problem:
        raise ConfigError(f"{where}: {shown(raw)} {problem}")
    url: str = raw
    return url.rstrip("/")


def validate_address(raw: Any) -> str | None:
    """The reason ``raw`` is not a plain ``local@domain`` address, or ``None`` if it is one."""
    problem = _address_problem(raw)
    return f"{shown(raw)} {problem}" if problem else None


def _address_problem(raw: Any) -> str | None:
    if not isinstance(raw, str):
        return "is not a string"
    if any(ch in raw for ch in "\r\n\t\0") or raw != raw.strip():
        return "contains whitespace or line breaks"
    local, at, domain = raw.rpartition("@")
    if (
        not at
        or len(raw) > 254
        or not _LOCAL_PART.fullmatch(local)
        or local.startswith(".")
        or local.endswith(".")
        or ".." in local
        or "." not in domain
        or not all(_DOMAIN_LABEL.fullmatch(label) for label in domain.split("."))
    ):
        return "is not an email address like name@example.com"
    return None


def _base_url_problem(value: Any) -> str | None:
    if not isinstance(value, str) or not value or any(ch.isspace() for ch in value):
        return _BAD_URL
    try:
        parts = urlsplit(value)
        host = parts.hostname
        _ = parts.port  # raises on a malformed port
    except ValueError:
        return _BAD_URL
    if parts.scheme not in ("https", "http") or not host:
        return _BAD_URL
    if parts.username is not None or parts.password is not None:
        return "must not contain credentials; use token_secret"
    if parts.query or parts.fragment:
        return "must not have a query or fragment"
    if parts.scheme == "http" and not _is_loopback(host):
        return "must use https (plain http only for localhost)"
    return None


def _is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@functools.cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def _check_zone(value: Any) -> bool:
    if isinstance(value, str):
        if value in _NOT_ZONES or value not in _zone_names():
            raise ValueError(_BAD_ZONE)
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(_BAD_ZONE) from exc
    return True


def _check_base_url(value: Any) -> bool:
    if isinstance(value, str) and (problem := _base_url_problem(value)):
        raise ValueError(problem)
    return True


def _check_address(value: Any) -> bool:
    if isinstance(value, str) and (problem := _address_problem(value)):
        raise ValueError(problem)
    return True


def _check_single_line(value: Any) -> bool:
    if isinstance(value, str):
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError("contains line breaks")
        if any("\ud800" <= ch <= "\udfff" for ch in value):
            raise ValueError("contains a lone surrogate (not valid Unicode text)")
    return True


def _check_secret_name(value: Any) -> bool:
    if isinstance(value, str) and "://" in value:
        raise ValueError(
            "looks like a URL: keep the URL in Secrets Manager and give the secret's name here"
        )
    return True


def _check_duration(value: Any) -> bool:
    if isinstance(value, int | float | str) and not isinstance(value, bool):
        duration_seconds(value)
    return True


_FORMATS: Mapping[str, Callable[[Any], bool]] = {
    "iana-time-zone": _check_zone,
    "chatwoot-base-url": _check_base_url,
    "plain-email-address": _check_address,
    "single-line-text": _check_single_line,
    "secret-name": _check_secret_name,
    "duration": _check_duration,
}
