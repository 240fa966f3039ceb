"""``status``: what the archive and the queues say about each account of a deployed stack.

Per account: the last archived day, the last delivery (its ``delivery.json``), for an account
with weekly or monthly digests (or reports archived) the last week's and month's report and
delivery, the permanent failures on record (``failure.json`` of a day, week or month, and
whether catch-up still holds it back), and what is overdue by the heartbeat's rule; then the
depth of the jobs queue and its dead-letter queue.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from sla_digest.report.periods import REPORT_PERIODS, Period, digest_name
from sla_digest.window import parse_date
from sla_digest_cli.stack import aws_call, read_stack_config

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

    from sla_digest.archive.store import Archive
    from sla_digest.config import AccountConfig
    from sla_digest.jobs.failure import FailureRecord, FailureSite, FingerprintOf
    from sla_digest_cli.stack import OperatorClients, Stack

__all__ = ["AccountStatus", "account_status", "queue_depth", "stack_status"]


@dataclass(slots=True)
class AccountStatus:
    """One account as the archive shows it."""

    label: str
    settings: str
    last_archived: str | None = None
    last_delivery: str | None = None
    failures: list[str] = field(default_factory=list)
    overdue: list[str] = field(default_factory=list)
    # (label, text) of the weeks' and months' reports, for the accounts that have them
    reports: list[tuple[str, str]] = field(default_factory=list)

    def lines(self) -> Iterator[str]:
        yield f"{self.label}: {self.settings}"
        yield f"  last archived day  {self.last_archived or 'none'}"
        yield f"  last delivery      {self.last_delivery or 'none'}"
        for label, text in self.reports:
            yield f"  {label:<17}  {text}"
        if not self.failures:
            yield "  failures           none on record"
        for line in self.failures:
            yield f"  failure            {line}"
        for line in self.overdue:
            yield f"  overdue            {line}"


def _dates(keys: Sequence[str], prefix: str, name: str) -> list[str]:
    """The dates of ``<prefix>date=<D>/<name>`` keys, oldest first."""
    found = []
    for key in keys:
        rest = key.removeprefix(prefix)
        if rest.startswith("date=") and rest.endswith("/" + name):
            found.append(rest[len("date=") : -len(name) - 1])
    return sorted(found)


def account_status(
    account: AccountConfig,
    *,
    archive: Archive,
    fingerprint: FingerprintOf | None,
    now: datetime,
) -> AccountStatus:
    """The last archived day, the last delivery, failures on record and overdue days.

    ``fingerprint`` reads the current config and secret versions, to tell whether a failed
    day is still held back; ``now`` stands for a schedule tick when finding overdue days.
    """
    from sla_digest.archive.day import DayArchive
    from sla_digest.archive.report import ReportArchive
    from sla_digest.jobs.dispatch import plan_scheduled
    from sla_digest.jobs.failure import account_secrets, read_failure
    from sla_digest.jobs.run import DELIVERY_MARKER, delivered

    account_id = account.account_id
    status = AccountStatus(
        label=account.label,
        settings=(
            f"{account.timezone}, sent at {account.send_hour:02d}:00, "
            + ("enabled" if account.enabled else "disabled")
        ),
    )
    summaries = _dates(
        archive.list(f"summaries/account_id={account_id}/"),
        f"summaries/account_id={account_id}/",
        "summary.json",
    )
    if summaries:
        last = DayArchive(archive, account_id, parse_date(summaries[-1]))
        manifest = last.manifest() or {}
        state = "complete" if manifest.get("complete") else "INCOMPLETE"
        status.last_archived = f"{summaries[-1]} ({state}; {len(summaries)} days archived)"
    digest_keys = archive.list(f"digests/account_id={account_id}/")
    prefix = f"digests/account_id={account_id}/"
    deliveries = _dates(digest_keys, prefix, DELIVERY_MARKER)
    if deliveries:
        day = DayArchive(archive, account_id, parse_date(deliveries[-1]))
        status.last_delivery = deliveries[-1] + _delivery_note(day.read_marker(DELIVERY_MARKER))
    sites: list[FailureSite] = [
        DayArchive(archive, account_id, parse_date(text))
        for text in _dates(digest_keys, prefix, "failure.json")
    ]
    reports = _reports(archive.list(f"reports/account_id={account_id}/"))
    for kind in REPORT_PERIODS:
        found = reports.get(kind, {})
        if digest_name(kind) not in account.digests and not found:
            continue
        built = sorted(period for period, names in found.items() if "summary.json" in names)
        sent = sorted(period for period, names in found.items() if DELIVERY_MARKER in names)
        last_built = "none"
        if built:
            stored = ReportArchive(archive, account_id, built[-1]).summary() or {}
            state = "complete" if stored.get("source", {}).get("complete") else "INCOMPLETE"
            last_built = f"{built[-1].start} ({state}; {len(built)} {kind}s archived)"
        status.reports.append((f"last {kind} report", last_built))
        last_sent = "none"
        if sent:
            marker = ReportArchive(archive, account_id, sent[-1])
            last_sent = sent[-1].start.isoformat() + _delivery_note(
                marker.read_marker(DELIVERY_MARKER)
            )
        status.reports.append((f"last {kind} sent", last_sent))
        sites.extend(
            ReportArchive(archive, account_id, period)
            for period, names in sorted(found.items())
            if "failure.json" in names
        )
    for site in sites:
        record = read_failure(site)
        if record is None:
            continue
        held = fingerprint is not None and record.fingerprint == fingerprint(
            account_secrets(account)
        )
        status.failures.append(_failure_line(record, held=held))
    if account.enabled:
        from sla_digest.config import Config

        plan = plan_scheduled(
            Config(accounts=(account,)),
            now,
            delivered=lambda _id, day: delivered(DayArchive(archive, account_id, day)),
            period_delivered=lambda _id, period: delivered(
                ReportArchive(archive, account_id, period)
            ),
        )
        prefix_label = f"{account.label} "
        status.overdue = [line.removeprefix(prefix_label) for line in plan.overdue]
    return status


def _reports(keys: Sequence[str]) -> dict[str, dict[Period, set[str]]]:
    """The files of each week's and month's report: ``{kind: {period: {names}}}``."""
    from sla_digest.archive.report import parse_report_key

    found: dict[str, dict[Period, set[str]]] = {}
    for key in keys:
        report = parse_report_key(key)
        if report is not None:
            period = report.period
            found.setdefault(period.kind, {}).setdefault(period, set()).add(report.name)
    return found


def _failure_line(record: FailureRecord, *, held: bool) -> str:
    what = record.date if record.period == "day" else f"{record.period} {record.date}"
    again = "sla-digest invoke" + ("" if record.period == "day" else f" --period {record.period}")
    state = (
        "held back until accounts.json or one of the account's secrets changes"
        if held
        else "changed since: the next tick queues it again within two days of its send "
        f"time, else run it with {again}"
    )
    return f"{what} {record.error} at {record.recorded_at}: {record.message} ({state})"


def _delivery_note(data: bytes | None) -> str:
    try:
        marker = json.loads(data or b"")
    except ValueError:
        return ""
    if not isinstance(marker, dict):
        return ""
    channels = [
        str(item.get("channel"))
        for item in marker.get("channels", [])
        if isinstance(item, dict) and item.get("channel")
    ]
    when = marker.get("recorded_at")
    return (f" at {when}" if isinstance(when, str) else "") + (
        f" by {', '.join(channels)}" if channels else ""
    )


def queue_depth(url: str, *, clients: OperatorClients) -> int:
    attributes = aws_call(
        "reading a queue's depth",
        lambda: clients.sqs.get_queue_attributes(
            QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
        ),
    )
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def stack_status(
    stack: Stack,
    *,
    clients: OperatorClients,
    account_id: int | None = None,
    now: datetime | None = None,
) -> list[str]:
    """``status`` as lines: each account, then the queues."""
    from sla_digest.archive.store import S3Archive
    from sla_digest.aws import config_version, secret_version
    from sla_digest.jobs.failure import Fingerprint

    config = read_stack_config(stack, clients=clients)
    accounts = list(config.accounts)
    if account_id is not None:
        accounts = [config.account(account_id)]
    archive = S3Archive(stack.bucket, s3=clients.s3)
    etag = config_version(stack.bucket, stack.config_key, s3=clients.s3)

    def fingerprint(names: Sequence[str]) -> Fingerprint:
        versions = tuple(
            (name, secret_version(name, secretsmanager=clients.secretsmanager))
            for name in sorted(set(names))
        )
        return Fingerprint(config=etag, secrets=versions)

    lines: list[str] = []
    for error in config.errors:
        lines.append(f"left out of accounts.json: {error}")
    moment = now or datetime.now(tz=UTC)
    for account in accounts:
        status = account_status(account, archive=archive, fingerprint=fingerprint, now=moment)
        lines.extend(status.lines())
    waiting = queue_depth(stack.jobs_dlq_url, clients=clients)
    queued = queue_depth(stack.jobs_queue_url, clients=clients)
    lines.append(
        f"jobs queue: {queued} waiting; dead-letter queue: {waiting} failed job(s)"
        + (f" (after a fix: sla-digest redrive --stack {stack.name})" if waiting else "")
    )
    return lines
