"""One integration account's budget, shared by every caller: token, logins, rate, 429 pause.

A partner has one account (one key, one login budget of 100 per 15 minutes, one gateway
rate) for every property. :class:`AccountBudget` holds all four for one (service,
account), so a front desk's :class:`~schlage_async.SchlageClient`, a migration and the
daily sync log in once between them, obey one 429 pause, and share the rate by lane
(:mod:`schlage_async._lanes`)::

    budget = await AccountBudget.connect("redis://localhost:6379/0",  # or None: this process
                                         base_url=base_url, username=username)
    front_desk = SchlageClient(..., budget=budget)                 # lane "interactive"
    migration = SchlageClient(..., budget=budget, lane=None)       # bulk.run_migration paces it
    await bulk.run_migration(migration, "residents.csv", budget=budget, store="state.db")

In this process by default; through Redis (``pip install 'schlage-async[scale]'``) when
given a URL, so processes and hosts share it. Redis sees account identities only hashed.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self

from ._aimd import AimdController
from ._auth import InMemoryTokenCache, TokenCache
from ._config import check_base_url
from ._errors import ConfigurationError
from ._lane_scheduler import LocalLaneScheduler
from ._lanes import DEFAULT_FLOOR, Lane, LaneScheduler, LaneShares
from ._local_pause import LocalPause
from ._login_limiter import SlidingWindowLimiter
from ._pacing import LoginLimiter, RequestPause

__all__ = ["AccountBudget", "LaneLimiter"]


class LaneLimiter:
    """One caller's view of an :class:`AccountBudget`: slots for one job in one lane.

    Fits ``SchlageClient(rate_limiter=...)`` and the bulk engine's limiter: ``acquire``
    waits for a slot; ``on_success``/``on_throttled`` tell the budget how the call went
    (an adaptive budget steers its rate by them).
    """

    __slots__ = ("_pause", "_scheduler", "job", "lane", "weight")

    def __init__(
        self,
        scheduler: LaneScheduler,
        lane: Lane,
        job: str,
        weight: float,
        pause: RequestPause | None = None,
    ) -> None:
        self._scheduler = scheduler  # the account's
        self._pause = pause  # waited for before each slot, when the caller paces itself
        self.lane = lane  # whose slots these are
        self.job = job  # which job of the lane (shares are by job)
        self.weight = weight  # its share of the lane against other jobs' weights

    def __repr__(self) -> str:
        return f"LaneLimiter(lane={self.lane.value!r}, job={self.job!r}, weight={self.weight})"

    @property
    def rate(self) -> float | None:
        """The account's rate now (req/s), shared by every lane; None when unlimited."""
        return self._scheduler.rate

    async def acquire(self) -> None:
        """Wait for the account's 429 pause (if given), then for this job's next slot."""
        if self._pause is not None:
            await self._pause.wait()
        await self._scheduler.acquire(self.lane, self.job, self.weight)

    def on_success(self) -> None:
        """A call went through (not a 429)."""
        self._scheduler.feedback(self.lane, throttled=False)

    def on_throttled(self) -> None:
        """A call met a 429."""
        self._scheduler.feedback(self.lane, throttled=True)


