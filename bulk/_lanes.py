"""An account budget's lane as the engine's limiter: every entry point on one account.

With ``budget=`` (an :class:`~schlage_async.AccountBudget`), :func:`lane_limiter` is the
guarded path's step for pacing (:mod:`bulk._guards`): :func:`~bulk.run_migration` takes
the ``bulk`` lane, :func:`~bulk.apply_plan`, :func:`~bulk.chase_invites` and
:func:`~bulk.decommission_locks` the ``sync`` lane, each as one job of its lane with a
``weight``. The same checks for every entry: a weight is a finite number above 0 (at
most :data:`MAX_WEIGHT`); ``limiter=`` and ``budget=`` together are refused (one of them
would be ignored); and a client that paces its own calls through the budget
(``SchlageClient(budget=b)`` with a lane) is refused, since its calls would wait twice:
give the entry ``SchlageClient(budget=b, lane=None)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from schlage_async import AccountBudget, Lane, LaneLimiter

from ._errors import MigrationOptionsError
from ._limiter import RateLimiter, RateReport, UnlimitedLimiter, controller_report, default_limiter

__all__ = [
    "LANES_KEY",
    "MAX_WEIGHT",
    "BudgetRateLimiter",
    "check_weight",
    "describe_lanes",
    "lane_limiter",
    "lane_record",
]

LANES_KEY: Final = "lanes"
"""The checkpoint's record of the last run's lane shares (JSON), for ``bulk report``."""

MAX_WEIGHT: Final = 1000.0
"""The largest weight a job takes (a thousand times another job's share)."""


def check_weight(weight: object, name: str = "weight") -> float:
    """A job's weight in its lane: a finite number > 0 and at most :data:`MAX_WEIGHT`."""
    if not isinstance(weight, int | float) or isinstance(weight, bool):
        raise MigrationOptionsError(f"{name} must be a finite number, not {weight!r}".strip())
    if not math.isfinite(weight) or weight <= 0 or weight > MAX_WEIGHT:
        raise MigrationOptionsError(
            f"{name} must be a finite number > 0 and at most {MAX_WEIGHT:g}, not {weight:g}".strip()
        )
    return float(weight)


class BudgetRateLimiter:
    """One job's slots of an account budget, as the engine's :class:`RateLimiter`."""

    __slots__ = ("_budget", "_slots")

    def __init__(self, budget: AccountBudget, slots: LaneLimiter) -> None:
        self._budget = budget  # the account's, shared with its other callers
        self._slots = slots  # this job's lane, name and weight

    def __repr__(self) -> str:
        return f"BudgetRateLimiter({self._slots!r})"

    @property
    def rate(self) -> float | None:
        """The account's rate now (every lane's)."""
        return self._slots.rate

    @property
    def lane(self) -> Lane:
        """The lane this job's calls wait in."""
        return self._slots.lane

    async def acquire(self) -> None:
        """Wait for this job's next slot."""
        await self._slots.acquire()

    def on_success(self) -> None:
        """A call went through."""
        self._slots.on_success()

    def on_throttled(self) -> None:
        """A call met a 429: an adaptive budget cuts the account's rate."""
        self._slots.on_throttled()

    def report(self) -> RateReport:
        """The steering's figures when this process steers a found rate, else the rate."""
        controller = self._budget.controller
        if controller is not None:
            return controller_report(controller)
        return RateReport(rate=self._budget.rate)

    async def shares(self) -> dict[str, Any]:
        """The summary's record: this job's lane and weight, and the last minute's shares."""
        shares = await self._budget.shares()
        slots = self._slots
        return {
            "lane": slots.lane.value,
            "job": slots.job,
            "weight": slots.weight,
            "lane_share": round(shares.lane_share(slots.lane), 4),
            "job_share": round(shares.job_share(slots.lane, slots.job), 4),
            "rate": round(shares.rate, 2) if shares.rate else None,
            "lanes_per_s": {k: round(v, 2) for k, v in sorted(shares.lanes.items())},
            "window_s": shares.window,
        }


def lane_limiter(
    budget: AccountBudget | None,
    client: object,
    *,
    lane: Lane,
    job: str,
    weight: float,
    limiter: RateLimiter | None,
    sends: bool = True,
) -> RateLimiter:
    """The limiter an entry point paces with: ``limiter``, or its lane of ``budget``.

    Neither given: ``--adaptive``'s, as the command line's default
    (:func:`~bulk._limiter.default_limiter`), unless the client paces its own calls
    through a budget of its own, or the run sends nothing (``sends`` False: a dry run).
    """
    weight = check_weight(weight)
    if budget is None:
        if weight != 1.0:
            raise MigrationOptionsError(
                "weight shares a lane of an account budget: give budget= too"
            )
        if limiter is None and getattr(client, "budget", None) is not None:
            return UnlimitedLimiter()  # every call already waits for its slot in the budget
        return default_limiter(limiter, sends=sends)
    if limiter is not None:
        raise MigrationOptionsError(
            "give limiter= or budget=, not both: the budget paces the run in its lane"
        )
    own = getattr(client, "budget", None)
    if own is not None and own is not budget:
        raise MigrationOptionsError(
            "the client shares another AccountBudget than budget=: one account, one budget"
        )
    if own is budget and getattr(client, "lane", None) is not None:
        raise MigrationOptionsError(
            "the client paces its own calls through the budget (its lane is "
            f"{getattr(client, 'lane', None)!s}), so every call would wait twice: build it "
            "with SchlageClient(budget=budget, lane=None)"
        )
    slots = budget.limiter(lane, job=job, weight=weight, holds_for_pause=True)
    return BudgetRateLimiter(budget, slots)


async def lane_record(limiter: RateLimiter | None) -> Mapping[str, Any] | None:
    """What a run's summary records of its lane, when it paced through a budget."""
    if isinstance(limiter, BudgetRateLimiter):
        return await limiter.shares()
    return None


def describe_lanes(record: Mapping[str, Any]) -> str:
    """One line of a run's lane shares, for the printed summary and the fleet's progress."""
    lanes = record.get("lanes_per_s") or {}
    rate = record.get("rate")
    parts = ", ".join(f"{lane} {per_s:g}/s" for lane, per_s in lanes.items())
    return (
        f"{record.get('lane')} lane, job {record.get('job')!r} (weight "
        f"{record.get('weight', 1.0):g}): {100 * record.get('job_share', 0.0):.0f} % of its "
        f"lane, the lane {100 * record.get('lane_share', 0.0):.0f} % of the account"
        + (f" ({parts}; rate {rate:g}/s)" if parts and rate else f" ({parts})" if parts else "")
    )
