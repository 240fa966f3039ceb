"""Seeded generation of the sandbox's data: a realistic account day with every awkward case.

The data is deterministic for a seed, so a test can derive what the server must answer from the
same :class:`~sla_digest_cli.sandbox.data.Dataset`. It deliberately carries every awkward case
the digest must survive: ties on ``created_at`` across page boundaries, rows exactly on the
window's edges, a departed agent, null ids, a negative value, Captain rows without business hours
and an event name we do not know.
"""

from __future__ import annotations

import gc
import math
import random
from datetime import date, datetime, timedelta
from functools import cache
from statistics import NormalDist
from typing import Any

from sla_digest.window import report_window
from sla_digest_cli.sandbox.data import UNKNOWN_EVENT_NAME, Dataset, EventView, format_ms

__all__ = ["build_dataset", "business_seconds"]

_FIRST_EVENT_ID = 4_812_001
_FIRST_CONVERSATION_ID = 38_000

# name: (share of rows, median value in seconds, log-normal sigma)
_NAMES: dict[str, tuple[int, float, float]] = {
    "first_response": (30, 300.0, 1.1),
    "reply_time": (26, 900.0, 1.2),
    "conversation_resolved": (22, 4 * 3600.0, 1.0),
    "conversation_opened": (5, 20 * 3600.0, 1.0),
    "conversation_bot_handoff": (5, 90.0, 0.9),
    "conversation_bot_resolved": (4, 240.0, 0.8),
    "conversation_captain_inference_resolved": (4, 1200.0, 0.9),
    "conversation_captain_inference_handoff": (3, 150.0, 0.9),
    UNKNOWN_EVENT_NAME: (1, 600.0, 1.0),
}
_CAPTAIN = frozenset(
    {"conversation_captain_inference_resolved", "conversation_captain_inference_handoff"}
)
_BOT = frozenset({"conversation_bot_resolved", "conversation_bot_handoff"})
# Share of rows in each local hour of the day: quiet nights, busy office hours.
_HOUR_WEIGHTS = (1, 1, 1, 1, 1, 2, 3, 6, 10, 12, 12, 11, 9, 10, 11, 11, 10, 8, 6, 5, 4, 3, 2, 1)

_WORKDAYS = ((0, 1, 2, 3, 4), ())  # Monday-based weekdays with working hours
_INBOXES: tuple[dict[str, Any], ...] = (
    {"id": 3, "name": "Website Chat", "channel_type": "Channel::WebWidget", "weight": 35,
     "timezone": "Europe/Berlin", "hours": (9 * 3600, 18 * 3600)},
    {"id": 5, "name": "Support <Email>", "channel_type": "Channel::Email", "weight": 25,
     "timezone": "Europe/Berlin", "hours": (8 * 3600, 17 * 3600)},
    {"id": 8, "name": "WhatsApp", "channel_type": "Channel::Whatsapp", "weight": 20,
     "timezone": "UTC", "hours": None},
    {"id": 12, "name": "API & Integrations", "channel_type": "Channel::Api", "weight": 10,
     "timezone": "UTC", "hours": None},
    {"id": 14, "name": "+1 US Phone", "channel_type": "Channel::TwilioSms", "weight": 10,
     "timezone": "America/New_York", "hours": (9 * 3600, 17 * 3600)},
)  # fmt: skip
_AGENTS: tuple[tuple[int, str, str, str, int], ...] = (
    # id, name, email, role, share of rows
    (1, "Amira Haddad", "amira@acme.example", "administrator", 10),
    (4, "Jonas Weber", "jonas@acme.example", "agent", 22),
    (6, "Priya Natarajan", "priya@acme.example", "agent", 20),
    (9, "Tom O'Neill & <Night Shift>", "tom@acme.example", "agent", 14),
    (11, "Zoë Lefèvre", "zoe@acme.example", "agent", 18),
    (15, "Mateus Costa", "mateus@acme.example", "agent", 12),
)
_DEPARTED_AGENT = 23
_DEPARTED_SHARE = 4  # in the same units as the agents' shares
_NULL_ASSIGNEE = 0.08  # share of assignee-credited rows without an assignee
_TIE_SHARE = 0.12  # share of rows written in the same millisecond as the previous row
_FOLLOWING_DAY_ROWS = 5


