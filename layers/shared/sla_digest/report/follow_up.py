"""The summary's "conversations to act on": breaches, CSAT and SLA-policy misses, as records.

Four top-level keys of ``summary.json`` (design §13), written after ``previous``:

``breaches``
    per metric with a target, ``{"total", "worst": [ROW...]}``; ROW = ``{"value", "target",
    "inbox_id", "user_id", "conversation_ref", "display_id", "url", "created_at",
    "event_id"}``. ``value`` is the figure judged against the target (business hours on that
    basis), ``conversation_ref`` Chatwoot's internal conversation id, ``display_id``/``url``
    null when no link could be found.
``csat``
    ``{"responses", "sent", "response_rate", "satisfied", "score", "by_agent", "low",
    "range", "ignored"}`` or null when Chatwoot would not give the responses.
``sla_misses``
    ``{"total", "groups": [{"policy_id", "policy", "type", "count", "misses"}],
    "without_conversation"}`` or null (feature off, no permission).
``follow_up``
    how the section was made: ``list_size``, the link search's requests and budget, and one
    line per thing left out or cut short (``notes``).

A summary without them (made before this section existed) reads as ``follow_up=None``.
Values are carried as stored, so ``from_dict(doc).to_dict() == doc``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "FOLLOW_UP_KEYS",
    "AgentCsat",
    "BreachList",
    "BreachRow",
    "Csat",
    "FollowUp",
    "LinkStats",
    "LowRating",
    "SlaMiss",
    "SlaMissGroup",
    "SlaMisses",
]

FOLLOW_UP_KEYS: tuple[str, ...] = ("breaches", "csat", "sla_misses", "follow_up")
"""The summary keys this section writes, in order."""


@dataclass(frozen=True, slots=True)
class BreachRow:
    """One reporting event over its target, with the link into Chatwoot when one was found."""

    value: float
    target: float
    inbox_id: int | None
    user_id: int | None
    conversation_ref: int | None
    display_id: int | None
    url: str | None
    created_at: str | None
    event_id: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "target": self.target,
            "inbox_id": self.inbox_id,
            "user_id": self.user_id,
            "conversation_ref": self.conversation_ref,
            "display_id": self.display_id,
            "url": self.url,
            "created_at": self.created_at,
            "event_id": self.event_id,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> BreachRow:
        return cls(
            value=doc["value"],
            target=doc["target"],
            inbox_id=doc["inbox_id"],
            user_id=doc["user_id"],
            conversation_ref=doc["conversation_ref"],
            display_id=doc["display_id"],
            url=doc["url"],
            created_at=doc["created_at"],
            event_id=doc["event_id"],
        )


@dataclass(frozen=True, slots=True)
class BreachList:
    """How many rows of a metric missed the target (``sla.breached``) and the worst of them."""

    total: int
    worst: tuple[BreachRow, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"total": self.total, "worst": [row.to_dict() for row in self.worst]}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> BreachList:
        return cls(doc["total"], tuple(BreachRow.from_dict(row) for row in doc["worst"]))


@dataclass(frozen=True, slots=True)
class AgentCsat:
    responses: int
    score: float | None
    name: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"responses": self.responses, "score": self.score, "name": self.name}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> AgentCsat:
        return cls(doc["responses"], doc["score"], doc["name"])


@dataclass(frozen=True, slots=True)
class LowRating:
    """A rating of 1 or 2 with its feedback (untrusted text, bounded) and conversation."""

    rating: int
    feedback: str | None
    display_id: int | None
    url: str | None
    agent: str | None
    created_at: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rating": self.rating,
            "feedback": self.feedback,
            "display_id": self.display_id,
            "url": self.url,
            "agent": self.agent,
            "created_at": self.created_at,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LowRating:
        return cls(
            doc["rating"],
            doc["feedback"],
            doc["display_id"],
            doc["url"],
            doc["agent"],
            doc["created_at"],
        )


@dataclass(frozen=True, slots=True)
class Csat:
    """CSAT of the day: ``score`` = satisfied (rating ≥ 4) / responses; ``range`` names the
    date semantics Chatwoot applied (``conversation_created``); ``ignored`` counts responses
    left out (a rating outside 1–5)."""

    responses: int
    sent: int | None
    response_rate: float | None
    satisfied: int
    score: float | None
    by_agent: Mapping[str, AgentCsat]
    low: tuple[LowRating, ...]
    range: str
    ignored: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "responses": self.responses,
            "sent": self.sent,
            "response_rate": self.response_rate,
            "satisfied": self.satisfied,
            "score": self.score,
            "by_agent": {key: agent.to_dict() for key, agent in self.by_agent.items()},
            "low": [rating.to_dict() for rating in self.low],
            "range": self.range,
            "ignored": self.ignored,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> Csat:
        return cls(
            responses=doc["responses"],
            sent=doc["sent"],
            response_rate=doc["response_rate"],
            satisfied=doc["satisfied"],
            score=doc["score"],
            by_agent={key: AgentCsat.from_dict(a) for key, a in doc["by_agent"].items()},
            low=tuple(LowRating.from_dict(rating) for rating in doc["low"]),
            range=doc["range"],
            ignored=doc["ignored"],
        )


@dataclass(frozen=True, slots=True)
class SlaMiss:
    display_id: int | None
    url: str | None
    created_at: str

    def to_dict(self) -> dict[str, Any]:
        return {"display_id": self.display_id, "url": self.url, "created_at": self.created_at}

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SlaMiss:
        return cls(doc["display_id"], doc["url"], doc["created_at"])


@dataclass(frozen=True, slots=True)
class SlaMissGroup:
    """The misses of one policy and type (``frt``, ``nrt``, ``rt``); ``misses`` lists at most
    the list size of them, earliest first."""

    policy_id: int | None
    policy: str | None
    type: str
    count: int
    misses: tuple[SlaMiss, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "policy_id": self.policy_id,
            "policy": self.policy,
            "type": self.type,
            "count": self.count,
            "misses": [miss.to_dict() for miss in self.misses],
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SlaMissGroup:
        return cls(
            doc["policy_id"],
            doc["policy"],
            doc["type"],
            doc["count"],
            tuple(SlaMiss.from_dict(miss) for miss in doc["misses"]),
        )


@dataclass(frozen=True, slots=True)
class SlaMisses:
    total: int
    groups: tuple[SlaMissGroup, ...]
    without_conversation: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "groups": [group.to_dict() for group in self.groups],
            "without_conversation": self.without_conversation,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> SlaMisses:
        groups = tuple(SlaMissGroup.from_dict(group) for group in doc["groups"])
        return cls(doc["total"], groups, doc["without_conversation"])


@dataclass(frozen=True, slots=True)
class LinkStats:
    """The display-id search of the day: requests made of the budget, conversations linked."""

    requests: int
    budget: int
    linked: int
    unlinked: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "budget": self.budget,
            "linked": self.linked,
            "unlinked": self.unlinked,
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> LinkStats:
        return cls(doc["requests"], doc["budget"], doc["linked"], doc["unlinked"])


@dataclass(frozen=True, slots=True)
class FollowUp:
    """The whole section; ``breaches`` is keyed by metric, in the metric catalogue's order."""

    breaches: Mapping[str, BreachList]
    csat: Csat | None
    sla_misses: SlaMisses | None
    list_size: int
    links: LinkStats
    notes: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """The section's four summary keys (:data:`FOLLOW_UP_KEYS`)."""
        return {
            "breaches": {key: breach.to_dict() for key, breach in self.breaches.items()},
            "csat": None if self.csat is None else self.csat.to_dict(),
            "sla_misses": None if self.sla_misses is None else self.sla_misses.to_dict(),
            "follow_up": {
                "list_size": self.list_size,
                "links": self.links.to_dict(),
                "notes": list(self.notes),
            },
        }

    @classmethod
    def from_dict(cls, doc: Mapping[str, Any]) -> FollowUp | None:
        """The section of a stored summary, or ``None`` when it has none."""
        if "follow_up" not in doc:
            return None
        meta = doc["follow_up"]
        csat, misses = doc["csat"], doc["sla_misses"]
        return cls(
            breaches={key: BreachList.from_dict(b) for key, b in doc["breaches"].items()},
            csat=None if csat is None else Csat.from_dict(csat),
            sla_misses=None if misses is None else SlaMisses.from_dict(misses),
            list_size=meta["list_size"],
            links=LinkStats.from_dict(meta["links"]),
            notes=tuple(meta["notes"]),
        )
