"""Priority lanes: who a request is for, and the scheduler that shares one rate among them.

One integration account has one gateway rate for every caller. Each call carries a lane:

* ``interactive``: a person is waiting (a front desk issuing a credential); the default
  of a plain client call. Never waits behind queued lower-lane calls.
* ``sync``: the daily commands (apply, chase, decommission).
* ``bulk``: migrations (migrate, work).

A :class:`LaneScheduler` hands out the account's slots in that order, keeps a floor
(default 10 % of the rate) for each lower lane that has work so none starves, and shares
a lane between its jobs by weight. It leaves no slot unused while anyone waits.
:class:`~schlage_async.AccountBudget` holds one per account, in this process
(:class:`~schlage_async.LocalLaneScheduler`) or across processes through Redis
(``schlage_async.shared.RedisLaneScheduler``).
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final, Protocol, runtime_checkable

__all__ = [
    "DEFAULT_FLOOR",
    "LANE_HEADER",
    "Lane",
    "LaneScheduler",
    "LaneShares",
    "current_lane",
    "lane_context",
]

LANE_HEADER: Final = "X-Schlage-Lane"
"""The request header naming a call's lane; sent only when a client is told to (tests,
benchmarks and the simulator count answers by it; a real service never needs it)."""

DEFAULT_FLOOR: Final = 0.10
"""The share of the rate each lower lane is guaranteed while it has work."""

INTERACTIVE_HOLD: Final = 30.0
"""Seconds after an interactive call during which a found rate does not probe."""

PROBE_CAP: Final = 0.99
"""While interactive calls come, a found rate stays below this share of the last 429's."""


def held_for_interactive(rate: float, ceiling: float) -> float:
    """``rate`` held below the last 429's rate while a person waits on the account.

    A probe above the gateway's rate earns a 429, whose ``Retry-After`` pauses every
    caller, the front desk too: while interactive calls come, a found rate stays at
    :data:`PROBE_CAP` of the rate the last 429 met and probes only once they stop.
    """
    return min(rate, PROBE_CAP * ceiling)


class Lane(StrEnum):
    """Who a call is for, highest priority first."""

    INTERACTIVE = "interactive"
    """A person is waiting: served before anything queued in a lower lane."""
    SYNC = "sync"
    """The daily sync commands: apply, chase, decommission."""
    BULK = "bulk"
    """Migrations: whatever the higher lanes leave."""

    @property
    def rank(self) -> int:
        """0 for the highest priority."""
        return _RANKS[self]

    @classmethod
    def parse(cls, value: Lane | str) -> Lane:
        """``value`` as a lane, or ValueError naming the lanes there are."""
        try:
            return cls(value)
        except ValueError:
            names = ", ".join(lane.value for lane in cls)
            raise ValueError(f"unknown lane {value!r}: use one of {names}") from None


_RANKS: Final = {Lane.INTERACTIVE: 0, Lane.SYNC: 1, Lane.BULK: 2}

_CURRENT: contextvars.ContextVar[Lane | None] = contextvars.ContextVar("schlage_lane", default=None)


def current_lane() -> Lane | None:
    """The lane set by the innermost :func:`lane_context`, if any."""
    return _CURRENT.get()


@contextmanager
def lane_context(lane: Lane | str) -> Iterator[Lane]:
    """Within this block (and tasks started in it), calls say they belong to ``lane``."""
    token = _CURRENT.set(Lane.parse(lane))
    try:
        yield _CURRENT.get() or Lane.INTERACTIVE
    finally:
        _CURRENT.reset(token)


@dataclass(frozen=True, slots=True, kw_only=True)
class LaneShares:
    """How one account's slots went over the last window: by lane, and by job in a lane."""

    window: float
    """Seconds the figures cover."""
    rate: float | None
    """The account's rate at the end of the window (req/s); None when unlimited."""
    lanes: Mapping[str, float] = field(default_factory=dict)
    """Slots per second each lane was granted."""
    jobs: Mapping[str, float] = field(default_factory=dict)
    """Slots per second each job (``lane/job``) was granted."""

    def lane_share(self, lane: Lane | str) -> float:
        """``lane``'s part of every slot granted in the window (0 to 1)."""
        total = sum(self.lanes.values())
        return self.lanes.get(str(lane), 0.0) / total if total else 0.0

    def job_share(self, lane: Lane | str, job: str) -> float:
        """``job``'s part of the slots its lane was granted in the window (0 to 1)."""
        prefix = f"{lane}/"
        total = sum(v for k, v in self.jobs.items() if k.startswith(prefix))
        return self.jobs.get(f"{prefix}{job}", 0.0) / total if total else 0.0


@runtime_checkable
class LaneScheduler(Protocol):
    """One account's slots, shared between lanes by priority and between jobs by weight.

    Rules every implementation keeps: at most :attr:`rate` grants per second (evenly
    spaced, ``burst`` at once at most); a waiter of a higher lane goes before every
    waiter of a lower one, except that each lower lane with waiters gets ``floor`` of the
    rate; within a lane the job with the least service per weight goes first; no slot
    is left unused while anyone waits. With no rate given the scheduler finds the rate
    from :meth:`feedback` (429s cut it).
    """

    @property
    def rate(self) -> float | None:
        """The account's rate now (req/s), told or found; None when unlimited."""

    async def acquire(self, lane: Lane, job: str = "", weight: float = 1.0) -> None:
        """Wait for one slot for ``job`` in ``lane``."""

    def feedback(self, lane: Lane, *, throttled: bool) -> None:
        """How a call sent in a granted slot went: a 429 (``throttled``) or not."""

    async def shares(self, window: float = 60.0) -> LaneShares:
        """Grants per second by lane and by job over the last ``window`` seconds (<= 60)."""

    async def aclose(self) -> None:
        """Stop serving: waiters are released with an error, background work ends."""
