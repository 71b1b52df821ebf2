"""The 429 pause shared by every process: one Retry-After holds the whole fleet, once.

A pause is one Redis key whose time to live *is* the pause: a Lua script sets it only
when the new deadline is later than what is left of the current one (latest deadline
wins, never shortened) and then publishes the new length on a channel. Every process
listens on that channel (and reads the key when it starts listening, or after a
reconnect), so a 429 seen by one pauses all of them within a round trip. Durations, not
wall-clock deadlines, cross the wire: hosts' clocks never matter.

:class:`RedisPause` is what a plain client uses (``SchlageClient(pause=...)``);
:meth:`RedisPause.watch` lets another gate (the bulk engine's) follow the fleet's pauses.
While Redis is away the pause still holds this process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Final

from redis.asyncio import Redis

from .._tasks import cancel_and_wait
from ._fallback import REDIS_DOWN
from ._keys import DEFAULT_PREFIX, hashed

__all__ = ["RedisPause", "settle", "stop_watcher"]

_log = logging.getLogger("schlage_async.shared")

_SHUTDOWN_WAIT: Final = 5.0
"""How long closing waits for a watcher or an announcement; past it they are left behind
(a pause is advisory: a stuck Redis read must never hold a finished run open)."""


def _cancelling() -> bool:
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop_watcher(watcher: asyncio.Task[None] | None) -> None:
    """Cancel ``watcher`` and wait for it, at most a few seconds, whatever it raises."""
    if watcher is None or watcher.done():
        return
    await cancel_and_wait(watcher, within=_SHUTDOWN_WAIT)


async def settle(tasks: set[asyncio.Task[bool]]) -> None:
    """Let announcements under way finish, at most a few seconds."""
    if tasks:
        await asyncio.wait(set(tasks), timeout=_SHUTDOWN_WAIT)


# KEYS[1]: the pause key, KEYS[2]: the channel. ARGV[1]: the pause in ms.
_ANNOUNCE: Final = """
local left = redis.call('PTTL', KEYS[1])
local wanted = tonumber(ARGV[1])
if left >= wanted then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', wanted)
redis.call('PUBLISH', KEYS[2], ARGV[1])
return 1
"""


class RedisPause:
    """A pause every process sharing ``scope`` honours; the latest deadline wins."""

    __slots__ = (
        "_announce",
        "_announcing",
        "_channel",
        "_clock",
        "_key",
        "_redis",
        "_until",
        "_watcher",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        scope: str = "default",
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._redis = redis  # the shared server
        self._key = f"{prefix}pause:{hashed(scope)}"  # lives exactly as long as the pause
        self._channel = f"{prefix}pause-events:{hashed(scope)}"  # new pauses, in ms
        self._clock = clock  # this process's monotonic clock
        self._until = 0.0  # local deadline (monotonic) of the pause this process knows of
        self._watcher: asyncio.Task[None] | None = None  # follows the fleet's pauses
        self._announcing: set[asyncio.Task[bool]] = set()  # announcements under way
        self._announce = redis.register_script(_ANNOUNCE)

    def __repr__(self) -> str:
        return f"RedisPause(remaining={self.remaining:.1f}s)"

    @property
    def remaining(self) -> float:
        """Seconds this process still holds its calls (0 when not paused)."""
        return max(0.0, self._until - self._clock())

    def hold(self, seconds: float) -> bool:
        """Extend this process's pause to ``seconds`` from now; True when it grew."""
        deadline = self._clock() + max(seconds, 0.0)
        if deadline <= self._until:
            return False
        self._until = deadline
        return True

    async def announce(self, seconds: float) -> bool:
        """Pause the whole fleet for ``seconds``; True when this lengthened the pause."""
        try:
            raised = await self._announce(
                keys=[self._key, self._channel], args=[max(1, int(seconds * 1000))]
            )
        except REDIS_DOWN as exc:
            _log.warning("pause: Redis unreachable (%s); pausing this process only", exc)
            return False
        return bool(raised)

    async def fleet_remaining(self) -> float:
        """Seconds left of the fleet's current pause, as Redis holds it."""
        left = await self._redis.pttl(self._key)
        return max(0.0, int(left) / 1000.0)

    def pause_for(self, seconds: float) -> bool:
        """Hold every call of this process and the fleet for ``seconds`` (a 429's wait).

        Returns True when this process's pause began or grew; the fleet hears of it in
        the background.
        """
        grew = self.hold(seconds)
        task = asyncio.get_running_loop().create_task(self.announce(seconds))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)
        return grew

    async def wait(self) -> None:
        """Return once neither this process nor the fleet is paused."""
        self.start()
        while (left := self.remaining) > 0:  # noqa: ASYNC110  # the deadline moves; no event
            await asyncio.sleep(left)

    def start(self) -> None:
        """Begin following the fleet's pauses (idempotent; :meth:`wait` calls it)."""
        if self._watcher is None or self._watcher.done():
            self._watcher = asyncio.get_running_loop().create_task(self.watch(self.hold))

    async def watch(self, on_pause: Callable[[float], object]) -> None:
        """Call ``on_pause(seconds)`` for every fleet pause, until cancelled.

        Reconnects after Redis goes away (with a capped backoff) and reads the pause
        in force on every (re)connection, so a pause announced meanwhile is not missed.
        """
        backoff = 0.1
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self._channel)
                left = await self.fleet_remaining()
                if left > 0:
                    on_pause(left)
                backoff = 0.1
                while True:
                    message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
                    if message is not None and message.get("type") == "message":
                        on_pause(int(message["data"]) / 1000.0)
            except REDIS_DOWN as exc:
                if _cancelling():
                    # A cancel that met redis-py's own read timeout can surface as a
                    # TimeoutError: the watcher is being stopped, not losing Redis.
                    raise asyncio.CancelledError from exc
                _log.warning("pause: lost Redis (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call, unused-ignore]  # unannotated before redis-py 8.2

    async def aclose(self) -> None:
        """Stop following the fleet's pauses and let announcements under way finish."""
        await stop_watcher(self._watcher)
        self._watcher = None
        await settle(self._announcing)
