"""Lanes: a front desk and two migrations sharing one account through one Redis budget.

The simulator holds the account to R requests per second with a small bucket (``--burst
5``). Migration A (``python -m bulk migrate --shared redis://... --weight 1``, adaptive:
no rate told) starts and finds the account's rate; after ``join_after`` seconds
migration B (``--weight 3``, another property's input) joins and a front desk in this
process starts making ``desk_rate`` calls a second (``get_credential``) through
``AccountBudget.connect`` on the same Redis, lane ``interactive``, for ``seconds``.
Everything sends the lane header, so the simulator says whose answers were 429s. Then
both migrations are stopped (SIGINT).

The front desk starts once A has found the rate: while a budget finds it, each 429 of
the search pauses the whole account for its ``Retry-After`` (the contract: honour it),
and a front-desk call made then waits for the pause like every other call (measured in
a run that started the desk at 5 s: three calls of 0.7 to 0.8 s in A's first 8 s).
Told the rate (``--rate R``), a budget has nothing to find and no such pause.

* ``interactive_429s``: 429 answers the simulator gave the interactive lane.
* ``interactive_added_wait_p99_ms``: the front desk's call latency at its 99th
  percentile, less the median latency of the same call on the idle account beforehand:
  the wait in the budget (its slot, and any 429 pause it had to obey).
* ``bulk_utilization``: the bulk lane's answers per second over the window in which both
  migrations run (from five seconds after B joined to the end), against what the front
  desk leaves of R (R - desk rate).
* ``fair_share_error``: over the same window, |B's part of the bulk lane - 3/4|, from the
  budget's shares (Redis counts every process's slots).
* ``logins``: logins the simulator saw over the whole run (every process shares one token).
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bulk import generate_portfolio
from schlage_async import AccountBudget, Lane, RetryPolicy, SchlageClient, SchlageError

from ._simproc import ADMIN_PASSWORD, ADMIN_USERNAME, SUBSCRIPTION_KEY, SimProcess
from .fleet import ENV, redis_url, sim_state

__all__ = ["measure_lanes"]

_WEIGHTS = (1.0, 3.0)  # migrations A and B


def _start_migration(
    sim: SimProcess, portfolio: Path, name: str, weight: float, shared: str, workdir: Path
) -> subprocess.Popen[bytes]:
    log = (workdir / f"lanes-{name}.log").open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bulk",
            "migrate",
            str(portfolio),
            "--base-url",
            sim.api_base_url,
            "--state",
            str(workdir / f"lanes-{name}.db"),
            "--report-dir",
            str(workdir / f"lanes-{name}-reports"),
            "--shared",
            shared,
            "--weight",
            f"{weight:g}",
            "--send-lane-header",
            "--concurrency",
            "32",
            "--progress",
            "none",
            "--log-format",
            "json",
        ],
        env={**os.environ, **ENV},
        stdout=log,
        stderr=log,
    )


def _lane_answers(state: dict[str, Any], lane: str) -> dict[str, int]:
    """The simulator's answers to ``lane`` by status class: ``total``, ``ok``, ``429``."""
    lanes: dict[str, dict[str, int]] = state["counters"].get("lanes", {})
    return lanes.get(lane, {})


async def _desk(
    sim: SimProcess,
    prefix: str,
    *,
    every: float,
    samples: list[float],
    moments: list[float],
    ready: asyncio.Event,
    timing: dict[str, float],
    go: asyncio.Event,
) -> tuple[float, int]:
    """The front desk: its idle latency first, then a call each ``every`` s until ``stop``."""
    budget = await AccountBudget.connect(
        redis_url(), base_url=sim.api_base_url, username=ADMIN_USERNAME, prefix=prefix
    )
    errors = 0
    async with (
        budget,
        SchlageClient(
            base_url=sim.api_base_url,
            username=ADMIN_USERNAME,
            password=ADMIN_PASSWORD,
            subscription_key=SUBSCRIPTION_KEY,
            budget=budget,
            lane=Lane.INTERACTIVE,
            send_lane_header=True,
        ) as client,
    ):
        created = await client.create_credential(
            user_id=str(uuid.uuid4()),
            mobile_number="+15550000001",
            card_format="26A",
            facility_code=12,
        )
        loop = asyncio.get_running_loop()
        idle: list[float] = []
        for _ in range(20):  # spaced wider than a slot of the budget's starting rate
            t0 = loop.time()
            await client.get_credential(created.credential_id)
            idle.append(loop.time() - t0)
            await asyncio.sleep(0.25)
        ready.set()
        await go.wait()  # the scene sets the times once migration A has started
        start, stop, origin = timing["start"], timing["stop"], timing["origin"]
        await asyncio.sleep(max(0.0, start - loop.time()))
        beat = loop.time()
        while beat < stop:
            t0 = loop.time()
            try:
                await client.get_credential(created.credential_id, retry=RetryPolicy.none())
            except SchlageError:
                errors += 1
            samples.append(loop.time() - t0)
            moments.append(t0 - origin)
            beat += every
            await asyncio.sleep(max(0.0, beat - loop.time()))
    return statistics.median(idle), errors