def business_seconds(
    start: float, end: float, offset: int, hours: tuple[int, int] | None, workdays: tuple[int, ...]
) -> float:
    """Seconds of ``[start, end)`` inside the opening hours, in a zone at fixed ``offset``.

    A fixed offset is exact for the days the sandbox generates (no DST change on any of them in
    its zones) and keeps generation fast.
    """
    if hours is None or end <= start:
        return 0.0
    local_start, local_end = start + offset, end + offset
    day, last = int(local_start // 86400), int(local_end // 86400)
    opens, closes = hours
    total = 0.0
    while day <= last:
        if (day + 3) % 7 in workdays:  # 1970-01-01 was a Thursday (Monday-based 3)
            base = day * 86400
            lo = base + opens if local_start < base + opens else local_start
            hi = base + closes if local_end > base + closes else local_end
            if hi > lo:
                total += hi - lo
        day += 1
    return total


def _utc_offset(zone_name: str, day: date) -> int:
    from zoneinfo import ZoneInfo

    offset = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo(zone_name)).utcoffset()
    return int(offset.total_seconds()) if offset is not None else 0


def _created_times(rng: random.Random, since: int, until: int, count: int) -> list[int]:
    """Sorted epoch-ms times in ``[since, until)``: busy in office hours, with ties."""
    if count <= 0:
        return []
    since_ms, until_ms = since * 1000, until * 1000
    hours = max(1, math.ceil((until - since) / 3600))
    weights = [_HOUR_WEIGHTS[h % 24] for h in range(hours)]
    picked = rng.choices(range(hours), weights=weights, k=count)
    random_ = rng.random
    times = sorted(
        min(until_ms - 1, since_ms + hour * 3_600_000 + int(random_() * 3_600_000))
        for hour in picked
    )
    for i in range(1, count):
        if random_() < _TIE_SHARE:
            times[i] = times[i - 1]
    return times


def _force_edges_and_page_ties(times: list[int], since: int, until: int) -> None:
    """Put rows exactly on the window's edges and tie rows across the first page boundaries."""
    count = len(times)
    if count >= 2:
        times[0] = since * 1000  # included: the window starts here
        times[-1] = until * 1000 - 1  # the last millisecond of the day
    # In API order (newest first) position p is times[count - 1 - p]; tie positions 24|25,
    # 49|50|51, 74|75 and 99|100 so equal timestamps straddle those page boundaries.
    for boundary, extra in ((25, 0), (50, 1), (75, 0), (100, 0)):
        newer = count - boundary  # index of API position boundary - 1
        older = newer - 1 - extra
        if older < 1:
            break
        for index in range(newer - 1, older - 1, -1):
            times[index] = times[newer]


_LEVELS = 4096  # quantiles per log-normal table: finer than whole seconds near the median


@cache
def _lognormal_table(median: float, sigma: float) -> list[float]:
    """Whole-second quantiles of a log-normal: one table lookup per row instead of sampling."""
    normal = NormalDist(math.log(median), sigma)
    return [
        float(max(1, round(math.exp(normal.inv_cdf((level + 0.5) / _LEVELS)))))
        for level in range(_LEVELS)
    ]


