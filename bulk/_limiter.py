"""Client-side rate limiting: one shared limiter in front of every API call.

* :class:`FixedRateLimiter`: aiolimiter's ``AsyncLimiter`` at the configured rate with a
  small burst (a bucket of ``burst`` requests draining at ``rate``/s), so the engine never
  sends faster than a server bucket of the same rate accepts.
* :class:`AdaptiveRateLimiter`: the same bucket, its rate steered by an
  :class:`AimdController` when the service's limit is unknown (``--adaptive``).
* :class:`UnlimitedLimiter`: no limit (``--rate 0``, benchmarks against an unlimited server).

The AIMD logic is hand-written (no library does AIMD for asyncio); it is a pure object
driven by an injected clock, so its tests never sleep.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol, runtime_checkable

from aiolimiter import AsyncLimiter

__all__ = [
    "AdaptiveRateLimiter",
    "AimdController",
    "FixedRateLimiter",
    "RateLimiter",
    "RateReport",
    "UnlimitedLimiter",
]

DEFAULT_BURST: Final = 4.0
"""Requests the bucket may release at once; small, so bursts stay below the server's bucket."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RateReport:
    """What a limiter tells a run's summary about the pace it kept."""

    rate: float | None = None
    """The configured rate (req/s); None when unlimited or adaptive."""
    adaptive_rate: float | None = None
    """An adaptive limiter's sustained rate after its slow start (req/s)."""
    adaptive_ceiling: float | None = None
    """Where an adaptive limiter kept probing (the mean rate at its last 429s), req/s."""
    adaptive_found_limit: bool = False
    """Whether a 429 ended the adaptive limiter's slow start (the service's limit found)."""
    adaptive_calls: int = 0
    """Successful calls since then: what ``adaptive_rate`` rests on."""


@runtime_checkable
class RateLimiter(Protocol):
    """What the engine asks of a limiter: wait for a slot, and hear how calls went."""

    @property
    def rate(self) -> float | None:
        """The current rate in requests per second; None when unlimited."""

    async def acquire(self) -> None:
        """Wait until one more request may be sent."""

    def on_success(self) -> None:
        """A request went through (not a 429)."""

    def on_throttled(self) -> None:
        """A request got a 429."""

    def report(self) -> RateReport:
        """The pace this limiter kept, for the run's summary."""


class UnlimitedLimiter:
    """No client-side limit: every ``acquire`` returns at once."""

    __slots__ = ()

    @property
    def rate(self) -> float | None:
        """Always None: unlimited."""
        return None

    async def acquire(self) -> None:
        """Return at once."""

    def on_success(self) -> None:
        """Nothing to learn."""

    def on_throttled(self) -> None:
        """Nothing to learn: the engine's pause gate handles the 429."""

    def report(self) -> RateReport:
        """No rate to report."""
        return RateReport()


def _bucket(rate: float, burst: float) -> AsyncLimiter:
    """A leaky bucket of ``burst`` requests draining at ``rate`` per second."""
    size = max(1.0, min(burst, rate))
    return AsyncLimiter(size, size / rate)


class FixedRateLimiter:
    """At most ``rate`` requests per second, at most ``burst`` at once (aiolimiter)."""

    __slots__ = ("_burst", "_limiter", "_rate")

    def __init__(self, rate: float, *, burst: float = DEFAULT_BURST) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive (use UnlimitedLimiter for no limit)")
        self._rate = rate  # requests per second
        self._burst = burst  # bucket size: requests released back to back at most
        self._limiter = _bucket(rate, burst)  # the aiolimiter bucket doing the work

    def __repr__(self) -> str:
        return f"FixedRateLimiter(rate={self._rate}, burst={self._burst})"

    @property
    def rate(self) -> float | None:
        """The configured rate."""
        return self._rate

    @property
    def bucket(self) -> AsyncLimiter:
        """The aiolimiter bucket (``max_rate`` requests per ``time_period`` seconds)."""
        return self._limiter

    async def acquire(self) -> None:
        """Wait for a slot in the bucket."""
        await self._limiter.acquire()

    def on_success(self) -> None:
        """A fixed rate learns nothing."""

    def on_throttled(self) -> None:
        """A fixed rate learns nothing (the pause gate handles the 429)."""

    def report(self) -> RateReport:
        """The configured rate."""
        return RateReport(rate=self._rate)


