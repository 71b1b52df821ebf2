"""The simulator's own requests per second on loopback, create + get.

The simulator runs in its own process (``python -m schlage_async.simulator --port 0``),
so its CPU is not shared with the load generator's event loop. The load is a plain
aiohttp loop: ``concurrency`` workers, each creating a credential and then getting it
back by id, until ``requests`` requests (creates plus gets) have been answered. The
figure is answered requests divided by wall-clock seconds (the median of ``rounds``
rounds); every answer must be 201 (create) or 200 (get) or the run fails. Beside it: the
share of one core the simulator and the load generator each used, so a reader can see
which of the two was the limit (a simulator below 100 % was not).

Usage: ``python benchmarks/simulator_rps.py [--requests 20000] [--concurrency 64]``
(the harness calls :func:`measure_simulator_rps`).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import aiohttp

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._process_usage import cpu_seconds
from benchmarks._simproc import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SUBSCRIPTION_KEY,
    SimProcess,
    simulator_process,
)

__all__ = ["load", "measure_simulator_rps"]

KEY = SUBSCRIPTION_KEY
ADMIN = {"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}


async def load(url: str, requests: int, concurrency: int) -> tuple[int, float]:
    """Run the create + get loop; return (answered requests, seconds)."""
    base = url + "/test/smc-api/credentials/mobile/basic"
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            url + "/test/smc-api/authentication/token",
            json=ADMIN,
            headers={"alle-subscription-key": KEY},
        ) as resp:
            token = (await resp.json())["token"]
        headers = {"alle-subscription-key": KEY, "Authorization": "Bearer " + token}
        pairs = iter(range(requests // 2))
        mobiles = itertools.count(2_000_000_000)
        done = 0

        async def worker() -> None:
            nonlocal done
            for _ in pairs:
                body = {
                    "userId": str(uuid.uuid4()),
                    "mobileNumber": f"+1{next(mobiles)}",
                    "cardFormat": "37H",
                }
                async with session.post(base, json=body, headers=headers) as resp:
                    created = await resp.json()
                    if resp.status != 201:
                        raise RuntimeError(f"create answered {resp.status}: {created}")
                async with session.get(
                    f"{base}/{created['credentialId']}", headers=headers
                ) as resp:
                    await resp.read()
                    if resp.status != 200:
                        raise RuntimeError(f"get answered {resp.status}")
                done += 2

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done, time.perf_counter() - started


def measure_simulator_rps(
    sim: SimProcess, *, requests: int, concurrency: int, rounds: int = 1
) -> dict[str, Any]:
    """Load ``sim`` ``rounds`` times (reset between); return the median round's figures."""
    runs: list[dict[str, float]] = []
    for _ in range(rounds):
        sim.reset()
        sim_cpu0, own_cpu0 = cpu_seconds(sim.pid), time.process_time()
        answered, seconds = asyncio.run(load(sim.url, requests, concurrency))
        sim_cpu, own_cpu = cpu_seconds(sim.pid) - sim_cpu0, time.process_time() - own_cpu0
        runs.append(
            {
                "rps": answered / seconds,
                "seconds": seconds,
                "simulator_cpu_share": sim_cpu / seconds,
                "load_generator_cpu_share": own_cpu / seconds,
            }
        )
    median = sorted(runs, key=lambda run: run["rps"])[len(runs) // 2]
    return {
        **median,
        "rps_rounds": [round(run["rps"]) for run in runs],
        "params": {"requests": requests, "concurrency": concurrency, "rounds": rounds},
    }


def main() -> None:
    """Parse options, run the measurement, print the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("simulator_args", nargs="*", help="extra simulator options (after --)")
    args = parser.parse_args()
    with simulator_process(args.simulator_args) as sim:
        figures = measure_simulator_rps(sim, requests=args.requests, concurrency=args.concurrency)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"simulator create+get: {args.requests} requests in {figures['seconds']:.2f} s "
            f"= {figures['rps']:,.0f} requests/s (concurrency {args.concurrency}); "
            f"simulator CPU {figures['simulator_cpu_share']:.0%} of a core, "
            f"load generator {figures['load_generator_cpu_share']:.0%}"
        )


if __name__ == "__main__":
    main()
