"""One account's lanes across processes and hosts: each slot decided in Redis.

:class:`RedisLaneScheduler` keeps the rules of :class:`~schlage_async.LaneScheduler` for
every process that shares ``scope`` (the account). Each process queues its own callers
as :class:`~schlage_async.LocalLaneScheduler` does (lane first, then the job with the
least virtual time) and one dispatcher task asks Redis for a slot for the caller it
chose. One Lua script, on Redis's clock, decides:

* the account's schedule (GCRA: ``tat``, the next slot's time), shared by everyone;
* ``interactive`` reserves the next slot at once, however far ahead;
* ``sync`` and ``bulk`` take a slot only when it is due within one interval (so they
  never queue ahead of a front desk in another process), and only while no higher lane
  has callers queued in any process, unless their floor is due (no slot for
  ``1 / (floor x rate)`` seconds). A process says its lane has callers queued when it
  asks with more of them behind the one it asks for, or is refused; it unsays it when it
  asks for its last one, so a lone front-desk call, or a higher lane whose queue just
  emptied, blocks nobody (the slot goes to the lower lane);
* between the jobs of a lane, weighted virtual time kept in Redis: a job may take a slot
  only while its time is within one slot of the least time of the lane's jobs that asked
  lately; a job (re)joining, or back after a silence, starts no lower than that least
  time (an idle spell is no credit); a job not heard of for ``lease``
  seconds is forgotten (a killed worker's share comes back within a lease);
* while the rate is found (none told), an empty slot before each interactive call.

A refused job asks again half an interval later, so a slot another job could use is
rarely left empty. The script also counts the slots per second by ``lane/job`` (for
:meth:`shares`) and, when no rate was told, the slots and how they went, from which one
process at a time (a lease in Redis) steers the rate with an
:class:`~schlage_async.AimdController` and stores it for all.

Redis away: this process paces alone at ``fallback_rate``, else the last rate it knew (a
warning, once), and goes back to Redis when it answers. Coming back never sends a burst:
its first ask takes the gateway's bucket as spent (this process kept sending meanwhile),
and the schedule never owes one (a late ``tat`` starts at now).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Final

from redis.asyncio import Redis

from .._aimd import AimdController
from .._lane_scheduler import LocalLaneScheduler, _Job
from .._lanes import (
    DEFAULT_FLOOR,
    INTERACTIVE_HOLD,
    Lane,
    LaneShares,
    held_for_interactive,
)
from .._tasks import cancel_and_wait
from ._fallback import REDIS_DOWN
from ._keys import DEFAULT_PREFIX, hashed

__all__ = ["RedisLaneScheduler"]

_log = logging.getLogger("schlage_async.shared")

_STEER_EVERY: Final = 0.1  # seconds between the steering process's looks at the outcomes
_LEADER_TTL_MS: Final = 2000  # the steering lease; renewed every look
_LOOK_AGAIN: Final = 1.0  # seconds between pings of Redis while it is away
_ADAPTIVE_START: Final = 10.0  # req/s before anything was found (as AimdController starts)

# KEYS: 1 state hash, 2 job virtual times (hash), 3 jobs last asked (hash), 4 slot counts
# prefix (one hash per second), 5 outcome counts (hash), 6 lanes with callers queued (hash:
# "rank:process" -> when that process last said so).
# ARGV: 1 lane rank, 2 job ("lane/job"), 3 weight, 4 told rate ("" when found),
# 5 burst, 6 floor, 7 lease µs, 8 the found rate's start, 9 this process, 10 "1" when more
# of this lane's callers queue behind this one here, 11 "1" when this process paced alone
# until now (the gateway's bucket is taken as spent: no burst on coming back).
# Returns {granted (1/0), µs to wait (until the slot, or before asking again), rate * 1000}.
_GRANT: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local rank = tonumber(ARGV[1])
local job = ARGV[2]
local weight = tonumber(ARGV[3])
local told = ARGV[4]
local rate = tonumber(told)
local adaptive = (rate == nil)
if adaptive then
  rate = tonumber(redis.call('HGET', KEYS[1], 'rate') or ARGV[8])
end
local burst = tonumber(ARGV[5])
local floor = tonumber(ARGV[6])
local lease = tonumber(ARGV[7])
local interval = 1000000 / rate
local tolerance = (math.min(burst, math.max(rate, 1)) - 1) * interval
local demand = math.max(4 * interval, 50000)
local tat = tonumber(redis.call('HGET', KEYS[1], 'tat') or '0')
if tat < now then tat = now end
if ARGV[11] == '1' and tat < now + tolerance then tat = now + tolerance end
local due = tat - tolerance
if due < now then due = now end
local lane = string.sub(job, 1, (string.find(job, '/', 1, true) or (#job + 1)) - 1)
local queued = rank .. ':' .. ARGV[9]
local last_seen = tonumber(redis.call('HGET', KEYS[3], job) or '0')
redis.call('HSET', KEYS[3], job, now)
if ARGV[10] == '1' then
  redis.call('HSET', KEYS[6], queued, now)
else
  redis.call('HDEL', KEYS[6], queued)
end
redis.call('PEXPIRE', KEYS[6], math.floor(lease / 1000) + 60000)
if rank > 0 then
  -- this lane's jobs: forget the silent ones, find the least time of those that ask
  -- lately, and level a job (re)joining or back after a silence with it (no credit)
  local times = redis.call('HGETALL', KEYS[2])
  local least = nil
  local mine = nil
  for i = 1, #times, 2 do
    local other = times[i]
    local vt = tonumber(times[i + 1])
    local seen = tonumber(redis.call('HGET', KEYS[3], other) or '0')
    if now - seen > lease then
      redis.call('HDEL', KEYS[2], other)
      redis.call('HDEL', KEYS[3], other)
    elseif other == job then
      mine = vt
    elseif string.sub(other, 1, #lane + 1) == lane .. '/' and now - seen < demand then
      if least == nil or vt < least then least = vt end
    end
  end
  if mine == nil or now - last_seen >= demand then
    local level = math.max(mine or 0, least or 0)
    if level ~= mine then
      mine = level
      redis.call('HSET', KEYS[2], job, mine)
    end
  end
  if due - now > interval then
    redis.call('HSET', KEYS[6], queued, now)
    return {0, math.floor(due - now - interval), math.floor(rate * 1000)}
  end
  -- a higher lane with callers queued (in any process) goes first, unless the floor is due
  local floor_due = tonumber(redis.call('HGET', KEYS[1], 'floor' .. rank) or '0')
  if floor <= 0 or floor_due > now then
    local lanes = redis.call('HGETALL', KEYS[6])
    for i = 1, #lanes, 2 do
      local higher = tonumber(string.sub(lanes[i], 1, string.find(lanes[i], ':', 1, true) - 1))
      local since = now - tonumber(lanes[i + 1])
      if since > lease then
        redis.call('HDEL', KEYS[6], lanes[i])
      elseif higher < rank and since < demand then
        redis.call('HSET', KEYS[6], queued, now)
        return {0, math.floor(interval / 2), math.floor(rate * 1000)}
      end
    end
  end
  -- weighted fair share: only a job within one slot of the least time goes
  if least ~= nil and mine > least + 1 then
    return {0, math.floor(interval / 2), math.floor(rate * 1000)}
  end
  redis.call('HSET', KEYS[2], job, mine + 1 / weight)
  redis.call('HSET', KEYS[1], 'floor' .. rank, due + 1000000 / (floor * rate + 1e-9))
  redis.call('HSET', KEYS[1], 'lower', due)
elseif adaptive then
  redis.call('HSET', KEYS[1], 'asked0', now)
  local lower = tonumber(redis.call('HGET', KEYS[1], 'lower') or '0')
  if due < lower + 2 * interval then due = lower + 2 * interval end
end
local slot = math.max(due, tat - tolerance)
local new = math.max(tat, slot) + interval
redis.call('HSET', KEYS[1], 'tat', string.format('%.0f', new))
redis.call('PEXPIRE', KEYS[1], math.floor(lease / 1000) + 60000)
redis.call('PEXPIRE', KEYS[2], math.floor(lease / 1000) + 60000)
redis.call('PEXPIRE', KEYS[3], math.floor(lease / 1000) + 60000)
local second = KEYS[4] .. math.floor(slot / 1000000)
redis.call('HINCRBY', second, job, 1)
redis.call('EXPIRE', second, 70)
if adaptive then
  redis.call('HINCRBY', KEYS[5], 'sent', 1)
  if slot > now then redis.call('HINCRBY', KEYS[5], 'waited', 1) end
end
return {1, math.floor(slot - now), math.floor(rate * 1000)}
"""

