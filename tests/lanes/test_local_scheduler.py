"""LocalLaneScheduler: priority, floor, weights, spacing and steering, on the suite's fake
clock (``clock``: it moves only when the scheduler sleeps)."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest

from schlage_async import AimdController, ClientClosedError, Lane, LocalLaneScheduler


def _scheduler(rate: float | None, clock: Any, **kwargs: object) -> LocalLaneScheduler:
    return LocalLaneScheduler(rate, clock=clock, sleep=clock.sleep, **kwargs)  # type: ignore[arg-type]


async def _take(
    scheduler: LocalLaneScheduler, lane: Lane, job: str, order: list[str], weight: float = 1.0
) -> None:
    await scheduler.acquire(lane, job, weight)
    order.append(f"{lane}/{job}")


async def test_slots_are_evenly_spaced_at_the_rate(clock: Any) -> None:
    """Ten callers at 50/s are granted 20 ms apart: nine intervals from first to last."""
    scheduler = _scheduler(50.0, clock)
    times: list[float] = []

    async def one() -> None:
        await scheduler.acquire(Lane.BULK, "a")
        times.append(clock.now)

    await asyncio.gather(*(one() for _ in range(10)))
    assert times[-1] - times[0] == pytest.approx(9 * 0.02)
    assert sum(clock.slept) == pytest.approx(9 * 0.02)  # never two slots closer than 20 ms


async def test_an_interactive_call_goes_before_every_queued_bulk_call(clock: Any) -> None:
    """Fifty bulk calls queued, then one interactive: it takes the very next slot."""
    scheduler = _scheduler(50.0, clock, floor=0.0)
    order: list[str] = []
    bulk = [asyncio.create_task(_take(scheduler, Lane.BULK, "m", order)) for _ in range(50)]
    await asyncio.sleep(0)
    desk = asyncio.create_task(_take(scheduler, Lane.INTERACTIVE, "", order))
    await asyncio.gather(desk, *bulk)
    assert order.index("interactive/") <= 2


async def test_an_idle_account_grants_an_interactive_call_without_waiting(clock: Any) -> None:
    """Nobody waiting and a slot free: the call goes at once, with no sleep."""
    scheduler = _scheduler(5.0, clock)
    await scheduler.acquire(Lane.INTERACTIVE)
    assert clock.slept == []


async def test_sync_goes_before_bulk(clock: Any) -> None:
    """Sync and bulk both queued: every sync call is served before the bulk ones."""
    scheduler = _scheduler(100.0, clock, floor=0.0)
    order: list[str] = []
    await scheduler.acquire(Lane.BULK, "warm")  # takes the free slot: the rest must queue
    tasks = [asyncio.create_task(_take(scheduler, Lane.BULK, "m", order)) for _ in range(5)]
    tasks += [asyncio.create_task(_take(scheduler, Lane.SYNC, "s", order)) for _ in range(5)]
    await asyncio.gather(*tasks)
    assert order[:5] == ["sync/s"] * 5


async def test_a_lower_lane_keeps_its_floor_while_interactive_saturates(clock: Any) -> None:
    """Interactive waiting all the time still leaves bulk about a tenth of the slots."""
    scheduler = _scheduler(100.0, clock, floor=0.10)
    order: list[str] = []
    tasks = [asyncio.create_task(_take(scheduler, Lane.INTERACTIVE, "", order)) for _ in range(900)]
    tasks += [asyncio.create_task(_take(scheduler, Lane.BULK, "m", order)) for _ in range(300)]
    await asyncio.gather(*tasks)
    first = Counter(order[:900])
    assert 0.08 <= first["bulk/m"] / 900 <= 0.12


@pytest.mark.parametrize(("heavy", "light"), [(3.0, 1.0), (1.0, 1.0), (5.0, 2.0)], ids=str)
async def test_jobs_of_one_lane_share_it_by_weight(heavy: float, light: float, clock: Any) -> None:
    """Two migrations always waiting get slots in the ratio of their weights (within 5 %)."""
    scheduler = _scheduler(200.0, clock)
    order: list[str] = []
    tasks = [
        asyncio.create_task(_take(scheduler, Lane.BULK, job, order, weight))
        for _ in range(1000)
        for job, weight in (("heavy", heavy), ("light", light))
    ]
    await asyncio.gather(*tasks)
    window = Counter(order[:1000])
    share = window["bulk/heavy"] / 1000
    assert share == pytest.approx(heavy / (heavy + light), abs=0.05 * heavy / (heavy + light))


async def test_a_job_that_comes_back_claims_no_backlog(clock: Any) -> None:
    """A job idle while another ran starts level with it, not with all it missed."""
    scheduler = _scheduler(100.0, clock)
    order: list[str] = []
    await asyncio.gather(*(_take(scheduler, Lane.BULK, "a", order) for _ in range(5)))
    await scheduler.acquire(Lane.BULK, "b")  # b had one slot long ago
    order.clear()
    await asyncio.gather(*(_take(scheduler, Lane.BULK, "a", order) for _ in range(200)))
    tasks = [asyncio.create_task(_take(scheduler, Lane.BULK, j, order)) for j in "ab" * 50]
    await asyncio.gather(*tasks)
    tail = Counter(order[200:260])
    assert abs(tail["bulk/a"] - tail["bulk/b"]) <= 4


async def test_a_cancelled_waiter_gives_its_turn_to_the_next(clock: Any) -> None:
    """A caller cancelled while queued is skipped; the others are all served."""
    scheduler = _scheduler(10.0, clock)
    order: list[str] = []
    await scheduler.acquire(Lane.BULK, "warm")
    tasks = [asyncio.create_task(_take(scheduler, Lane.BULK, str(i), order)) for i in range(4)]
    await asyncio.sleep(0)
    tasks[1].cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    assert isinstance(results[1], asyncio.CancelledError)
    assert order == ["bulk/0", "bulk/2", "bulk/3"]


async def test_a_429_of_any_lane_cuts_an_adaptive_rate(clock: Any) -> None:
    """No rate told: the controller steers, and a 429 heard from interactive cuts it."""
    scheduler = _scheduler(None, clock, controller=AimdController(40.0, clock=clock))
    assert scheduler.rate == 40.0
    await scheduler.acquire(Lane.INTERACTIVE)
    scheduler.feedback(Lane.INTERACTIVE, throttled=True)
    assert scheduler.rate is not None
    assert scheduler.rate < 40.0


async def test_a_told_rate_ignores_feedback() -> None:
    """A told rate stays what it was told, whatever comes back."""
    scheduler = LocalLaneScheduler(25.0)
    scheduler.feedback(Lane.BULK, throttled=True)
    assert scheduler.rate == 25.0


async def test_zero_is_unlimited(clock: Any) -> None:
    """Rate 0: every caller goes at once."""
    scheduler = _scheduler(0.0, clock)
    await asyncio.gather(*(scheduler.acquire(Lane.BULK, "a") for _ in range(100)))
    assert scheduler.rate is None
    assert clock.slept == []


async def test_shares_count_slots_by_lane_and_job(clock: Any) -> None:
    """The shares say how the last minute's slots went, by lane and by job."""
    scheduler = _scheduler(100.0, clock)
    await asyncio.gather(
        *(scheduler.acquire(Lane.BULK, "a", 1.0) for _ in range(100)),
        *(scheduler.acquire(Lane.BULK, "b", 3.0) for _ in range(300)),
        *(scheduler.acquire(Lane.INTERACTIVE) for _ in range(10)),
    )
    shares = await scheduler.shares()
    assert shares.lane_share(Lane.BULK) == pytest.approx(400 / 410)
    assert shares.job_share(Lane.BULK, "b") == pytest.approx(0.75)
    assert shares.rate == 100.0


