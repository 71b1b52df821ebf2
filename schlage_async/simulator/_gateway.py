"""The gateway's limits: a token bucket per integration and the login rate window.

Both are hand-written rather than taken from aiolimiter: aiolimiter *waits* for
capacity on the event loop's clock, while a gateway *refuses* with a ``Retry-After``
and must read the simulator's clock so tests can move time instead of sleeping.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Final

from .._seed_errors import ErrorCode
from ._clock import SimClock

__all__ = [
    "LOGIN_LIMIT",
    "LOGIN_WINDOW",
    "CredentialRateLimiter",
    "LoginLimiter",
    "LoginVerdict",
]

LOGIN_LIMIT: Final = 100
"""Login attempts allowed per user name per window (the guide: 100 per 15 minutes)."""

LOGIN_WINDOW: Final = 900.0
"""The login window, in seconds (sliding)."""

LOGIN_BLOCK: Final = 900.0
"""How long a user name stays blocked after the escalation ends in a block ([I])."""


class _Bucket:
    __slots__ = ("tokens", "updated")

    def __init__(self, tokens: float, updated: float) -> None:
        self.tokens = tokens  # requests that may pass right now (fractional while refilling)
        self.updated = updated  # monotonic time tokens was last brought up to date


class CredentialRateLimiter:
    """A token bucket per integration: ``rate`` per second, capacity ``burst``.

    ``burst`` defaults to ``max(1, rate)``, a full second of tokens; a real gateway's
    bucket may be much smaller (``--burst 5``), which a client bursting above the rate
    meets at once.
    """

    __slots__ = ("_buckets", "_capacity", "_clock", "rate")

    def __init__(self, rate: float, clock: SimClock, *, burst: float | None = None) -> None:
        if burst is not None and burst < 1:
            raise ValueError("burst must be >= 1")
        self.rate = rate  # tokens added per second; 0 disables the limiter
        # A full bucket allows this many at once.
        self._capacity = float(burst) if burst is not None else max(1.0, rate)
        self._clock = clock
        self._buckets: dict[str, _Bucket] = {}  # integration id -> its bucket

    def acquire(self, key: str) -> int | None:
        """Take one token for ``key``: None if allowed, else Retry-After seconds (>= 1)."""
        if self.rate <= 0:
            return None
        now = self._clock.monotonic()
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = _Bucket(self._capacity, now)
        else:
            bucket.tokens = min(self._capacity, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return None
        return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def reset(self) -> None:
        """Every bucket full again."""
        self._buckets.clear()


@dataclass(frozen=True, slots=True)
class LoginVerdict:
    """Whether a login attempt may proceed; if not, which 429 row and when to retry."""

    code: ErrorCode | None  # None: allowed
    remaining: int  # the x-ratelimit-remaining value to send
    retry_after: int | None = None


class _Window:
    __slots__ = ("blocked_until", "over", "times")

    def __init__(self) -> None:
        self.times: deque[float] = deque()  # monotonic times of the attempts let through
        self.over = 0  # attempts refused since the window filled up
        self.blocked_until = 0.0  # monotonic end of a block (0: not blocked)


class LoginLimiter:
    """The login limit per user name, with the guide's escalating 429s ([I] escalation).

    The 1st attempt over the limit gets row 8, the 2nd row 9, the 3rd row 10 and
    blocks the user name for :data:`LOGIN_BLOCK` seconds, during which every attempt
    gets row 10 with ``Retry-After``.
    """

    __slots__ = ("_clock", "_windows")

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock
        self._windows: dict[str, _Window] = {}  # lower-cased user name -> its window

    def remaining(self, username: str | None) -> int:
        """The x-ratelimit-remaining value for ``username`` without counting an attempt."""
        window = self._windows.get(username.lower()) if username else None
        if window is None:
            return LOGIN_LIMIT
        now = self._clock.monotonic()
        if window.blocked_until > now:
            return 0
        self._prune(window, now)
        return LOGIN_LIMIT - len(window.times)

    def attempt(self, username: str) -> LoginVerdict:
        """Count one attempt for ``username`` and say whether it may proceed."""
        now = self._clock.monotonic()
        window = self._windows.setdefault(username.lower(), _Window())
        if window.blocked_until > now:
            return LoginVerdict(
                ErrorCode.ACCOUNT_BLOCKED, 0, max(1, math.ceil(window.blocked_until - now))
            )
        self._prune(window, now)
        if len(window.times) < LOGIN_LIMIT:
            window.times.append(now)
            window.over = 0
            return LoginVerdict(None, LOGIN_LIMIT - len(window.times))
        window.over += 1
        retry = max(1, math.ceil(window.times[0] + LOGIN_WINDOW - now))
        if window.over == 1:
            return LoginVerdict(ErrorCode.LOGIN_RATE_LIMITED, 0, retry)
        if window.over == 2:
            return LoginVerdict(ErrorCode.LOGIN_RATE_LIMIT_WARNING, 0, retry)
        window.blocked_until = now + LOGIN_BLOCK
        return LoginVerdict(ErrorCode.ACCOUNT_BLOCKED, 0, math.ceil(LOGIN_BLOCK))

    def reset(self) -> None:
        """Forget every window and block."""
        self._windows.clear()

    @staticmethod
    def _prune(window: _Window, now: float) -> None:
        horizon = now - LOGIN_WINDOW
        times = window.times
        while times and times[0] <= horizon:
            times.popleft()
