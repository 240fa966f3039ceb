"""Answers of a broken or hostile server, to prove that none of them can hang or exhaust a run.

Each mode (``SandboxOptions(hostile=...)``) is one shape the client must end in one clear line
within its deadline:

- ``huge_total_pages``: ``meta.total_pages`` claims a billion pages whatever ``count`` says;
- ``growing_count``: ``meta.count`` grows by a page's worth of rows with every request (and
  ``total_pages`` with it), so no two pages agree;
- ``huge_count``: ``count`` and ``total_pages`` agree on 50 million rows that are never served;
- ``endless_body``: a reporting-events body that never ends;
- ``slow_page``: every page after the first takes ten minutes to arrive, a byte at a time, so
  no read timeout ever fires;
- ``huge_agents``: ``/agents`` lists 10,000 agents with names of 1 MB each (20 GB).

Bodies are produced as they are sent, never held whole.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sla_digest_cli.sandbox.data import PER_PAGE
from sla_digest_cli.sandbox.httpd import JSON, render_json

if TYPE_CHECKING:
    import threading
    from collections.abc import Iterator

    from sla_digest_cli.sandbox.httpd import Handler

__all__ = [
    "CLAIMED_PAGES",
    "HOSTILE_MODES",
    "HUGE_AGENTS",
    "HUGE_COUNT",
    "HUGE_NAME_BYTES",
    "SLOW_PAGE_SECONDS",
    "answer_page",
    "send_huge_agents",
]

HOSTILE_MODES: frozenset[str] = frozenset(
    {"huge_total_pages", "growing_count", "huge_count", "endless_body", "slow_page", "huge_agents"}
)
CLAIMED_PAGES = 1_000_000_000
HUGE_COUNT = 50_000_000
SLOW_PAGE_SECONDS = 600.0
HUGE_AGENTS = 10_000
HUGE_NAME_BYTES = 1_000_000
_ENDLESS_ROWS = b'{"id":1,"name":"first_response","value":60.0},' * 200


def answer_page(
    mode: str,
    handler: Handler,
    document: dict[str, Any],
    *,
    page: int,
    request: int,
    stopping: threading.Event,
) -> int:
    """Answer a reporting-events request the way ``mode`` misbehaves.

    ``document`` is the honest page; ``request`` counts the reporting requests answered so far
    (1 for the first); ``stopping`` ends a body that would otherwise go on.
    """
    meta = document["meta"]
    if mode == "huge_total_pages":
        meta["total_pages"] = CLAIMED_PAGES
    elif mode == "growing_count":
        meta["count"] += PER_PAGE * (request - 1)
        meta["total_pages"] = -(-meta["count"] // PER_PAGE)
    elif mode == "huge_count":
        meta["count"] = HUGE_COUNT
        meta["total_pages"] = HUGE_COUNT // PER_PAGE
    elif mode == "endless_body":
        handler.start(200, JSON, length=None)
        handler.write_chunk(b'{"payload":[')
        while not stopping.is_set():  # or until the client hangs up: the write fails
            handler.write_chunk(_ENDLESS_ROWS)
        return 200
    elif mode == "slow_page" and page > 1:
        body = render_json(document)
        handler.start(200, JSON, length=len(body))
        pause = SLOW_PAGE_SECONDS / len(body)
        for index in range(len(body)):
            if stopping.wait(pause):
                break
            handler.wfile.write(body[index : index + 1])
        return 200
    return handler.send(200, render_json(document), JSON)


def send_huge_agents(handler: Handler, account_id: int, stopping: threading.Event) -> int:
    """``/agents`` as a bare array of :data:`HUGE_AGENTS` agents, each name 1 MB long.

    The Content-Length is announced as Rails would (about 20 GB), then the body is written
    agent by agent until it is done, the client hangs up or the sandbox stops.
    """
    name = b"x" * HUGE_NAME_BYTES
    length = 2 + sum(
        len(opening) + len(middle) + len(closing) + 2 * len(name)
        for opening, middle, closing in _frames(account_id)
    )
    handler.start(200, JSON, length=length)
    handler.wfile.write(b"[")
    for opening, middle, closing in _frames(account_id):
        if stopping.is_set():
            return 200
        handler.wfile.write(opening + name + middle + name + closing)
    handler.wfile.write(b"]")
    return 200


def _frames(account_id: int) -> Iterator[tuple[bytes, bytes, bytes]]:
    """Each agent's JSON around its two names (``name``, ``available_name``)."""
    for agent_id in range(1, HUGE_AGENTS + 1):
        separator = b"," if agent_id > 1 else b""
        opening = b'{"id":%d,"account_id":%d,"role":"agent","name":"' % (agent_id, account_id)
        yield separator + opening, b'","available_name":"', b'"}'
