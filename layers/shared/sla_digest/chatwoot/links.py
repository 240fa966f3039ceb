"""Display ids: the conversation numbers of the app's URLs, found for internal ids (the search).

Reporting events name a conversation by Chatwoot's internal id; the app's URLs use the
per-account display id. The only way to learn which display id an internal id has is
``GET /conversations/{display_id}/reporting_events``: a bare array of that conversation's
events (their ``conversation_id`` is the internal id), an empty array for a conversation
without events, 404 for a display id that does not exist (deleted, or never used). Within an
account both ids grow in creation order, internal ids with gaps (they are global), display
ids with gaps too (deletions).

So the search is over the display ids between the known pairs that bracket a wanted internal
id: interpolation and bisection in turn inside a bracket, galloping above the highest pair,
a dead display id (404 or no events) stepped over to its nearest unprobed neighbour. Every
answer is kept in a :class:`LinkMap` and helps every later search; the map is archived with
the day, so nothing is asked twice.

A link is only ever one a probe returned: a display id whose events carry exactly the wanted
internal id. A bracket that empties, a server whose answers contradict the order, an answer
mixing conversations, the request budget running out: each leaves the row without a link,
never with a guessed one.

This module is the search alone, over any :class:`Prober`, and imports nothing of the fetch
path: reading an archived :class:`LinkMap` must not load ``requests``. Asking Chatwoot is
:mod:`sla_digest.chatwoot.conversations`.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from itertools import batched
from typing import TYPE_CHECKING, Any, Protocol

from sla_digest.chatwoot.records import is_int

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

__all__ = [
    "NOTHING_FOUND",
    "PER_TARGET",
    "Answer",
    "LinkMap",
    "Probed",
    "Prober",
    "SearchStopped",
    "search_display_ids",
]

PER_TARGET = 16
"""Probes one internal id may cost before the search moves on to the next."""
NOTHING_FOUND = 8
"""404s in a row, with no pair known at all, after which the endpoint is taken to be absent."""
_SEEDS = 2


@dataclass
class LinkMap:
    """What is known of an account's display ids (all of it learned from Chatwoot's answers).

    ``pairs`` maps display id → internal id; ``blank`` holds display ids whose conversation has
    no events, ``missing`` those that answered 404.
    """

    pairs: dict[int, int] = field(default_factory=dict)
    blank: set[int] = field(default_factory=set)
    missing: set[int] = field(default_factory=set)

    def displays(self) -> dict[int, int]:
        """Internal id → display id, for every pair known."""
        return {internal: display for display, internal in self.pairs.items()}

    def to_doc(self) -> dict[str, Any]:
        return {
            "pairs": [[display, self.pairs[display]] for display in sorted(self.pairs)],
            "blank": sorted(self.blank),
            "missing": sorted(self.missing),
        }

    @classmethod
    def from_doc(cls, doc: Any) -> LinkMap:
        """Read :meth:`to_doc`'s form; entries of another shape are skipped."""
        found = cls()
        if not isinstance(doc, dict):
            return found
        for pair in doc.get("pairs") or ():
            if isinstance(pair, list) and len(pair) == 2 and all(is_int(v) for v in pair):
                found.pairs[pair[0]] = pair[1]
        found.blank = {v for v in doc.get("blank") or () if is_int(v)}
        found.missing = {v for v in doc.get("missing") or () if is_int(v)}
        return found


class SearchStopped(Exception):
    """The search cannot go on (budget spent, token refused, Chatwoot failing); says why."""


type Answer = frozenset[int] | None
"""The conversation ids of a display id's events (empty: none), ``None`` for a 404."""


@dataclass(frozen=True, slots=True)
class Probed:
    """The answers to one batch of questions, and why the rest went unasked (if they did)."""

    answers: dict[int, Answer]
    stopped: str | None = None


class Prober(Protocol):
    """Asks Chatwoot about display ids, a batch at a time (concurrently if it can).

    ``spent`` is the number of requests made so far (retries and throttled ones included).
    """

    @property
    def spent(self) -> int: ...

    def __call__(self, displays: Sequence[int]) -> Probed: ...


