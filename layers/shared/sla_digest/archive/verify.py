"""``verify``: every way an archived day can disagree with itself, one line per problem.

Everything ``sla-digest verify`` does lives here:

* :func:`find_days` finds the archived account-days at a location (a flat ``--out`` folder,
  an archive folder or ``s3://bucket/prefix``);
* :func:`verify_day` checks one of them: :func:`check_day` re-hashes the raw pages and context
  bodies against the manifest, and :func:`rebuild_summary` re-derives the summary from those
  same bytes (each page is read once) to compare it with the stored one.

The summary is rebuilt by the same code that built it (``report.summary``), from the archived
pages and context alone, so a difference is a difference in the data, never in the method.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.archive.day import DayArchive, finished_days
from sla_digest.archive.manifest import MANIFEST_VERSION, manifest_pages
from sla_digest.archive.store import (
    READ_BATCH,
    LocalArchive,
    map_concurrently,
    open_archive,
    reads_concurrently,
    sha256_hex,
)
from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.chatwoot.rows import page_rows
from sla_digest.config import SlaTargets
from sla_digest.dataset.day import check_day as check_dataset
from sla_digest.exceptions import ArchiveError, ConfigError, VerificationError, WindowError
from sla_digest.report.metrics import METRICS
from sla_digest.report.summary import Summary, build_summary
from sla_digest.window import Window, parse_date

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

    from sla_digest.archive.store import Archive
    from sla_digest.chatwoot.client import AccountContext
    from sla_digest.report.follow_up import FollowUp

__all__ = [
    "ArchivedEvents",
    "check_day",
    "find_days",
    "rebuild_summary",
    "summary_mismatches",
    "targets_from_summary",
    "verify_day",
]


# --------------------------------------------------------------------------- finding days


def find_days(
    location: str, *, account_id: int | None = None, day: date | None = None
) -> Iterator[tuple[str, DayArchive]]:
    """Every archived account-day at ``location``, each with a label for people.

    ``location`` is a flat ``--out`` folder of one account-day (even one whose run did not
    finish, so verify can say so), or an archive root (folder or ``s3://bucket/prefix``) whose
    days are filtered by ``account_id`` and ``day``. :class:`ConfigError` when there is none.
    """
    store, prefix = _open(location)
    if _is_flat_day(store, prefix):
        yield location, DayArchive(store, 0, date.min, flat=True, prefix=prefix)
        return
    found = False
    for key_account, key_day in finished_days(store, prefix):
        if (account_id is None or key_account == account_id) and (day is None or key_day == day):
            found = True
            yield (
                f"account {key_account} {key_day}",
                DayArchive(store, key_account, key_day, prefix=prefix),
            )
    if not found:
        raise ConfigError(f"no archived day with a manifest found at {location}")


def _open(location: str) -> tuple[Archive, str]:
    if not location.startswith("s3://") and not Path(location).is_dir():
        raise ConfigError(f"{location} is not a folder or an s3://bucket/prefix location")
    return open_archive(location)


def _is_flat_day(store: Archive, prefix: str) -> bool:
    """A flat ``--out`` folder: its manifest at ``raw/``, or (a local run that died before
    writing it) a ``raw/`` folder without ``account_id=`` partitions."""
    if store.head(f"{prefix}raw/manifest.json") is not None:
        return True
    if not isinstance(store, LocalArchive):
        return False
    raw = store.root / "raw"
    return raw.is_dir() and not any(raw.glob("account_id=*"))


# --------------------------------------------------------------------------- one day


def verify_day(day: DayArchive) -> list[str]:
    """Every way an archived day disagrees with itself: pages vs manifest, summary vs pages,
    and the events dataset (where the day has one) vs pages.

    Each page is read once by the summary check: the checksum pass hands its bytes on to the
    re-derivation.
    """
    try:
        manifest = day.manifest()
    except ArchiveError:
        manifest = None  # check_day reads it again and names the problem
    # Without a usable window rebuild_summary reads the pages itself and reports the manifest.
    read = ArchivedEvents.for_manifest(manifest)
    problems = check_day(day, manifest=manifest, on_page=read.add if read else None)
    if manifest is None:
        return problems
    stored = day.summary()
    if stored is None:
        return [*problems, "summary.json is missing"]
    if problems:
        return problems
    try:
        rebuilt = rebuild_summary(day, Summary.from_dict(stored), read=read)
    except VerificationError as exc:
        return exc.problems
    except (KeyError, TypeError, ValueError) as exc:
        return [f"summary.json is not a valid summary ({exc})"]
    mismatches = summary_mismatches(stored, rebuilt.to_dict())
    dataset = check_dataset(
        day, manifest=manifest, events=read.events if read else None, missing_ok=True
    )
    return [*mismatches, *dataset]


def summary_mismatches(stored: Any, rebuilt: Any) -> list[str]:
    """One line per field where a stored summary and the one re-derived from raw pages differ;
    days and reports (``verify_report``) are judged by the same rule."""
    return [f"summary mismatch: {change}" for change in _diff(stored, rebuilt)]


def _diff(stored: Any, rebuilt: Any, path: str = "") -> list[str]:
    if isinstance(stored, dict) and isinstance(rebuilt, dict):
        problems: list[str] = []
        for key in sorted(set(stored) | set(rebuilt), key=str):
            here = f"{path}.{key}" if path else str(key)
            if key not in rebuilt:
                problems.append(f"{here}: in summary.json but not derivable from the raw pages")
            elif key not in stored:
                problems.append(f"{here}: missing from summary.json")
            else:
                problems.extend(_diff(stored[key], rebuilt[key], here))
        return problems
    if stored != rebuilt:
        return [f"{path}: summary.json says {stored!r}, the raw pages give {rebuilt!r}"]
    return []


# --------------------------------------------------------------------------- raw data


def check_day(
    day: DayArchive,
    *,
    manifest: Mapping[str, Any] | None = None,
    on_page: Callable[[int, bytes], None] | None = None,
    resources: bool = True,
) -> list[str]:
    """Every way the archived raw data of ``day`` disagrees with its manifest; [] when none.

    Each problem is its own line naming the object, so a person can see what to fix. A caller
    that has read the manifest passes it. ``on_page`` gets each page whose bytes match the
    manifest, in the manifest's order, so ``verify`` re-derives the summary from the bytes
    this check has just read instead of reading every page a second time. ``resources=False``
    does not read the resources (they must still be there), for a caller that has read and
    checked them already (:meth:`DayArchive.resources` checks each against its sha256).
    """
    archive = day.archive
    if manifest is None:
        try:
            manifest = day.manifest()
        except ArchiveError as exc:
            return [f"{exc}: the manifest cannot be checked against"]
    if manifest is None:
        return [
            f"no manifest at {archive.uri(day.manifest_key)}: the run did not finish "
            "(or this is not an archived day); run the day again"
        ]
    problems: list[str] = []
    if manifest.get("version") != MANIFEST_VERSION:
        problems.append(
            f"{archive.uri(day.manifest_key)} has version {manifest.get('version')!r}; "
            f"this tool reads version {MANIFEST_VERSION}"
        )
    try:
        pages = manifest_pages(manifest)
    except ArchiveError as exc:
        return [*problems, f"{archive.uri(day.manifest_key)}: {exc}"]
    listed = manifest.get("resources") or {}
    if not isinstance(listed, dict):
        problems.append(f"{archive.uri(day.manifest_key)}: 'resources' is not an object")
        listed = {}

    stored = set(archive.list(day.raw_prefix))
    # (label, key, manifest entry, page number or None for a resource)
    expected: list[tuple[str, str, Any, int | None]] = [
        (f"page {item['page']}", day.page_key(item["page"]), item, item["page"]) for item in pages
    ]
    for name, item in sorted(listed.items()):
        try:
            key = day.resource_key(name)
        except ValueError:
            problems.append(f"the manifest lists a resource with the invalid name {name!r}")
            continue
        expected.append((f"resource {name!r}", key, item, None))

    # Every listed object must be there; without ``resources`` only the pages are read.
    present = [
        entry for entry in expected if entry[1] in stored and (resources or entry[3] is not None)
    ]
    for label, key, _, _ in expected:
        if key not in stored:
            problems.append(f"{label} is listed in the manifest but missing: {archive.uri(key)}")
    # In batches, as page_bodies reads, so a 4,000-page day is never in memory at once.
    for start in range(0, len(present), READ_BATCH):
        batch = present[start : start + READ_BATCH]
        bodies = map_concurrently(
            lambda entry: archive.get(entry[1]), batch, concurrent=reads_concurrently(archive)
        )
        for (label, key, item, number), body in zip(batch, bodies, strict=True):
            listed_size = item.get("bytes") if isinstance(item, dict) else None
            listed_sha = item.get("sha256") if isinstance(item, dict) else None
            if len(body) != listed_size:
                problems.append(
                    f"{label} has {len(body)} bytes but the manifest says {listed_size}: "
                    f"{archive.uri(key)}"
                )
            elif sha256_hex(body) != listed_sha:
                problems.append(
                    f"{label} does not match its sha256 in the manifest (its content changed): "
                    f"{archive.uri(key)}"
                )
            elif number is not None and on_page is not None:
                on_page(number, body)

    known = {entry[1] for entry in expected} | {day.manifest_key}
    for key in sorted(stored - known):
        number = day.page_number(key)
        what = f"page {number}" if number is not None else "an object"
        problems.append(f"{what} is archived but not listed in the manifest: {archive.uri(key)}")
    return problems


# --------------------------------------------------------------------------- the summary


class ArchivedEvents:
    """The events of an archived day, re-derived page by page from the raw bodies.

    ``verify`` feeds it the pages its checksum pass has just read, so a day is read once.
    Constructing it reads the window from the manifest (KeyError, TypeError, ValueError or
    WindowError when the manifest has no usable one).
    """

    def __init__(self, manifest: Mapping[str, Any], *, details: bool = True) -> None:
        self.manifest = manifest
        self.window = Window(
            day=parse_date(manifest["date"]),
            timezone=manifest["timezone"],
            since=int(manifest["window"]["since"]),
            until=int(manifest["window"]["until"]),
        )
        # With details, so the events dataset is checked from the same read of the pages (a
        # week's report, which checks no dataset, reads without them: less memory and CPU).
        self.events = EventSet(details=details)
        self.unreadable: list[int] = []

    def add(self, number: int, body: bytes) -> None:
        """Classify one archived page; one that is not a Chatwoot page is noted, not raised."""
        try:
            payload = page_rows(body)
        except (ValueError, KeyError, TypeError):
            self.unreadable.append(number)
            return
        classify_rows(payload, self.window, into=self.events)

    @classmethod
    def for_manifest(
        cls, manifest: Mapping[str, Any] | None, *, details: bool = True
    ) -> ArchivedEvents | None:
        """One for ``manifest``, or ``None`` when there is none or it gives no usable window."""
        if manifest is None:
            return None
        try:
            return cls(manifest, details=details)
        except (KeyError, TypeError, ValueError, WindowError):
            return None


def targets_from_summary(summary: Summary) -> SlaTargets:
    """The SLA targets a stored summary was computed with (to re-derive it exactly)."""
    values: dict[str, float] = {}
    basis = "calendar"
    for spec in METRICS:
        sla = summary.overall.metrics[spec.key].sla
        if sla is not None:
            values[spec.key] = float(sla.target)
            basis = sla.basis
    return SlaTargets(basis=basis, **values)  # type: ignore[arg-type]


def rebuild_summary(
    archive: DayArchive, stored: Summary, *, read: ArchivedEvents | None = None
) -> Summary:
    """Re-derive a summary from the raw pages alone, with the stored run's settings.

    Targets, names, the previous day and the generation time come from what was archived, so
    any difference from ``stored`` is a difference in the numbers. ``read`` holds the day's
    pages already classified (every page its manifest lists); without it they are read here.
    A summary archived as schema_version 1 is rebuilt as one, to compare like with like.
    """
    # The Chatwoot client module loads requests; only this function needs its AccountContext.
    from sla_digest.chatwoot.client import AccountContext

    if read is None:
        found = archive.manifest()
        if found is None:
            raise VerificationError([f"{archive.location()}: no manifest (the run did not finish)"])
        read = ArchivedEvents(found)
        for number, body in archive.page_bodies(found):
            read.add(number, body)
    if read.unreadable:
        raise VerificationError([f"archived page {read.unreadable[0]} is not a Chatwoot page"])
    manifest = read.manifest
    bodies = archive.resources(manifest)
    context = AccountContext.from_raw(bodies)
    targets = targets_from_summary(stored)
    rebuilt = build_summary(
        account_id=int(manifest["account_id"]),
        account_name=stored.account_name,
        window=read.window,
        base_url=stored.source.base_url,
        events=read.events,
        pages=len(manifest["pages"]),
        complete=bool(manifest.get("complete", True)),
        missing=int(manifest.get("missing", 0)),
        targets=targets,
        **context.summary_names(),
        previous=stored.previous,
        generated_at=datetime.fromisoformat(stored.generated_at),
        follow_up=_rebuild_follow_up(stored, read, bodies, context, targets),
    )
    if stored.schema_version == 1:
        source = replace(rebuilt.source, days=None, missing_days=())
        return replace(rebuilt, period=None, by_day=None, source=source)
    return rebuilt


def _rebuild_follow_up(
    stored: Summary,
    read: ArchivedEvents,
    bodies: Mapping[str, bytes],
    context: AccountContext,
    targets: SlaTargets,
) -> FollowUp | None:
    """The conversations to act on, from the archived CSAT, SLA and link bodies alone."""
    if stored.follow_up is None:
        return None
    from sla_digest.chatwoot.records import BadBody
    from sla_digest.report.acting import Sources, build_follow_up
    from sla_digest.report.breaches import select_breaches

    try:
        sources = Sources.from_resources(bodies)
        if sources is None:
            raise VerificationError(
                [
                    "summary.json lists conversations to act on, but the manifest has no "
                    "follow_up record to rebuild them from"
                ]
            )
        names = context.summary_names()
        return build_follow_up(
            breaches=select_breaches(read.events, targets, names["inbox_working_hours"]),
            sources=sources,
            list_size=stored.follow_up.list_size,
            base_url=stored.source.base_url,
            account_id=stored.account_id,
            window=read.window,
            agent_names=names["agent_names"],
        )
    except (BadBody, KeyError) as exc:
        raise VerificationError([f"an archived CSAT or SLA body is not usable: {exc}"]) from exc
