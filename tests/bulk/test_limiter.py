"""Rate limiters: even spacing, and the adaptive steering with a fake clock."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from bulk import AdaptiveRateLimiter, FixedRateLimiter, RateLimiter
from bulk._limiter import (
    STALL,
    STRICT_INTERVAL,
    AimdController,
    Spacer,
    UnlimitedLimiter,
)


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _saturate(aimd: AimdController, clock: _Clock, seconds: int) -> None:
    """Send at the full current rate for ``seconds``, every request a success."""
    for _ in range(seconds):
        start, n = clock.now, int(aimd.rate)
        for i in range(n):
            aimd.on_sent()
            clock.now = start + (i + 1) / n
            aimd.on_success()


async def test_the_fixed_limiter_spaces_calls_evenly_never_a_burst() -> None:
    """Ten callers at once leave one interval apart, however long they waited."""
    clock = _Clock()
    sent: list[float] = []

    async def sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        sent.append(clock.now + seconds)

    limiter = FixedRateLimiter(50.0, clock=clock, sleep=sleep)
    clock.now = 100.0  # long idle: nothing saved up
    await asyncio.gather(*(limiter.acquire() for _ in range(10)))
    assert sorted(sent) == pytest.approx([100.0 + i / 50.0 for i in range(1, 10)])


def test_the_spacer_follows_a_rate_change_at_once() -> None:
    """A new rate applies from the next moment handed out; a late caller saves nothing."""
    clock = _Clock()
    spacer = Spacer(10.0, clock=clock)
    assert spacer.reserve() == 0.0
    assert spacer.reserve() == pytest.approx(0.1)
    spacer.rate = 100.0
    assert spacer.reserve() == pytest.approx(0.2)  # the moment after the last one given
    assert spacer.reserve() == pytest.approx(0.21)
    clock.now = 5.0
    assert spacer.reserve() == 0.0
    assert spacer.reserve() == pytest.approx(0.01)
    with pytest.raises(ValueError, match="positive"):
        spacer.rate = 0.0


@pytest.mark.parametrize(
    ("rate", "strict", "second_gap"),
    [(50.0, True, 0.02), (50.0, False, 0.0192), (500.0, True, 0.0012)],
    ids=["strict", "fixed-rate", "strict-below-its-interval"],
)
async def test_a_strict_spacer_never_lets_two_calls_closer_than_an_interval(
    rate: float, strict: bool, second_gap: float
) -> None:
    """Woken late by the event loop's timer grain, a strict spacer starts the next
    interval from the late departure (a bucket of one refuses a closer pair); a
    fixed-rate spacer keeps its schedule, and so does a strict one at intervals
    shorter than STRICT_INTERVAL."""
    clock = _Clock()
    departures: list[float] = []
    lateness = iter([0.0008, 0.0])  # late once, then on time

    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        clock.now += seconds + next(lateness)

    spacer = Spacer(rate, strict=strict, clock=clock, sleep=late_sleep)
    clock.now = 1.0
    for _ in range(3):
        await spacer.acquire()
        departures.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(departures)]
    interval = 1.0 / rate
    assert gaps[0] == pytest.approx(interval + 0.0008)  # woken late
    assert gaps[1] == pytest.approx(second_gap)
    assert 1 / 50.0 >= STRICT_INTERVAL > 1 / 500.0


@pytest.mark.parametrize(("late", "second_gap"), [(0.005, 0.002), (0.0008, 0.0012)])
async def test_after_a_stall_the_next_call_leaves_a_whole_interval_later(
    late: float, second_gap: float
) -> None:
    """At 500/s (no strict spacing) a wake-up later than STALL (the event loop was held)
    does not let the next call leave at once to catch up: a pair so close is what a
    gateway bucket of one refuses. The timers' millisecond grain is still caught up."""
    clock = _Clock()
    lateness = iter([late, 0.0])

    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        clock.now += seconds + next(lateness)

    spacer = Spacer(500.0, clock=clock, sleep=late_sleep)
    clock.now = 1.0
    departures = []
    for _ in range(3):
        await spacer.acquire()
        departures.append(clock.now)
    gaps = [b - a for a, b in itertools.pairwise(departures)]
    assert gaps[0] == pytest.approx(0.002 + late)
    assert gaps[1] == pytest.approx(second_gap)
    assert 0.0008 < STALL < 0.005