class _Known:
    """The pairs ordered by internal id, and every display id asked about, ordered."""

    def __init__(self, links: LinkMap) -> None:
        ordered = sorted((internal, display) for display, internal in links.pairs.items())
        self.internals = [internal for internal, _ in ordered]
        self.displays = [display for _, display in ordered]
        self.probed = sorted({*links.pairs, *links.blank, *links.missing})

    def add_pair(self, display: int, internal: int) -> None:
        at = bisect.bisect_left(self.internals, internal)
        self.internals.insert(at, internal)
        self.displays.insert(at, display)

    def drop_pair(self, internal: int) -> None:
        at = bisect.bisect_left(self.internals, internal)
        if at < len(self.internals) and self.internals[at] == internal:
            del self.internals[at], self.displays[at]

    def mark(self, display: int) -> None:
        at = bisect.bisect_left(self.probed, display)
        if at == len(self.probed) or self.probed[at] != display:
            self.probed.insert(at, display)

    def bracket(self, internal: int) -> tuple[tuple[int, int], tuple[int, int] | None, int | None]:
        """``(lower pair, upper pair, exact display)`` around ``internal``; pairs are
        ``(display, internal)``, the lower one ``(0, 0)`` when no pair lies below."""
        at = bisect.bisect_left(self.internals, internal)
        if at < len(self.internals) and self.internals[at] == internal:
            return (0, 0), None, self.displays[at]
        lower = (self.displays[at - 1], self.internals[at - 1]) if at else (0, 0)
        upper = (self.displays[at], self.internals[at]) if at < len(self.internals) else None
        return lower, upper, None

    def ratio(self) -> float | None:
        """Display ids per internal id across the known pairs (``None`` with fewer than two)."""
        if len(self.internals) < 2 or self.internals[-1] == self.internals[0]:
            return None
        return (self.displays[-1] - self.displays[0]) / (self.internals[-1] - self.internals[0])

    def free_between(self, low: int, high: int | None) -> bool:
        """Whether a display id strictly between ``low`` and ``high`` has not been asked about."""
        if high is None:
            return True
        inside = bisect.bisect_left(self.probed, high) - bisect.bisect_right(self.probed, low)
        return high - low - 1 > inside

    def nearest_free(self, guess: int, low: int, high: int | None) -> int | None:
        """The unprobed display id nearest ``guess`` strictly inside ``(low, high)``."""
        guess = max(low + 1, guess if high is None else min(guess, high - 1))
        if high is not None and guess >= high:
            return None
        probed = self.probed
        for distance in range(len(probed) + 2):
            for candidate in (guess + distance, guess - distance):
                if low < candidate and (high is None or candidate < high):
                    at = bisect.bisect_left(probed, candidate)
                    if at == len(probed) or probed[at] != candidate:
                        return candidate
        return None


def _next_probe(
    known: _Known, target: int, *, halve: bool, gallops: int, soft_end: int | None
) -> tuple[int | None, bool]:
    """Where to look next for ``target`` (``None``: nowhere left), and whether that is a
    gallop above every known pair. ``halve`` bisects instead of interpolating."""
    (low, low_internal), upper, _ = known.bracket(target)
    if upper is not None:
        high, high_internal = upper
        if high - low <= 1 or high_internal <= low_internal:
            return None, False  # nothing between the pairs (or the answers contradict the order)
        if not halve:
            share = (target - low_internal) / (high_internal - low_internal)
            guess = low + round(share * (high - low))
        else:
            guess = (low + high) // 2
        return known.nearest_free(guess, low, high), False
    ratio = known.ratio()
    stride = max(1, round((target - low_internal) * ratio)) if ratio else 1
    if soft_end is not None and soft_end - low > 1 and known.free_between(low, soft_end):
        # A dead display id above the highest pair may be where the account's ids end: look
        # below it, where the spacing of the pairs puts the target if that is in the lower
        # half, else in the middle (so the gap at least halves).
        middle = (low + soft_end) // 2
        return known.nearest_free(
            middle if halve else min(low + stride, middle), low, soft_end
        ), False
    start = low if soft_end is None else max(low, soft_end)
    return known.nearest_free(start + stride * 2 ** min(gallops, 24), low, None), True


def _record(known: _Known, links: LinkMap, display: int, answer: Answer) -> int | None:
    """Keep an answer; the internal id it revealed, if it revealed exactly one."""
    known.mark(display)
    if answer is None:
        links.missing.add(display)
        return None
    if len(answer) != 1:
        links.blank.add(display)  # no events, or events of several conversations: no pair
        return None
    internal = next(iter(answer))
    claimed = known.bracket(internal)[2]
    if claimed is not None:
        # Two display ids answered with the same conversation: neither can be trusted.
        known.drop_pair(internal)
        del links.pairs[claimed]
        links.blank.update((claimed, display))
        return None
    links.pairs[display] = internal
    known.add_pair(display, internal)
    return internal


