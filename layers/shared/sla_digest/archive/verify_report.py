"""``verify`` for weekly and monthly reports: re-derived from their days' raw pages alone.

A report keeps no raw data of its own. It is checked by reading again the archived days its
``source.days`` lists (each page against its manifest, as for a day) and rebuilding the summary
by the same code, with the stored run's settings (targets, names, previous period, generation
time, the days that were missing), so any difference is a difference in the data.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from sla_digest.archive.period import PeriodDays
from sla_digest.archive.report import ReportArchive, parse_report_key
from sla_digest.archive.store import open_archive
from sla_digest.archive.verify import summary_mismatches, targets_from_summary
from sla_digest.exceptions import ArchiveError, VerificationError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sla_digest.report.summary import Summary

__all__ = ["find_reports", "rebuild_report", "verify_report"]


def find_reports(
    location: str, *, account_id: int | None = None, day: date | None = None
) -> Iterator[tuple[str, ReportArchive]]:
    """Every archived report at an archive root, filtered by account and a day it covers."""
    store, prefix = open_archive(location)
    for key in store.list(f"{prefix}reports/"):
        found = parse_report_key(key[len(prefix) :])
        if found is None or found.name != "summary.json":
            continue
        if account_id is not None and found.account_id != account_id:
            continue
        period = found.period
        if day is not None and not period.contains(day):
            continue
        report = ReportArchive(store, found.account_id, period, prefix=prefix)
        yield f"account {found.account_id} {period.kind} {period.start}", report


def rebuild_report(report: ReportArchive, stored: Summary) -> Summary:
    """The report's summary re-derived from the raw pages of the days it lists."""
    from sla_digest.report.period_summary import PeriodRows

    period = stored.period
    if period is None or period.kind == "day":
        raise VerificationError(["summary.json of a report is not a week's or month's"])
    days = PeriodDays(report.archive, report.account_id, period, prefix=report.prefix)
    listed = [entry.day for entry in stored.source.days or ()]
    manifests: dict[date, dict[str, Any]] = {}
    for day in listed:
        found = days.manifest(day)
        if found is None:
            raise VerificationError([f"{days.label(day)} is in the report but not archived"])
        manifests[day] = found
    context = days.context(manifests)
    hours = (
        {}
        if context is None
        else {i: box.working_hours_enabled for i, box in context.inboxes.items()}
    )
    gathered = PeriodRows(period, targets_from_summary(stored), hours)
    for day in listed:
        read = days.read(day, manifests[day])
        gathered.add_day(
            day,
            read.events,
            pages=read.pages,
            complete=read.complete,
            missing=read.missing,
            sources=days.sources.get(day),
        )
        del read
    for day in stored.source.missing_days:
        gathered.add_missing(day)
    names: dict[str, Any] = {"inbox_names": {}, "agent_names": {}}
    if context is not None:
        names = {
            "inbox_names": {i: b.name for i, b in context.inboxes.items() if b.name is not None},
            "agent_names": {i: a.name for i, a in context.agents.items() if a.name is not None},
        }
    return gathered.summary(
        account_id=stored.account_id,
        account_name=stored.account_name,
        window=stored.window,
        base_url=stored.source.base_url,
        **names,
        previous=stored.previous,
        generated_at=datetime.fromisoformat(stored.generated_at),
        list_size=10 if stored.follow_up is None else stored.follow_up.list_size,
    )


def verify_report(report: ReportArchive) -> list[str]:
    """Every way an archived report disagrees with the raw pages of its days; [] when none."""
    from sla_digest.report.summary import Summary

    try:
        stored = report.summary()
    except ArchiveError as exc:
        return [str(exc)]
    if stored is None:
        return ["summary.json is missing"]
    try:
        summary = Summary.from_dict(stored)
        rebuilt = rebuild_report(report, summary)
    except VerificationError as exc:
        return exc.problems
    except (KeyError, TypeError, ValueError) as exc:
        return [f"summary.json is not a valid report summary ({exc})"]
    return summary_mismatches(stored, rebuilt.to_dict())
