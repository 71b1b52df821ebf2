"""The pause gate: one 429 pauses every worker once, until the latest deadline."""

from __future__ import annotations

import asyncio

from bulk._pause import PauseGate


class _Clock:
    """A clock the test moves by hand; sleeping parks until the test moves it far enough."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []
        self._moved = asyncio.Event()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        deadline = self.now + seconds
        while self.now < deadline:
            self._moved.clear()
            await self._moved.wait()

    async def advance(self, seconds: float) -> None:
        self.now += seconds
        self._moved.set()
        for _ in range(5):
            await asyncio.sleep(0)


async def test_an_open_gate_lets_calls_through_at_once() -> None:
    """No pause, no waiting."""
    gate = PauseGate()
    await asyncio.wait_for(gate.wait(), 1)
    assert not gate.paused
    assert gate.paused_until is None


async def test_many_429s_make_one_pause_that_ends_at_the_latest_deadline() -> None:
    """Every worker waits; the deadline is extended by max, never shortened."""
    clock = _Clock()
    gate = PauseGate(clock=clock, sleep=clock.sleep)
    assert gate.pause_for(2.0) is True
    assert gate.pause_for(1.0) is False  # shorter: ignored
    assert gate.pause_for(3.0) is False  # longer: extends the same pause
    waiters = [asyncio.create_task(gate.wait()) for _ in range(10)]
    await clock.advance(2.5)
    assert not any(w.done() for w in waiters)
    assert gate.remaining == 0.5
    await clock.advance(0.5)
    await asyncio.wait_for(asyncio.gather(*waiters), 1)
    assert gate.pauses == 1
    assert gate.paused_seconds == 3.0
    await gate.aclose()


async def test_a_new_429_after_the_gate_opened_is_a_second_pause() -> None:
    """Pauses are counted per episode, and their time adds up for patience."""
    clock = _Clock()
    gate = PauseGate(clock=clock, sleep=clock.sleep)
    gate.pause_for(1.0)
    assert gate.committed_seconds == 1.0
    await clock.advance(1.0)
    await gate.wait()
    gate.pause_for(4.0)
    assert gate.pauses == 2
    assert gate.committed_seconds == 5.0
    assert gate.paused_until is not None
    await gate.aclose()


async def test_closing_the_gate_releases_waiting_workers_at_once() -> None:
    """A stop (signal, block) does not wait out a long Retry-After."""
    clock = _Clock()
    gate = PauseGate(clock=clock, sleep=clock.sleep)
    gate.pause_for(3600.0)
    waiter = asyncio.create_task(gate.wait())
    await asyncio.sleep(0)
    gate.close()
    await asyncio.wait_for(waiter, 1)
    assert gate.pause_for(10.0) is False  # a closed gate stays open
    await gate.aclose()
