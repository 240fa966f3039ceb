"""The JSON Schema of ``summary.json``: shipped in the package, used to name what is wrong.

A valid summary is read without it (``Summary.from_dict``); the schema names each problem of
one that does not read, by its JSON path, and checks what the job writes before it is stored.
jsonschema is imported on first use, so the digest Lambda's cold start does not pay for it.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import VerificationError

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from jsonschema.protocols import Validator

__all__ = ["prepare_validator", "summary_problems", "summary_schema", "validate_summary"]

_SCHEMA_RESOURCE = "schemas/summary.schema.json"
_MAX_MESSAGE = 200


@cache
def summary_schema() -> dict[str, Any]:
    """The JSON Schema of ``summary.json``, shipped inside the package (loaded once)."""
    import json
    from importlib.resources import files

    text = files(__package__).joinpath(_SCHEMA_RESOURCE).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Validator:
    # jsonschema is imported here, not at module level: the digest Lambda's cold start
    # should not pay for it unless a summary is actually validated.
    from jsonschema import Draft202012Validator

    schema = summary_schema()
    Draft202012Validator.check_schema(schema)
    validator: Validator = Draft202012Validator(schema)
    return validator


def prepare_validator() -> None:
    """Import jsonschema and build the validator before a summary is checked (a run does it on
    a thread while its fetch waits on Chatwoot)."""
    _validator()


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 1] + "…"


def _problems(errors: Iterable[Any]) -> list[str]:
    return sorted(f"{error.json_path}: {_short(error.message)}" for error in errors)


def summary_problems(doc: Any) -> list[str]:
    """Every way ``doc`` breaks the schema, each naming its JSON path; empty when it is valid."""
    return _problems(_validator().iter_errors(doc))


def validate_summary(doc: Mapping[str, Any]) -> None:
    """Check ``doc`` against the schema; raise :class:`VerificationError` listing every error.

    Each problem names its JSON path (``$.by_inbox['3'].reply_time.p90: ...``), so a reader of a
    hand-edited or foreign summary knows what to fix.
    """
    problems = summary_problems(doc)
    if problems:
        raise VerificationError(problems)
