"""The Redis-backed token cache, login budget, rate and pause, against a real Redis."""

from __future__ import annotations

import asyncio
import itertools
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from schlage_async import (
    CachedToken,
    RateLimitedError,
    RetryPolicy,
    SchlageClient,
    SharedTokenCache,
)
from schlage_async.shared import (
    RedisLoginBudget,
    RedisPause,
    RedisRateLimiter,
    RedisTokenCache,
    account_key,
)

from .conftest import PrivateRedis

ACCOUNT = account_key("http://127.0.0.1:1/test/smc-api", "admin@sim.example")


async def _keys_and_values(redis: Redis, prefix: str) -> list[bytes]:
    out: list[bytes] = []
    async for key in redis.scan_iter(match=f"{prefix}*"):
        out.append(key)
        if await redis.type(key) == b"string":
            out.append(await redis.get(key) or b"")
    return out


async def test_token_cache_round_trip_keeps_no_account_name(redis: Redis, key_prefix: str) -> None:
    """A stored token comes back from another cache object; no key or value names the user."""
    first = RedisTokenCache(redis, prefix=key_prefix)
    other = Redis.from_url(_url(redis))
    second = RedisTokenCache(other, prefix=key_prefix)
    assert isinstance(first, SharedTokenCache)
    token = CachedToken("tok-123", time.time() + 600, time.time() + 300)
    await first.set(ACCOUNT, token)
    assert await second.get(ACCOUNT) == token
    stored = b" ".join(await _keys_and_values(redis, key_prefix))
    assert b"admin" not in stored
    assert b"sim.example" not in stored
    assert b"password" not in stored
    await second.invalidate_if_equal(ACCOUNT, "another-token")
    assert await first.get(ACCOUNT) == token  # a newer token is never dropped
    await second.invalidate_if_equal(ACCOUNT, "tok-123")
    assert await second.get(ACCOUNT) is None
    assert await RedisTokenCache(redis, prefix=key_prefix).get(ACCOUNT) is None
    await other.aclose()


async def test_renewal_lock_admits_one_holder_at_a_time(redis: Redis, key_prefix: str) -> None:
    """Two caches renewing the same account take turns: never both inside at once."""
    caches = [RedisTokenCache(redis, prefix=key_prefix) for _ in range(2)]
    inside = 0
    most = 0

    async def renew(cache: RedisTokenCache) -> None:
        nonlocal inside, most
        async with cache.renewal(ACCOUNT):
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.05)
            inside -= 1

    await asyncio.gather(*(renew(c) for c in caches for _ in range(3)))
    assert most == 1


async def test_login_budget_is_counted_across_clients(redis: Redis, key_prefix: str) -> None:
    """Two budgets of one account share the limit: the fourth login of three is refused."""
    budgets = [
        RedisLoginBudget(redis, account=ACCOUNT, limit=3, window=60, prefix=key_prefix)
        for _ in range(2)
    ]
    admitted = [await budgets[i % 2].try_acquire() for i in range(3)]
    assert admitted == [0.0, 0.0, 0.0]
    with pytest.raises(RateLimitedError) as caught:
        await budgets[1].acquire(max_wait=0.0, sleep=asyncio.sleep)
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60
    other = RedisLoginBudget(redis, account=ACCOUNT + "x", limit=3, window=60, prefix=key_prefix)
    assert await other.try_acquire() == 0.0  # another account has its own budget


async def test_rate_schedule_never_sends_early(redis: Redis, key_prefix: str) -> None:
    """Slots handed to two limiters are spaced 1/R apart on one schedule (burst aside)."""
    rate, burst = 50.0, 4.0
    limiters = [
        RedisRateLimiter(redis, rate, scope=ACCOUNT, burst=burst, prefix=key_prefix)
        for _ in range(2)
    ]
    sends: list[float] = []

    async def go(limiter: RedisRateLimiter) -> None:
        for _ in range(15):
            await limiter.acquire()
            sends.append(time.monotonic())

    started = time.monotonic()
    await asyncio.gather(*(go(lim) for lim in limiters))
    sends.sort()
    # The k-th send (0-based) of the fleet can never come before its slot on the schedule.
    for k, sent in enumerate(sends):
        assert sent - started >= (k - (burst - 1)) / rate - 0.005, (k, sent - started)


async def test_after_a_429_a_shared_rate_sends_no_burst(redis: Redis, key_prefix: str) -> None:
    """Before a 429, ``burst`` slots go at once after a quiet spell; after one, none do."""
    rate = 5.0
    limiter = RedisRateLimiter(redis, rate, scope=ACCOUNT, burst=4.0, prefix=key_prefix)

    async def gaps(calls: int) -> list[float]:
        sends = []
        for _ in range(calls):
            await limiter.acquire()
            sends.append(time.monotonic())
        return [b - a for a, b in itertools.pairwise(sends)]

    assert sum(gap < 0.5 / rate for gap in await gaps(4)) == 3  # the burst: 4 at once
    limiter.on_throttled()
    await asyncio.sleep(4 / rate)  # quiet long enough to save up a burst again
    assert min(await gaps(4)) >= 1 / rate - 0.005  # each slot an interval after the last
    assert limiter.rate == rate


