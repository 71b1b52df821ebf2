"""The sync commands' own calls (delete, clear payloads, resend, delete by device).

They take the engine's call path (:class:`bulk._calls.CallPath`: the pause gate, the
limiter, the 429 policy and the stop switch, exactly as ``migrate``'s calls do); this
module adds what a sync run needs around it: a pool of ``concurrency`` workers over a
stream of jobs (read in order, a bounded queue between, so memory stays flat however
long the plan) and the backoff between tries of one step.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar

from .._calls import CallPath, Stopped
from .._limiter import RateLimiter
from .._options import MigrationOptions
from .._pause import PauseGate
from .._telemetry import EngineTelemetry

__all__ = ["Stopped", "SyncCallPath"]

_J = TypeVar("_J")


class SyncCallPath(CallPath):
    """The engine's call path with its own gate, plus a worker pool and step backoff."""

    def __init__(
        self,
        options: MigrationOptions,
        limiter: RateLimiter,
        *,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        clock: Callable[[], float] = time.time,
        telemetry: EngineTelemetry | None = None,
    ) -> None:
        super().__init__(
            gate=PauseGate(sleep=sleep),
            limiter=limiter,
            options=options,
            sleep=sleep,
            clock=clock,
            telemetry=telemetry,
        )
        self.rng = random.Random(options.seed)  # backoff jitter (seeded in tests)

    async def backoff(self, tries: int) -> None:
        """Wait before another try of a step (full jitter), or less when stopping."""
        ceiling = min(
            self.options.retry_max_delay, self.options.retry_base_delay * 2.0 ** (tries - 1)
        )
        await self.nap(self.rng.uniform(0.0, ceiling))

    async def run_pool(
        self, jobs: AsyncIterator[_J], work: Callable[[_J], Awaitable[None]]
    ) -> None:
        """Run ``work`` on every job with ``concurrency`` workers; stop early when stopped."""
        queue: asyncio.Queue[_J | None] = asyncio.Queue(maxsize=self.options.concurrency * 4)
        workers = self.options.concurrency

        async def feed() -> None:
            try:
                async for job in jobs:
                    if self.stopped.is_set():
                        break
                    await queue.put(job)
            finally:
                for _ in range(workers):
                    await queue.put(None)

        async def worker() -> None:
            while (job := await queue.get()) is not None:
                if self.stopped.is_set():
                    continue
                with contextlib.suppress(Stopped):
                    await work(job)

        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(feed())
                for _ in range(workers):
                    group.create_task(worker())
        except BaseExceptionGroup as failure:
            raise failure.exceptions[0] from None

    async def aclose(self) -> None:
        """Release the gate's waker."""
        await self.gate.aclose()
