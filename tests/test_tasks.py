"""cancel_and_wait: a background task stopped for good, even when it loses a cancel.

The lost cancel itself, in redis-py over real Redis, is in
``tests/fleet/test_lost_cancel.py``; here a task loses it on purpose, as Python 3.11's
``asyncio.wait_for`` makes it do when the cancel meets the inner call's last turn.
"""

from __future__ import annotations

import asyncio

import pytest

from schlage_async import cancel_and_wait


async def _loses_first_cancels(lost: int, looks: list[int], until: asyncio.Event) -> None:
    """A loop that swallows its first ``lost`` cancels and goes on, as wait_for's race does."""
    while not until.is_set():
        try:
            await asyncio.sleep(0.01)
        except asyncio.CancelledError:
            if lost == 0:
                raise
            lost -= 1
        looks.append(1)


async def test_a_task_that_loses_the_cancel_is_cancelled_again_until_it_ends() -> None:
    looks: list[int] = []
    task = asyncio.create_task(_loses_first_cancels(2, looks, asyncio.Event()))
    await asyncio.sleep(0.03)
    task.cancel()
    await asyncio.sleep(0.1)
    assert not task.done()  # one cancel was not enough: it carries on
    assert await asyncio.wait_for(cancel_and_wait(task), 2.0) is True
    assert task.cancelled()


async def test_a_task_that_never_ends_is_left_after_within() -> None:
    until = asyncio.Event()
    task = asyncio.create_task(_loses_first_cancels(10**9, [], until))
    await asyncio.sleep(0.03)  # running: a task cancelled before its first step never runs
    assert await cancel_and_wait(task, within=0.2) is False
    assert not task.done()
    until.set()
    await task


class _Boom(Exception):
    pass


async def _raises_when_stopped() -> None:
    try:
        await asyncio.sleep(10)
    except asyncio.CancelledError:
        raise _Boom from None


async def test_what_the_task_raised_is_raised_only_when_asked() -> None:
    dropped = asyncio.create_task(_raises_when_stopped())
    await asyncio.sleep(0)
    assert await cancel_and_wait(dropped) is True
    raised = asyncio.create_task(_raises_when_stopped())
    await asyncio.sleep(0)
    with pytest.raises(_Boom):
        await cancel_and_wait(raised, reraise=True)


async def test_a_finished_task_is_left_as_it_is() -> None:
    task = asyncio.create_task(asyncio.sleep(0, result=7))
    await task
    assert await cancel_and_wait(task) is True
    assert task.result() == 7
