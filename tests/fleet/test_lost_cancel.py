"""A cancel lost in redis-py on Python 3.11, and the background tasks that survive it.

redis-py sends each command through ``asyncio.wait_for`` (its ``socket_timeout``), and
Python 3.11's ``wait_for`` drops a cancel that meets the send's last turn (CPython
gh-86296). A task's ``aclose`` that cancelled its loop once and awaited it hung: CI's
test run timed out 120 s in a teardown of ``test_redis_lanes.py``. Each test here
cancels exactly there, inside ``wait_for``, in real Redis.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Coroutine
from typing import Any

from redis.asyncio import Redis

from schlage_async import Lane, cancel_and_wait
from schlage_async.shared import RedisLaneScheduler, RedisRateLimiter


def _inside(task: asyncio.Task[Any], name: str) -> bool:
    """Whether ``task`` waits, somewhere down its chain of awaits, in a coroutine ``name``."""
    coro: Any = task.get_coro()
    while isinstance(coro, Coroutine):
        if coro.cr_code.co_name == name:
            return True
        coro = coro.cr_await
    return False


async def _ends_within(aw: Coroutine[Any, Any, object], seconds: float) -> bool:
    """Whether ``aw`` ends within ``seconds``: waited for, not cancelled at the end (a
    timeout that cancelled it would stop the very task it waits on and hide the hang)."""
    task = asyncio.ensure_future(aw)
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        await cancel_and_wait(task)
    return bool(done)


async def _until_inside(task: asyncio.Task[Any], name: str) -> None:
    for _ in range(200_000):
        if _inside(task, name):
            return
        await asyncio.sleep(0)
    raise AssertionError(f"the task never waited in {name}()")


async def test_a_cancel_inside_a_redis_send_is_lost_on_3_11_and_delivered_again(
    redis: Redis, key_prefix: str
) -> None:
    """The premise, then the mend: cancelled once inside the send, the loop goes on
    (Python 3.11); :func:`cancel_and_wait` ends it."""
    key = f"{key_prefix}k"

    async def keep_reading() -> None:
        while True:
            await redis.get(key)

    task = asyncio.create_task(keep_reading())
    try:
        await _until_inside(task, "wait_for")
        task.cancel()
        await asyncio.sleep(0.05)
        if sys.version_info < (3, 12):
            assert not task.done()  # the cancel was lost: it carries on reading
        assert await _ends_within(cancel_and_wait(task), 5.0)
    finally:
        task.cancel()


async def test_lanes_close_while_the_steering_task_sends(redis: Redis, key_prefix: str) -> None:
    """The hang CI met: ``aclose`` cancels the steering task inside a send and ends."""
    for _ in range(5):
        lanes = RedisLaneScheduler(redis, scope="acct", prefix=key_prefix)
        await lanes.acquire(Lane.BULK, "m")  # no rate told: a steering task starts
        steering = lanes._steerer
        assert steering is not None
        await _until_inside(steering, "wait_for")
        assert await _ends_within(lanes.aclose(), 5.0)
        assert steering.done()


async def test_a_caller_cancelled_inside_the_rate_limiters_send_stops(
    redis: Redis, key_prefix: str
) -> None:
    """A caller waiting for its slot in :class:`RedisRateLimiter` is cancelled inside the
    send: it stops there, rather than taking the slot and going on to send its call."""
    limiter = RedisRateLimiter(redis, 100_000.0, scope="acct", prefix=key_prefix)
    taken = 0

    async def keep_taking() -> None:
        nonlocal taken
        while True:
            await limiter.acquire()
            taken += 1

    task = asyncio.create_task(keep_taking())
    try:
        await _until_inside(task, "wait_for")
        before = taken
        task.cancel()
        assert await _ends_within(asyncio.wait({task}), 2.0)
        assert task.done()
        assert task.cancelled()
        assert taken == before  # the slot it was asking for was not taken
    finally:
        await cancel_and_wait(task)
