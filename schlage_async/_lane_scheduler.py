"""One account's slots in one process, handed out by lane priority and by job weight.

:class:`LocalLaneScheduler` keeps the rules of :class:`~schlage_async.LaneScheduler`
with no server: a GCRA schedule (each slot ``1/rate`` after the previous one, ``burst``
at once at most) and, when callers wait, one dispatcher task that gives each slot as it
comes due to the waiter the rules choose. A caller that finds nobody waiting and a slot
free takes it at once, without a task switch (the front desk's call on a quiet account).

Which waiter gets a slot: the highest lane that waits, unless a lower lane's floor is due
(it had no slot for ``1 / (floor * rate)`` seconds while it waited); within a lane, the
job with the least virtual time (slots received divided by weight), a job that comes
back starting level with the jobs already waiting so it claims no backlog.

While the rate is being found (no rate told), a probe above the gateway's rate can empty
its bucket; so an interactive call goes no sooner than two slots after the last
lower-lane call, a slot left empty before it: the bucket has refilled by a call's worth
and the front desk does not meet the 429 a migration's probing earned.

Written by hand: aiolimiter and limits keep one rate for everyone; no asyncio library
schedules a rate between priorities and weights.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections import Counter, deque
from collections.abc import Awaitable, Callable
from typing import Final

from ._aimd import AimdController
from ._errors import ClientClosedError
from ._lanes import DEFAULT_FLOOR, INTERACTIVE_HOLD, Lane, LaneShares, held_for_interactive
from ._tasks import cancel_and_wait

__all__ = ["LocalLaneScheduler"]

SHARES_WINDOW: Final = 60.0
"""Seconds :meth:`LocalLaneScheduler.shares` looks back."""

_LANES: Final = tuple(sorted(Lane, key=lambda lane: lane.rank))


class _Job:
    """One job's place in its lane: who waits, and how much it has had per weight."""

    __slots__ = ("key", "vt", "waiters", "weight")

    def __init__(self, key: str, weight: float, vt: float) -> None:
        self.key = key  # "lane/job", as the shares name it
        self.weight = weight  # its share of the lane against the others' weights
        self.vt = vt  # slots received / weight, since it (re)joined
        self.waiters: deque[asyncio.Future[None]] = deque()  # callers, first come first


