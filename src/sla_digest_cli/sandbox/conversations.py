"""The sandbox's conversations behind the events: display ids, CSAT responses, missed SLAs.

Derived from a :class:`~sla_digest_cli.sandbox.data.Dataset`, deterministically for a seed, so
a test can ask the same :class:`Conversations` what the server answers:

* every internal ``conversation_id`` of the events is a conversation; some conversations
  without any event sit between them; the account had older conversations before the
  dataset's first one (their events long gone from the report days);
* display ids grow with internal ids, from an account that has been running a while, with
  gaps where conversations were deleted (404). One conversation with a slow first response
  on the report day was deleted after the day ended: its events are still in the day's pages,
  its display id answers 404;
* CSAT responses for resolved conversations, ratings 1–5 (one out of range), feedback that is
  hostile on purpose on the report day: HTML and a script, CR/LF, 10,000 characters,
  right-to-left text, emoji; surveys sent for more conversations than answered;
* missed SLAs (Standard policy on two inboxes, Premium on another) from the events' values,
  and one row whose conversation is missing.
"""

from __future__ import annotations

import random
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sla_digest_cli.sandbox.data import format_ms, parse_ms

if TYPE_CHECKING:
    from sla_digest_cli.sandbox.data import Dataset

__all__ = [
    "HOSTILE_FEEDBACK",
    "Conversation",
    "Conversations",
    "build_conversations",
    "window_slice",
]

_FIRST_DISPLAY = 2_000  # display ids of older conversations, before the dataset's first one
_OLDER_STEP = 7  # internal ids between two older conversations of this account
_DELETED_SHARE = 0.05
_SILENT_SHARE = 0.12  # a conversation without events between two with events
_CSAT_SENT_SHARE = 0.8
_CSAT_ANSWERED_SHARE = 0.55
_RATINGS = (1, 2, 3, 4, 5)
_RATING_WEIGHTS = (9, 7, 12, 27, 45)
_FEEDBACK = (
    "Thanks, quick and friendly!",
    "Solved on the first try.",
    "Took a while but you got there.",
    "Nobody answered for hours.",
    "Still not fixed.",
    None,
    None,
    None,
)
HOSTILE_FEEDBACK: tuple[str, ...] = (
    '<script>alert("csat")</script><b>bold</b> & <a href="http://evil.example">link</a>',
    "line one\r\nBcc: victim@example.com\r\n\r\nline three",
    "long " * 2_000,
    "\u202eتم الرد بعد ساعتين، هذا بطيء جداً",
    "👎🏽 waited 3h 😡 — “not ok” 🇩🇪",
)
_POLICIES: dict[int, tuple[int, str, dict[str, float]]] = {
    # inbox id: (policy id, name, thresholds by SLA event type)
    3: (1, "Standard", {"frt": 1800.0, "nrt": 3600.0, "rt": 86400.0}),
    5: (1, "Standard", {"frt": 1800.0, "nrt": 3600.0, "rt": 86400.0}),
    14: (2, "Premium", {"frt": 600.0, "nrt": 1800.0, "rt": 14400.0}),
}
_METRIC_OF = {"first_response": "frt", "reply_time": "nrt", "conversation_resolved": "rt"}


@dataclass(slots=True)
class Conversation:
    """One conversation of the account; ``events`` oldest first, as the API lists them."""

    internal: int
    display: int
    created_at: float  # epoch seconds
    deleted: bool = False
    events: list[dict[str, Any]] = field(default_factory=list)
    inbox_id: int | None = None
    assignee: int | None = None


@dataclass(slots=True)
class Conversations:
    """Everything the follow-up endpoints serve, with lookups for the tests."""

    by_display: dict[int, Conversation]
    csat: list[tuple[float, dict[str, Any]]]  # (conversation created_at, response row)
    surveys_sent: list[float]  # when each CSAT survey message was sent
    applied: list[tuple[float, dict[str, Any]]]  # (applied at, row as the API renders it)
    deleted_after_the_day: int | None = None  # internal id

    def display_of(self, internal: int) -> int | None:
        """The display id of a live conversation (``None``: unknown or deleted)."""
        for conversation in self.by_display.values():
            if conversation.internal == internal and not conversation.deleted:
                return conversation.display
        return None