async def test_a_fixed_rate_keeps_whole_intervals_after_its_first_429() -> None:
    """At 450/s (an interval shorter than STRICT_INTERVAL) a fixed rate keeps its
    schedule until a 429; from then on a late wake-up pushes the next call back, so no
    pair leaves closer than an interval (measured: 1,000 residents at --rate 450 against
    500/s with a bucket of one took 495 s and 490 429s before, 8 s and 4 after)."""
    clock = _Clock()
    lateness = itertools.cycle([0.0008, 0.0])  # late every other wake-up

    async def late_sleep(seconds: float) -> None:
        await asyncio.sleep(0)
        clock.now += seconds + next(lateness)

    limiter = FixedRateLimiter(450.0, clock=clock, sleep=late_sleep)
    interval = 1.0 / 450.0

    async def gaps(calls: int) -> list[float]:
        departures: list[float] = []
        for _ in range(calls):
            await limiter.acquire()
            departures.append(clock.now)
        return [b - a for a, b in itertools.pairwise(departures)]

    clock.now = 1.0
    before = await gaps(5)
    assert min(before) < interval - 0.0005  # the schedule kept: one left early
    limiter.on_throttled()
    clock.now += 1.0  # the pause
    after = await gaps(6)
    assert min(after) >= interval - 1e-9
    assert limiter.rate == 450.0  # the rate set stands; only the spacing is whole


def test_every_limiter_satisfies_the_protocol() -> None:
    """The engine takes any of them."""
    for limiter in (FixedRateLimiter(5), AdaptiveRateLimiter(), UnlimitedLimiter()):
        assert isinstance(limiter, RateLimiter)
    assert UnlimitedLimiter().rate is None
    with pytest.raises(ValueError, match="positive"):
        FixedRateLimiter(0)


def test_aimd_doubles_in_slow_start_then_searches_back_from_half() -> None:
    """Double each clean interval; the first 429 halves to the last clean rate."""
    clock = _Clock()
    aimd = AimdController(10, interval=1.0, clock=clock)
    _saturate(aimd, clock, 3)
    assert aimd.rate == 80  # 10 -> 20 -> 40 -> 80
    assert aimd.on_throttled() is True
    assert aimd.rate == pytest.approx(40)
    assert not aimd.slow_start
    assert aimd.found_limit
    _saturate(aimd, clock, 2)
    assert 40 < aimd.rate < 80  # the search climbs back toward the failing rate


def test_aimd_cuts_once_for_a_burst_of_429s() -> None:
    """The 429s of one burst (many workers) count as one congestion signal."""
    clock = _Clock()
    aimd = AimdController(100, clock=clock)
    assert aimd.on_throttled() is True
    for _ in range(15):
        assert aimd.on_throttled() is False
    assert aimd.rate == pytest.approx(50)
    clock.now += 1.5
    assert aimd.on_throttled() is True  # the search met it at 50: ceiling a step below
    assert aimd.rate == pytest.approx(50 * 0.95 * 0.95)


def test_aimd_cuts_deeper_for_each_quick_429_in_a_row() -> None:
    """A quick repeat after a slow cut cuts to 90 % of the rate met (it may be jitter);
    each quick one in a row after it 10 % deeper (slow start overshot a small limit
    several times over), never below what went through since the last cut."""
    clock = _Clock()
    aimd = AimdController(40, clock=clock)
    aimd.on_throttled()  # slow start ends at 40: search from 20
    clock.now += 10.0
    aimd.on_throttled()  # the search meets it, slowly: a step below
    first = aimd.rate
    clock.now += 1.3
    aimd.on_throttled()  # quick: to 90 % of the rate met, then the usual step below
    assert aimd.rate == pytest.approx(first * 0.9 * 0.95)
    second = aimd.rate
    for _ in range(6):  # 6 calls went through in the 1.3 s since
        aimd.on_success()
    clock.now += 1.3
    aimd.on_throttled()  # quick again: 81 % of what it met
    assert aimd.rate == pytest.approx(second * 0.81 * 0.95)
    third = aimd.rate
    for _ in range(6):  # no more than the cycle before let through: still far above
        aimd.on_success()
    clock.now += 0.5
    aimd.on_throttled()  # what went through (12/s) is above 73 % of the rate met
    fourth = aimd.rate
    assert fourth == pytest.approx(max(12.0, third * 0.729) * 0.95)
    clock.now += 10.0
    aimd.on_throttled()  # not quick: the chain is over, the gentle cut below a ceiling
    assert aimd.rate == pytest.approx(fourth * (1 + 0.95) / 2 * 0.95)


