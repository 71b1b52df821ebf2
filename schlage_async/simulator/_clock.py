"""The simulator's clock: the real clocks plus an offset that tests move forward."""

from __future__ import annotations

import datetime as dt
import math
import time
from typing import Final

__all__ = ["MAX_OFFSET", "SimClock"]

MAX_OFFSET: Final = 100 * 365.25 * 86400.0
"""How far the clock may be advanced in all (a century): every time it shows must stay a
date Python can represent, so ``/_sim/state`` and every expiry keep working."""


class SimClock:
    """Real monotonic and wall time, shifted by an offset that only ever grows.

    Every expiry the simulator knows (tokens, invites, login windows, blocks, rate
    buckets) reads this clock, so a test advances it instead of sleeping. Between resets
    time never goes backwards: :meth:`advance` refuses negative steps, and steps beyond
    :data:`MAX_OFFSET` in all. :meth:`reset` (``/_sim/reset``) puts it back to real time,
    together with every window and block that read it.
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
        """Move the clock forward by ``seconds`` (finite, not negative, within the bound)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError("the clock only moves forward by a finite number of seconds")
        if self._offset + seconds > MAX_OFFSET:
            raise ValueError(
                f"the clock may be advanced at most {MAX_OFFSET:.0f} seconds (a century) in "
                f"all; it is {self._offset:.0f} s ahead already"
            )
        self._offset += seconds

    def reset(self) -> None:
        """Back to real time (a reset of the whole simulator)."""
        self._offset = 0.0
