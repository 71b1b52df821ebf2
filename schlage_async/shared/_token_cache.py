"""A :class:`~schlage_async.TokenCache` in Redis, shared by every process of a fleet.

The key is a hash of the account's identity (base URL and user name), so Redis holds the
token and nothing that names the account or its password. :meth:`RedisTokenCache.renewal`
is the fleet's single flight: a ``redis-py`` lock per account, taken by the one process
that logs in while the others wait for it and then adopt the token it stored.

Redis going away is survived: every token read or stored is also kept in this process,
reads fall back to that copy, and a renewal that cannot take the lock logs in anyway. At
worst a process logs in once more than needed; a credential never depends on Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Final

from redis.asyncio import Redis
from redis.exceptions import LockError

from .._auth import CachedToken, InMemoryTokenCache
from ._fallback import REDIS_DOWN
from ._keys import DEFAULT_PREFIX, hashed

__all__ = ["RedisTokenCache"]

_log = logging.getLogger("schlage_async.shared")

# Forget the token only if it is still the one the caller saw refused.
_DELETE_IF_SAME: Final = """
local kept = redis.call('GET', KEYS[1])
if kept and cjson.decode(kept)['token'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


class RedisTokenCache:
    """Bearer tokens in Redis under hashed keys, with a fleet-wide renewal lock."""

    __slots__ = (
        "_clock",
        "_delete_if",
        "_local",
        "_lock_timeout",
        "_prefix",
        "_reads",
        "_redis",
        "_wait_timeout",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        lock_timeout: float = 30.0,
        wait_timeout: float = 60.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._redis = redis  # the shared server (a redis.asyncio.Redis client)
        self._prefix = prefix  # every key starts with it
        self._lock_timeout = lock_timeout  # a crashed holder's lock frees itself after this
        self._wait_timeout = wait_timeout  # longest wait for another process's login
        self._local = InMemoryTokenCache()  # this process's copy: served while fresh
        self._clock = clock  # wall clock, epoch seconds (token expiry is wall time)
        self._reads: dict[str, asyncio.Task[CachedToken | None]] = {}  # one GET per key
        self._delete_if = redis.register_script(_DELETE_IF_SAME)

    def __repr__(self) -> str:
        return f"RedisTokenCache(prefix={self._prefix!r})"

    def _key(self, key: str) -> str:
        return f"{self._prefix}token:{hashed(key)}"

    async def get(self, key: str) -> CachedToken | None:
        """Return the token for ``key``: this process's copy while it is fresh, else Redis's.

        Concurrent reads of one key share one round trip, so a burst of calls costs Redis
        one GET; while Redis is away the copy is returned, fresh or not.
        """
        local = await self._local.get(key)
        if local is not None and local.fresh(self._clock()):
            return local
        task = self._reads.get(key)
        if task is None or task.done():
            task = asyncio.ensure_future(self._read(key))
            self._reads[key] = task
        return await asyncio.shield(task)

    async def _read(self, key: str) -> CachedToken | None:
        try:
            raw = await self._redis.get(self._key(key))
        except REDIS_DOWN as exc:
            _log.warning("token cache: Redis unreachable (%s); using this process's copy", exc)
            return await self._local.get(key)
        if raw is None:
            return None
        try:
            data = json.loads(raw)
            token = CachedToken(
                str(data["token"]), float(data["expires_at"]), float(data["refresh_at"])
            )
        except (ValueError, KeyError, TypeError):
            return None  # not ours, or damaged: a login replaces it
        await self._local.set(key, token)
        return token

    async def set(self, key: str, token: CachedToken) -> None:
        """Store ``token`` for the fleet (expiring with it) and keep a copy here."""
        await self._local.set(key, token)
        value = json.dumps(
            {"token": token.token, "expires_at": token.expires_at, "refresh_at": token.refresh_at}
        )
        ttl = max(1, int(token.expires_at - self._clock()) + 1)
        try:
            await self._redis.set(self._key(key), value, ex=ttl)
        except REDIS_DOWN as exc:
            _log.warning("token cache: Redis unreachable (%s); token kept in this process", exc)

    async def invalidate_if_equal(self, key: str, token: str) -> None:
        """Forget ``key``'s token here and in Redis, only if it is still ``token``."""
        await self._local.invalidate_if_equal(key, token)
        self._reads.pop(key, None)  # a read under way may hold it; the next one will not
        try:
            await self._delete_if(keys=[self._key(key)], args=[token])
        except REDIS_DOWN as exc:
            _log.warning("token cache: Redis unreachable (%s)", exc)

    @contextlib.asynccontextmanager
    async def renewal(self, key: str) -> AsyncIterator[None]:
        """Hold the fleet's renewal lock for ``key`` while one login happens.

        Without Redis (or after waiting ``wait_timeout``) the body runs unlocked: an extra
        login, never a stuck client.
        """
        lock = self._redis.lock(
            f"{self._prefix}token-renewal:{hashed(key)}",
            timeout=self._lock_timeout,
            blocking_timeout=self._wait_timeout,
            sleep=0.02,
        )
        try:
            held = await lock.acquire()
        except REDIS_DOWN as exc:
            _log.warning("token cache: Redis unreachable (%s); renewing without the lock", exc)
            held = False
        try:
            yield
        finally:
            if held:
                with contextlib.suppress(LockError, *REDIS_DOWN):
                    await lock.release()