def measure_lanes(
    sim: SimProcess,
    *,
    seconds: float,
    rate: float,
    residents: int,
    workdir: Path,
    join_after: float = 10.0,
    desk_after: float | None = None,
    desk_rate: float = 2.0,
) -> dict[str, Any]:
    """One run of the scene above; the figures and what they rest on."""
    desk_after = join_after if desk_after is None else desk_after
    end = desk_after + seconds
    prefix = f"bench-lanes-{uuid.uuid4().hex[:8]}:"
    shared = f"{redis_url()}?prefix={prefix}"
    portfolios = [
        generate_portfolio(workdir / f"lanes-{name}.jsonl", residents, seed=seed).path
        for name, seed in (("a", 31), ("b", 37))
    ]
    samples: list[float] = []
    moments: list[float] = []  # when each desk call began, seconds into the scene

    async def scene() -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()  # set: the desk measured the idle account
        go = asyncio.Event()  # set: the scene's times are known
        timing: dict[str, float] = {}
        desk = asyncio.create_task(
            _desk(
                sim, prefix, every=1.0 / desk_rate, samples=samples, moments=moments,
                ready=ready, timing=timing, go=go,
            )
        )  # fmt: skip
        await ready.wait()
        t_start = loop.time()
        timing.update(start=t_start + desk_after, stop=t_start + end, origin=t_start)
        go.set()
        procs = [_start_migration(sim, portfolios[0], "a", _WEIGHTS[0], shared, workdir)]
        await asyncio.sleep(join_after)
        procs.append(_start_migration(sim, portfolios[1], "b", _WEIGHTS[1], shared, workdir))
        await asyncio.sleep(5.0)
        t1 = loop.time()
        before = sim_state(sim)
        await asyncio.sleep(max(0.0, t_start + end - loop.time()))
        t2 = loop.time()
        after = sim_state(sim)
        budget = await AccountBudget.connect(
            redis_url(), base_url=sim.api_base_url, username=ADMIN_USERNAME, prefix=prefix
        )
        async with budget:
            shares = await budget.shares(window=t2 - t1)
        try:
            idle, errors = await asyncio.wait_for(desk, timeout=30.0)
        except TimeoutError:
            for task in asyncio.all_tasks():
                task.print_stack(file=sys.stderr)
            raise
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        codes = [proc.wait(timeout=60) for proc in procs]
        return {
            "window_s": t2 - t1, "before": before, "after": after, "shares": shares,
            "idle_latency_s": idle, "desk_errors": errors, "exit_codes": codes,
        }  # fmt: skip

    started = time.monotonic()
    r = asyncio.run(scene())
    window = r["window_s"]
    bulk_before, bulk_after = (_lane_answers(r[k], "bulk") for k in ("before", "after"))
    bulk_ok = bulk_after.get("ok", 0) - bulk_before.get("ok", 0)
    desk = _lane_answers(r["after"], "interactive")
    shares = r["shares"]
    share_b = shares.job_share(Lane.BULK, "lanes-b.jsonl")
    target_b = _WEIGHTS[1] / sum(_WEIGHTS)
    added = [max(0.0, s - r["idle_latency_s"]) for s in samples]
    p99 = (
        statistics.quantiles(added, n=100, method="inclusive")[98]
        if len(added) >= 2
        else float("nan")
    )
    slow = [
        (round(at, 1), round(wait * 1000.0)) for at, wait in zip(moments, added, strict=True)
        if wait > 0.1
    ]  # fmt: skip
    return {
        "interactive_429s": int(desk.get("429", 0)),
        "interactive_calls": int(desk.get("total", 0)),
        "interactive_added_wait_p99_ms": p99 * 1000.0,
        "interactive_added_wait_max_ms": max(added, default=0.0) * 1000.0,
        "interactive_slow_calls": slow,
        "bulk_utilization": bulk_ok / window / (rate - desk_rate),
        "bulk_rate": bulk_ok / window,
        "bulk_429s": int(bulk_after.get("429", 0)),
        "fair_share_error": abs(share_b - target_b),
        "share_b": share_b,
        "shares": {"lanes": dict(shares.lanes), "jobs": dict(shares.jobs)},
        "logins": int(r["after"]["counters"]["logins"]["succeeded"]),
        "idle_latency_ms": r["idle_latency_s"] * 1000.0,
        "desk_errors": r["desk_errors"],
        "exit_codes": r["exit_codes"],
        "wall_s": time.monotonic() - started,
        "params": {
            "R": rate,
            "burst": 5,
            "seconds": seconds,
            "residents_per_migration": residents,
            "weights": list(_WEIGHTS),
            "join_after_s": join_after,
            "desk_after_s": desk_after,
            "desk_rate": desk_rate,
            "window_s": round(window, 2),
        },
    }
