"""Steering ``--adaptive``'s rate toward a gateway limit nobody told us: slow start, then cubic.

The gateway answers a rate it does not publish with 429s, and each 429 carries a
``Retry-After`` (whole seconds) that the engine obeys by pausing every worker: one 429
costs a second of the account's whole rate. So the aim is not to bounce off the limit
(the sawtooth of AIMD, which loses a pause per tooth) but to find it and stay just below
it, probing above it rarely and gently. The shape is TCP CUBIC's (RFC 9438):

* **Slow start**: double every clean, saturated ``interval`` from ``initial`` until the
  first 429. The last clean rate is half the failing one.
* **Search**: from that half, a fast cubic climb back toward the failing rate (``search``
  seconds to get there), which meets the limit within a second or two; having climbed
  fast, it overshot by a step or two, so the ceiling it found is taken ``decrease`` lower.
* **Far above**: a 429 within :data:`QUICK_REPEAT` seconds of the previous cut means the
  rate is still far above the limit (a bucket let slow start overshoot): the ceiling
  drops to what went through since that cut, never below 90 % of the rate met (one quick
  429 may be a pair of calls bunched by jitter), and, up to :data:`SPACED_RATE`, 10 %
  deeper for each quick cut in a row before it (a run of quick 429s is a rate several
  times the limit: at R = 5 with a bucket of 5, slow start ends at 40, and steps of 10 %
  cost a 429 each), unless the cycle let :data:`NEAR_COUNT` calls through (a small
  bucket lets that many through only near its rate). Above that rate a run of quick 429s
  is as often calls bunched by the event loop's millisecond timers against a bucket of
  one (measured: 0.35 R became 0.26 R at R = 500 when they cut deeper). Deeper still
  (halving) was tried: it found R = 5 with a bucket of 5 in two cuts instead of four,
  but a bucket of one at R = 5, or of 5 at R = 50, meets the same quick repeats 20 %
  above its limit, and there halving cost a third of the rate for the run. Where two
  quick cycles in a row can say more, they do: after a pause the bucket holds what it
  refilled, ``E + 1`` calls' worth, and at ``x`` times its rate it lets
  ``1 + E x / (x - 1)`` calls through before refusing one; the calls let through at two
  measured send rates give ``x``, so the limit. The estimate is used when the later
  cycle let more calls through than the one before (a rate near the limit: far above it,
  a bucket lets the same few through each time, and counts that do not grow cannot say
  how far), the earlier one at least :data:`ESTIMATE_EVIDENCE` past the first, both
  cycles after the search (whose rate climbs within its cycle); never below what went
  through since the cut, never above ``decrease`` x the rate met. Measured on the
  simulator (``--adaptive``, a bucket of 5): R = 20 held 0.97 and 0.99 R where it held
  0.84, R = 30 0.96 where it held 0.87 (the depth rule's fixed steps had left the rate a
  step below the limit for the plateau's 45 s).
* **Cruise**: every later 429 marks the ceiling ``w_max`` half a step (``(1 + decrease)
  / 2``) below the rate it met (above :data:`SPACED_RATE`, on it unless it is below the
  last ceiling) and cuts to ``decrease`` x ``w_max``; the rate then follows
  ``W(t) = w_max * (1 - (1 - decrease) * (1 - t / plateau) ** 3)`` over saturated time
  ``t``: quickly up to just below the ceiling, a long plateau there, then a gentle convex
  probe above it. CUBIC puts the plateau on the rate that failed; against a gateway,
  where calls are strictly spaced, that rate is at the limit or above it, and a plateau
  on it met a 429 every few dozen seconds at R = 5 with a bucket of one (on the
  simulator, cells of 120 s alone, in turn: 5 and 6 429s where half a step below met 4
  and 4; at R = 500 with a bucket of one, where 429s are pairs bunched by jitter, the
  cell swung 0.24 to 0.35 R either way, so it keeps CUBIC's rule). Once two quick
  cycles gave the bucket's allowance ``E``, a 429 at the end of a long clean stretch
  measures the limit instead (the stretch began on the bucket a pause refilled and ended
  on it empty: ``E + 1`` calls plus the limit times its length went through, less a
  part of a call), and the ceiling is taken at the lower end of what the count allows,
  never below :data:`MEASURED_FLOOR` of the rate met; a measured ceiling holds
  :data:`MEASURED_PLATEAU` plateaus before the probe above it. Measured in virtual time
  (``benchmarks/pacing_model.py``) at R = 5 with a bucket of 5: the first such cut read
  5.05 and 5.00 where the rule above took 5.55, and a run of 120 s met 6 429s where it
  met 7 or 8; with the lower end, the deeper floor and the longer plateau, 5 or 6, and
  R = 10 with a bucket of 5 met 5 where it met 7.

The rules that read a cycle's counts and timing (the depth of a run of quick cuts, the
two-cycle estimate, a clean stretch's limit) need each call reported as it happens; a
controller fed in batches (``call_by_call=False``: a budget shared through Redis, whose
outcomes arrive every 100 ms from every process at once) cuts one step per quick 429 and
half a step in cruise. Fed those batches, the rules held a shared budget's found rate at
0.84-0.98 R while a front desk called (the ``lanes`` benchmark's bulk use 0.79-0.94 of
what the desk left, nine runs alone); one step: 0.968-0.972 in four.

The rate only moves while the limiter is the bottleneck (at least 80 % of the rate sent
in a window), so a run held back by concurrency does not inflate it. The controller is a
pure object driven by an injected clock, so its tests never sleep. Hand-written: no
library does congestion control of a request rate for asyncio (aiolimiter and limits keep
a rate they are told; they do not look for one).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import ClassVar, Final

__all__ = ["AimdController"]

SLOW_START_EVIDENCE: Final = 4
"""Successes a slow-start window needs before the rate doubles (at low rates, a window
of one call would double on a gateway bucket's allowance, not on its rate)."""

QUICK_REPEAT: Final = 3.0
"""A 429 this soon after the last cut (its Retry-After pause included) is a quick repeat:
the rate is still far above the limit (see the module's docstring, "Far above")."""

FAR_ABOVE_CUT: Final = 0.9
"""The deepest cut a quick repeat makes: to this share of the rate it met, raised to the
power of the quick cuts in a row (0.9, 0.81, 0.73, ...) at rates up to :data:`SPACED_RATE`."""

SPACED_RATE: Final = 100.0
"""Up to this rate (req/s), the engine's calls leave a whole interval apart whatever its
timers do (``bulk``'s strict spacing), so a run of quick 429s is the rate, not jitter."""

ESTIMATE_EVIDENCE: Final = 5
"""Calls past the first that a quick cycle must have let through for the next quick cut
to estimate the limit from the two (see the module's docstring, "Far above"): with
fewer, one call more or less moves the estimate by a third (in virtual time, 3 held
R = 12 with a bucket of 3 at 0.89 R, where the depth rule holds 0.99)."""

NEAR_COUNT: Final = 20
"""Calls past the first that a quick cycle must have let through for its 429 to count as
near the limit: one 10 % step, not one for each quick cut in a row. A bucket of ``E + 1``
lets ``E x / (x - 1)`` calls past the first through at ``x`` times its rate, so 20 with a
bucket of 5 is within 25 % of it. With a bucket of 5, the search's 429 and the next one
made a run of two and cut to 81 %, the rate held there for the plateau: 60-s cells on
the simulator in turn, R 80 held 0.87 R where one step holds 0.99, R 35 with a bucket of
2 0.74 R in one of two runs, 0.99 after. A large bucket lets as many through far above
its rate; there one step costs one quick cycle more, whose count then grows and gives
the estimate."""

SLOW_EVIDENCE: Final = 20
"""Calls past the bucket's allowance that a clean stretch must have let through before
its 429 for that cut to measure the limit from them (see the module's docstring,
"Cruise")."""

MEASURED_FLOOR: Final = 0.85
"""The deepest cut a measured limit makes: this share of the rate met. A ceiling the
two-cycle estimate had put 17 % above the limit (R 5, bucket 5, in virtual time) is met
14 % above it, and 90 % of that sat above the limit for the plateau: one 429 more."""

MEASURED_PLATEAU: Final = 2.0
"""How many plateaus a measured ceiling holds before the probe above it: a measured limit
is the gateway's rate, which does not move on its own, and probing it as often as a
guessed one cost a 429 a cell (R 10, bucket 5, 120-s cells on the simulator in turn,
with the lower end and the floor above: 5 x 429 and 0.99 R where 6 and 0.97)."""

SEND_GAP: Final = 3.0
"""Intervals of the rate without a call sent that end a cycle's measured sending (a
pause: the engine's workers take a slot each, find the pause, and wait it out)."""

RECENT: Final = 60.0
"""Seconds over which :attr:`AimdController.recent_rate` measures what went through."""


class AimdController:
    """Additive (cubic) increase, multiplicative decrease of a request rate, with slow start.

    See the module's docstring for the shape. ``on_sent``/``on_success``/``on_throttled``
    feed it; :attr:`rate` is what the limiter paces at; :attr:`held_rate`,
    :attr:`sustained_rate` and :attr:`converged_rate` are what the run's summary reports
    (and advises from). ``call_by_call`` False: the calls are reported in batches, not as
    they happen (the module's docstring says what that turns off).
    """

    __slots__ = (
        "_allowance",
        "_beta",
        "_call_by_call",
        "_clean_ok",
        "_clean_since",
        "_clock",
        "_cut_rates",
        "_cycle_first",
        "_cycle_last",
        "_cycle_sent",
        "_first_cut_at",
        "_held",
        "_k",
        "_last_cut",
        "_ok",
        "_ok_since_cut",
        "_ok_since_last_cut",
        "_ok_total",
        "_quick",
        "_quick_cycle",
        "_samples",
        "_sent",
        "_started",
        "_t",
        "_tried",
        "_w_max",
        "_waited",
        "_window_start",
        "decrease",
        "hold",
        "interval",
        "maximum",
        "minimum",
        "plateau",
        "rate",
        "search",
        "slow_start",
    )

    SPACED_RATE: ClassVar[float] = SPACED_RATE
    """See :data:`SPACED_RATE` (here for callers that pace: ``bulk``'s spacer is strict up
    to it)."""

    def __init__(
        self,
        initial: float = 10.0,
        *,
        minimum: float = 1.0,
        maximum: float = 2000.0,
        decrease: float = 0.95,
        interval: float = 0.25,
        plateau: float = 45.0,
        search: float = 10.0,
        hold: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
        call_by_call: bool = True,
    ) -> None:
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        if not (interval > 0 and plateau > 0 and search > 0 and hold > 0):
            raise ValueError("interval, plateau, search and hold must be positive")
        self.rate = min(max(initial, minimum), maximum)  # the current rate (req/s)
        self.minimum = minimum  # never below this
        self.maximum = maximum  # never above this
        self.decrease = decrease  # the cut a 429 applies to the ceiling it met
        self.interval = interval  # seconds per evaluation window
        self.plateau = plateau  # saturated seconds from a cut back up to the ceiling
        self.search = search  # the same after slow start's 429 (a wider, faster climb)
        self.hold = hold  # seconds without a 429 before a rate counts as held
        self.slow_start = True  # doubling until the first 429
        self._clock = clock  # monotonic seconds; injected by tests
        # Whether each call is reported as it happens (a limiter's own calls), not in
        # batches: the rules that read a cycle's counts and timing need it.
        self._call_by_call = call_by_call
        self._window_start = clock()  # start of the current window
        self._sent = 0  # requests sent in the current window
        self._waited = 0  # of which waited for their moment
        self._ok = 0  # of which succeeded
        self._w_max = math.inf  # the ceiling: the rate the last 429 met
        self._beta = 1.0 - decrease  # how deep the last cut went, as a share of the ceiling
        self._k = plateau  # saturated seconds from the last cut back to the ceiling
        self._t = 0.0  # saturated seconds since the last cut
        self._last_cut = -math.inf  # when the rate was last cut
        self._clean_since = self._window_start  # the first success of the clean stretch
        self._clean_ok = 0  # successes in the clean stretch (since the last 429)
        self._tried = 0.0  # the highest rate tried since slow start ended (by 429s met)
        self._cut_rates: list[float] = []  # the rate each 429 met (latest last)
        self._held = 0.0  # best success rate of a saturated window long after any 429
        self._started = self._window_start  # when steering began
        self._ok_total = 0  # successes since steering began
        self._first_cut_at: float | None = None  # when slow start ended (the first 429)
        self._ok_since_cut = 0  # successes since then
        self._ok_since_last_cut = 0  # successes since the last cut
        self._quick = 0  # cuts in a row, each within QUICK_REPEAT s of the one before
        # The current cycle (since the last cut): when its first and last calls were sent,
        # and how many were.
        self._cycle_first = self._cycle_last = 0.0
        self._cycle_sent = 0
        # (send rate, calls let through) of the cycle that ended in the last cut, when that
        # cut was a quick one after the search; what the next quick cut estimates from.
        self._quick_cycle: tuple[float, int] | None = None
        # The gateway bucket's allowance E (it holds E + 1 calls' worth when full), as the
        # two-cycle estimate found it; None until it did.
        self._allowance: float | None = None
        # (when, successes since slow start ended) at each window's end, the last RECENT s.
        self._samples: deque[tuple[float, int]] = deque()

    def __repr__(self) -> str:
        return f"AimdController(rate={self.rate:.1f}, slow_start={self.slow_start})"

    @property
    def ceiling(self) -> float:
        """The rate the last 429 met (``w_max``); infinite before the first 429."""
        return self._w_max

    @property
    def converged_rate(self) -> float:
        """The probed ceiling: the highest rate actually tried since slow start ended.

        Before slow start ended, the highest rate tried that far (the current one).
        """
        return self._tried if self._first_cut_at is not None else self.rate

    @property
    def held_rate(self) -> float:
        """The best success rate over a stretch of at least :attr:`hold` s without a 429.

        Measured from the first success after a 429 (or the first after slow start) to
        the end of a saturated window; what the service let through while it refused
        nothing, never a rate merely tried. Zero until such a stretch was seen.
        """
        return self._held

    @property
    def sustained_rate(self) -> float:
        """Successes per second since slow start ended: what the service let through."""
        now = self._clock()
        if self._first_cut_at is not None and now > self._first_cut_at:
            return self._ok_since_cut / (now - self._first_cut_at)
        if now > self._started:
            return self._ok_total / (now - self._started)
        return self.rate

    @property
    def recent_rate(self) -> float:
        """Successes per second over the last :data:`RECENT` s since slow start ended.

        Pauses included: what the run got lately, once the search was over; the rate
        to pass as ``--rate`` next time (within :attr:`sustained_rate` and
        :attr:`held_rate`).
        """
        now = self._clock()
        if self._samples and now - self._samples[0][0] >= self.hold:
            then, ok = self._samples[0]
            return (self._ok_since_cut - ok) / (now - then)
        return self.sustained_rate

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

    def on_sent(self, *, waited: bool = True) -> None:
        """Count a request against the current window.

        ``waited``: whether it waited for its moment (the limiter was the bottleneck).
        """
        self._sent += 1
        if waited:
            self._waited += 1
        now = self._clock()
        if not self._cycle_sent or now - self._cycle_last > SEND_GAP / self.rate:
            # The cycle's sending starts (again) here: slots taken and dropped while a
            # 429's pause held every call do not measure the rate the calls left at.
            self._cycle_first = now
            self._cycle_sent = 0
        self._cycle_last = now
        self._cycle_sent += 1

    def on_success(self) -> bool:
        """A request succeeded; return True when the rate was raised."""
        self._ok += 1
        self._ok_total += 1
        now = self._clock()
        if self._first_cut_at is not None:
            self._ok_since_cut += 1
            if not self._clean_ok:
                self._clean_since = now  # the stretch starts with its first success
            self._clean_ok += 1
        self._ok_since_last_cut += 1
        elapsed = now - self._window_start
        if elapsed < self.interval or (self.slow_start and self._ok < SLOW_START_EVIDENCE):
            return False
        sent, waited = self._sent, self._waited
        # The limiter is the bottleneck when most calls waited for their moment, or
        # (callers that do not say) when the calls sent filled the rate, give or take one.
        saturated = sent > 0 and (2 * waited > sent or sent + 1 >= 0.8 * self.rate * elapsed)
        if self._first_cut_at is not None:
            samples = self._samples
            samples.append((now, self._ok_since_cut))
            while len(samples) > 1 and now - samples[1][0] >= RECENT:
                samples.popleft()
        self._window_start = now
        self._sent = self._ok = self._waited = 0
        stretch = now - self._clean_since
        if saturated and self._clean_ok and stretch >= self.hold:
            self._held = max(self._held, self._clean_ok / stretch)
        if now - self._last_cut < self.interval:
            return False  # just cut: let the new rate settle first
        if not saturated or self.rate >= self.maximum:
            return False
        if self.slow_start:
            self.rate = min(self.rate * 2.0, self.maximum)
            return True
        self._t += elapsed
        self.rate = self._cubic(self._t)
        self._tried = max(self._tried, self.rate)
        return True

    def _cubic(self, t: float) -> float:
        """The rate ``t`` saturated seconds after the last cut."""
        w = self._w_max * (1.0 - self._beta * (1.0 - t / self._k) ** 3)
        return min(max(w, self.minimum), self.maximum)

    def on_throttled(self) -> bool:
        """A request got a 429; return True when the rate was cut."""
        now = self._clock()
        clean_ok, clean_span = self._clean_ok, now - self._clean_since
        self._clean_ok = 0  # a 429 ends the clean stretch
        if now - self._last_cut < self.interval:
            return False  # this burst of 429s was already answered with a cut
        # The rate this 429 met: the current one (in slow start, halving it gives the
        # last clean rate).
        met = self.rate
        quick = now - self._last_cut < QUICK_REPEAT
        self._quick = self._quick + 1 if quick else 0
        # What this cycle (since the last cut) let through, and at what send rate.
        passed = self._ok_since_last_cut
        got = passed / max(now - self._last_cut, self.interval)
        span = self._cycle_last - self._cycle_first
        sent_rate = (self._cycle_sent - 1) / span if self._cycle_sent > 1 and span > 0 else met
        previous, self._quick_cycle = self._quick_cycle, None
        if self.slow_start:
            # The last clean rate is half the failing one: search back up quickly.
            self.slow_start = False
            self._first_cut_at = now
            self._w_max, self._beta, self._k = met, 0.5, self.search
        elif len(self._cut_rates) == 1:
            # The search met the limit while climbing fast: it overshot by a step or
            # two; the ceiling is taken a step below.
            self._w_max = met * self.decrease
            self._beta, self._k = 1.0 - self.decrease, self.plateau
        elif quick:
            # The rate after the last cut failed at once: still far above the limit (a
            # gateway bucket let slow start overshoot). What went through since that
            # cut, its pause included, is at most what the bucket's refill let through
            # (it was empty at the cut): aim there, but never below FAR_ABOVE_CUT of the
            # rate met (a small bucket lets little through a pause: one quick 429 may
            # be jitter), deeper for each quick cut in a row where calls are spaced.
            counted = met <= SPACED_RATE and self._call_by_call
            found = _estimate(previous, sent_rate, passed) if counted else None
            if found is not None:
                # Near the limit, and two cycles say where (the module's docstring).
                estimate, self._allowance = found
                self._w_max = min(max(estimate, got), met * self.decrease)
            else:
                # A run of quick cuts says how far above, unless this cycle let so many
                # through that it was near (NEAR_COUNT).
                near = not counted or passed - 1 >= NEAR_COUNT
                depth = 1 if near else self._quick
                self._w_max = max(got, met * FAR_ABOVE_CUT**depth)
            self._beta, self._k = 1.0 - self.decrease, self.plateau
            self._quick_cycle = (sent_rate, passed)
        else:
            # Where calls are strictly spaced, the rate met is at the limit or above it (a
            # probe drained the bucket): the plateau goes half a step below it. Above, a
            # 429 may be a pair the timers bunched: below the ceiling only, as CUBIC does.
            half_step = met <= SPACED_RATE or met < self._w_max
            self._w_max = met * (1.0 + self.decrease) / 2.0 if half_step else met
            self._beta, self._k = 1.0 - self.decrease, self.plateau
            measured = _slow_limit(self._allowance, clean_ok, clean_span)
            if measured is not None and met <= SPACED_RATE:
                # The bucket's allowance is known: what this clean stretch let through
                # says where the limit is (the module's docstring, "Cruise"), and a
                # measured limit is probed less often than a guessed one.
                self._w_max = min(self._w_max, max(measured, met * MEASURED_FLOOR))
                self._k = self.plateau * MEASURED_PLATEAU
        self._cut_rates.append(met)
        if len(self._cut_rates) > 1:
            self._tried = max(self._tried, met)
        else:
            self._tried = 0.0  # slow start's overshoot is not a rate probed
        self._t = 0.0
        self._ok_since_last_cut = 0
        self._cycle_sent = 0
        self.rate = self._cubic(0.0)
        self._tried = max(self._tried, self.rate)
        self._last_cut = now
        return True


def _estimate(
    previous: tuple[float, int] | None, rate: float, passed: int
) -> tuple[float, float] | None:
    """The limit two quick cycles in a row say, and the bucket's allowance, or None.

    ``previous`` is the earlier cycle's (send rate, calls let through); ``rate`` and
    ``passed`` the later one's. A bucket refilled to ``E + 1`` calls' worth lets
    ``m = E x / (x - 1)`` calls past the first through at ``x`` times its rate, so two
    cycles at rates ``r1`` and ``c r1`` give ``x1 = (rho - c) / (c (rho - 1))`` with
    ``rho = m2 / m1``, the limit ``r1 / x1`` and the allowance ``E = m1 (x1 - 1) / x1``.
    Only when the later cycle let more through (near the limit) and the earlier one at
    least :data:`ESTIMATE_EVIDENCE`.
    """
    if previous is None:
        return None
    earlier_rate, earlier_passed = previous
    m1 = earlier_passed - 1
    if m1 < ESTIMATE_EVIDENCE or passed <= earlier_passed or not 0 < rate < earlier_rate:
        return None
    c = rate / earlier_rate
    rho = (passed - 1) / m1
    x = (rho - c) / (c * (rho - 1.0))
    return (earlier_rate / x, m1 * (x - 1.0) / x) if x > 1.0 else None


def _slow_limit(allowance: float | None, passed: int, span: float) -> float | None:
    """The limit a clean stretch says, given the bucket's allowance; None when it cannot.

    A stretch that starts on a full bucket (a 429's pause refilled it) and ends on a 429
    (it emptied) let through ``E + 1`` calls' worth plus ``R x span``, less a part of a
    call: ``R`` is between ``(passed - E - 1) / span`` and ``(passed - E) / span``, and the
    lower end is taken (a ceiling above the limit is met again within the plateau). Only
    with :data:`SLOW_EVIDENCE` calls past the allowance, so that a call more or less (and
    the allowance's own error) moves it by a few per cent at most.
    """
    if allowance is None or span <= 0 or passed - allowance < SLOW_EVIDENCE:
        return None
    return (passed - allowance - 1.0) / span