# KEYS: 1 outcome counts. Returns the counts and clears them (the steering process's look).
_TAKE_OUTCOMES: Final = """
local counts = redis.call('HGETALL', KEYS[1])
redis.call('DEL', KEYS[1])
return counts
"""

# KEYS: 1 leader key. ARGV: 1 this process's token, 2 ttl ms. 1 when this process steers.
_LEAD: Final = """
local holder = redis.call('GET', KEYS[1])
if holder == false then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
if holder == ARGV[1] then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
return 0
"""


class RedisLaneScheduler(LocalLaneScheduler):
    """The lanes and weights of one account's rate, for every process sharing ``scope``.

    ``rate`` None finds the rate (one process steers it at a time); ``burst`` is the
    gateway bucket the schedule may spend after a quiet spell; ``floor`` each lower
    lane's share while it waits; ``lease`` how long a silent job keeps its place;
    ``fallback_rate`` this process's pace while Redis is away (default: the last rate
    it knew; with N processes, ``rate / N`` keeps the fleet under the gateway's rate).
    """

    __slots__ = (
        "_away",
        "_fallback_rate",
        "_keys",
        "_lead",
        "_leading",
        "_lease_us",
        "_outcomes",
        "_prober",
        "_redis",
        "_reserve",
        "_shared_rate",
        "_steer",
        "_steerer",
        "_take_outcomes",
        "_token",
        "_told",
        "_unreachable",
    )

    def __init__(
        self,
        redis: Redis,
        *,
        scope: str,
        rate: float | None = None,
        burst: float = 1.0,
        floor: float = DEFAULT_FLOOR,
        prefix: str = DEFAULT_PREFIX,
        lease: float = 10.0,
        fallback_rate: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    ) -> None:
        if rate is not None and not (math.isfinite(rate) and rate > 0):
            raise ValueError("rate must be a positive number or None (found from the 429s)")
        if not lease > 0:
            raise ValueError("lease must be positive")
        if fallback_rate is not None and not (math.isfinite(fallback_rate) and fallback_rate > 0):
            raise ValueError("fallback_rate must be a positive number or None (the last rate)")
        # The base class paces alone at the last rate known while Redis is away.
        super().__init__(
            rate or _ADAPTIVE_START, burst=burst, floor=floor, clock=clock, sleep=sleep
        )
        self._redis = redis  # the shared server
        self._told = rate  # None: found, steered by one process at a time
        self._shared_rate = rate or _ADAPTIVE_START  # the rate Redis last said
        self._lease_us = lease * 1_000_000.0  # a silent job's place lapses after this
        account = hashed(scope)
        self._keys = [
            f"{prefix}lanes:{account}",
            f"{prefix}lanes-vt:{account}",
            f"{prefix}lanes-seen:{account}",
            f"{prefix}lanes-n:{account}:",
            f"{prefix}lanes-outcomes:{account}",
            f"{prefix}lanes-queued:{account}",
        ]  # the script's KEYS
        self._reserve = redis.register_script(_GRANT)
        self._take_outcomes = redis.register_script(_TAKE_OUTCOMES)
        self._lead = redis.register_script(_LEAD)
        self._token = uuid.uuid4().hex  # this process, as the steering lease names it
        self._outcomes = [0, 0]  # (successes, 429s) not yet told to Redis
        self._steer: AimdController | None = None  # while this process steers
        self._steerer: asyncio.Task[None] | None = None  # reports outcomes, maybe steers
        self._leading = False  # holds the steering lease now
        self._unreachable = False  # Redis failed; until it answers a grant (warned once)
        self._away = False  # pacing alone until the prober hears Redis again
        self._prober: asyncio.Task[None] | None = None  # pings Redis while it is away
        self._fallback_rate = fallback_rate  # this process's pace while Redis is away

    def __repr__(self) -> str:
        return f"RedisLaneScheduler(rate={self.rate}, told={self._told is not None})"

    @property
    def rate(self) -> float | None:
        """The account's rate now: told, or as the steering process last stored it."""
        return self._told if self._told is not None else self._shared_rate

    @property
    def controller(self) -> AimdController | None:
        """The controller steering the found rate, while this process holds the lease."""
        return self._steer

    @controller.setter
    def controller(self, value: AimdController | None) -> None:
        """The base class sets it; here only steering does."""
        del value

    def _sent(self, *, waited: bool) -> None:
        """Redis counts the slots it grants; the steering process reads them there."""
        del waited

    def feedback(self, lane: Lane, *, throttled: bool) -> None:
        """Count the outcome; the steering process hears of it within a tenth of a second."""
        del lane
        if self._told is None:
            self._outcomes[1 if throttled else 0] += 1
            self._ensure_steerer()

    async def shares(self, window: float = 60.0) -> LaneShares:
        """Slots per second by lane and by job over the last ``window`` s, every process's."""
        window = max(min(window, 60.0), 1.0)
        if self._away:
            return await super().shares(window)  # this process's own, until Redis is back
        try:
            seconds, _ = await self._redis.time()
            last = int(seconds)
            first = last - math.ceil(window) + 1
            pipe = self._redis.pipeline(transaction=False)
            for second in range(first, last + 1):
                pipe.hgetall(f"{self._keys[3]}{second}")
            buckets = await pipe.execute()
        except REDIS_DOWN:
            return await super().shares(window)
        jobs: dict[str, float] = {}
        for bucket in buckets:
            for key, count in bucket.items():
                name = key.decode() if isinstance(key, bytes) else str(key)
                jobs[name] = jobs.get(name, 0.0) + int(count)
        span = float(last - first + 1)
        by_lane: dict[str, float] = {}
        for name, count in jobs.items():
            lane = name.partition("/")[0]
            by_lane[lane] = by_lane.get(lane, 0.0) + count
        return LaneShares(
            window=span,
            rate=self.rate,
            lanes={k: v / span for k, v in by_lane.items()},
            jobs={k: v / span for k, v in jobs.items()},
        )

    async def aclose(self) -> None:
        """Stop serving; hand back the steering lease and report what is left."""
        if self._prober is not None:
            await cancel_and_wait(self._prober, reraise=True)
            self._prober = None
        if self._steerer is not None:
            await cancel_and_wait(self._steerer, reraise=True)
            self._steerer = None
        with contextlib.suppress(*REDIS_DOWN):
            await self._flush()
            if self._leading:
                await self._redis.delete(self._leader_key)
        await super().aclose()

    # -- the slots ------------------------------------------------------------------------

    def _queue_free(self) -> bool:
        return False  # every slot is Redis's to give: always through the dispatcher

    def _queued_behind(self, lane: Lane) -> bool:
        """Whether more of ``lane``'s callers wait here than the one the dispatcher asks for."""
        waiters = 0
        for job in self._jobs[lane].values():
            waiters += len(job.waiters)
            if waiters > 1:
                return True
        return False

    def _grant(self, entry: _Job, lane: Lane, now: float, rate: float, *, waited: bool) -> None:
        if self._away and self._fallback_rate is not None:
            rate = self._fallback_rate  # pacing alone: the local schedule at its own rate
        super()._grant(entry, lane, now, rate, waited=waited)

    async def _take_slot(self, lane: Lane, entry: _Job, rate: float) -> bool:
        alone = self._fallback_rate or rate
        if self._away:
            return await super()._take_slot(lane, entry, alone)  # until Redis answers a ping
        try:
            granted, wait_us, milli_rate = await self._reserve(
                keys=self._keys,
                args=[
                    lane.rank,
                    entry.key,
                    repr(entry.weight),
                    "" if self._told is None else repr(self._told),
                    repr(self._burst),
                    repr(self._floor),
                    repr(self._lease_us),
                    repr(_ADAPTIVE_START),
                    self._token,
                    "1" if self._queued_behind(lane) else "0",
                    "1" if self._unreachable else "0",  # back: no burst
                ],
            )
        except REDIS_DOWN as exc:
            self._away = True
            if self._prober is None or self._prober.done():
                self._prober = asyncio.get_running_loop().create_task(
                    self._probe(), name="lanes-probe"
                )
            if not self._unreachable:
                self._unreachable = True
                _log.warning(
                    "lanes: Redis unreachable (%s); pacing this process alone at %.1f/s",
                    type(exc).__name__,
                    alone,
                )
            return await super()._take_slot(lane, entry, alone)
        if self._unreachable:
            self._unreachable = False
            _log.warning("lanes: Redis answers again; pacing with the other processes")
        if self._told is None:
            self._shared_rate = int(milli_rate) / 1000.0
            self._ensure_steerer()
        wait = int(wait_us) / 1_000_000.0
        if wait > 0:
            await self._sleep(wait)
        return bool(granted)

    async def _probe(self) -> None:
        """Ping Redis while it is away; once it answers, the dispatcher asks it again.

        Pinging here, not in the dispatcher, keeps the local pacing even: a connection
        attempt (with the client's retries) never stalls the callers' slots.
        """
        while True:
            await asyncio.sleep(_LOOK_AGAIN)
            try:
                await self._redis.ping()
            except REDIS_DOWN:
                continue
            self._away = False
            return

    # -- steering a found rate ------------------------------------------------------------

    @property
    def _leader_key(self) -> str:
        return f"{self._keys[0]}:steering"

    def _ensure_steerer(self) -> None:
        if self._told is None and (self._steerer is None or self._steerer.done()):
            self._steerer = asyncio.get_running_loop().create_task(
                self._steering(), name="lanes-steering"
            )

    async def _flush(self) -> None:
        ok, throttled = self._outcomes
        if ok or throttled:
            self._outcomes = [0, 0]
            pipe = self._redis.pipeline(transaction=False)
            pipe.hincrby(self._keys[4], "ok", ok)
            pipe.hincrby(self._keys[4], "throttled", throttled)
            await pipe.execute()

    async def _steering(self) -> None:
        """Report outcomes; while this process holds the lease, steer the rate from them."""
        while True:
            await asyncio.sleep(_STEER_EVERY)
            try:
                await self._flush()
                self._leading = bool(
                    await self._lead(keys=[self._leader_key], args=[self._token, _LEADER_TTL_MS])
                )
                if self._leading:
                    await self._steer_once()
                else:
                    self._steer = None
            except REDIS_DOWN:
                continue  # the dispatcher warns; the next look tries again

    async def _steer_once(self) -> None:
        if self._steer is None:
            stored = await self._redis.hmget(self._keys[0], ["rate", "found"])
            rate = float(stored[0]) if stored[0] is not None else _ADAPTIVE_START
            # Outcomes arrive in batches (every _STEER_EVERY s, every process's together):
            # no cycle's counts or timing to read, only how many went through and how many
            # met a 429.
            self._steer = AimdController(rate, clock=self._clock, call_by_call=False)
            if stored[1] is not None:  # another process found it: carry on, no slow start
                self._steer.slow_start = False
        raw = await self._take_outcomes(keys=[self._keys[4]])
        counts = {
            (k.decode() if isinstance(k, bytes) else str(k)): int(v)
            for k, v in zip(raw[::2], raw[1::2], strict=True)
        }
        steer = self._steer
        waited = counts.get("waited", 0)
        for i in range(counts.get("sent", 0)):
            steer.on_sent(waited=i < waited)
        for _ in range(counts.get("ok", 0)):
            steer.on_success()
        for _ in range(counts.get("throttled", 0)):
            steer.on_throttled()
        rate = steer.rate
        seconds, micros = await self._redis.time()
        asked = await self._redis.hget(self._keys[0], "asked0")
        now_us = int(seconds) * 1_000_000 + int(micros)
        if asked is not None and now_us - float(asked) < INTERACTIVE_HOLD * 1_000_000:
            rate = held_for_interactive(rate, steer.ceiling)
        await self._redis.hset(self._keys[0], "rate", f"{rate:.3f}")
        if steer.found_limit:
            await self._redis.hset(self._keys[0], "found", "1")
        self._shared_rate = rate
