"""The API-Only bearer token: where it is kept, when it expires, and one login at a time.

- :class:`TokenCache` is the seam for where tokens live (in memory by default; a cache
  shared between processes, such as Redis, can implement the same three methods).
- :class:`TokenRefresher` makes sure that however many calls find the token expired or
  meet a 401 at once, exactly one login happens and the others wait for its result.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Final, Protocol, runtime_checkable

import msgspec

from ._tasks import cancel_and_wait
from ._telemetry import ClientTelemetry

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "BearerAuthorizer",
    "CachedToken",
    "InMemoryTokenCache",
    "SharedTokenCache",
    "TokenCache",
    "TokenLease",
    "TokenRefresher",
    "issue_token",
    "jwt_expiry",
]

DEFAULT_TOKEN_LIFETIME: Final = 36_000.0
"""Seconds a token lives when its payload does not say (the guide: 10 hours)."""


@dataclass(frozen=True, slots=True)
class CachedToken:
    """A bearer token with the wall-clock times (epoch seconds) it expires and is renewed."""

    token: str = field(repr=False)  # a secret: never in a repr
    expires_at: float
    refresh_at: float

    def fresh(self, now: float) -> bool:
        """Whether the token may still be used at ``now`` (it is not due for renewal)."""
        return now < self.refresh_at


def jwt_expiry(token: str) -> float | None:
    """Return the ``exp`` claim of a JWT (epoch seconds), or None when it has none.

    Only reads the payload (base64url, the middle segment); the signature is the
    service's business, not ours.
    """
    parts = token.split(".")
    if len(parts) != 3:
        return None
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = msgspec.json.decode(base64.urlsafe_b64decode(segment))
    except (binascii.Error, ValueError, msgspec.DecodeError):
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, bool) or not isinstance(exp, int | float):
        return None
    return float(exp)


def issue_token(token: str, *, now: float, margin: float) -> CachedToken:
    """Return the cache entry for a token just received at wall-clock time ``now``.

    It is renewed ``margin`` seconds before it expires, or halfway through its life when
    that is shorter than twice the margin (so a short-lived token is not renewed on
    every call). An ``exp`` already in the past by our clock (clock skew) is ignored in
    favour of the documented lifetime: the service will say 401 if it disagrees.
    """
    exp = jwt_expiry(token)
    expires_at = exp if exp is not None and exp > now else now + DEFAULT_TOKEN_LIFETIME
    lifetime = expires_at - now
    return CachedToken(token, expires_at, expires_at - min(margin, lifetime / 2))


@runtime_checkable
class TokenCache(Protocol):
    """Where bearer tokens are kept, by key (one key per base URL and user name)."""

    async def get(self, key: str) -> CachedToken | None:
        """Return the token kept for ``key``, if any (expired ones included)."""
        ...

    async def set(self, key: str, token: CachedToken) -> None:
        """Keep ``token`` for ``key``, replacing what was there."""
        ...

    async def invalidate_if_equal(self, key: str, token: str) -> None:
        """Forget the token kept for ``key`` only if it is still ``token``.

        A refused token is dropped without discarding a newer one that another caller
        (or another process sharing the cache) stored meanwhile.
        """
        ...


@runtime_checkable
class SharedTokenCache(TokenCache, Protocol):
    """A :class:`TokenCache` shared by processes, with a renewal lock per key.

    The refresher holds :meth:`renewal` while it checks the cache once more and logs in,
    so however many processes find the token stale together, one logs in and the others
    adopt its token.
    """

    def renewal(self, key: str) -> AbstractAsyncContextManager[None]:
        """Hold the fleet's renewal lock for ``key`` (or go on unlocked if it cannot)."""
        ...


