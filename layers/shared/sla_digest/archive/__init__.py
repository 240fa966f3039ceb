"""The audit archive: raw pages byte for byte, a checksummed manifest, summaries and digests.

It owns where objects live (``store``: one small interface, S3 and a local folder behind it),
the keys of one account-day and the order they are written in, with resume (``day``), the
manifest document (``manifest``) and ``verify``, which re-checks an archived day.

Names are loaded on first use (PEP 562), so importing one submodule never imports the others.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sla_digest.archive.day import ArchivedPage, DayArchive, PageWriter
    from sla_digest.archive.manifest import MANIFEST_VERSION, PageEntry, ResourceEntry
    from sla_digest.archive.store import Archive, LocalArchive, ObjectInfo, S3Archive, open_archive
    from sla_digest.archive.verify import check_day, find_days, verify_day

__all__ = [
    "MANIFEST_VERSION",
    "Archive",
    "ArchivedPage",
    "DayArchive",
    "LocalArchive",
    "ObjectInfo",
    "PageEntry",
    "PageWriter",
    "ResourceEntry",
    "S3Archive",
    "check_day",
    "find_days",
    "open_archive",
    "verify_day",
]

# Which submodule defines each public name.
_HOME = {
    "MANIFEST_VERSION": "manifest",
    "Archive": "store",
    "ArchivedPage": "day",
    "DayArchive": "day",
    "LocalArchive": "store",
    "ObjectInfo": "store",
    "PageEntry": "manifest",
    "PageWriter": "day",
    "ResourceEntry": "manifest",
    "S3Archive": "store",
    "check_day": "verify",
    "find_days": "verify",
    "open_archive": "store",
    "verify_day": "verify",
}


def __getattr__(name: str) -> Any:
    """Import the submodule that defines ``name`` the first time it is asked for."""
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    """The public surface, whether or not its names were loaded yet."""
    return sorted(__all__)