def _bucket_cycle(
    aimd: AimdController, clock: _Clock, *, rate: float, limit: float
) -> tuple[int, float]:
    """After a one-second pause, send at ``rate`` against a bucket of 5 refilling at
    ``limit``/s (full again after the pause) until it refuses a call; return the calls
    it let through and the controller's rate that the refusal met."""
    clock.now += 1.0
    start, tokens, passed = clock.now, 5.0, 0
    while passed < 10_000:
        aimd.on_sent()
        if passed:
            tokens = min(5.0, tokens + limit / rate)
        if tokens < 1.0:
            met = aimd.rate
            aimd.on_throttled()
            return passed, met
        tokens -= 1.0
        passed += 1
        aimd.on_success()
        clock.now = start + passed / rate
    raise AssertionError(f"no 429 at {rate}/s against {limit}/s")


def test_aimd_finds_the_limit_from_two_quick_cycles_near_it() -> None:
    """Quick 429s above a small bucket's limit (R 50, bucket 5; cycles at 72 and 64/s):
    the second cycle let more calls through than the first at a lower rate, and the two
    counts say where the limit is. The ceiling lands just below it, where the depth rule
    (81 % of the rate met) would have put it at 52, one more 429 (and, a few per cent
    above the limit, 15 % below it for the plateau's 45 s)."""
    clock = _Clock()
    aimd = AimdController(160, clock=clock)
    aimd.on_throttled()  # slow start ends at 160: search from 80
    clock.now += 10.0
    aimd.on_throttled()  # the search met it at 80, slowly: a step below, 72/s
    first, met = _bucket_cycle(aimd, clock, rate=aimd.rate, limit=50.0)
    assert aimd.ceiling == pytest.approx(met * 0.9)  # quick: the depth rule, 90 %
    second, met = _bucket_cycle(aimd, clock, rate=aimd.rate, limit=50.0)
    assert second > first  # nearer the limit, more calls went through
    assert 0.97 * 50.0 <= aimd.ceiling <= 50.0 < met * 0.81


def _estimate_allowance(aimd: AimdController, clock: _Clock, limit: float) -> None:
    """Slow start and the search end far above ``limit``; quick cycles against a bucket
    of 5 follow until two of them estimate the limit (and with it the bucket)."""
    aimd.on_throttled()  # slow start ends: search from half
    clock.now += 10.0
    aimd.on_throttled()  # the search met it, slowly: a step below
    counts = []
    for _ in range(4):
        counts.append(_bucket_cycle(aimd, clock, rate=aimd.rate, limit=limit)[0])
        if aimd.ceiling < limit * 1.3:
            return
    raise AssertionError(f"no estimate from the quick cycles {counts}")


def test_aimd_measures_the_limit_from_a_long_clean_stretch_once_the_bucket_is_known() -> None:
    """R 5, bucket 5: once two quick cycles gave the bucket's allowance, the next 429,
    after a long stretch at 5.6/s, says where the limit is from what went through:
    the ceiling lands at R, where the gentle cut (97.5 % of the rate met) would have left
    it 9 % above, for a 429 every few dozen seconds while it came down."""
    clock = _Clock()
    aimd = AimdController(40, clock=clock)
    _estimate_allowance(aimd, clock, limit=5.0)
    estimated = aimd.ceiling
    passed, met = _bucket_cycle(aimd, clock, rate=5.6, limit=5.0)
    assert passed > 30  # a long clean stretch: the bucket drained at 0.6/s
    assert met < estimated  # below the ceiling: the gentle cut's case
    assert 0.97 * 5.0 <= aimd.ceiling <= 1.03 * 5.0 < met * 0.975


def test_aimd_never_takes_a_measured_limit_below_85_per_cent_of_the_rate_met() -> None:
    """A stretch that says the limit is far below the rate met (the estimate of the bucket
    was off, or the stretch did not start on a full bucket) cuts to 85 %, no deeper."""
    clock = _Clock()
    aimd = AimdController(40, clock=clock)
    _estimate_allowance(aimd, clock, limit=5.0)
    clock.now += 1.0
    for _ in range(60):  # 30 s at 2/s: what went through says 1.9/s
        aimd.on_sent()
        aimd.on_success()
        clock.now += 1.0 / 2.0
    met = aimd.rate
    aimd.on_throttled()
    assert aimd.ceiling == pytest.approx(met * 0.85)