async def test_pause_reaches_every_process_and_latest_wins(redis: Redis, key_prefix: str) -> None:
    """A pause announced by one holds another; a shorter one never cuts it short."""
    first = RedisPause(redis, scope=ACCOUNT, prefix=key_prefix)
    other = Redis.from_url(_url(redis))
    second = RedisPause(other, scope=ACCOUNT, prefix=key_prefix)
    second.start()
    await asyncio.sleep(0.2)  # subscribed
    assert await first.announce(3.0)
    assert not await first.announce(1.0)  # latest deadline wins: not shortened
    for _ in range(100):
        if second.remaining > 0:
            break
        await asyncio.sleep(0.02)
    assert 1.5 < second.remaining <= 3.0
    assert 1.5 < await second.fleet_remaining() <= 3.0
    late = RedisPause(redis, scope=ACCOUNT, prefix=key_prefix)
    late.start()  # joining during a pause: it reads the pause in force
    for _ in range(100):
        if late.remaining > 0:
            break
        await asyncio.sleep(0.02)
    assert late.remaining > 1.0
    for pause in (first, second, late):
        await pause.aclose()
    await other.aclose()


def _url(redis: Redis) -> str:
    kwargs: dict[str, Any] = redis.connection_pool.connection_kwargs
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/0"


async def test_everything_falls_back_when_redis_goes_away(private_redis: PrivateRedis) -> None:
    """With the server gone: the token kept here, a local login budget, local pacing."""
    redis = Redis.from_url(private_redis.url, socket_connect_timeout=0.5, socket_timeout=0.5)
    cache = RedisTokenCache(redis, wait_timeout=1.0)
    budget = RedisLoginBudget(redis, account=ACCOUNT, fallback_limit=2)
    limiter = RedisRateLimiter(redis, 100.0, scope=ACCOUNT)
    pause = RedisPause(redis, scope=ACCOUNT)
    token = CachedToken("tok-kept", time.time() + 600, time.time() + 300)
    await cache.set(ACCOUNT, token)
    private_redis.stop()
    assert await cache.get(ACCOUNT) == token
    async with cache.renewal(ACCOUNT):  # no lock to take: goes on unlocked
        pass
    assert [await budget.try_acquire() for _ in range(2)] == [0.0, 0.0]
    assert await budget.try_acquire() > 0  # the small local budget
    await limiter.acquire()
    assert pause.pause_for(0.5)
    assert not await pause.announce(0.5)
    assert pause.remaining > 0
    await pause.aclose()
    await redis.aclose()


def test_one_login_for_a_thousand_calls_from_four_processes_on_an_expired_token(
    simulator_process: Any, redis_url: str, key_prefix: str, tmp_path: Path
) -> None:
    """4 processes x 250 concurrent calls find the token expired: one login in all."""
    sim = simulator_process()
    base_url = sim.api_base_url

    async def seed_expired() -> None:
        redis = Redis.from_url(redis_url)
        cache = RedisTokenCache(redis, prefix=key_prefix)
        await cache.set(
            account_key(base_url, "admin@sim.example"),
            CachedToken("expired-token", time.time() - 1, time.time() - 2),
        )
        await redis.aclose()

    asyncio.run(seed_expired())
    before = sim.get("/_sim/state")["counters"]["logins"]["succeeded"]
    worker = Path(__file__).with_name("_storm_worker.py")
    start_at = time.time() + 4.0
    procs = [
        subprocess.Popen(  # noqa: S603  # our interpreter, our script
            [sys.executable, str(worker), base_url, redis_url, key_prefix, "250", str(start_at)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [proc.communicate(timeout=120) for proc in procs]
    for proc, (_out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, err[-2000:]
    per_process = [int(out.strip()) for out, _ in outputs]
    after = sim.get("/_sim/state")["counters"]["logins"]["succeeded"]
    assert sum(per_process) == 1, per_process
    assert after - before == 1


async def test_a_plain_client_paces_and_pauses_through_redis(
    simulator_process: Any, redis: Redis, key_prefix: str
) -> None:
    """A 429 seen by one client pauses another sharing the Redis pause; both use the rate."""
    sim = simulator_process("--rate-limit", "1")
    account = account_key(sim.api_base_url, "admin@sim.example")
    pauses = [RedisPause(redis, scope=account, prefix=key_prefix) for _ in range(2)]
    limiter = RedisRateLimiter(redis, 1000.0, scope=account, prefix=key_prefix)
    clients = [
        SchlageClient(
            base_url=sim.api_base_url,
            username="admin@sim.example",
            password="sim-admin-password",
            subscription_key="sim-subscription-key",
            allow_insecure_http=True,
            retry=RetryPolicy.none(),
            rate_limiter=limiter,
            pause=pause,
        )
        for pause in pauses
    ]
    for pause in pauses:
        pause.start()
    async with clients[0], clients[1]:
        outcomes = await asyncio.gather(
            *(clients[0].list_credentials() for _ in range(4)), return_exceptions=True
        )
        assert any(isinstance(o, RateLimitedError) for o in outcomes)
        for _ in range(100):
            if pauses[1].remaining > 0:
                break
            await asyncio.sleep(0.02)
        assert pauses[1].remaining > 0  # the other client holds its calls too
        await clients[1].list_credentials()  # waits the pause out, then goes through
    for pause in pauses:
        await pause.aclose()


async def test_closing_a_pause_never_waits_on_a_watcher_that_outlives_its_cancel(
    redis: Redis, key_prefix: str
) -> None:
    """A watcher that survives its cancel (a cancel turned TimeoutError) never holds close."""
    from bulk._fleet_pause import FleetPauseGate
    from schlage_async.shared import _pause

    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                continue  # what the old watcher did when a cancel surfaced as a timeout

    gate = FleetPauseGate(RedisPause(redis, scope="close-test", prefix=key_prefix))
    gate._watcher = asyncio.get_running_loop().create_task(stubborn())
    await asyncio.sleep(0)
    saved = _pause._SHUTDOWN_WAIT
    _pause._SHUTDOWN_WAIT = 0.2  # type: ignore[misc]  # shortened for the test
    try:
        await asyncio.wait_for(gate.aclose(), timeout=30)
    finally:
        _pause._SHUTDOWN_WAIT = saved  # type: ignore[misc]
        released.set()