@dataclass(slots=True)
class _Target:
    """One wanted internal id and where its search stands."""

    internal: int
    tries: int = 0
    gallops: int = 0
    halve: bool = False
    soft_end: int | None = None
    done: bool = False


def search_display_ids(
    probe: Prober,
    wanted: Sequence[int],
    links: LinkMap,
    *,
    budget: int,
    hints: Iterable[int] = (),
    per_target: int = PER_TARGET,
    width: int = 1,
) -> str | None:
    """Learn the display ids of ``wanted`` (in priority order) into ``links``.

    The search goes in rounds: in each, the first ``width`` wanted ids still open each name
    their next display id, and the prober asks them together (concurrently over HTTP), so the
    time it takes is a few round trips, not one per request. It never asks for more than
    ``budget - probe.spent``. ``hints`` are display ids known to exist (CSAT responses,
    missed SLAs): with fewer than two pairs known, the highest and the lowest are asked first
    to learn the ids' spacing. Returns why the search ended early, or ``None`` when every
    wanted id was found or given up on.
    """
    known = _Known(links)
    targets = [_Target(t) for t in dict.fromkeys(wanted) if known.bracket(t)[2] is None]
    if not targets:
        return None
    misses = 0

    def ask(displays: list[int]) -> dict[int, int | None]:
        """Ask about ``displays`` (within the budget); what each revealed."""
        nonlocal misses
        room = budget - probe.spent
        if room <= 0:
            raise SearchStopped(f"the budget of {budget} requests was spent")
        probed = probe(displays[:room])
        revealed = {}
        for display in displays:
            if display in probed.answers:
                answer = probed.answers[display]
                revealed[display] = _record(known, links, display, answer)
                misses = misses + 1 if answer is None else 0
        if misses >= NOTHING_FOUND and not known.internals:
            raise SearchStopped(
                f"Chatwoot answered 404 for {misses} conversations in a row and none was "
                "found: this version may lack the per-conversation reporting events"
            )
        if probed.stopped:
            raise SearchStopped(probed.stopped)
        return revealed

    try:
        if len(known.internals) < 2:
            seeds = sorted({h for h in hints if h > 0} - set(known.probed))
            for chunk in batched(
                dict.fromkeys([*seeds[-1:], *seeds[:1]][:_SEEDS]), width, strict=False
            ):
                ask(list(chunk))
        while True:
            batch = _round(known, targets, per_target=per_target, width=width)
            if not batch:
                return None
            revealed = ask(list(batch))
            for display, (target, galloping) in batch.items():
                if display in revealed:
                    _advance(known, target, display, revealed[display], galloping)
    except SearchStopped as stopped:
        return str(stopped)


def _round(
    known: _Known, targets: list[_Target], *, per_target: int, width: int
) -> dict[int, tuple[_Target, bool]]:
    """The next display id of each of the first ``width`` open targets (one asker each)."""
    batch: dict[int, tuple[_Target, bool]] = {}
    for target in targets:
        if len(batch) >= width:
            break
        if target.done:
            continue
        if target.tries >= per_target or known.bracket(target.internal)[2] is not None:
            target.done = True
            continue
        display, galloping = _next_probe(
            known,
            target.internal,
            halve=target.halve,
            gallops=target.gallops,
            soft_end=target.soft_end,
        )
        if display is None:
            target.done = True
        elif display not in batch:
            batch[display] = (target, galloping)
    return batch


def _advance(
    known: _Known, target: _Target, display: int, revealed: int | None, galloping: bool
) -> None:
    """Update ``target``'s search with the answer about ``display``."""
    tries = target.tries
    target.tries += 1
    above_all = known.bracket(target.internal)[1] is None
    # Galloping doubles its stride for as long as it stays below the target.
    target.gallops = target.gallops + 1 if galloping and above_all else 0
    # Every third probe bisects: interpolation alone can creep along skewed ids.
    target.halve = tries >= 3 and tries % 3 == 0
    # A dead id above every pair is perhaps the end of the ids: it becomes the end when lower
    # than the last one, or when galloping past that one.
    dead = revealed is None and above_all
    if dead and (galloping or target.soft_end is None or display < target.soft_end):
        target.soft_end = display
