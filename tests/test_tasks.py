"""cancel_and_wait: a background task stopped for good, even when it loses a cancel;
raise_lost_cancel: a caller whose cancel was lost below it stops all the same.

The lost cancel itself, in redis-py over real Redis, is in
``tests/fleet/test_lost_cancel.py``; here a task loses it on purpose, as Python 3.11's
``asyncio.wait_for`` makes it do when the cancel meets the inner call's last turn.
"""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from schlage_async import cancel_and_wait
from schlage_async._tasks import raise_lost_cancel


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


async def _swallows_a_cancel() -> str:
    """Returns though cancelled, as Python 3.11's wait_for does when the inner call is done."""
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.sleep(10)
    return "answer"


async def test_a_lost_cancel_is_raised_where_the_call_returns() -> None:
    went_on: list[str] = []

    async def caller() -> None:
        went_on.append(await raise_lost_cancel(_swallows_a_cancel()))

    task = asyncio.create_task(caller())
    await asyncio.sleep(0.01)
    task.cancel()
    await asyncio.wait({task}, timeout=1.0)
    assert task.cancelled()
    assert went_on == []  # it did not go on with the answer


async def test_a_call_with_no_cancel_returns_its_answer() -> None:
    assert await raise_lost_cancel(asyncio.sleep(0, result="answer")) == "answer"


async def test_a_timeout_inside_the_call_is_not_taken_for_a_lost_cancel() -> None:
    """asyncio.timeout cancels the task itself and takes the cancel back: a TimeoutError
    caught inside the call leaves the caller running."""

    async def times_out() -> str:
        try:
            async with asyncio.timeout(0.01):
                await asyncio.sleep(10)
        except TimeoutError:
            return "timed out"
        return "never"

    assert await raise_lost_cancel(times_out()) == "timed out"
