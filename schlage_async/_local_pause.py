"""The 429 pause of one process: every call waits for it, a Retry-After extends it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

__all__ = ["LocalPause"]


class LocalPause:
    """A :class:`~schlage_async.RequestPause` in this process alone; the latest deadline wins.

    What :class:`~schlage_async.AccountBudget` uses without a shared server: every client
    and job on the budget holds its calls while one of them obeys a 429.
    """

    __slots__ = ("_clock", "_sleep", "_until")

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        self._clock = clock  # monotonic seconds
        self._sleep = sleep  # injected by tests
        self._until = 0.0  # when the pause ends (monotonic)

    def __repr__(self) -> str:
        return f"LocalPause(remaining={self.remaining:.1f}s)"

    @property
    def remaining(self) -> float:
        """Seconds calls are still held (0 when not paused)."""
        return max(0.0, self._until - self._clock())

    async def wait(self) -> None:
        """Return once calls may go (at once when not paused)."""
        while (left := self._until - self._clock()) > 0:
            await self._sleep(left)

    def pause_for(self, seconds: float) -> bool:
        """Hold calls for ``seconds`` from now; True when the pause began or grew."""
        deadline = self._clock() + max(seconds, 0.0)
        if deadline <= self._until:
            return False
        self._until = deadline
        return True