def _draft_day(
    rng: random.Random,
    window: tuple[int, int],
    count: int,
    offsets: dict[int, int],
    forced: list[dict[str, Any]],
    account_id: int,
) -> list[tuple[int, int, dict[str, Any]]]:
    """``count`` rows created in ``window``, as ``(event_end_time ms, -created_at ms, row)``.

    Rows get their ids later (in ``event_end_time`` order); ``id`` is inserted first here so
    the row keeps the API's key order.
    """
    since, until = window
    times = _created_times(rng, since, until, count)
    if forced:
        _force_edges_and_page_ties(times, since, until)
    names = list(_NAMES)
    picked_names = rng.choices(names, weights=[_NAMES[n][0] for n in names], k=count)
    inbox_ids = [inbox["id"] for inbox in _INBOXES]
    picked_inboxes = rng.choices(inbox_ids, weights=[i["weight"] for i in _INBOXES], k=count)
    agent_ids = [agent[0] for agent in _AGENTS] + [_DEPARTED_AGENT]
    agent_weights = [agent[4] for agent in _AGENTS] + [_DEPARTED_SHARE]
    picked_users = rng.choices(agent_ids, weights=agent_weights, k=count)
    hours = {inbox["id"]: inbox["hours"] for inbox in _INBOXES}
    null_share = {
        name: 0.0
        if name == "first_response"
        else 0.6
        if name in _BOT | _CAPTAIN
        else _NULL_ASSIGNEE
        for name in names
    }
    tables = {name: _lognormal_table(median, sigma) for name, (_, median, sigma) in _NAMES.items()}
    lags = _lognormal_table(800.0, 0.8)  # milliseconds between the moment and the write

    # Forced rows land on random positions so they are spread over the day's pages.
    overrides: dict[int, dict[str, Any]] = {}
    if forced:
        positions = rng.sample(range(count), min(count, len(forced)))
        overrides = dict(zip(positions, forced, strict=False))

    random_ = rng.random
    workdays = _WORKDAYS[0]
    captain = _CAPTAIN
    drafted: list[tuple[int, int, dict[str, Any]]] = []
    append = drafted.append
    for index, created in enumerate(times):
        name = picked_names[index]
        inbox_id: int | None = picked_inboxes[index]
        user_id: int | None = picked_users[index]
        value = tables[name][int(random_() * _LEVELS)]
        spec = overrides.get(index)
        if spec is not None:
            name = spec.get("name", name)
            inbox_id = spec.get("inbox_id", inbox_id)
            value = float(spec.get("value", tables[name][int(random_() * _LEVELS)]))
        if spec is not None and "user_id" in spec:
            user_id = spec["user_id"]
        elif random_() < null_share[name]:
            user_id = None
        if name == "conversation_opened" and value > 0 and random_() < 0.2:
            value = 0.0  # reopened without ever having been resolved
        draw = random_()
        lag = int(lags[int(draw * _LEVELS)]) if draw > 0.01 else int(draw * 30_000_000)
        end = created - lag
        start = end - int(value * 1000)
        business: float | None
        if name in captain:
            business = None
        elif inbox_id is None or (open_hours := hours[inbox_id]) is None:
            business = 0.0
        else:
            business = float(
                round(
                    business_seconds(
                        start / 1000, end / 1000, offsets[inbox_id], open_hours, workdays
                    )
                )
            )
        conversation: int | None = _FIRST_CONVERSATION_ID + (start // 1000 - 1_790_000_000) // 40
        if spec is not None:
            conversation = spec.get("conversation_id", conversation)
        created_text = format_ms(created)
        append(
            (
                end,
                -created,
                {
                    "id": 0,
                    "name": name,
                    "value": value,
                    "value_in_business_hours": business,
                    "event_start_time": format_ms(start),
                    "event_end_time": format_ms(end),
                    "account_id": account_id,
                    "inbox_id": inbox_id,
                    "user_id": user_id,
                    "conversation_id": conversation,
                    "created_at": created_text,
                    "updated_at": created_text,
                },
            )
        )
    return drafted


def _forced_rows() -> list[dict[str, Any]]:
    """Rows every report day carries (as far as its size allows), most important first."""
    rows: list[dict[str, Any]] = [{"name": name} for name in _NAMES]
    rows += [
        {"name": "first_response", "user_id": _DEPARTED_AGENT},
        {"name": "conversation_resolved", "user_id": _DEPARTED_AGENT},
        {"name": "reply_time", "user_id": None},
        {"name": "conversation_resolved", "user_id": None},
        {"name": "conversation_resolved", "inbox_id": None},
        {"name": "conversation_opened", "value": -4.0},
        {"name": "first_response", "inbox_id": 8},  # no working hours: business value 0
        {"name": "first_response", "inbox_id": 3, "value": 5400.0},  # straddles opening hours
        {"name": "reply_time", "conversation_id": None},
    ]
    return rows


def build_dataset(*, account_id: int, day: date, timezone: str, events: int, seed: int) -> Dataset:
    """A realistic account: ``events`` rows in the report day, a similar previous day, and a few
    rows in the following day (the first exactly at the end of the report window)."""
    # Hundreds of thousands of new dicts would trigger many full collections that find nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _build(account_id=account_id, day=day, timezone=timezone, events=events, seed=seed)
    finally:
        if collecting:
            gc.enable()


def _build(*, account_id: int, day: date, timezone: str, events: int, seed: int) -> Dataset:
    rng = random.Random(seed)
    report = _window(day, timezone)
    previous = _window(day - timedelta(days=1), timezone)
    following = _window(day + timedelta(days=1), timezone)
    offsets = {inbox["id"]: _utc_offset(inbox["timezone"], day) for inbox in _INBOXES}

    previous_count = round(events * rng.uniform(0.85, 1.1))
    drafted = _draft_day(rng, previous, previous_count, offsets, [], account_id)
    drafted += _draft_day(rng, report, events, offsets, _forced_rows(), account_id)
    # The following day starts with a row exactly at the report window's (excluded) end.
    drafted += _draft_day(rng, following, _FOLLOWING_DAY_ROWS, offsets, [{}], account_id)

    # Ids follow the real moment (event_end_time), not created_at, and skip a few deleted rows.
    drafted.sort(key=lambda item: item[0])
    next_id = _FIRST_EVENT_ID
    random_ = rng.random
    for _, _, row in drafted:
        row["id"] = next_id
        next_id += 2 if random_() < 0.03 else 1
    rows = [row for _, _, row in drafted]
    drafted.sort(key=lambda item: item[1])
    return Dataset(
        account_id=account_id,
        day=day,
        timezone=timezone,
        events=rows,
        inboxes=_inboxes(account_id),
        agents=_agents(account_id),
        departed_agent_ids=(_DEPARTED_AGENT,),
        sla_policies=_sla_policies(),
        teams=_teams(account_id),
        # The drafts are in API order already: no second sort of every row.
        index=EventView([row for _, _, row in drafted], [key for _, key, _ in drafted]),
    )


def _window(day: date, timezone: str) -> tuple[int, int]:
    window = report_window(day, timezone, allow_partial=True)
    return window.since, window.until


def _working_hours(hours: tuple[int, int] | None) -> list[dict[str, Any]]:
    result = []
    for chatwoot_day in range(7):  # Chatwoot numbers days from Sunday = 0
        open_day = hours is not None and chatwoot_day in (1, 2, 3, 4, 5)
        result.append(
            {
                "day_of_week": chatwoot_day,
                "closed_all_day": not open_day,
                "open_hour": hours[0] // 3600 if open_day and hours else None,
                "open_minutes": 0 if open_day else None,
                "close_hour": hours[1] // 3600 if open_day and hours else None,
                "close_minutes": 0 if open_day else None,
                "open_all_day": False,
            }
        )
    return result


def _inboxes(account_id: int) -> list[dict[str, Any]]:
    return [
        {
            "id": inbox["id"],
            "avatar_url": "",
            "channel_id": inbox["id"] * 10 + 1,
            "name": inbox["name"],
            "channel_type": inbox["channel_type"],
            "greeting_enabled": False,
            "greeting_message": None,
            "working_hours_enabled": inbox["hours"] is not None,
            "enable_email_collect": True,
            "csat_survey_enabled": inbox["id"] == 3,
            "enable_auto_assignment": True,
            "out_of_office_message": None,
            "working_hours": _working_hours(inbox["hours"]),
            "timezone": inbox["timezone"],
            "account_id": account_id,
        }
        for inbox in _INBOXES
    ]


def _agents(account_id: int) -> list[dict[str, Any]]:
    statuses = ("online", "busy", "offline")
    return [
        {
            "id": agent_id,
            "account_id": account_id,
            "availability_status": statuses[agent_id % 3],
            "auto_offline": True,
            "confirmed": True,
            "email": email,
            "available_name": name,
            "name": name,
            "role": role,
            "thumbnail": "",
            "custom_role_id": None,
        }
        for agent_id, name, email, role, _ in _AGENTS
    ]


def _sla_policies() -> list[dict[str, Any]]:
    return [
        {
            "id": 1,
            "name": "Standard",
            "description": "Business customers",
            "first_response_time_threshold": 1800.0,
            "next_response_time_threshold": 3600.0,
            "resolution_time_threshold": 86400.0,
            "only_during_business_hours": False,
        },
        {
            "id": 2,
            "name": "Premium",
            "description": "Enterprise plan",
            "first_response_time_threshold": 600.0,
            "next_response_time_threshold": 1800.0,
            "resolution_time_threshold": 14400.0,
            "only_during_business_hours": True,
        },
    ]


def _teams(account_id: int) -> list[dict[str, Any]]:
    return [
        {"id": 1, "name": "billing", "description": "Invoices and refunds",
         "allow_auto_assign": True, "account_id": account_id, "is_member": False},
        {"id": 2, "name": "technical support", "description": "Integrations and bugs",
         "allow_auto_assign": True, "account_id": account_id, "is_member": False},
    ]  # fmt: skip