class AccountBudget:
    """Everything one account's callers share: token cache, login budget, rate, 429 pause.

    ``rate`` is the account's gateway rate in requests per second when known (0:
    unlimited); None finds it from the 429s every lane meets. ``burst``: slots that may
    go at once after a quiet spell (1 unless the gateway's bucket is known to be larger).
    ``floor``: the share of the rate each lower lane keeps while it has work. Any of the
    four parts may be given (e.g. Redis ones); the rest are made in this process.
    """

    __slots__ = ("_account", "_closers", "login_limiter", "pause", "scheduler", "token_cache")

    def __init__(
        self,
        *,
        rate: float | None = None,
        burst: float = 1.0,
        floor: float = DEFAULT_FLOOR,
        scheduler: LaneScheduler | None = None,
        token_cache: TokenCache | None = None,
        login_limiter: LoginLimiter | None = None,
        pause: RequestPause | None = None,
    ) -> None:
        try:
            self.scheduler: LaneScheduler = scheduler or LocalLaneScheduler(
                rate, burst=burst, floor=floor
            )  # the rate, by lane and job
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self.token_cache: TokenCache = token_cache or InMemoryTokenCache()  # one login
        self.login_limiter: LoginLimiter = login_limiter or SlidingWindowLimiter()  # 100/15 min
        self.pause: RequestPause = pause or LocalPause()  # a 429 holds every caller
        self._account: str | None = None  # "base_url|username" once a caller binds it
        self._closers: list[Callable[[], Awaitable[object]]] = []  # what aclose releases

    def __repr__(self) -> str:
        return f"AccountBudget(rate={self.rate}, scheduler={self.scheduler!r})"

    @classmethod
    async def connect(
        cls,
        url: str | None,
        *,
        base_url: str,
        username: str,
        rate: float | None = None,
        burst: float = 1.0,
        floor: float = DEFAULT_FLOOR,
        prefix: str | None = None,
    ) -> AccountBudget:
        """The budget of ``username`` on ``base_url``: in this process, or in Redis at ``url``.

        A Redis budget needs the ``scale`` extra; the server must answer before this
        returns (else :class:`ConfigurationError`, which never repeats the URL: it may
        hold a password).
        """
        base_url = _normal(base_url)
        if url is None:
            budget = cls(rate=rate, burst=burst, floor=floor)
            budget.bind(base_url, username)
            return budget
        try:
            from redis.asyncio import Redis
            from redis.asyncio.retry import Retry
            from redis.backoff import ExponentialBackoff

            from . import shared
        except ImportError:
            raise ConfigurationError(
                "a budget shared through Redis needs the scale extra: "
                "pip install 'schlage-async[scale]'"
            ) from None
        try:
            redis = Redis.from_url(
                url,
                socket_connect_timeout=2.0,
                socket_timeout=5.0,
                # Two quick tries, not redis-py's ten with backoff: a Redis gone away is
                # noticed in a fraction of a second and every process paces alone.
                retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), 2),
            )
        except ValueError:
            raise ConfigurationError(
                "the budget's Redis URL is not one redis-py reads (redis://, rediss:// or unix://)"
            ) from None
        try:
            await redis.ping()
        except Exception as exc:  # noqa: BLE001 - any failure: it does not answer as Redis
            with contextlib.suppress(Exception):
                await redis.aclose()
            raise ConfigurationError(
                f"the server does not answer as Redis ({type(exc).__name__})"
            ) from None
        keys = prefix or shared.DEFAULT_PREFIX
        account = shared.account_key(base_url, username)
        try:
            scheduler = shared.RedisLaneScheduler(
                redis, scope=account, rate=rate, burst=burst, floor=floor, prefix=keys
            )
        except ValueError as exc:
            await redis.aclose()
            raise ConfigurationError(str(exc)) from None
        budget = cls(
            scheduler=scheduler,
            token_cache=shared.RedisTokenCache(redis, prefix=keys),
            login_limiter=shared.RedisLoginBudget(redis, account=account, prefix=keys),
            pause=shared.RedisPause(redis, scope=account, prefix=keys),
        )
        budget.bind(base_url, username)
        budget._closers.append(redis.aclose)
        return budget

    @property
    def rate(self) -> float | None:
        """The account's rate now (req/s), told or found; None when unlimited."""
        return self.scheduler.rate

    @property
    def controller(self) -> AimdController | None:
        """What steers the rate from this process when none was told (else None)."""
        controller = getattr(self.scheduler, "controller", None)
        return controller if isinstance(controller, AimdController) else None

    @property
    def account(self) -> str | None:
        """``base_url|username`` of the account this budget is for, once bound."""
        return self._account

    def bind(self, base_url: str, username: str) -> None:
        """Tie the budget to one account; a caller of another account is refused."""
        account = f"{_normal(base_url)}|{username}"
        if self._account is None:
            self._account = account
        elif self._account != account:
            raise ConfigurationError(
                "this AccountBudget is another account's: one budget per service and user name"
            )

    def limiter(
        self,
        lane: Lane | str = Lane.INTERACTIVE,
        *,
        job: str = "",
        weight: float = 1.0,
        holds_for_pause: bool = False,
    ) -> LaneLimiter:
        """Slots for ``job`` in ``lane``, shared with the lane's other jobs by ``weight``.

        ``holds_for_pause``: each slot first waits for the account's 429 pause (for a
        caller that paces a ``lane=None`` client itself, as the bulk engine does).
        """
        if not (math.isfinite(weight) and weight > 0):
            raise ConfigurationError(f"weight must be a positive number, not {weight!r}")
        try:
            parsed = Lane.parse(lane)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        pause = self.pause if holds_for_pause else None
        return LaneLimiter(self.scheduler, parsed, job, float(weight), pause)

    async def shares(self, window: float = 60.0) -> LaneShares:
        """Slots per second by lane and by job over the last ``window`` s (<= 60), everyone's."""
        return await self.scheduler.shares(window)

    async def aclose(self) -> None:
        """Stop the scheduler and the parts' background work, then release what
        :meth:`connect` opened."""
        await self.scheduler.aclose()
        for part in (self.pause, self.token_cache, self.login_limiter):
            closer = getattr(part, "aclose", None)
            if closer is not None:
                with contextlib.suppress(Exception):
                    await closer()
        while self._closers:
            with contextlib.suppress(Exception):
                await self._closers.pop()()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _normal(base_url: str) -> str:
    """``base_url`` as a client holds it (so a budget and its clients name one account)."""
    return str(check_base_url(base_url, allow_insecure_http=True)).rstrip("/")
