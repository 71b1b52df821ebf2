"""The login budget (100 logins per 15 minutes per account) counted across processes.

A sliding window in a Redis sorted set, checked and charged by one Lua script on Redis's
own clock (``TIME``), so no two processes can both take the last slot and no host's
clock matters. While Redis is away each process falls back to a small budget of its own
(``fallback_limit``, default 10 per window): logins are rare (one per token lifetime for
the whole fleet), and a small local budget cannot add up to a blocked account.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from redis.asyncio import Redis

from .._errors import RateLimitedError
from .._login_limiter import LOGIN_LIMIT, LOGIN_WINDOW, SlidingWindowLimiter
from .._routes import Operation
from ._fallback import REDIS_DOWN
from ._keys import DEFAULT_PREFIX, hashed

__all__ = ["RedisLoginBudget"]

_log = logging.getLogger("schlage_async.shared")

# KEYS[1]: the window's sorted set. ARGV: limit, window (ms), a unique member.
# Returns 0 when a login was admitted (and counted), else the ms until a slot frees.
_TAKE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local limit = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) < limit then
  redis.call('ZADD', KEYS[1], now, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], window)
  return 0
end
local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(1, tonumber(oldest[2]) + window - now)
"""


class RedisLoginBudget:
    """At most ``limit`` logins in any ``window`` seconds for one account, fleet-wide.

    Pass it as ``SchlageClient(login_limiter=...)``; ``account`` is the account's identity
    (see :func:`account_key`), which Redis only ever sees hashed.
    """

    __slots__ = (
        "_fallback",
        "_key",
        "_last",
        "_limit",
        "_redis",
        "_refunds",
        "_take",
        "_window",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        account: str,
        limit: int = LOGIN_LIMIT,
        window: float = LOGIN_WINDOW,
        prefix: str = DEFAULT_PREFIX,
        fallback_limit: int = 10,
    ) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("limit must be at least 1 and window positive")
        self._redis = redis  # the shared server
        self._limit = limit  # logins admitted per window, for the whole fleet
        self._window = window  # seconds
        self._key = f"{prefix}logins:{hashed(account)}"  # the window's sorted set
        self._fallback = SlidingWindowLimiter(min(fallback_limit, limit), window)  # Redis away
        self._take = redis.register_script(_TAKE)
        self._last: str | None = None  # the window member of the latest admitted login
        self._refunds: set[asyncio.Task[object]] = set()  # refunds under way

    def __repr__(self) -> str:
        return f"RedisLoginBudget(limit={self._limit}, window={self._window:g})"

    @property
    def limit(self) -> int:
        """Logins admitted per window, for the whole fleet."""
        return self._limit

    async def try_acquire(self) -> float:
        """Admit one login and return 0.0, or return the seconds until a slot frees."""
        member = uuid.uuid4().hex
        try:
            waited = await self._take(
                keys=[self._key], args=[self._limit, int(self._window * 1000), member]
            )
        except REDIS_DOWN as exc:
            _log.warning("login budget: Redis unreachable (%s); using a local budget", exc)
            self._last = None
            return self._fallback.try_acquire()
        if int(waited) == 0:
            self._last = member
        return int(waited) / 1000.0

    def refund(self) -> None:
        """Give back the latest login's slot (it never reached the service)."""
        member, self._last = self._last, None
        if member is None:
            self._fallback.refund()
            return
        task: asyncio.Task[object] = asyncio.get_running_loop().create_task(self._forget(member))
        self._refunds.add(task)
        task.add_done_callback(self._refunds.discard)

    async def _forget(self, member: str) -> object:
        try:
            return await self._redis.zrem(self._key, member)
        except REDIS_DOWN:
            return None  # the slot stays counted: one login fewer in this window, no harm

    async def acquire(self, *, max_wait: float, sleep: Callable[[float], Awaitable[None]]) -> None:
        """Admit one login, waiting at most ``max_wait`` seconds for a slot.

        Raises :class:`RateLimitedError` (``sent=False``) when the wait would be longer.
        """
        while True:
            wait = await self.try_acquire()
            if wait <= 0.0:
                return
            if wait > max_wait:
                raise RateLimitedError(
                    Operation.LOGIN,
                    429,
                    (
                        f"The fleet's login budget ({self._limit} logins per "
                        f"{self._window:g} seconds) is spent; the next slot frees in "
                        f"{wait:.0f} seconds.",
                    ),
                    sent=False,
                    retry_after=wait,
                )
            await sleep(wait)
