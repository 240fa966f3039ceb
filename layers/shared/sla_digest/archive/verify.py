"""``verify``: every way an archived day can disagree with itself, one line per problem.

:func:`check_day` re-hashes the raw pages and context bodies against the manifest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sla_digest.archive.manifest import MANIFEST_VERSION, manifest_pages
from sla_digest.archive.store import READ_BATCH, map_concurrently, sha256_hex
from sla_digest.exceptions import ArchiveError

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from sla_digest.archive.day import DayArchive

__all__ = ["check_day"]


def check_day(
    day: DayArchive,
    *,
    manifest: Mapping[str, Any] | None = None,
    on_page: Callable[[int, bytes], None] | None = None,
) -> list[str]:
    """Every way the archived raw data of ``day`` disagrees with its manifest; [] when none.

    Each problem is its own line naming the object, so a person can see what to fix. A caller
    that has read the manifest passes it. ``on_page`` gets each page whose bytes match the
    manifest, in the manifest's order, so ``verify`` re-derives the summary from the bytes
    this check has just read instead of reading every page a second time.
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
    resources = manifest.get("resources") or {}
    if not isinstance(resources, dict):
        problems.append(f"{archive.uri(day.manifest_key)}: 'resources' is not an object")
        resources = {}

    stored = set(archive.list(day.raw_prefix))
    # (label, key, manifest entry, page number or None for a resource)
    expected: list[tuple[str, str, Any, int | None]] = [
        (f"page {item['page']}", day.page_key(item["page"]), item, item["page"]) for item in pages
    ]
    for name, item in sorted(resources.items()):
        try:
            key = day.resource_key(name)
        except ValueError:
            problems.append(f"the manifest lists a resource with the invalid name {name!r}")
            continue
        expected.append((f"resource {name!r}", key, item, None))

    present = [entry for entry in expected if entry[1] in stored]
    for label, key, _, _ in expected:
        if key not in stored:
            problems.append(f"{label} is listed in the manifest but missing: {archive.uri(key)}")
    # In batches, as page_bodies reads, so a 4,000-page day is never in memory at once.
    for start in range(0, len(present), READ_BATCH):
        batch = present[start : start + READ_BATCH]
        bodies = map_concurrently(lambda entry: archive.get(entry[1]), batch)
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
