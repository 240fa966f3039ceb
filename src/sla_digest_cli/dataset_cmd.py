"""``sla-digest dataset rebuild``: write the events dataset again from the raw pages alone.

For days archived before the dataset existed, and to replace a file that is corrupt. Each
account-day is rebuilt on its own: one that cannot be (no manifest, a page that no longer
matches it) is reported on its line and the others go on.
"""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sla_digest.exceptions import ConfigError, SlaDigestError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator

    from sla_digest.archive.day import DayArchive
    from sla_digest.archive.store import Archive

__all__ = ["add_dataset_parser", "archived_days"]


def archived_days(
    store: Archive,
    prefix: str,
    *,
    account_id: int | None = None,
    first: date | None = None,
    last: date | None = None,
) -> Iterator[DayArchive]:
    """Every account-day with a manifest under ``prefix``, filtered; a flat ``--out`` folder
    (``raw/manifest.json`` at its top) is its one day."""
    from sla_digest.archive.day import DayArchive, finished_days

    if store.head(f"{prefix}raw/manifest.json") is not None:
        yield DayArchive(store, 0, date.min, flat=True, prefix=prefix)
        return
    for key_account, key_day in finished_days(store, prefix):
        if account_id is not None and key_account != account_id:
            continue
        if (first is not None and key_day < first) or (last is not None and key_day > last):
            continue
        yield DayArchive(store, key_account, key_day, prefix=prefix)


def _cmd_rebuild(args: argparse.Namespace) -> int:
    from sla_digest.archive.store import open_archive
    from sla_digest.dataset import rebuild_day

    if args.first is not None and args.last is not None and args.first > args.last:
        raise ConfigError(f"--from {args.first} is after --to {args.last}")
    location: str = args.archive
    if not location.startswith("s3://") and not Path(location).is_dir():
        raise ConfigError(f"{location} is not a folder or an s3://bucket/prefix location")
    store, prefix = open_archive(location)
    done = failed = 0
    for day in archived_days(
        store, prefix, account_id=args.account_id, first=args.first, last=args.last
    ):
        label = "the day" if day.flat else f"account {day.account_id} {day.day}"
        try:
            key = rebuild_day(day)
        except SlaDigestError as exc:
            failed += 1
            sys.stderr.write(f"sla-digest: error: {label}: {exc}\n")
            continue
        done += 1
        sys.stdout.write(f"rebuilt {label}: {store.uri(key)}\n")
    if done + failed == 0:
        raise ConfigError(f"no archived day with a manifest found at {location}")
    sys.stdout.write(f"{done} of {done + failed} archived days rebuilt\n")
    return 1 if failed else 0


def add_dataset_parser(
    commands: Any, *, day_type: Callable[[str], date], id_type: Callable[[str], int]
) -> None:
    """Register ``dataset rebuild`` on the CLI's sub-command parsers (with the CLI's own
    parsers for dates and ids, so every command reads them alike)."""
    dataset = commands.add_parser("dataset", help="the events dataset that queries read")
    actions = dataset.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild",
        help="write the events dataset again from the raw pages (older days, corrupt files)",
    )
    rebuild.add_argument("--archive", required=True, help="archive folder or s3://BUCKET[/PREFIX]")
    rebuild.add_argument("--account-id", type=id_type, help="only this account")
    rebuild.add_argument("--from", dest="first", type=day_type, help="first day YYYY-MM-DD")
    rebuild.add_argument("--to", dest="last", type=day_type, help="last day YYYY-MM-DD")
    rebuild.set_defaults(func=_cmd_rebuild)
