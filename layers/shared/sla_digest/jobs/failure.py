"""A day (or week, month) that failed permanently, kept beside its digest so catch-up does not
queue it forever.

A job that ends in a :class:`~sla_digest.exceptions.PermanentError` (a bad token, an unknown
account, an invalid configuration, a channel that refuses the digest) fails the same way on
every attempt until a person changes something. The digest side records ``failure.json`` beside
the digest (a day's under ``digests/``, a week's or month's under its report's prefix in
``reports/``): the error's type,
its one-line message (messages never hold secrets), when, and a :class:`Fingerprint` of what a
person would change to fix it: the configuration object and the account's secrets (its token,
its channels' hook URLs and signing keys).
Dispatch's catch-up holds such a day, week or month back while the fingerprint is unchanged and
queues it again once either changes; a manual run always queues it. A later success removes the
marker.

A fix made elsewhere (the token's user made an administrator in Chatwoot, an SES identity
verified) changes neither, so it needs a manual run (``sla-digest invoke``) or a redrive.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sla_digest.archive.report import ReportArchive
from sla_digest.exceptions import PermanentError, WindowError
from sla_digest.report.periods import PERIOD_KINDS
from sla_digest.window import utc_text

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from datetime import date, datetime

    from sla_digest.archive.day import DayArchive
    from sla_digest.config import AccountConfig

__all__ = [
    "FAILURE_MARKER",
    "FailureRecord",
    "FailureSite",
    "Fingerprint",
    "FingerprintOf",
    "account_secrets",
    "clear_failure",
    "holds_back",
    "read_failure",
    "record_failure",
    "records_failure",
]

logger = logging.getLogger(__name__)

FAILURE_MARKER = "failure.json"
_MESSAGE_LIMIT = 500


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What a fix changes: the config object's version and the versions of the account's secrets.

    ``config`` is the ETag of ``accounts.json`` (``"missing"`` when there is none); ``secrets``
    pairs each secret the account names (its ``token_secret``, its channels' ``url_secret`` and
    ``signing_secret``) with its current version id, ``"missing"``, or ``"unreadable (<code>)"``
    when it cannot be described; empty when the account is not known. Equal fingerprints mean
    nothing was fixed.
    """

    config: str | None
    secrets: tuple[tuple[str, str], ...] = ()

    def as_dict(self) -> dict[str, Any]:
        return {"config": self.config, "secrets": dict(self.secrets)}

    @classmethod
    def from_dict(cls, raw: Any) -> Fingerprint | None:
        """The fingerprint of a marker, or ``None`` when it is not one."""
        if not isinstance(raw, dict):
            return None
        config, secrets = raw.get("config"), raw.get("secrets")
        if not (config is None or isinstance(config, str)) or not isinstance(secrets, dict):
            return None
        pairs = [(k, v) for k, v in secrets.items() if isinstance(v, str)]
        if len(pairs) != len(secrets):
            return None
        return cls(config, tuple(sorted(pairs)))


# Where a digest's failure marker lives: a day's archive, or a week's or month's report.
type FailureSite = DayArchive | ReportArchive

# Reads the current fingerprint for the names of an account's secrets (none: no account known).
type FingerprintOf = Callable[[Sequence[str]], Fingerprint]


def account_secrets(account: AccountConfig) -> tuple[str, ...]:
    """Every secret ``account`` names: its token, and its channels' URLs and signing keys."""
    names = {account.token_secret}
    for channel in account.channels:
        names.update(name for name in (channel.url_secret, channel.signing_secret) if name)
    return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class FailureRecord:
    """The content of ``failure.json``; ``period`` is written only for a week or month, as
    the delivery marker does, so a day's marker is as before."""

    account_id: int
    date: str
    error: str
    message: str
    recorded_at: str
    fingerprint: Fingerprint
    period: str = "day"

    def to_bytes(self) -> bytes:
        document = {
            "account_id": self.account_id,
            **({} if self.period == "day" else {"period": self.period}),
            "date": self.date,
            "error": self.error,
            "message": self.message,
            "recorded_at": self.recorded_at,
            "fingerprint": self.fingerprint.as_dict(),
        }
        return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def parse(cls, data: bytes) -> FailureRecord | None:
        """The record in ``data``, or ``None`` when it is not a failure marker."""
        try:
            document = json.loads(data)
        except (UnicodeDecodeError, ValueError):
            return None
        if not isinstance(document, dict):
            return None
        fingerprint = Fingerprint.from_dict(document.get("fingerprint"))
        texts = [document.get(key) for key in ("date", "error", "message", "recorded_at")]
        account_id = document.get("account_id")
        period = document.get("period", "day")
        strings = [text for text in texts if isinstance(text, str)]
        if (
            fingerprint is None
            or len(strings) != len(texts)
            or not isinstance(account_id, int)
            or period not in PERIOD_KINDS
        ):
            return None
        day, error, message, recorded_at = strings
        return cls(account_id, day, error, message, recorded_at, fingerprint, period)

    def same_failure(self, error: str, fingerprint: Fingerprint) -> bool:
        return self.error == error and self.fingerprint == fingerprint


def records_failure(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure to record: permanent, and not about the day's timing.

    A :class:`WindowError` (the day is not over yet) passes by itself, so it holds nothing back.
    """
    return isinstance(exc, PermanentError) and not isinstance(exc, WindowError)


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= _MESSAGE_LIMIT else line[: _MESSAGE_LIMIT - 1] + "…"


def _subject(site: FailureSite) -> tuple[str, date]:
    """The period kind and first day a marker's site stands for."""
    if isinstance(site, ReportArchive):
        return site.period.kind, site.period.start
    return "day", site.day


def read_failure(site: FailureSite) -> FailureRecord | None:
    """The failure marker of a day (or report), or ``None`` (none, or one this version
    cannot read)."""
    data = site.read_marker(FAILURE_MARKER)
    if data is None:
        return None
    record = FailureRecord.parse(data)
    if record is None:
        logger.warning("ignoring an unreadable %s at %s", FAILURE_MARKER, site.location())
    return record


def record_failure(
    site: FailureSite, exc: BaseException, fingerprint: Fingerprint, *, now: datetime
) -> bool:
    """Write the failure marker of a day (or week, month); return whether it is a new failure.

    The same error with the same fingerprint already recorded (an SQS retry of the same job)
    is not new: it was counted and alarmed on once already, and the marker is left as it was.
    """
    error = type(exc).__name__
    previous = read_failure(site)
    if previous is not None and previous.same_failure(error, fingerprint):
        return False
    kind, start = _subject(site)
    record = FailureRecord(
        account_id=site.account_id,
        date=start.isoformat(),
        error=error,
        message=_one_line(str(exc)),
        recorded_at=utc_text(now, name="now"),
        fingerprint=fingerprint,
        period=kind,
    )
    site.write_marker(FAILURE_MARKER, record.to_bytes())
    return True


def clear_failure(site: FailureSite) -> bool:
    """Remove the failure marker after a success; return whether there was one."""
    key = site.marker_key(FAILURE_MARKER)
    if site.archive.head(key) is None:
        return False
    site.archive.delete([key])
    return True


def holds_back(site: FailureSite, current: Callable[[], Fingerprint]) -> FailureRecord | None:
    """The failure of a day (or week, month), when nothing it names has changed since; else
    ``None``.

    ``current()`` is asked only when there is a marker, so a day without one costs a single
    lookup.
    """
    record = read_failure(site)
    if record is None or record.fingerprint != current():
        return None
    return record