def test_aimd_probes_a_measured_limit_less_often_than_a_guessed_one() -> None:
    """R 5, bucket 5: once a long stretch measured the limit, the rate holds below it for
    twice the plateau (45 s) before probing above it (a measured limit is the gateway's
    rate: probing it every plateau cost R 10 / bucket 5 one 429 more in a 120-s cell)."""
    clock = _Clock()
    aimd = AimdController(40, clock=clock)
    _estimate_allowance(aimd, clock, limit=5.0)
    _bucket_cycle(aimd, clock, rate=5.6, limit=5.0)
    ceiling = aimd.ceiling
    assert ceiling <= 5.0  # the lower end of what the count allows: not above the limit
    _saturate(aimd, clock, 60)
    assert 0.95 * ceiling < aimd.rate <= ceiling  # past one plateau, still not probing
    _saturate(aimd, clock, 60)
    assert aimd.rate > ceiling  # past two: probing above it


def test_aimd_takes_one_step_after_a_quick_cycle_that_let_many_through() -> None:
    """R 50, bucket 5: the search's 429 and the next one come quickly, a run of two, but
    the later cycle let about 30 calls through: within 25 % of the limit, not far above
    it. One 10 % step, where the run's depth (81 %) held 0.87 R for the plateau."""
    clock = _Clock()
    aimd = AimdController(128, clock=clock)
    aimd.on_throttled()  # slow start ends at 128: search from 64
    clock.now += 1.5
    aimd.on_throttled()  # the search met it quickly: a step below, 57.8/s
    passed, met = _bucket_cycle(aimd, clock, rate=aimd.rate, limit=50.0)
    assert passed > 21
    assert aimd.ceiling == pytest.approx(met * 0.9)


def test_aimd_keeps_the_depth_rule_while_the_counts_do_not_grow() -> None:
    """Far above the limit (R 5, bucket 5, the rate at 4 R and 3 R), a bucket lets the
    same few calls through each cycle: no estimate from counts that cannot say how far,
    the quick cut goes 10 % deeper per repeat, as before."""
    clock = _Clock()
    aimd = AimdController(40, clock=clock)
    aimd.on_throttled()  # slow start ends at 40: search from 20
    clock.now += 10.0
    aimd.on_throttled()  # the search met it at 20: a step below, 18/s
    first, _ = _bucket_cycle(aimd, clock, rate=aimd.rate, limit=5.0)
    second, met = _bucket_cycle(aimd, clock, rate=aimd.rate, limit=5.0)
    assert second <= first
    assert aimd.ceiling == pytest.approx(met * 0.81)


def test_aimd_fed_in_batches_takes_one_step_and_estimates_nothing() -> None:
    """``call_by_call=False`` (an account's outcomes reported in batches through Redis):
    no cycle's counts or timing to read, so the far-above cycles above cut one 10 % step
    each, never the depth rule's 81 % nor a limit estimated from counts. With those rules
    the shared budget's found rate sat at 0.84-0.98 R while a front desk called (the
    ``lanes`` benchmark's bulk use 0.79-0.94 of what the desk left; one step: 0.97)."""
    clock = _Clock()
    aimd = AimdController(40, clock=clock, call_by_call=False)
    aimd.on_throttled()  # slow start ends at 40: search from 20
    clock.now += 10.0
    aimd.on_throttled()  # the search met it at 20: a step below, 18/s
    for _ in range(3):
        _, met = _bucket_cycle(aimd, clock, rate=aimd.rate, limit=5.0)
        assert aimd.ceiling == pytest.approx(met * 0.9)


def test_aimd_does_not_cut_deeper_where_timers_may_bunch_calls() -> None:
    """Above SPACED_RATE, quick 429s in a row may be jitter: each cuts to 90 %, no deeper."""
    clock = _Clock()
    aimd = AimdController(640, clock=clock)
    aimd.on_throttled()  # slow start ends at 640: search from 320
    clock.now += 1.0
    aimd.on_throttled()  # the search, quick
    for _ in range(3):
        before = aimd.rate
        clock.now += 1.0
        aimd.on_throttled()
        assert aimd.rate == pytest.approx(before * 0.9 * 0.95)


def test_aimd_plateaus_at_the_ceiling_then_probes_gently() -> None:
    """After a cut: back near the ceiling well before the plateau ends, barely above it after."""
    clock = _Clock()
    aimd = AimdController(100, interval=1.0, plateau=30.0, clock=clock)
    aimd.on_throttled()  # slow start ends at 100
    _saturate(aimd, clock, 3)  # the search climbs back toward 100
    clock.now += 1.0
    aimd.on_throttled()  # met at the rate the search had reached: the ceiling
    ceiling = aimd.rate / 0.95
    assert 50 < ceiling <= 100
    _saturate(aimd, clock, 15)
    assert 0.99 * ceiling <= aimd.rate <= ceiling  # half the plateau: nearly there
    _saturate(aimd, clock, 25)
    assert ceiling < aimd.rate <= 1.03 * ceiling  # past the plateau: a gentle probe