def _conversation_events(dataset: Dataset) -> dict[int, list[dict[str, Any]]]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for row in dataset.events:
        if isinstance(row["conversation_id"], int):
            grouped.setdefault(row["conversation_id"], []).append(row)
    for rows in grouped.values():
        rows.sort(key=lambda row: (row["created_at"], row["id"]))
    return grouped


def _created(events: list[dict[str, Any]]) -> float:
    return min(parse_ms(row["event_start_time"]) for row in events) / 1000


def _older(
    rng: random.Random, account_id: int, first_internal: int, first_created: float
) -> list[Conversation]:
    """Conversations from before the dataset: one synthetic resolved event each."""
    older = []
    for display in range(1, _FIRST_DISPLAY):
        back = _FIRST_DISPLAY - display
        internal = first_internal - back * _OLDER_STEP
        created = first_created - back * 1800.0
        resolved = format_ms(int((created + 3600) * 1000))
        event = {
            "id": 1_000_000 + display,
            "name": "conversation_resolved",
            "value": 3600.0,
            "value_in_business_hours": 1800.0,
            "event_start_time": format_ms(int(created * 1000)),
            "event_end_time": resolved,
            "account_id": account_id,
            "inbox_id": 3,
            "user_id": None,
            "conversation_id": internal,
            "created_at": resolved,
            "updated_at": resolved,
        }
        older.append(
            Conversation(internal, display, created, rng.random() < _DELETED_SHARE, [event])
        )
    return older


def _deleted_after_the_day(dataset: Dataset, grouped: dict[int, list[dict[str, Any]]]) -> int:
    """The conversation of the report day's third-slowest first response."""
    since, until = dataset.report_window()
    slow = sorted(
        (float(row["value"]), -internal)
        for internal, rows in grouped.items()
        for row in rows
        if row["name"] == "first_response" and since <= parse_ms(row["created_at"]) / 1000 < until
    )
    return -slow[-3][1] if len(slow) >= 3 else next(iter(grouped))


def build_conversations(dataset: Dataset, seed: int) -> Conversations:
    """The conversations, CSAT responses and missed SLAs behind ``dataset`` (see module)."""
    rng = random.Random(seed * 7919 + 15)
    grouped = _conversation_events(dataset)
    internals = sorted(grouped)
    if not internals:
        return Conversations({}, [], [], [])
    gone = _deleted_after_the_day(dataset, grouped)
    first_created = _created(grouped[internals[0]])
    conversations = _older(rng, dataset.account_id, internals[0], first_created)
    display = _FIRST_DISPLAY
    previous = internals[0] - 1
    for internal in internals:
        if internal - previous > 2 and rng.random() < _SILENT_SHARE:
            silent = (previous + internal) // 2
            created = _created(grouped[internal]) - 60.0
            conversations.append(Conversation(silent, display, created))
            display += 1
        while rng.random() < _DELETED_SHARE:
            conversations.append(Conversation(-display, display, 0.0, deleted=True))
            display += 1
        rows = grouped[internal]
        inbox = next((row["inbox_id"] for row in rows if row["inbox_id"] is not None), None)
        assignee = next((row["user_id"] for row in reversed(rows) if row["user_id"]), None)
        conversations.append(
            Conversation(
                internal,
                display,
                _created(rows),
                deleted=internal == gone,
                events=rows,
                inbox_id=inbox,
                assignee=assignee,
            )
        )
        display += 1
        previous = internal
    by_display = {c.display: c for c in conversations}
    agents = {agent["id"]: agent for agent in dataset.agents}
    csat, sent = _csat(rng, dataset, conversations, agents)
    applied = _applied(dataset, conversations, agents)
    return Conversations(by_display, csat, sent, applied, deleted_after_the_day=gone)


def _agent(agents: dict[int, dict[str, Any]], user_id: int | None) -> dict[str, Any] | None:
    agent = agents.get(user_id) if user_id is not None else None
    if agent is None:
        return None
    keys = ("id", "name", "available_name", "email", "role", "availability_status", "thumbnail")
    return {key: agent.get(key) for key in keys}


