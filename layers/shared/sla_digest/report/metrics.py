"""What a summary measures and counts, with the words the digest uses for each: defined once.

The summary, the renderer (tiles, tables, CSV columns), the CLI's headline and the job runner
all walk these tuples instead of spelling the names out, so adding a metric is one line here.
The names are Chatwoot's event names (``chatwoot.events`` decides which rows carry them); a
test keeps the two in step.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COUNTS",
    "COUNT_KEYS",
    "HEADLINE",
    "IGNORED",
    "METRICS",
    "METRIC_KEYS",
    "CountSpec",
    "MetricSpec",
]


@dataclass(frozen=True, slots=True)
class MetricSpec:
    """A duration metric: ``key`` is the event name and the summary's key, ``label`` its words."""

    key: str
    label: str


@dataclass(frozen=True, slots=True)
class CountSpec:
    """An event counted but not timed (bot, Captain, reopen), with its label in the digest."""

    key: str
    label: str


METRICS: tuple[MetricSpec, ...] = (
    MetricSpec("first_response", "First response"),
    MetricSpec("reply_time", "Reply time"),
    MetricSpec("conversation_resolved", "Resolution time"),
)
METRIC_KEYS: tuple[str, ...] = tuple(spec.key for spec in METRICS)

HEADLINE = "first_response"
"""The metric of the subject line, the headline tiles, the table columns and the CLI line."""

COUNTS: tuple[CountSpec, ...] = (
    CountSpec("conversation_opened", "Reopened"),
    CountSpec("conversation_bot_resolved", "Resolved by a bot"),
    CountSpec("conversation_bot_handoff", "Handed off by a bot"),
    CountSpec("conversation_captain_inference_resolved", "Resolved by Captain"),
    CountSpec("conversation_captain_inference_handoff", "Handed off by Captain"),
)
COUNT_KEYS: tuple[str, ...] = tuple(spec.key for spec in COUNTS)

IGNORED: tuple[tuple[str, str], ...] = (
    ("unknown_name", "unknown event name"),
    ("invalid", "invalid value"),
    ("outside_window", "outside the day"),
)
"""Reasons a row was left out (``source.ignored``), with the words the digest's footer uses."""
