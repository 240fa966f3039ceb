"""The records a job moves through: the SQS body, one account-day's request, the outcomes."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sla_digest.config import SlaTargets
from sla_digest.exceptions import ConfigError, WindowError
from sla_digest.report.periods import PERIOD_KINDS, parse_period
from sla_digest.window import parse_date

if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import date

    from sla_digest.chatwoot.client import FetchResult
    from sla_digest.config import AccountConfig
    from sla_digest.delivery.channel import Receipt
    from sla_digest.report.periods import PeriodKind
    from sla_digest.report.render import Digest
    from sla_digest.report.summary import Summary

__all__ = ["DayRequest", "DigestJob", "JobOutcome", "RunResult", "delivery_status"]

_BODY_KEYS = frozenset({"account_id", "period", "date", "force", "deliver"})


@dataclass(frozen=True, slots=True)
class DigestJob:
    """One SQS message: the digest of ``day`` for ``account_id``.

    ``period`` is ``day`` unless the message says ``week`` or ``month``; then ``day`` is the
    first day of that period (design, section 12). ``deliver`` false archives and summarises
    the day without delivering it (an archive-only backfill). The body carries ``period`` and
    ``deliver`` only when they are not the defaults, so every other body is byte for byte as
    before.
    """

    account_id: int
    day: date
    force: bool = False
    deliver: bool = True
    period: PeriodKind = "day"

    @classmethod
    def from_body(cls, body: str) -> DigestJob:
        """Parse a job body; anything else is a :class:`ConfigError` naming the problem."""
        try:
            data = json.loads(body)
        except (TypeError, ValueError, RecursionError) as exc:
            # RecursionError: a body nested thousands of levels deep is not a job either.
            raise ConfigError("job body is not JSON: expected {account_id, date, force}") from exc
        if not isinstance(data, dict):
            raise ConfigError("job body must be a JSON object with account_id and date")
        unknown = set(data) - _BODY_KEYS
        if unknown:
            raise ConfigError(f"job body has unknown keys: {', '.join(sorted(unknown))}")
        account_id = data.get("account_id")
        if not isinstance(account_id, int) or isinstance(account_id, bool) or account_id <= 0:
            raise ConfigError(f"job account_id must be a positive integer, not {account_id!r}")
        raw_date = data.get("date")
        if not isinstance(raw_date, str):
            raise ConfigError("job date must be a string YYYY-MM-DD")
        try:
            day = parse_date(raw_date)
        except WindowError as exc:
            raise ConfigError(f"job {exc}") from exc
        flags = {
            key: data.get(key, default) for key, default in (("force", False), ("deliver", True))
        }
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise ConfigError(f"job {key} must be true or false")
        try:
            period = parse_period(data.get("period", "day"), allowed=PERIOD_KINDS)
        except ConfigError as exc:
            raise ConfigError(f"job {exc}") from exc
        return cls(account_id=account_id, day=day, period=period, **flags)

    def to_body(self) -> str:
        """The SQS body; ``period`` and ``deliver`` only when not the defaults."""
        body: dict[str, Any] = {"account_id": self.account_id}
        if self.period != "day":
            body["period"] = self.period
        body.update(date=self.day.isoformat(), force=self.force)
        if not self.deliver:
            body["deliver"] = False
        return json.dumps(body, separators=(",", ":"))

    @property
    def name(self) -> str:
        """``7/2026-11-20`` or ``7/week/2026-11-16``: how logs and results list the job."""
        period = "" if self.period == "day" else f"{self.period}/"
        return f"{self.account_id}/{period}{self.day.isoformat()}"


@dataclass(frozen=True, slots=True)
class DayRequest:
    """Everything one account-day needs, however it was configured (flags or accounts.json)."""

    account_id: int
    base_url: str
    timezone: str
    day: date
    account_name: str | None = None
    targets: SlaTargets = field(default_factory=SlaTargets)
    sla_policy: str | None = None
    fallback_targets: SlaTargets | None = None
    recipients: tuple[str, ...] = ()
    breach_list_size: int = 10  # rows over target shown per metric
    link_request_budget: int = 100  # requests the display-id search may make

    @classmethod
    def for_account(cls, account: AccountConfig, day: date) -> DayRequest:
        """The request of one configured account (``accounts.json``) for ``day``."""
        return cls(
            account_id=account.account_id,
            account_name=account.name,
            base_url=account.base_url,
            timezone=account.timezone,
            day=day,
            targets=account.explicit_targets,
            sla_policy=account.sla_policy,
            fallback_targets=account.default_targets,
            recipients=tuple(account.recipients),
            breach_list_size=account.breach_list_size,
            link_request_budget=account.link_request_budget,
        )


@dataclass(frozen=True, slots=True)
class RunResult:
    """What one account-day run produced, and where its digest was delivered (if anywhere)."""

    summary: Summary
    digest: Digest
    fetch: FetchResult
    receipts: tuple[Receipt, ...] = ()


@dataclass(frozen=True, slots=True)
class JobOutcome:
    """What the digest handler reports for one record (JSON-serialisable via ``as_dict``)."""

    account_id: int
    date: str
    status: str  # "sent", "duplicate", "skipped", "archived" (deliver false: nothing sent)
    events: int = 0
    pages: int = 0
    retries: int = 0
    complete: bool = True
    seconds: float = 0.0
    period: str = "day"

    @classmethod
    def from_archive(
        cls, job: DigestJob, summary: Summary, receipts: Sequence[Receipt]
    ) -> JobOutcome:
        """The outcome of delivering an archived digest: its figures are the stored ones."""
        source = summary.source
        return cls(
            account_id=job.account_id,
            date=job.day.isoformat(),
            status=delivery_status(receipts),
            events=source.events,
            pages=source.pages,
            complete=source.complete,
            period=job.period,
        )

    def as_dict(self) -> dict[str, Any]:
        period = {} if self.period == "day" else {"period": self.period}
        return {
            "account_id": self.account_id,
            **period,
            "date": self.date,
            "status": self.status,
            "events": self.events,
            "pages": self.pages,
            "retries": self.retries,
            "complete": self.complete,
            "seconds": round(self.seconds, 3),
        }


def delivery_status(receipts: Sequence[Receipt]) -> str:
    """``sent``; ``duplicate`` when every channel had it already; ``archived`` when no
    channel takes it (built and kept, not sent)."""
    if not receipts:
        return "archived"
    return "duplicate" if all(r.duplicate for r in receipts) else "sent"
