"""Stopping a background task for good, even where a cancel can be lost.

On Python 3.11, :func:`asyncio.wait_for` returns the inner call's result when a cancel
arrives in the loop turn that call finishes in, and the cancel is gone (CPython
gh-86296, mended in 3.12 by building ``wait_for`` on :func:`asyncio.timeout`).
redis-py sends every command through ``wait_for`` (its ``socket_timeout``, 5 s by
default) and psycopg_pool waits for a connection through it: a loop such as the lanes'
steering task, cancelled once while it sends, carries on, and whoever awaits it waits
for ever (a test teardown in CI hung 120 s on it; ``tests/fleet/test_lost_cancel.py``
meets it in real Redis). :func:`cancel_and_wait` delivers the cancel again until the
task has ended, as anyio does for a cancel scope; every ``task.cancel()`` we await goes
through it. Where a Redis call runs in the caller's own task, :func:`raise_lost_cancel`
raises the cancel it lost (the caller asked to stop: it must not go on to send).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable
from typing import Any, Final, TypeVar

__all__ = ["cancel_and_wait", "raise_lost_cancel"]

T = TypeVar("T")

AGAIN: Final = 0.05
"""Seconds between deliveries of the cancel while the task runs on."""


async def cancel_and_wait(
    task: asyncio.Task[Any], *, within: float = math.inf, reraise: bool = False
) -> bool:
    """Cancel ``task`` and wait for it to end, cancelling again while it runs.

    Returns whether it ended; after ``within`` seconds it is left to end on its own (the
    cancel stays requested). What the task raised other than the cancel is raised here
    with ``reraise``, else dropped (the task's own code logs what it must).
    """
    deadline = asyncio.get_running_loop().time() + within
    while not task.done():
        task.cancel()
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return False
        await asyncio.wait({task}, timeout=min(AGAIN, left))
    if not task.cancelled():
        error = task.exception()  # retrieved: no "exception was never retrieved" at exit
        if error is not None and reraise:
            raise error
    return True


async def raise_lost_cancel(call: Awaitable[T]) -> T:
    """Await ``call``; if the task was cancelled meanwhile and ``call`` returned all the
    same, the cancel was lost below it: raise it here.

    The task's count of cancel requests (:meth:`asyncio.Task.cancelling`) grew and nothing
    took it back (:func:`asyncio.timeout` does, on its own cancels), yet ``call``
    returned: only a swallowed cancel does that, and none is left pending to deliver.
    """
    task = asyncio.current_task()
    before = task.cancelling() if task is not None else 0
    result = await call
    if task is not None and task.cancelling() > before:
        raise asyncio.CancelledError
    return result
