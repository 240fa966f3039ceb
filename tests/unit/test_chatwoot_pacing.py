"""The rate controller, on a fake clock: when it paces, how it cuts, how it probes upward."""

from __future__ import annotations

import itertools
import math

import pytest

from sla_digest.chatwoot.pacing import PacingPolicy, RateController


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def start_now(pacer: RateController, clock: FakeClock) -> float:
    """Wait (on the fake clock) until the pacer lets a request start; return the start time."""
    for _ in range(10_000):
        delay = pacer.try_acquire()
        if delay <= 0:
            return clock.now
        clock.advance(delay)
    raise AssertionError("the pacer never let a request start")


def test_an_unthrottled_controller_never_makes_a_request_wait() -> None:
    # GIVEN a controller without max_rate that has seen only successes
    clock = FakeClock()
    pacer = RateController(clock=clock)
    for _ in range(50):
        pacer.accepted(clock.now)
    # WHEN a thousand requests ask to start at the same instant
    delays = [pacer.try_acquire() for _ in range(1000)]
    # THEN none waits and the controller reports no pace
    assert set(delays) == {0.0}
    assert pacer.rate is None


def test_a_lone_429_does_not_slow_a_run_down() -> None:
    # GIVEN an unpaced controller with nine successes just before
    clock = FakeClock()
    pacer = RateController(clock=clock)
    for _ in range(9):
        pacer.accepted(clock.now)
    # WHEN a single 429 arrives
    pacer.throttled()
    # THEN nothing is paced
    assert pacer.rate is None
    assert pacer.try_acquire() == 0.0


def test_repeated_429s_pace_at_nine_tenths_of_what_the_server_accepted_in_the_last_second() -> None:
    # GIVEN 20 requests accepted within the last 0.05 s (a burst into a 20-per-second limiter)
    clock = FakeClock()
    pacer = RateController(clock=clock)
    for i in range(20):
        pacer.accepted(clock.now + i * 0.0025)
    clock.advance(0.05)
    # WHEN two 429s arrive
    pacer.throttled()
    pacer.throttled()
    # THEN the pace is 0.9 × 20 requests in the one-second lookback = 18/s
    assert pacer.rate == pytest.approx(18.0)


def test_the_burst_that_found_the_limit_delays_the_next_start_as_if_it_had_been_paced() -> None:
    # GIVEN 20 requests accepted from t0 on, then throttled
    clock = FakeClock()
    t0 = clock.now
    pacer = RateController(clock=clock)
    for i in range(20):
        pacer.accepted(t0 + i * 0.001)
    clock.advance(0.03)
    pacer.throttled()
    pacer.throttled()
    # WHEN the next request asks to start
    started = start_now(pacer, clock)
    # THEN it starts when 20 requests at 18/s would have been done: t0 + 20/18 s
    assert started == pytest.approx(t0 + 20 / 18)


def test_a_paced_controller_spaces_request_starts_by_its_interval() -> None:
    # GIVEN max_rate 5/s
    clock = FakeClock()
    pacer = RateController(5.0, clock=clock)
    # WHEN ten requests start as soon as allowed
    starts = [start_now(pacer, clock) for _ in range(10)]
    # THEN consecutive starts are 1/5 s apart
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert gaps == pytest.approx([0.2] * 9)


def test_a_later_429_cuts_the_pace_by_the_decrease_factor() -> None:
    # GIVEN a pace of 20/s held while the server accepted 20 requests in the last second
    clock = FakeClock()
    pacer = RateController(20.0, clock=clock)
    for _ in range(20):
        pacer.accepted(start_now(pacer, clock))
    # WHEN 429s arrive
    pacer.throttled()
    pacer.throttled()
    # THEN the pace drops to 0.85 × 20 = 17/s (0.9 × the accepted 20/s would be higher)
    assert pacer.rate == pytest.approx(17.0)


def test_a_cut_never_halves_the_pace_more_than_once_per_step() -> None:
    # GIVEN a pace of 40/s and nothing accepted in the last second (all throttled)
    clock = FakeClock()
    pacer = RateController(40.0, clock=clock)
    clock.advance(5)
    # WHEN 429s arrive
    pacer.throttled()
    pacer.throttled()
    # THEN the pace is halved, not collapsed to the measured zero
    assert pacer.rate == pytest.approx(20.0)


def test_429s_within_the_cooldown_after_a_cut_cut_nothing_more() -> None:
    # GIVEN a controller that has just cut from 20/s to 17/s
    clock = FakeClock()
    pacer = RateController(20.0, clock=clock)
    for _ in range(20):
        pacer.accepted(start_now(pacer, clock))
    pacer.throttled()
    pacer.throttled()
    # WHEN more 429s arrive half a second later (requests sent before the cut)
    clock.advance(0.5)
    for _ in range(5):
        pacer.throttled()
    # THEN the pace stays 17/s
    assert pacer.rate == pytest.approx(17.0)