class InMemoryTokenCache:
    """The default :class:`TokenCache`: a dict in this process.

    Clients that share one (through an :class:`~schlage_async.AccountBudget`) log in
    once for all of them: :meth:`renewal` is a lock per key, as a shared cache's is.
    """

    __slots__ = ("_renewals", "_tokens")

    def __init__(self) -> None:
        self._tokens: dict[str, CachedToken] = {}  # key -> the latest token stored
        self._renewals: dict[str, asyncio.Lock] = {}  # key -> held by the one logging in

    @asynccontextmanager
    async def renewal(self, key: str) -> AsyncIterator[None]:
        """Hold ``key``'s renewal lock: one client of this cache logs in, the rest adopt."""
        lock = self._renewals.get(key)
        if lock is None:
            lock = self._renewals[key] = asyncio.Lock()
        async with lock:
            yield

    async def get(self, key: str) -> CachedToken | None:
        """Return the token kept for ``key``, if any."""
        return self._tokens.get(key)

    def peek(self, key: str) -> CachedToken | None:
        """The same as :meth:`get`, without a coroutine (the per-request fast path)."""
        return self._tokens.get(key)

    async def set(self, key: str, token: CachedToken) -> None:
        """Keep ``token`` for ``key``."""
        self._tokens[key] = token

    async def invalidate_if_equal(self, key: str, token: str) -> None:
        """Forget ``key``'s token if it is still ``token``."""
        kept = self._tokens.get(key)
        if kept is not None and kept.token == token:
            del self._tokens[key]

    def __repr__(self) -> str:
        return f"InMemoryTokenCache(keys={len(self._tokens)})"


@dataclass(frozen=True, slots=True)
class TokenLease:
    """A token handed to one request, with the generation it belongs to.

    The generation counts this refresher's logins; a 401 for an older generation than
    the current one means someone has already renewed the token, so no login is needed.
    """

    token: CachedToken
    generation: int


class TokenRefresher:
    """Hands out a usable token, logging in at most once however many callers need one."""

    __slots__ = (
        "_cache",
        "_clock",
        "_generation",
        "_inflight",
        "_key",
        "_lease",
        "_login",
        "_logins",
        "_margin",
        "_telemetry",
    )

    def __init__(
        self,
        *,
        key: str,
        cache: TokenCache,
        login: Callable[[], Awaitable[str]],
        clock: Callable[[], float],
        margin: float,
        telemetry: ClientTelemetry | None = None,
    ) -> None:
        self._key = key  # this account's key in the cache
        self._cache = cache  # where tokens are kept (maybe shared with other processes)
        self._login = login  # performs one login and returns the raw token
        self._clock = clock  # wall clock, epoch seconds (token expiry is wall time)
        self._margin = margin  # renew this many seconds ahead of expiry
        self._generation = 0  # logins completed (or tokens adopted) by this refresher
        self._inflight: asyncio.Task[TokenLease] | None = None  # the one login under way
        self._lease: TokenLease | None = None  # the last lease handed out, reused while valid
        self._telemetry = telemetry  # a span per renewal (None without the otel extra)
        self._logins = 0  # logins this refresher made (not tokens adopted from the cache)

    @property
    def generation(self) -> int:
        """How many tokens this refresher has obtained so far."""
        return self._generation

    def current_nowait(self) -> TokenLease | None:
        """The lease :meth:`current` would give, when no await is needed; else None.

        Only an in-process cache can be read without awaiting; a shared cache (another
        process may have replaced the token) always goes through :meth:`current`.
        """
        cache = self._cache
        if type(cache) is not InMemoryTokenCache:
            return None
        cached = cache.peek(self._key)
        if cached is None or not cached.fresh(self._clock()):
            return None
        return self._lease_for(cached)

    async def current(self) -> TokenLease:
        """Return a token that is not due for renewal, logging in when needed."""
        seen = self._generation
        cached = await self._cache.get(self._key)
        if cached is not None and cached.fresh(self._clock()):
            return self._lease_for(cached)
        reason = "expiring" if cached is not None else "none"
        return await self._renew(seen, cached.token if cached is not None else None, reason)

    def _lease_for(self, cached: CachedToken) -> TokenLease:
        # The same lease object while the token and the generation stand.
        generation, lease = self._generation, self._lease
        if lease is None or lease.token is not cached or lease.generation != generation:
            lease = self._lease = TokenLease(cached, generation)
        return lease

    async def refresh(self, stale: TokenLease) -> TokenLease:
        """Return a token to replace ``stale``, which the service refused."""
        return await self._renew(stale.generation, stale.token.token, "refused")

    async def _renew(self, seen: int, stale: str | None, reason: str) -> TokenLease:
        if self._generation != seen:
            # A login finished since the caller's token was issued: use its result.
            cached = await self._cache.get(self._key)
            if cached is not None and cached.token != stale and cached.fresh(self._clock()):
                return TokenLease(cached, self._generation)
        if self._inflight is None or self._inflight.done():
            self._inflight = asyncio.ensure_future(self._traced(stale, reason))
            self._inflight.add_done_callback(_consume_result)
        # shield: one caller being cancelled must not cancel the login the others await.
        return await asyncio.shield(self._inflight)

    async def _traced(self, stale: str | None, reason: str) -> TokenLease:
        """:meth:`_obtain` in a ``schlage.token_renewal`` span, when one records.

        ``reason``: ``none`` (no token yet), ``expiring`` (due for renewal) or ``refused``
        (the service answered 401); the span says whether it logged in or adopted a token
        another process stored.
        """
        if self._telemetry is None:
            return await self._obtain(stale)
        with self._telemetry.renewal(reason) as outcome:
            logins = self._logins
            lease = await self._obtain(stale)
            outcome["schlage.token.outcome"] = "login" if self._logins > logins else "adopted"
            return lease

    async def _obtain(self, stale: str | None) -> TokenLease:
        cache = self._cache
        if isinstance(cache, SharedTokenCache):
            if stale is not None:
                # Drop it from the shared store unless a newer one replaced it (the store
                # compares atomically), so the reads below see what other processes stored.
                await cache.invalidate_if_equal(self._key, stale)
            adopted = await self._adopt(stale)
            if adopted is not None:
                return adopted
            # One login for the whole fleet: whoever takes the lock logs in; the others
            # find its token when they get the lock in turn.
            async with cache.renewal(self._key):
                adopted = await self._adopt(stale)
                if adopted is not None:
                    return adopted
                return await self._log_in()
        adopted = await self._adopt(stale)
        if adopted is not None:
            return adopted
        if stale is not None:
            await cache.invalidate_if_equal(self._key, stale)
        return await self._log_in()

    async def _adopt(self, stale: str | None) -> TokenLease | None:
        cached = await self._cache.get(self._key)
        if cached is not None and cached.token != stale and cached.fresh(self._clock()):
            # Another process sharing the cache renewed it: adopt theirs, no login.
            self._generation += 1
            return TokenLease(cached, self._generation)
        return None

    async def _log_in(self) -> TokenLease:
        raw = await self._login()
        self._logins += 1
        token = issue_token(raw, now=self._clock(), margin=self._margin)
        await self._cache.set(self._key, token)
        self._generation += 1
        return TokenLease(token, self._generation)

    async def aclose(self) -> None:
        """Cancel a login still under way (the client is closing)."""
        task, self._inflight = self._inflight, None
        if task is not None:
            await cancel_and_wait(task)


