"""One account-day of the events dataset: written by the job, rebuilt and checked from raw pages.

The rows are the events the summary counts: the same :func:`classify_rows` pass decides which
rows are kept (de-duplicated by id, inside the window, with a usable value), so the dataset
and the summary can never disagree about a day. The job writes the file from the rows it has
just classified; a rebuild reads the archived pages and classifies them again.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from sla_digest.chatwoot.events import EventSet, classify_rows
from sla_digest.chatwoot.rows import page_rows
from sla_digest.dataset.table import (
    CONTENT_TYPE,
    Names,
    dataset_key,
    decode_rows,
    encode_events,
    rows_by_id,
)
from sla_digest.exceptions import ArchiveError, SlaDigestError
from sla_digest.window import Window, parse_date

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import date

    from sla_digest.archive.day import DayArchive
    from sla_digest.chatwoot.client import AccountContext

__all__ = ["check_day", "rebuild_day", "write_day"]

logger = logging.getLogger(__name__)

_SHOWN = 5  # differences listed one by one before the rest are counted


def write_day(day: DayArchive, events: EventSet, context: AccountContext) -> str:
    """Write the day's dataset file from the events just classified; return its key.

    ``events`` must keep details (``EventSet(details=True)``, as the Chatwoot client's are).
    The file replaces any earlier one, so a rerun of the day leaves exactly its own rows.
    """
    key = dataset_key(day.account_id, day.day, day.prefix)
    data = encode_events(events, Names.from_context(context))
    day.archive.put(key, data, content_type=CONTENT_TYPE)
    return key


def rebuild_day(day: DayArchive, *, manifest: Mapping[str, Any] | None = None) -> str:
    """Write the day's dataset file again from its raw pages alone; return its key.

    Works for days archived before the dataset existed, and replaces a corrupt file. The
    account and date come from the manifest, so a flat ``--out`` folder rebuilds too.
    """
    manifest = manifest if manifest is not None else _manifest(day)
    account_id, when, events = _events(day, manifest)
    key = dataset_key(account_id, when, day.prefix)
    day.archive.put(key, encode_events(events, _names(day, manifest)), content_type=CONTENT_TYPE)
    return key


def check_day(
    day: DayArchive,
    *,
    manifest: Mapping[str, Any] | None = None,
    events: EventSet | None = None,
    missing_ok: bool = False,
) -> list[str]:
    """Every way the day's dataset file disagrees with its raw pages; [] when none.

    Each problem is one line naming the file and the fix. Pages that do not match the
    manifest are ``verify``'s own finding; here they only make the check impossible.
    ``events``: the day's kept events with details, when the caller has just read the pages
    (``verify`` has), so they are not read twice. ``missing_ok``: a day archived before the
    dataset existed has none, and that is no fault.
    """
    try:
        manifest = manifest if manifest is not None else _manifest(day)
        account_id, when, read = _events(day, manifest, pages=events is None)
        kept = events if events is not None else read
        expected = rows_by_id(decode_rows(encode_events(kept, _names(day, manifest))))
    except SlaDigestError as exc:
        return [f"the events dataset cannot be checked: {exc}"]
    key = dataset_key(account_id, when, day.prefix)
    where = day.archive.uri(key)
    fix = "run 'sla-digest dataset rebuild'"
    if day.archive.head(key) is None:
        return [] if missing_ok else [f"the events dataset is missing: {where}; {fix}"]
    try:
        stored = rows_by_id(decode_rows(day.archive.get(key)))
    except ArchiveError as exc:
        return [f"the events dataset cannot be read: {exc}"]
    except (OSError, EOFError, ValueError) as exc:  # gzip, UTF-8 and JSON errors
        return [f"the events dataset is not gzip NDJSON ({_first_line(exc)}): {where}; {fix}"]
    return [f"{line}: {where}; {fix}" for line in _differences(expected, stored)]


def _differences(
    expected: dict[object, dict[str, Any]], stored: dict[object, dict[str, Any]]
) -> list[str]:
    problems: list[str] = []
    missing = [key for key in expected if key not in stored]
    extra = [key for key in stored if key not in expected]
    if missing:
        problems.append(
            f"the events dataset lacks {len(missing)} of the {len(expected)} events "
            f"(ids {_some(missing)})"
        )
    if extra:
        problems.append(
            f"the events dataset has {len(extra)} rows that are not kept events of the raw "
            f"pages (ids {_some(extra)})"
        )
    changed = [
        (key, _columns_differing(row, stored[key]))
        for key, row in expected.items()
        if key in stored and stored[key] != row
    ]
    for key, columns in changed[:_SHOWN]:
        problems.append(f"the events dataset's row {key} differs in {', '.join(columns)}")
    if len(changed) > _SHOWN:
        problems.append(f"the events dataset has {len(changed) - _SHOWN} more rows that differ")
    return problems


def _columns_differing(expected: dict[str, Any], stored: dict[str, Any]) -> list[str]:
    return sorted(c for c in set(expected) | set(stored) if expected.get(c) != stored.get(c))


def _some(keys: list[object]) -> str:
    shown = ", ".join(str(key) for key in sorted(keys, key=str)[:_SHOWN])
    return shown + (" …" if len(keys) > _SHOWN else "")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _manifest(day: DayArchive) -> dict[str, Any]:
    found = day.manifest()
    if found is None:
        raise ArchiveError(
            f"no manifest at {day.archive.uri(day.manifest_key)}: the day was not archived "
            "completely; run it again"
        )
    return found


def _events(
    day: DayArchive, manifest: Mapping[str, Any], *, pages: bool = True
) -> tuple[int, date, EventSet]:
    """The account, the day and its kept events (with details) from the archived pages;
    without ``pages`` the events are left empty and no page is read."""
    try:
        account_id = int(manifest["account_id"])
        when = parse_date(str(manifest["date"]))
        window = Window(
            day=when,
            timezone=str(manifest["timezone"]),
            since=int(manifest["window"]["since"]),
            until=int(manifest["window"]["until"]),
        )
    except (KeyError, TypeError, ValueError, SlaDigestError) as exc:
        raise ArchiveError(
            f"{day.archive.uri(day.manifest_key)} gives no account, date and window"
        ) from exc
    events = EventSet(details=True)
    for number, body in day.page_bodies(manifest) if pages else ():
        try:
            payload = page_rows(body)
        except (ValueError, KeyError, TypeError) as exc:
            raise ArchiveError(f"archived page {number} is not a Chatwoot page") from exc
        classify_rows(payload, window, into=events)
    return account_id, when, events


def _names(day: DayArchive, manifest: Mapping[str, Any]) -> Names:
    from sla_digest.chatwoot.client import AccountContext  # loads requests: only when rebuilding

    try:
        return Names.from_context(AccountContext.from_raw(day.resources(manifest)))
    except SlaDigestError as exc:
        raise ArchiveError(f"the archived account context is not usable: {exc}") from exc
