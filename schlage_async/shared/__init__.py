"""What the processes of a fleet share through Redis (``pip install 'schlage-async[scale]'``).

Each class fits a seam the client already has, so a multi-process service shares one
token, one login budget, one request rate and one 429 pause::

    redis = Redis.from_url("redis://localhost:6379/0")
    account = account_key(base_url, username)
    client = SchlageClient(
        base_url=base_url, ...,
        token_cache=RedisTokenCache(redis),
        login_limiter=RedisLoginBudget(redis, account=account),
        rate_limiter=RedisRateLimiter(redis, 50, scope=account),
        pause=RedisPause(redis, scope=account),
    )

Redis sees account identities only hashed and holds no secret but the bearer token.
When Redis goes away each piece falls back to this process alone (see each class).
"""

from __future__ import annotations

from ._keys import DEFAULT_PREFIX, account_key
from ._lanes import RedisLaneScheduler
from ._login_budget import RedisLoginBudget
from ._pause import RedisPause
from ._rate import RedisRateLimiter
from ._token_cache import RedisTokenCache

__all__ = [
    "DEFAULT_PREFIX",
    "RedisLaneScheduler",
    "RedisLoginBudget",
    "RedisPause",
    "RedisRateLimiter",
    "RedisTokenCache",
    "account_key",
]
