"""The display-id search: every link it gives is the one Chatwoot's own table holds.

The expectations come from hand-built tables of display id → internal id (the fake's data),
never from the search: a found link must be the table's, a deleted or unreachable conversation
must stay without one, and the request budget is a hard ceiling.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from sla_digest.chatwoot.links import LinkMap, Probed, search_display_ids


class FakeChatwoot:
    """Answers like the per-conversation endpoint, from a table of display → internal id."""

    def __init__(
        self,
        table: dict[int, int],
        *,
        blank: set[int] = frozenset(),  # type: ignore[assignment]
        mixed: set[int] = frozenset(),  # type: ignore[assignment]
    ) -> None:
        self.table = table
        self.blank = blank
        self.mixed = mixed
        self.asked: list[int] = []

    @property
    def spent(self) -> int:
        return len(self.asked)

    def __call__(self, displays: Sequence[int]) -> Probed:
        return Probed({display: self.answer(display) for display in displays})

    def answer(self, display: int) -> frozenset[int] | None:
        self.asked.append(display)
        if display in self.blank:
            return frozenset()
        if display in self.mixed:
            return frozenset({1, 2})
        internal = self.table.get(display)
        return None if internal is None else frozenset({internal})


# Display ids 1..40 of one account, hand-made: internal ids are global, so they jump (other
# accounts' conversations in between); display ids 6, 7 and 19 were deleted (404); 3, 12 and
# 27 are conversations without any event yet (an empty array).
DELETED = {6, 7, 19}
BLANK = {3, 12, 27}
INTERNAL_STEPS = [1, 4, 1, 9, 2, 30, 1, 1, 7, 3, 2, 2, 15, 1, 6, 1, 1, 40, 2, 5]
TABLE: dict[int, int] = {}
_internal = 50_000
for _display in range(1, 41):
    _internal += INTERNAL_STEPS[_display % len(INTERNAL_STEPS)]
    if _display not in DELETED | BLANK:
        TABLE[_display] = _internal
BY_INTERNAL = {internal: display for display, internal in TABLE.items()}


def test_each_wanted_conversation_gets_the_display_id_of_chatwoots_table() -> None:
    # GIVEN conversations spread over ids with gaps, deletions and conversations without events
    wanted_displays = [38, 2, 21, 13, 30]
    wanted = [TABLE[d] for d in wanted_displays]
    chatwoot = FakeChatwoot(TABLE, blank=BLANK)
    links = LinkMap()
    # WHEN their display ids are searched with a budget of 60 requests
    stopped = search_display_ids(chatwoot, wanted, links, budget=60)
    # THEN each has exactly the display id the table gives it, within the budget
    found = links.displays()
    assert {i: found.get(i) for i in wanted} == dict(zip(wanted, wanted_displays, strict=True))
    assert stopped is None
    assert chatwoot.spent <= 60
    # AND every other pair learned on the way is right too, the dead ids recorded as such
    assert all(TABLE[display] == internal for display, internal in links.pairs.items())
    assert all(display in DELETED or display > 40 for display in links.missing)
    assert links.blank <= BLANK


def test_a_conversation_deleted_since_the_day_stays_without_a_link() -> None:
    # GIVEN a breach whose conversation (display 19) has been deleted: its display id is a 404
    deleted_internal = 50_000 + sum(INTERNAL_STEPS[d % 20] for d in range(1, 20))
    assert deleted_internal not in BY_INTERNAL
    chatwoot = FakeChatwoot(TABLE, blank=BLANK)
    links = LinkMap()
    # WHEN it is searched together with one that exists
    search_display_ids(chatwoot, [deleted_internal, TABLE[25]], links, budget=60)
    # THEN the deleted one has no display id (never a neighbour's), the other has its own
    found = links.displays()
    assert deleted_internal not in found
    assert found[TABLE[25]] == 25
    assert 19 in links.missing


def test_the_budget_is_a_ceiling_and_what_was_found_within_it_is_right() -> None:
    # GIVEN six conversations and a budget of five requests
    wanted = [TABLE[d] for d in (39, 1, 20, 9, 33, 14)]
    chatwoot = FakeChatwoot(TABLE, blank=BLANK)
    links = LinkMap()
    # WHEN the search runs
    stopped = search_display_ids(chatwoot, wanted, links, budget=5)
    # THEN it asked exactly five times and says why it stopped
    assert chatwoot.spent == 5
    assert stopped == "the budget of 5 requests was spent"
    # AND the links it has are the table's; the rest have none
    assert all(BY_INTERNAL[internal] == display for internal, display in links.displays().items())
    assert len([i for i in wanted if i in links.displays()]) < len(wanted)


def test_what_is_known_already_costs_no_request() -> None:
    # GIVEN a map that holds the pair from an earlier run
    links = LinkMap(pairs={17: TABLE[17]})
    chatwoot = FakeChatwoot(TABLE)
    # WHEN the same conversation is wanted again
    stopped = search_display_ids(chatwoot, [TABLE[17]], links, budget=10)
    # THEN Chatwoot is not asked
    assert chatwoot.asked == []
    assert stopped is None


def test_hints_are_asked_first_to_learn_the_spacing_of_the_ids() -> None:
    # GIVEN display ids seen on CSAT responses and missed SLAs
    chatwoot = FakeChatwoot(TABLE, blank=BLANK)
    # WHEN a search starts from nothing
    search_display_ids(chatwoot, [TABLE[22]], LinkMap(), budget=20, hints=[9, 35, 14])
    # THEN the highest and the lowest hint are its first two questions
    assert chatwoot.asked[:2] == [35, 9]


def test_an_answer_mixing_conversations_or_repeating_one_gives_no_link() -> None:
    # GIVEN a server whose display 10 answers with two conversations' events, and whose
    # display 11 repeats the conversation of display 13
    table = dict(TABLE)
    table[11] = table[13]
    chatwoot = FakeChatwoot(table, mixed={10})
    links = LinkMap()
    # WHEN the conversation of every display id is searched for, one after the other
    for display in range(1, 41):
        search_display_ids(chatwoot, [table.get(display, -1)], links, budget=1000)
    assert {11, 13} <= set(chatwoot.asked)
    # THEN neither the mixed answer nor either side of the repeated one is a link
    assert 10 not in links.pairs
    assert 11 not in links.pairs
    assert 13 not in links.pairs
    assert table[13] not in links.displays()


def test_a_server_that_breaks_the_order_never_gets_a_wrong_link() -> None:
    # GIVEN servers whose display ids do not grow with the internal ids at all
    for seed in range(20):
        rng = random.Random(seed)
        internals = rng.sample(range(1000, 5000), 60)
        table = dict(zip(range(1, 61), internals, strict=True))
        chatwoot = FakeChatwoot(table)
        links = LinkMap()
        # WHEN conversations are searched
        search_display_ids(chatwoot, rng.sample(internals, 10), links, budget=80)
        # THEN whatever was found is what the server said for that display id
        assert all(table[display] == internal for display, internal in links.pairs.items())


def test_a_large_account_with_recent_conversations_fits_thirty_links_in_the_budget() -> None:
    # GIVEN 3,000 conversations (5% deleted, 10% without events), global internal ids, and
    # thirty conversations among the newest two hundred (the day's breaches)
    rng = random.Random(11)
    table: dict[int, int] = {}
    blank: set[int] = set()
    internal = 38_000
    for display in range(1, 3001):
        internal += rng.choice([1, 1, 2, 3, 5, 8, 13, 40])
        draw = rng.random()
        if draw < 0.05:
            continue
        if draw < 0.15:
            blank.add(display)
        else:
            table[display] = internal
    recent = [d for d in table if d > 2800]
    chosen = rng.sample(recent, 30)
    chatwoot = FakeChatwoot(table, blank=blank)
    links = LinkMap()
    # WHEN they are searched within the default budget of 100 requests
    search_display_ids(chatwoot, [table[d] for d in chosen], links, budget=100)
    # THEN nearly all are found, each with its own display id
    found = links.displays()
    assert sum(1 for d in chosen if found.get(table[d]) == d) >= 28
    assert all(table[display] == i for display, i in links.pairs.items())


def test_the_map_survives_the_archive_and_skips_entries_of_another_shape() -> None:
    # GIVEN a map as archived, plus junk a hand edit could leave
    links = LinkMap(pairs={4: 50_010, 2: 50_003}, blank={3}, missing={6, 7})
    doc = links.to_doc()
    assert doc == {"pairs": [[2, 50_003], [4, 50_010]], "blank": [3], "missing": [6, 7]}
    doc["pairs"].append(["x", 1])
    doc["blank"].append(True)
    # WHEN it is read back
    again = LinkMap.from_doc(doc)
    # THEN the good entries are back and nothing else
    assert again == links
    assert LinkMap.from_doc(None) == LinkMap()


def test_a_chatwoot_without_the_endpoint_is_given_up_on_after_a_few_404s() -> None:
    # GIVEN a Chatwoot that answers 404 for every display id
    chatwoot = FakeChatwoot({})
    # WHEN thirty conversations are searched with a budget of 100
    stopped = search_display_ids(chatwoot, list(range(50_000, 50_030)), LinkMap(), budget=100)
    # THEN it stops after eight 404s in a row, saying why, instead of spending the budget
    assert chatwoot.spent == 8
    assert stopped is not None
    assert stopped.startswith("Chatwoot answered 404 for 8 conversations in a row")


def test_rounds_of_four_questions_stay_right_and_within_the_budget() -> None:
    # GIVEN the hand-made account and a budget of 7, not a multiple of the round's width
    wanted = [TABLE[d] for d in (38, 2, 21, 13, 30, 9)]
    chatwoot = FakeChatwoot(TABLE, blank=BLANK)
    links = LinkMap()
    # WHEN the search asks four display ids a round
    stopped = search_display_ids(chatwoot, wanted, links, budget=7, width=4)
    # THEN it asked seven at most, and what it found is the table's
    assert chatwoot.spent <= 7
    assert stopped == "the budget of 7 requests was spent"
    assert all(TABLE[display] == internal for display, internal in links.pairs.items())
    # AND with room enough, every wanted conversation is found as with one question a round
    chatwoot = FakeChatwoot(TABLE, blank=BLANK)
    links = LinkMap()
    assert search_display_ids(chatwoot, wanted, links, budget=200, width=4) is None
    assert {links.displays().get(i) for i in wanted} == {38, 2, 21, 13, 30, 9}