async def test_closing_releases_every_waiter_with_an_error(clock: Any) -> None:
    """aclose: queued callers get ClientClosedError, later ones too."""
    scheduler = _scheduler(1.0, clock)
    await scheduler.acquire(Lane.BULK, "warm")
    waiter = asyncio.create_task(scheduler.acquire(Lane.BULK, "a"))
    await asyncio.sleep(0)
    await scheduler.aclose()
    with pytest.raises(ClientClosedError, match="budget is closed"):
        await waiter
    with pytest.raises(ClientClosedError):
        await scheduler.acquire(Lane.INTERACTIVE)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rate": -1.0}, "rate must be"),
        ({"rate": float("nan")}, "rate must be"),
        ({"rate": 5.0, "burst": 0.5}, "burst must be"),
        ({"rate": 5.0, "floor": 0.9}, "floor must be"),
    ],
    ids=["negative-rate", "nan-rate", "small-burst", "big-floor"],
)
def test_bad_settings_are_refused(kwargs: dict[str, float], message: str) -> None:
    """Settings outside their range are refused with the setting's name."""
    with pytest.raises(ValueError, match=message):
        LocalLaneScheduler(**kwargs)  # type: ignore[arg-type]


async def test_while_the_rate_is_found_an_interactive_call_has_an_empty_slot_before_it(
    clock: Any,
) -> None:
    """Adaptive: the slot before a front-desk call stays unused, so a probe's empty bucket
    has refilled by one call when it goes."""
    scheduler = _scheduler(None, clock, controller=AimdController(50.0, clock=clock))
    sent: list[tuple[str, float]] = []

    async def take(lane: Lane) -> None:
        await scheduler.acquire(lane, "m")
        sent.append((lane.value, clock.now))

    bulk = [asyncio.create_task(take(Lane.BULK)) for _ in range(20)]
    await asyncio.sleep(0)
    await take(Lane.INTERACTIVE)
    await asyncio.gather(*bulk)
    at = next(t for lane, t in sent if lane == "interactive")
    before = max(t for lane, t in sent if lane == "bulk" and t < at)
    assert at - before >= 2 / 50 - 1e-9
