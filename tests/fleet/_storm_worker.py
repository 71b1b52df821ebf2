"""One process of the token-storm test: CALLS concurrent calls through a shared Redis cache.

Run as ``python _storm_worker.py BASE_URL REDIS_URL PREFIX CALLS START_AT``; prints the
logins this process made. It waits until the wall-clock time START_AT so that every
process meets the expired token together.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time

from redis.asyncio import Redis

from schlage_async import NotFoundError, SchlageClient
from schlage_async.shared import RedisLoginBudget, RedisTokenCache, account_key

USERNAME = "admin@sim.example"


async def main(base_url: str, redis_url: str, prefix: str, calls: int, start_at: float) -> None:
    """Make ``calls`` concurrent lookups; print this process's login count."""
    redis = Redis.from_url(redis_url)
    client = SchlageClient(
        base_url=base_url,
        username=USERNAME,
        password="sim-admin-password",
        subscription_key="sim-subscription-key",
        allow_insecure_http=True,
        token_cache=RedisTokenCache(redis, prefix=prefix),
        login_limiter=RedisLoginBudget(
            redis, account=account_key(base_url, USERNAME), prefix=prefix
        ),
        connector_limit=calls,
    )

    async def one(i: int) -> None:
        with contextlib.suppress(NotFoundError):
            await client.get_credential_by_user(user_id=f"00000000-0000-4000-8000-{i:012d}")

    async with client:
        await asyncio.sleep(max(0.0, start_at - time.time()))
        await asyncio.gather(*(one(i) for i in range(calls)))
        print(client.stats.logins, flush=True)
    await redis.aclose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), float(sys.argv[5])))