def _probe_meets_a_429(initial: float) -> tuple[AimdController, float, float]:
    """Slow start ends at ``initial``, the search marks a ceiling, the probe after the
    plateau climbs above it and meets a 429: return the controller, that ceiling and the
    rate the 429 met."""
    clock = _Clock()
    aimd = AimdController(initial, interval=1.0, plateau=30.0, clock=clock)
    aimd.on_throttled()  # slow start ends
    _saturate(aimd, clock, 3)
    clock.now += 1.0
    aimd.on_throttled()  # the search met it: the ceiling
    ceiling = aimd.ceiling
    _saturate(aimd, clock, 40)  # past the plateau: probing above the ceiling
    met = aimd.rate
    aimd.on_throttled()
    return aimd, ceiling, met


def test_aimd_plateaus_half_a_step_below_a_probe_that_met_a_429() -> None:
    """A probe above the ceiling met a 429 at a rate at or just above the limit: the new
    plateau is half a step below that rate, not on it (on it, a bucket of one refused
    a call every few dozen seconds of jitter: R 5 / bucket 1 on the simulator met 5 and
    6 x 429 in 120 s where it met 4 and 4)."""
    aimd, ceiling, met = _probe_meets_a_429(100)
    assert AimdController.SPACED_RATE >= met > ceiling
    assert aimd.ceiling == pytest.approx(met * (1 + 0.95) / 2)
    assert aimd.rate == pytest.approx(met * (1 + 0.95) / 2 * 0.95)


def test_aimd_plateaus_on_a_probe_that_met_a_429_where_timers_may_bunch_calls() -> None:
    """Above SPACED_RATE a 429 may be two calls the timers bunched, not the rate: a
    probe's 429 above the ceiling marks the rate it met, as CUBIC does."""
    aimd, ceiling, met = _probe_meets_a_429(400)
    assert met > ceiling > AimdController.SPACED_RATE
    assert aimd.ceiling == pytest.approx(met)


def test_aimd_converges_near_a_hidden_limit() -> None:
    """Against a server that refuses beyond 120 requests a second, it settles near 120."""
    clock = _Clock()
    aimd = AimdController(10, interval=1.0, clock=clock)
    for _ in range(300):
        start, n = clock.now, int(aimd.rate)
        for i in range(n):
            aimd.on_sent()
            clock.now = start + (i + 1) / n
            if i >= 120:
                aimd.on_throttled()
            else:
                aimd.on_success()
    assert 110 <= aimd.rate <= 130
    assert 3 < aimd.cuts < 40
    assert 110 <= aimd.held_rate <= 121


def test_aimd_does_not_inflate_the_rate_while_the_limiter_is_not_the_bottleneck() -> None:
    """Held back by concurrency (few calls per second), the rate stays where it is."""
    clock = _Clock()
    aimd = AimdController(50, clock=clock)
    for _ in range(10):
        aimd.on_sent(waited=False)
        clock.now += 1.0
        aimd.on_success()
    assert aimd.rate == 50


@pytest.mark.parametrize(
    ("initial", "expected"), [(0.1, 1.0), (5000.0, 2000.0)], ids=["floor", "ceiling"]
)
def test_aimd_stays_within_its_bounds(initial: float, expected: float) -> None:
    """Never below the minimum nor above the maximum."""
    assert AimdController(initial).rate == expected


def test_the_adaptive_limiter_follows_its_controller() -> None:
    """A cut slows the spacing at once."""
    clock = _Clock()
    limiter = AdaptiveRateLimiter(AimdController(100, clock=clock), clock=clock)
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(50)
    assert limiter._spacer.rate == pytest.approx(50)


def test_the_sustained_rate_is_what_got_through_not_the_probing_ceiling() -> None:
    """Against a bucket with a one-second burst, AIMD probes above the limit between 429s;
    the rate it reports for reuse is what succeeded, near the limit, not that ceiling."""
    clock = _Clock()
    aimd = AimdController(10, clock=clock)
    limit, tokens = 100.0, 100.0
    for _ in range(120):  # two minutes of one-second windows
        start, n = clock.now, max(1, int(aimd.rate))
        for i in range(n):
            now = start + (i + 1) / n
            tokens = min(limit, tokens + (now - clock.now) * limit)
            clock.now = now
            aimd.on_sent()
            if tokens >= 1:
                tokens -= 1
                aimd.on_success()
            else:
                aimd.on_throttled()
    assert aimd.converged_rate > limit  # probing met the limit
    assert 0.8 * limit <= aimd.sustained_rate <= 1.05 * limit