class BearerAuthorizer:
    """Surface A's authorizer: ``Authorization: Bearer <token>`` from a refresher."""

    __slots__ = ("_headers", "_last", "_refresher")

    refreshable = True

    def __init__(self, refresher: TokenRefresher) -> None:
        self._refresher = refresher  # hands out tokens, one login at a time
        self._last: str | None = None  # the latest token handed out, to scrub from text
        self._headers: Mapping[str, str] = {}  # the Authorization header for _last

    async def authorize(self) -> tuple[Mapping[str, str], TokenLease | None]:
        """Return the Authorization header for a usable token (logging in if needed).

        The same mapping comes back while the token stands (callers must not change
        it), so a transport can merge it with its own headers once per token.
        """
        lease = self._refresher.current_nowait() or await self._refresher.current()
        token = lease.token.token
        if token is not self._last:
            self._headers = {"Authorization": "Bearer " + token}
            self._last = token
        return self._headers, lease

    async def refresh(self, lease: TokenLease | None) -> None:
        """Renew the token the service refused (once, however many callers ask)."""
        if lease is not None:
            await self._refresher.refresh(lease)

    def secrets(self) -> Iterable[str]:
        """The token last handed out."""
        return () if self._last is None else (self._last,)


def _consume_result(task: asyncio.Task[TokenLease]) -> None:
    # Waiters may all have been cancelled; retrieve the outcome so asyncio does not warn
    # "exception was never retrieved" about a login nobody is waiting for any more.
    if not task.cancelled():
        task.exception()
