"""What counts as "Redis went away": the errors after which the shared objects fall back."""

from __future__ import annotations

from typing import Final

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

__all__ = ["REDIS_DOWN"]

REDIS_DOWN: Final = (RedisConnectionError, RedisTimeoutError, OSError)
"""Exceptions meaning the server cannot be reached now (not a bug in a command)."""