def _csat(
    rng: random.Random,
    dataset: Dataset,
    conversations: list[Conversation],
    agents: dict[int, dict[str, Any]],
) -> tuple[list[tuple[float, dict[str, Any]]], list[float]]:
    since, until = dataset.report_window()
    responses: list[tuple[float, dict[str, Any]]] = []
    sent: list[float] = []
    hostile = [*HOSTILE_FEEDBACK]
    out_of_range = True
    next_id = 70_001
    for conversation in conversations:
        resolved = [e for e in conversation.events if e["name"] == "conversation_resolved"]
        if conversation.deleted or not resolved or conversation.display < _FIRST_DISPLAY:
            continue
        if rng.random() >= _CSAT_SENT_SHARE:
            continue
        asked = parse_ms(resolved[-1]["created_at"]) / 1000 + 5
        sent.append(asked)
        if rng.random() >= _CSAT_ANSWERED_SHARE:
            continue
        rating = rng.choices(_RATINGS, weights=_RATING_WEIGHTS)[0]
        feedback = rng.choice(_FEEDBACK)
        on_the_day = since <= conversation.created_at < until
        if on_the_day and hostile and rating <= 3:
            rating, feedback = 1 + len(hostile) % 2, hostile.pop()
        elif on_the_day and out_of_range and rating == 5:
            rating, out_of_range = 6, False  # a rating a newer survey widget allows
        responses.append(
            (
                conversation.created_at,
                {
                    "id": next_id,
                    "rating": rating,
                    "feedback_message": feedback,
                    "account_id": dataset.account_id,
                    "message_id": 900_000 + next_id,
                    "contact": {"id": 5_000 + conversation.display, "name": "Customer"},
                    "conversation_id": conversation.display,
                    "assigned_agent": _agent(agents, conversation.assignee),
                    "created_at": int(asked + rng.uniform(60, 7200)),
                },
            )
        )
        next_id += 1
    responses.sort(key=lambda item: item[0])
    sent.sort()
    return responses, sent


def _sla_event(event_id: int, kind: str, at: int) -> dict[str, Any]:
    return {"id": event_id, "event_type": kind, "meta": {}, "created_at": at, "updated_at": at}


def _applied(
    dataset: Dataset, conversations: list[Conversation], agents: dict[int, dict[str, Any]]
) -> list[tuple[float, dict[str, Any]]]:
    applied: list[tuple[float, dict[str, Any]]] = []
    next_id, next_event = 3_001, 800_001
    since, _ = dataset.report_window()
    for conversation in conversations:
        policy = _POLICIES.get(conversation.inbox_id or 0)
        if policy is None or conversation.deleted or not conversation.events:
            continue
        policy_id, name, thresholds = policy
        events = []
        for event in conversation.events:
            kind = _METRIC_OF.get(event["name"])
            if kind is None or float(event["value"]) <= thresholds[kind]:
                continue
            missed_at = parse_ms(event["event_start_time"]) / 1000 + thresholds[kind]
            events.append(_sla_event(next_event, kind, int(missed_at)))
            next_event += 1
        if not events:
            continue
        row = {
            "applied_sla": {
                "id": next_id,
                "sla_id": policy_id,
                "sla_status": "missed",
                "created_at": int(conversation.created_at),
                "updated_at": int(conversation.created_at),
                "sla_name": name,
                "sla_first_response_time_threshold": thresholds["frt"],
                "sla_next_response_time_threshold": thresholds["nrt"],
                "sla_resolution_time_threshold": thresholds["rt"],
            },
            "conversation": {
                "id": conversation.display,
                "contact": {"name": "Customer"},
                "labels": [],
                "assignee": _agent(agents, conversation.assignee),
            },
            "sla_events": events,
        }
        applied.append((conversation.created_at, row))
        next_id += 1
    orphan = {
        "applied_sla": {"id": next_id, "sla_id": 1, "sla_status": "missed", "sla_name": "Standard"},
        "conversation": None,
        "sla_events": [_sla_event(next_event, "frt", since + 4000)],
    }
    applied.append((float(since - 3600), orphan))
    applied.sort(key=lambda item: item[0])
    return applied


def window_slice[T](items: list[tuple[float, T]], since: int | None, until: int | None) -> list[T]:
    """The items whose time is in ``[since, until)``; every item without a range."""
    if since is None or until is None:
        return [item for _, item in items]
    times = [at for at, _ in items]
    return [item for _, item in items[bisect_left(times, since) : bisect_left(times, until)]]
