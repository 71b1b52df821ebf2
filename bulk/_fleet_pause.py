"""The engine's pause gate, joined to the fleet's: a 429 seen by one worker pauses all.

:class:`FleetPauseGate` is the engine's :class:`PauseGate` (one pause per episode, the
patience accounting, the progress line) plus a :class:`~schlage_async.shared.RedisPause`:
a pause this worker begins is announced to every worker, and a pause any worker
announces holds this one. The latest deadline wins everywhere, and each worker counts
one pause for it. Without Redis it still pauses this worker.
"""

from __future__ import annotations

import asyncio
from typing import Final

from schlage_async import cancel_and_wait
from schlage_async.shared import RedisPause

from ._pause import PauseGate

__all__ = ["FleetPauseGate"]

_SHUTDOWN_WAIT: Final = 5.0
"""How long closing waits for the watcher or an announcement; past it they are left behind
(a pause is advisory: a stuck Redis read must never hold a finished run open)."""


class FleetPauseGate(PauseGate):
    """A :class:`PauseGate` that shares its pauses through Redis."""

    __slots__ = ("_announcing", "_shared", "_watcher")

    def __init__(self, shared: RedisPause) -> None:
        super().__init__()
        self._shared = shared  # the fleet's pause in Redis
        self._watcher: asyncio.Task[None] | None = None  # applies the fleet's pauses here
        self._announcing: set[asyncio.Task[bool]] = set()

    def start(self) -> None:
        """Begin following the fleet's pauses (call inside the running loop)."""
        if self._watcher is None:
            self._watcher = asyncio.get_running_loop().create_task(self._shared.watch(self._follow))

    def _follow(self, seconds: float) -> None:
        self._pause(seconds, "fleet")

    def pause_for(self, seconds: float) -> bool:
        """Pause this worker and announce the pause to the fleet."""
        began = super().pause_for(seconds)
        task = asyncio.get_running_loop().create_task(self._shared.announce(seconds))
        self._announcing.add(task)
        task.add_done_callback(self._announcing.discard)
        return began

    async def aclose(self) -> None:
        """Stop following the fleet, then close the gate."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await cancel_and_wait(watcher, within=_SHUTDOWN_WAIT)
        if self._announcing:
            await asyncio.wait(set(self._announcing), timeout=_SHUTDOWN_WAIT)
        await super().aclose()
