"""The simulator's clock: the real clocks plus an offset that tests move forward."""

from __future__ import annotations

import datetime as dt
import math
import time

__all__ = ["SimClock"]


class SimClock:
    """Real monotonic and wall time, shifted by an offset that only ever grows.

    Every expiry the simulator knows (tokens, invites, login windows, blocks, rate
    buckets) reads this clock, so a test advances it instead of sleeping. Time never
    goes backwards: :meth:`advance` refuses negative steps and a reset keeps the offset.
    """

    __slots__ = ("_offset",)

    def __init__(self) -> None:
        self._offset = 0.0  # seconds added to both real clocks by advance()

    @property
    def offset(self) -> float:
        """How far the clock has been advanced, in seconds."""
        return self._offset

    def monotonic(self) -> float:
        """Monotonic seconds (for windows, buckets and blocks)."""
        return time.monotonic() + self._offset

    def time(self) -> float:
        """Wall-clock seconds since the epoch (for token ``exp`` and invite expiry)."""
        return time.time() + self._offset

    def now(self) -> dt.datetime:
        """The current simulated time as an aware UTC datetime."""
        return dt.datetime.fromtimestamp(self.time(), dt.UTC)

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (finite, not negative)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward by a finite number of seconds")
        self._offset += seconds
