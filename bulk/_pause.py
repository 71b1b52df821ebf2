"""The engine-wide pause gate: one 429 with Retry-After pauses every worker, once."""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import time
from collections.abc import Awaitable, Callable

from ._telemetry import EngineTelemetry, PauseSpan

__all__ = ["PauseGate"]


class PauseGate:
    """A gate every worker awaits before each call; a 429 closes it until a deadline.

    :meth:`pause_for` extends the deadline to the latest one asked for (never shortens
    it), so the 429s of many workers make one pause, not one each. A single waker task
    sleeps until the deadline and opens the gate; workers just wait on an
    ``asyncio.Event``. The clock and the sleep are injectable, so tests never sleep.
    """

    __slots__ = (
        "_clock",
        "_closed",
        "_episode_start",
        "_open",
        "_sleep",
        "_span",
        "_telemetry",
        "_until",
        "_waker",
        "paused_seconds",
        "pauses",
    )

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock  # monotonic seconds
        self._sleep = sleep  # how the waker waits out a pause
        self._open = asyncio.Event()  # set while calls may go
        self._open.set()
        self._until = -math.inf  # the monotonic deadline of the current pause
        self._episode_start = 0.0  # when the current pause began
        self._waker: asyncio.Task[None] | None = None  # opens the gate at the deadline
        self._closed = False  # close() opened the gate for good (the run is stopping)
        self.pauses = 0  # pause episodes so far
        self.paused_seconds = 0.0  # time spent in finished pauses
        self._telemetry = EngineTelemetry.disabled()  # a run's, once it instruments the gate
        self._span: PauseSpan | None = None  # the current pause's span and timing, if recorded

    def instrument(self, telemetry: EngineTelemetry) -> None:
        """Record every pause from now on as a ``bulk.pause`` span and in its histogram."""
        self._telemetry = telemetry

    def __repr__(self) -> str:
        state = f"paused for {self.remaining:.1f}s" if self.paused else "open"
        return f"PauseGate({state}, pauses={self.pauses})"

    @property
    def paused(self) -> bool:
        """Whether calls are held back now."""
        return not self._open.is_set()

    @property
    def remaining(self) -> float:
        """Seconds until the gate opens (0 when open)."""
        return max(0.0, self._until - self._clock()) if self.paused else 0.0

    @property
    def paused_until(self) -> dt.datetime | None:
        """When the gate opens, as a UTC time; None when open."""
        if not self.paused:
            return None
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.remaining)

    @property
    def committed_seconds(self) -> float:
        """Time paused so far plus what the current pause still holds (for patience)."""
        current = max(0.0, self._until - self._episode_start) if self.paused else 0.0
        return self.paused_seconds + current

    def pause_for(self, seconds: float) -> bool:
        """Hold every call for ``seconds`` from now; return True when this began a pause."""
        return self._pause(seconds, "local")

    def _pause(self, seconds: float, source: str) -> bool:
        """:meth:`pause_for`, saying where the pause came from (``local`` or ``fleet``)."""
        if self._closed:
            return False
        now = self._clock()
        deadline = now + max(seconds, 0.0)
        if deadline <= self._until:
            return False
        began = not self.paused
        self._until = deadline
        if began:
            self.pauses += 1
            self._episode_start = now
            self._open.clear()
            self._span = self._telemetry.pause_began(seconds, source)
        else:
            self._telemetry.pause_extended(self._span, seconds)
        if self._waker is None or self._waker.done():
            self._waker = asyncio.get_running_loop().create_task(self._wake())
        return began

    async def _wake(self) -> None:
        while not self._closed and (remaining := self._until - self._clock()) > 0:
            await self._sleep(remaining)
        self._finish()

    def _finish(self) -> None:
        if not self._open.is_set():
            held = max(0.0, min(self._clock(), self._until) - self._episode_start)
            self.paused_seconds += held
            self._open.set()
            span, self._span = self._span, None
            self._telemetry.pause_ended(span, held)

    async def wait(self) -> None:
        """Return once calls may go (at once when the gate is open)."""
        if not self._open.is_set():
            await self._open.wait()

    def close(self) -> None:
        """Open the gate for good (the run is stopping): waiting workers go on to see it."""
        self._closed = True
        self._finish()
        if self._waker is not None and not self._waker.done():
            self._waker.cancel()

    async def aclose(self) -> None:
        """Close the gate (see :meth:`close`) and wait for the waker to end."""
        self.close()
        waker, self._waker = self._waker, None
        if waker is not None:
            await asyncio.gather(waker, return_exceptions=True)
