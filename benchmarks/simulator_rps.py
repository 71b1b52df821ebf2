"""Measure the simulator's requests per second on loopback for create + get.

The simulator runs in its own process (``python -m schlage_async.simulator --port 0``),
so its CPU is not shared with the load generator's event loop. The load is a plain
aiohttp loop: ``--concurrency`` workers, each creating a credential and then getting it
back by id, until ``--requests`` requests (creates plus gets) have been answered. The
figure printed is answered requests divided by wall-clock seconds; every answer must be
201 (create) or 200 (get) or the run fails.

Usage: ``python benchmarks/simulator_rps.py [--requests 20000] [--concurrency 64]``
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import re
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import aiohttp

KEY = "sim-subscription-key"
ADMIN = {"username": "admin@sim.example", "password": "sim-admin-password"}
_LISTENING = re.compile(r"listening on (http://\S+)")


@contextmanager
def simulator(extra: list[str]) -> Iterator[str]:
    """Start the simulator in a subprocess on a free port; yield its URL; stop it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "schlage_async.simulator", "--port", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        assert proc.stdout is not None
        match = _LISTENING.search(proc.stdout.readline())
        if match is None:
            raise RuntimeError("the simulator did not print its listening line")
        yield match.group(1)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


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


def main() -> None:
    """Parse options, run the measurement, print the figure."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true", help="print one JSON line instead")
    parser.add_argument("simulator_args", nargs="*", help="extra simulator options (after --)")
    args = parser.parse_args()
    with simulator(args.simulator_args) as url:
        answered, seconds = asyncio.run(load(url, args.requests, args.concurrency))
    rps = answered / seconds
    if args.json:
        print(json.dumps({"requests": answered, "seconds": round(seconds, 3), "rps": round(rps)}))
    else:
        print(
            f"simulator create+get: {answered} requests in {seconds:.2f} s "
            f"= {rps:,.0f} requests/s (concurrency {args.concurrency})"
        )


if __name__ == "__main__":
    main()