def test_sustained_success_while_paced_raises_the_pace_slowly() -> None:
    # GIVEN a pace of 9/s (0.9 × 10 accepted in the last second) that binds
    clock = FakeClock()
    pacer = RateController(clock=clock)
    for _ in range(10):
        pacer.accepted(clock.now)
    pacer.throttled()
    pacer.throttled()
    assert pacer.rate == pytest.approx(9.0)
    # WHEN 20 requests are accepted back to back at that pace (the first slot comes after the
    # cooldown: 10 requests at 9/s take 1.11 s)
    for _ in range(20):
        pacer.accepted(start_now(pacer, clock))
    # THEN the pace grew by 0.05/s per accepted request: 9 + 20 × 0.05 = 10
    assert pacer.rate == pytest.approx(10.0)


def test_success_does_not_raise_a_pace_that_holds_nothing_back() -> None:
    # GIVEN max_rate 100/s but requests arriving only once a second (never waiting)
    clock = FakeClock()
    pacer = RateController(100.0, clock=clock)
    pacer.accepted(start_now(pacer, clock))
    clock.advance(3)
    pacer.throttled()
    pacer.throttled()
    cut = pacer.rate
    # WHEN ten more requests are accepted, one every two seconds
    for _ in range(10):
        clock.advance(2.0)
        pacer.accepted(start_now(pacer, clock))
    # THEN the pace is unchanged: probing upward only makes sense when pacing binds
    assert pacer.rate == cut


def test_max_rate_is_never_exceeded_by_probing() -> None:
    # GIVEN max_rate 5/s and a long run of accepted requests
    clock = FakeClock()
    pacer = RateController(5.0, clock=clock)
    # WHEN 200 requests are accepted back to back
    for _ in range(200):
        pacer.accepted(start_now(pacer, clock))
    # THEN the pace is still 5/s
    assert pacer.rate == 5.0


def simulate_fixed_window_limiter(
    *, limit: int, pages: int, latency: float, concurrency: int, window_seconds: float = 1.0
) -> tuple[float, int, int]:
    """Fetch ``pages`` from a server allowing ``limit`` requests per window (429 beyond,
    throttled requests counted too, as Rack::Attack does); returns (seconds, requests, 429s).

    Discrete-event simulation: each worker retries a 429 after 0.1 s.
    """
    clock = FakeClock(0.0)
    pacer = RateController(clock=clock)
    counts: dict[int, int] = {}
    free_at = [0.0] * concurrency
    done = requests = throttled = 0
    while done < pages:
        worker = min(range(concurrency), key=free_at.__getitem__)
        clock.now = max(clock.now, free_at[worker])
        started = start_now(pacer, clock)
        requests += 1
        window = math.floor(started / window_seconds)
        counts[window] = counts.get(window, 0) + 1
        answered = started + latency
        if counts[window] > limit:
            throttled += 1
            clock.now = answered
            pacer.throttled()
            free_at[worker] = answered + 0.1
        else:
            clock.now = answered
            pacer.accepted(started)
            done += 1
            free_at[worker] = answered
        clock.now = min(free_at)
    return clock.now, requests, throttled


@pytest.mark.parametrize(("limit", "latency"), [(20, 0.002), (20, 0.05), (5, 0.01), (50, 0.005)])
def test_a_fixed_window_limiter_is_met_with_a_rate_close_to_its_limit(
    limit: int, latency: float
) -> None:
    # GIVEN a server allowing `limit` requests per second and 400 pages to fetch with 8 workers
    pages = 400
    # WHEN the simulated run completes
    seconds, requests, throttled = simulate_fixed_window_limiter(
        limit=limit, pages=pages, latency=latency, concurrency=8
    )
    # THEN it takes at most 1.3 × pages/limit and at most a quarter of its requests are 429s
    assert seconds <= 1.3 * pages / limit
    assert throttled <= 0.25 * requests


def test_a_per_minute_limiter_like_chatwoot_clouds_gets_close_to_its_allowance() -> None:
    # GIVEN Rack::Attack's one-minute windows at Chatwoot Cloud's ~300 requests, 1,200 pages
    limit, window, pages = 300, 60.0, 1200
    # WHEN the simulated run completes with 8 workers at 200 ms latency
    seconds, requests, throttled = simulate_fixed_window_limiter(
        limit=limit, pages=pages, latency=0.2, concurrency=8, window_seconds=window
    )
    # THEN it takes at most 1.3 × pages at the allowed average rate (limit / window), and at
    # most a quarter of its requests are 429s
    assert seconds <= 1.3 * pages / (limit / window)
    assert throttled <= 0.25 * requests


@pytest.mark.parametrize(
    "policy_args",
    [
        {"min_rate": 0},
        {"decrease": 1.0},
        {"max_decrease": 0.9, "decrease": 0.8},
        {"lookback": 0},
        {"corroborate": 11, "sample": 10},
    ],
)
def test_an_impossible_policy_is_refused(policy_args: dict[str, float]) -> None:
    # GIVEN / WHEN a policy with an impossible setting  THEN it is refused
    with pytest.raises(ValueError, match=r"must|need"):
        PacingPolicy(**policy_args)  # type: ignore[arg-type]


def test_a_zero_max_rate_is_refused() -> None:
    # GIVEN / WHEN max_rate 0  THEN the controller refuses it
    with pytest.raises(ValueError, match="max_rate"):
        RateController(0.0)