class LocalLaneScheduler:
    """The lanes and weights of one account's rate, in this process.

    ``rate`` None steers the rate with an :class:`~schlage_async.AimdController` from
    :meth:`feedback` (``controller`` to pass one); ``rate`` 0 is unlimited. ``floor`` is
    the share of the rate each lower lane keeps while it waits.
    """

    __slots__ = (
        "_burst",
        "_clock",
        "_closed",
        "_dispatcher",
        "_floor",
        "_floor_due",
        "_grants",
        "_interactive_at",
        "_jobs",
        "_lower_sent",
        "_rate",
        "_sleep",
        "_started",
        "_tat",
        "_waiting",
        "_wake",
        "controller",
    )

    def __init__(
        self,
        rate: float | None = None,
        *,
        burst: float = 1.0,
        floor: float = DEFAULT_FLOOR,
        controller: AimdController | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate is not None and (rate < 0 or not math.isfinite(rate)):
            raise ValueError("rate must be a positive number, 0 (unlimited) or None (adaptive)")
        if not 1 <= burst <= 1000:
            raise ValueError("burst must be between 1 and 1000")
        if not 0 <= floor <= 0.5:
            raise ValueError("floor must be between 0 and 0.5")
        self.controller = (
            (controller or AimdController(clock=clock)) if rate is None else None
        )  # the steering when no rate is told
        self._rate = rate  # the told rate (None: the controller's)
        self._burst = burst  # slots that may go at once after a quiet spell
        self._floor = floor  # each lower lane's guaranteed share while it waits
        self._clock = clock  # monotonic seconds
        self._sleep = sleep  # injected by tests
        self._tat = -math.inf  # when the next slot is due without burst (GCRA)
        self._jobs: dict[Lane, dict[str, _Job]] = {lane: {} for lane in Lane}
        self._floor_due: dict[Lane, float] = {}  # lane -> when its floor makes it next
        self._lower_sent = -math.inf  # when a sync or bulk call last had a slot
        self._interactive_at = -math.inf  # when an interactive call last had a slot
        self._waiting = 0  # callers queued, every lane
        self._wake = asyncio.Event()  # set: a caller queued while the dispatcher idled
        self._dispatcher: asyncio.Task[None] | None = None  # runs while callers wait
        self._grants: deque[tuple[float, str]] = deque()  # (when, "lane/job"), last minute
        self._started = clock()  # when the shares' window can begin
        self._closed = False

    def __repr__(self) -> str:
        return f"LocalLaneScheduler(rate={self.rate}, burst={self._burst}, floor={self._floor})"

    @property
    def rate(self) -> float | None:
        """The account's rate now: told, or the controller's; None when unlimited.

        A found rate does not probe while interactive calls come (see
        :func:`~schlage_async._lanes.held_for_interactive`).
        """
        controller = self.controller
        if controller is not None:
            if self._clock() - self._interactive_at < INTERACTIVE_HOLD:
                return held_for_interactive(controller.rate, controller.ceiling)
            return controller.rate
        return self._rate or None

    async def acquire(self, lane: Lane, job: str = "", weight: float = 1.0) -> None:
        """Wait for one slot for ``job`` in ``lane``."""
        if self._closed:
            raise ClientClosedError("the account budget is closed")
        if not weight > 0:
            raise ValueError("weight must be positive")
        rate = self.rate
        if rate is None:
            self._record(Lane(lane), job)
            return
        entry = self._job(Lane(lane), job, weight)
        now = self._clock()
        if self._waiting == 0 and self._queue_free() and self._due(Lane(lane), rate) <= now:
            self._grant(entry, Lane(lane), now, rate, waited=False)
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry.waiters.append(waiter)
        self._waiting += 1
        if self._dispatcher is None or self._dispatcher.done():
            self._dispatcher = asyncio.create_task(self._dispatch(), name="lane-dispatcher")
        self._wake.set()
        try:
            await waiter
        except asyncio.CancelledError:
            with contextlib.suppress(ValueError):  # not queued any more: the dispatcher had it
                entry.waiters.remove(waiter)
                self._waiting -= 1
            raise

    def feedback(self, lane: Lane, *, throttled: bool) -> None:
        """Steer an adaptive rate: a 429 of any lane cuts it, clean answers raise it."""
        del lane  # every lane meets the same gateway
        if self.controller is None:
            return
        if throttled:
            self.controller.on_throttled()
        else:
            self.controller.on_success()

    async def shares(self, window: float = SHARES_WINDOW) -> LaneShares:
        """Slots per second by lane and by job over the last ``window`` seconds (<= 60)."""
        now = self._clock()
        self._trim(now)
        window = max(min(window, SHARES_WINDOW, now - self._started), 1e-9)
        since = now - window
        by_job = Counter(key for at, key in self._grants if at >= since)
        by_lane: Counter[str] = Counter()
        for key, count in by_job.items():
            by_lane[key.partition("/")[0]] += count
        return LaneShares(
            window=round(window, 3),
            rate=self.rate,
            lanes={lane: n / window for lane, n in by_lane.items()},
            jobs={key: n / window for key, n in by_job.items()},
        )

    async def aclose(self) -> None:
        """Release every waiter with :class:`ClientClosedError` and stop the dispatcher."""
        self._closed = True
        for jobs in self._jobs.values():
            for entry in jobs.values():
                while entry.waiters:
                    waiter = entry.waiters.popleft()
                    if not waiter.done():
                        waiter.set_exception(ClientClosedError("the account budget is closed"))
        self._waiting = 0
        if self._dispatcher is not None:
            await cancel_and_wait(self._dispatcher, reraise=True)
            self._dispatcher = None

    # -- the schedule -------------------------------------------------------------------

    def _tolerance(self, rate: float) -> float:
        return (min(self._burst, max(rate, 1.0)) - 1.0) / rate

    def _due(self, lane: Lane, rate: float) -> float:
        """When ``lane``'s next call may go."""
        due = self._tat - self._tolerance(rate)
        if lane is Lane.INTERACTIVE and self.controller is not None:
            due = max(due, self._lower_sent + 2.0 / rate)  # a slot left empty before it
        return due

    def _job(self, lane: Lane, job: str, weight: float) -> _Job:
        jobs = self._jobs[lane]
        entry = jobs.get(job)
        if entry is None:
            entry = jobs[job] = _Job(f"{lane}/{job}", weight, 0.0)
        entry.weight = weight
        if not entry.waiters:
            # (Re)joining: level with the jobs that wait, so an idle spell is no credit.
            active = [other.vt for other in jobs.values() if other.waiters]
            if active:
                entry.vt = max(entry.vt, min(active))
        return entry

    def _grant(self, entry: _Job, lane: Lane, now: float, rate: float, *, waited: bool) -> None:
        self._tat = max(self._tat, now) + 1.0 / rate
        entry.vt += 1.0 / entry.weight
        if lane is Lane.INTERACTIVE:
            self._interactive_at = now
        else:
            self._lower_sent = now
            if self._floor > 0:
                self._floor_due[lane] = now + 1.0 / (self._floor * rate)
        self._sent(waited=waited)
        self._record(lane, entry.key.partition("/")[2])

    def _sent(self, *, waited: bool) -> None:
        """Tell the controller a call went (``waited``: it queued for its slot)."""
        if self.controller is not None:
            self.controller.on_sent(waited=waited)

    def _record(self, lane: Lane, job: str) -> None:
        now = self._clock()
        self._grants.append((now, f"{lane}/{job}"))
        if len(self._grants) % 1024 == 0:
            self._trim(now)

    def _trim(self, now: float) -> None:
        grants = self._grants
        while grants and grants[0][0] < now - SHARES_WINDOW:
            grants.popleft()

    def _queue_free(self) -> bool:
        """Whether a caller who finds nobody waiting may take a free slot without queuing."""
        return True

    async def _take_slot(self, lane: Lane, entry: _Job, rate: float) -> bool:
        """True when the next slot is ``entry``'s now; else wait and say False (choose again)."""
        del entry  # one schedule for every job here
        now = self._clock()
        due = self._due(lane, rate)
        if due > now:
            await self._sleep(due - now)
            return False
        return True

    def _choose(self, now: float) -> tuple[Lane, _Job] | None:
        """The lane and job the next slot goes to, or None when nobody waits."""
        waiting = [lane for lane in _LANES if any(j.waiters for j in self._jobs[lane].values())]
        if not waiting:
            return None
        lane = waiting[0]
        for lower in waiting[1:]:
            due = self._floor_due.get(lower)
            if self._floor > 0 and (due is None or due <= now):
                lane = lower
                break
        entry = min((j for j in self._jobs[lane].values() if j.waiters), key=lambda j: j.vt)
        return lane, entry

    async def _dispatch(self) -> None:
        """Give each slot as it comes due; a failure reaches every waiter, never hangs one."""
        try:
            await self._serve()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._fail_waiters(exc)
            raise

    def _fail_waiters(self, exc: BaseException) -> None:
        for jobs in self._jobs.values():
            for entry in jobs.values():
                while entry.waiters:
                    waiter = entry.waiters.popleft()
                    if not waiter.done():
                        waiter.set_exception(exc)
        self._waiting = 0

    async def _serve(self) -> None:
        """Give each slot, as it comes due, to the waiter the rules choose."""
        while not self._closed:
            if self._waiting == 0:
                self._wake.clear()
                await self._wake.wait()
                continue
            rate = self.rate
            now = self._clock()
            chosen = self._choose(now)
            if chosen is None:
                self._waiting = 0
                continue
            lane, entry = chosen
            if rate is not None and not await self._take_slot(lane, entry, rate):
                continue  # the rate or the waiters may have changed meanwhile
            if not entry.waiters:
                continue  # its caller was cancelled while the slot came due
            waiter = entry.waiters.popleft()
            self._waiting -= 1
            if waiter.done():
                continue  # cancelled while queued
            now = self._clock()
            if rate is None:
                self._record(lane, entry.key.partition("/")[2])
            else:
                self._grant(entry, lane, now, rate, waited=True)
            waiter.set_result(None)