class AimdController:
    """Additive-increase, multiplicative-decrease steering of a request rate.

    Starts at ``initial`` and doubles every ``interval`` seconds of clean, saturated
    traffic (slow start) until the first 429. That first cut starts from the rate that
    actually succeeded (a server's burst allowance lets slow start overshoot), later ones
    from the current rate; each multiplies by ``decrease``, at most once per ``interval``
    (the 429s of one burst count once). Every clean interval after the first cut adds
    ``increase`` (default 2.5 % of the rate at the first cut). The rate only rises while
    the limiter is the bottleneck (at least 80 % of the rate used), so a run held back by
    concurrency does not inflate it.
    """

    __slots__ = (
        "_clock",
        "_cut_rates",
        "_first_cut_at",
        "_last_cut",
        "_measured",
        "_ok",
        "_ok_since_cut",
        "_ok_total",
        "_peak",
        "_sent",
        "_started",
        "_window_start",
        "decrease",
        "increase",
        "interval",
        "maximum",
        "minimum",
        "rate",
        "slow_start",
    )

    def __init__(
        self,
        initial: float = 10.0,
        *,
        minimum: float = 1.0,
        maximum: float = 2000.0,
        decrease: float = 0.7,
        increase: float | None = None,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self.rate = min(max(initial, minimum), maximum)  # the current rate (req/s)
        self.minimum = minimum  # never below this
        self.maximum = maximum  # never above this
        self.decrease = decrease  # the factor a 429 applies
        self.increase = increase  # req/s added per clean interval; None: set at first cut
        self.interval = interval  # seconds per evaluation window
        self.slow_start = True  # doubling until the first 429
        self._clock = clock  # monotonic seconds; injected by tests
        self._window_start = clock()  # start of the current window
        self._sent = 0  # requests sent in the current window
        self._ok = 0  # of which succeeded
        self._measured: float | None = None  # successes per second in the last window
        self._last_cut = -math.inf  # when the rate was last cut
        self._cut_rates: list[float] = []  # the capacity seen at each 429 (latest last)
        self._peak = 0.0  # the best successes per second of a window after slow start
        self._started = self._window_start  # when steering began
        self._ok_total = 0  # successes since steering began
        self._first_cut_at: float | None = None  # when slow start ended (the first 429)
        self._ok_since_cut = 0  # successes since then

    def __repr__(self) -> str:
        return f"AimdController(rate={self.rate:.1f}, slow_start={self.slow_start})"

    @property
    def converged_rate(self) -> float:
        """Where the rate settled: the mean rate at the last three 429s, else the current one.

        The slow-start cut does not count: a server's burst allowance lets slow start
        overshoot the sustained limit. Without later 429s, the best success rate of a
        window after slow start (at most the current rate).
        """
        recent = self._cut_rates[1:][-3:]
        if recent:
            return sum(recent) / len(recent)
        return min(self.rate, self._peak) if self._peak else self.rate

    @property
    def sustained_rate(self) -> float:
        """Successes per second since slow start ended: what the service let through.

        This, not the probing ceiling (:attr:`converged_rate`), is the rate to pass as
        ``--rate`` next time: a gateway's burst allowance lets AIMD climb above the
        sustained limit between 429s, and each 429 pauses everyone.
        """
        now = self._clock()
        if self._first_cut_at is not None and now > self._first_cut_at:
            return self._ok_since_cut / (now - self._first_cut_at)
        if now > self._started:
            return self._ok_total / (now - self._started)
        return self.rate

    @property
    def cuts(self) -> int:
        """How many times a 429 cut the rate."""
        return len(self._cut_rates)

    @property
    def found_limit(self) -> bool:
        """Whether a 429 ended the slow start (the service's limit was reached)."""
        return self._first_cut_at is not None

    @property
    def successes_since_limit(self) -> int:
        """Successful requests since slow start ended: what :attr:`sustained_rate` rests on."""
        return self._ok_since_cut

    def on_sent(self) -> None:
        """Count a request against the current window."""
        self._sent += 1

    def on_success(self) -> bool:
        """A request succeeded; return True when the rate was raised."""
        self._ok += 1
        self._ok_total += 1
        if self._first_cut_at is not None:
            self._ok_since_cut += 1
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed < self.interval:
            return False
        sent = self._sent
        self._measured = self._ok / elapsed
        if not self.slow_start:
            self._peak = max(self._peak, self._measured)
        self._window_start = now
        self._sent = self._ok = 0
        if now - self._last_cut < self.interval:
            return False  # just cut: let the new rate settle first
        if sent < 0.8 * self.rate * elapsed or self.rate >= self.maximum:
            return False
        step = self.rate if self.slow_start else (self.increase or max(0.5, 0.025 * self.rate))
        self.rate = min(self.rate + step, self.maximum)
        return True

    def on_throttled(self) -> bool:
        """A request got a 429; return True when the rate was cut."""
        now = self._clock()
        if now - self._last_cut < self.interval:
            return False  # this burst of 429s was already answered with a cut
        base = self.rate
        if self.slow_start:
            self.slow_start = False
            self._first_cut_at = now
            elapsed = now - self._window_start
            measured = self._ok / elapsed if self._ok and elapsed > 0 else self._measured
            if measured is not None:
                base = min(base, max(measured, self.minimum))
            if self.increase is None:
                self.increase = max(0.5, 0.025 * base)
        self._cut_rates.append(base)
        self.rate = max(base * self.decrease, self.minimum)
        self._last_cut = now
        return True


class AdaptiveRateLimiter:
    """A bucket whose rate an :class:`AimdController` steers from the 429s it hears of.

    aiolimiter's bucket has a fixed rate, so a rate change installs a new bucket; the few
    requests already waiting in the old one leave at the old rate (at most the engine's
    concurrency, and behind the pause gate after a 429).
    """

    __slots__ = ("_burst", "_limiter", "controller")

    def __init__(
        self, controller: AimdController | None = None, *, burst: float = DEFAULT_BURST
    ) -> None:
        self.controller = controller or AimdController()  # the AIMD steering
        self._burst = burst  # bucket size, as for the fixed limiter
        self._limiter = _bucket(self.controller.rate, burst)  # the current bucket

    def __repr__(self) -> str:
        return f"AdaptiveRateLimiter({self.controller!r})"

    @property
    def rate(self) -> float | None:
        """The current rate."""
        return self.controller.rate

    async def acquire(self) -> None:
        """Wait for a slot at the current rate."""
        await self._limiter.acquire()
        self.controller.on_sent()

    def on_success(self) -> None:
        """Raise the rate after a clean interval."""
        if self.controller.on_success():
            self._limiter = _bucket(self.controller.rate, self._burst)

    def on_throttled(self) -> None:
        """Cut the rate."""
        if self.controller.on_throttled():
            self._limiter = _bucket(self.controller.rate, self._burst)

    def report(self) -> RateReport:
        """The rate sustained after slow start, and the ceiling it probed."""
        return RateReport(
            adaptive_rate=self.controller.sustained_rate,
            adaptive_ceiling=self.controller.converged_rate,
            adaptive_found_limit=self.controller.found_limit,
            adaptive_calls=self.controller.successes_since_limit,
        )
