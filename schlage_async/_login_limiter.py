"""The login budget: at most 100 logins in any 15 minutes, as the guide allows.

Hand-written rather than ``aiolimiter.AsyncLimiter``: that is a leaky bucket, which
starts full and drains continuously, so in one 15-minute window it admits the full
bucket at once *and* what drains during the window -- up to twice the rate. The service
counts logins per window, beyond which it warns, answers 429 and finally blocks the
account; only a sliding window (the last ``limit`` timestamps) guarantees that no
15-minute span ever holds more than ``limit`` logins. It also refuses instead of
sleeping, because a client stuck on its login budget should say so at once.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final

from ._errors import RateLimitedError
from ._routes import Operation

__all__ = ["LOGIN_LIMIT", "LOGIN_WINDOW", "SlidingWindowLimiter"]

LOGIN_LIMIT: Final = 100
LOGIN_WINDOW: Final = 15 * 60.0


class SlidingWindowLimiter:
    """Admit at most ``limit`` events in any ``window`` seconds (a sliding window)."""

    __slots__ = ("_clock", "_limit", "_stamps", "_window")

    def __init__(
        self,
        limit: int = LOGIN_LIMIT,
        window: float = LOGIN_WINDOW,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window positive")
        self._limit = limit  # events admitted per window
        self._window = window  # the window's length, in the clock's seconds
        self._clock = clock  # monotonic time source; tests pass a fake one
        self._stamps: deque[float] = deque()  # times of the admitted events, oldest first

    @property
    def limit(self) -> int:
        """Events admitted per window."""
        return self._limit

    def _expire(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self._window:
            self._stamps.popleft()

    def remaining(self) -> int:
        """How many events would be admitted right now."""
        self._expire(self._clock())
        return self._limit - len(self._stamps)

    def try_acquire(self) -> float:
        """Admit one event and return 0.0, or return the seconds until a slot frees."""
        now = self._clock()
        self._expire(now)
        if len(self._stamps) < self._limit:
            self._stamps.append(now)
            return 0.0
        return self._stamps[0] + self._window - now

    def refund(self) -> None:
        """Give back the latest slot: its login never reached the service (no connection)."""
        if self._stamps:
            self._stamps.pop()

    async def acquire(self, *, max_wait: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Admit one login, waiting at most ``max_wait`` seconds for a slot.

        Raises :class:`RateLimitedError` (``sent=False``, ``retry_after`` = seconds until
        a slot frees) when the wait would be longer.
        """
        while True:
            wait = self.try_acquire()
            if wait <= 0.0:
                return
            if wait > max_wait:
                raise RateLimitedError(
                    Operation.LOGIN,
                    429,
                    (
                        f"The client's login budget ({self._limit} logins per "
                        f"{self._window:g} seconds) is spent; the next slot frees in "
                        f"{wait:.0f} seconds.",
                    ),
                    sent=False,
                    retry_after=wait,
                )
            await sleep(wait)
