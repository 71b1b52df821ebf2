"""Rate limiters: the fixed bucket's shape, and AIMD steering with a fake clock."""

from __future__ import annotations

import pytest

from bulk import AdaptiveRateLimiter, FixedRateLimiter, RateLimiter
from bulk._limiter import AimdController, UnlimitedLimiter


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


@pytest.mark.parametrize(
    ("rate", "burst", "max_rate", "period"),
    [(50.0, 4.0, 4.0, 0.08), (2.0, 4.0, 2.0, 1.0), (0.5, 4.0, 1.0, 2.0)],
    ids=["burst-4", "burst-capped-at-rate", "slow-rate"],
)
def test_the_fixed_limiter_is_a_small_bucket_draining_at_the_rate(
    rate: float, burst: float, max_rate: float, period: float
) -> None:
    """Never more than ``burst`` back to back, never more than ``rate`` per second."""
    limiter = FixedRateLimiter(rate, burst=burst)
    assert limiter.rate == rate
    assert limiter.bucket.max_rate == max_rate
    assert limiter.bucket.time_period == pytest.approx(period)


def test_every_limiter_satisfies_the_protocol() -> None:
    """The engine takes any of them."""
    for limiter in (FixedRateLimiter(5), AdaptiveRateLimiter(), UnlimitedLimiter()):
        assert isinstance(limiter, RateLimiter)
    assert UnlimitedLimiter().rate is None
    with pytest.raises(ValueError, match="positive"):
        FixedRateLimiter(0)


def test_aimd_doubles_in_slow_start_then_cuts_from_what_succeeded() -> None:
    """Double each clean second; the first 429 cuts from the rate that really went through."""
    clock = _Clock()
    aimd = AimdController(10, clock=clock)
    _saturate(aimd, clock, 3)
    assert aimd.rate == 80  # 10 -> 20 -> 40 -> 80
    assert aimd.on_throttled() is True  # at once: only 40/s are known to succeed
    assert aimd.rate == pytest.approx(0.7 * 40)
    assert not aimd.slow_start
    assert aimd.converged_rate == aimd.rate  # one cut (slow start's) says little yet


def test_aimd_cuts_once_for_a_burst_of_429s() -> None:
    """The 429s of one burst (many workers) count as one congestion signal."""
    clock = _Clock()
    aimd = AimdController(100, clock=clock)
    assert aimd.on_throttled() is True
    for _ in range(15):
        assert aimd.on_throttled() is False
    assert aimd.rate == pytest.approx(70)
    clock.now += 1.5
    assert aimd.on_throttled() is True
    assert aimd.rate == pytest.approx(49)


def test_aimd_adds_a_fixed_step_after_the_first_cut() -> None:
    """Additive increase: the same step every clean, saturated interval."""
    clock = _Clock()
    aimd = AimdController(100, increase=2.0, clock=clock)
    aimd.on_throttled()
    _saturate(aimd, clock, 5)
    assert aimd.rate == pytest.approx(70 + 5 * 2.0)


def test_aimd_converges_near_a_hidden_limit() -> None:
    """Against a server that refuses beyond 120 requests a second, it settles near 120."""
    clock = _Clock()
    aimd = AimdController(10, clock=clock)
    for _ in range(300):
        start, n = clock.now, int(aimd.rate)
        for i in range(n):
            aimd.on_sent()
            clock.now = start + (i + 1) / n
            if i >= 120:
                aimd.on_throttled()
            else:
                aimd.on_success()
    assert 100 <= aimd.converged_rate <= 130
    assert aimd.cuts > 3
    assert 80 <= aimd.rate <= 130


def test_aimd_does_not_inflate_the_rate_while_the_limiter_is_not_the_bottleneck() -> None:
    """Held back by concurrency (few calls per second), the rate stays where it is."""
    clock = _Clock()
    aimd = AimdController(50, clock=clock)
    for _ in range(10):
        aimd.on_sent()
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
    """A cut installs a slower bucket."""
    clock = _Clock()
    limiter = AdaptiveRateLimiter(AimdController(100, clock=clock))
    limiter.on_throttled()
    assert limiter.rate == pytest.approx(70)


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
    assert aimd.converged_rate > 1.1 * limit  # the ceiling overshoots on the burst
    assert 0.8 * limit <= aimd.sustained_rate <= 1.05 * limit
