"""The ceiling for the engine: the same calls from raw aiohttp, against the same simulator.

The engine's run makes, per resident, one create-credential call and (when the row has
doors) one save-no-tour-payloads call, ``concurrency`` residents at a time. This module
makes exactly those calls for the same portfolio from a plain aiohttp loop: the bodies
built before the clock starts, stdlib json, no checkpoint, no validation, no logs, no
retries. Its calls per second are what this machine and this simulator allow at all;
the engine's calls per second over it (``engine_vs_ceiling``) is what the engine keeps.

Run: ``python -m benchmarks.engine_ceiling [--count 10000] [--concurrency 32]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import msgspec

from bulk import Resident, generate_portfolio, read_input

from ._simproc import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SUBSCRIPTION_KEY,
    SimProcess,
    simulator_process,
)

__all__ = ["calls_for", "measure_ceiling"]

_HEADERS = {
    "alle-subscription-key": SUBSCRIPTION_KEY,
    "Accept": "application/json;version=1",
    "Content-Type": "application/json",
}


def calls_for(portfolio: Path) -> list[tuple[bytes, bytes | None]]:
    """Per resident: the create body and the payloads body (None without doors)."""
    out: list[tuple[bytes, bytes | None]] = []
    for row in read_input(portfolio):
        if not isinstance(row, Resident):
            continue
        create: dict[str, Any] = {
            "userId": row.user_id,
            "mobileNumber": row.mobile_number,
            "cardFormat": row.card_format,
        }
        if row.facility_code is not None:
            create["facilityCode"] = row.facility_code
        if row.issue_code is not None:
            create["issueCode"] = row.issue_code
        if row.attributes:
            create["attributes"] = row.attributes
        doors = (
            json.dumps(
                {"noTourPayloadDetails": [msgspec.to_builtins(door) for door in row.doors]}
            ).encode()
            if row.doors
            else None
        )
        out.append((json.dumps(create).encode(), doors))
    return out


async def _run(base_url: str, calls: list[tuple[bytes, bytes | None]], concurrency: int) -> int:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            base_url + "/authentication/token",
            data=json.dumps({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}),
            headers=_HEADERS,
        ) as resp:
            token = json.loads(await resp.read())["token"]
        headers = {**_HEADERS, "Authorization": f"Bearer {token}"}
        create_url = base_url + "/credentials/mobile/basic"
        work = iter(calls)
        made = 0

        async def worker() -> None:
            nonlocal made
            for create, doors in work:
                async with session.post(create_url, data=create, headers=headers) as resp:
                    created = json.loads(await resp.read())
                    if resp.status != 201:
                        raise RuntimeError(f"create answered {resp.status}: {created}")
                made += 1
                if doors is not None:
                    url = f"{create_url}/{created['credentialId']}/notourpayloads"
                    async with session.post(url, data=doors, headers=headers) as resp:
                        await resp.read()
                        if resp.status >= 300:
                            raise RuntimeError(f"save answered {resp.status}")
                    made += 1

        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return made


def measure_ceiling(sim: SimProcess, portfolio: Path, *, concurrency: int) -> dict[str, Any]:
    """Reset ``sim``, make the portfolio's calls from raw aiohttp; return calls and calls/s."""
    calls = calls_for(portfolio)
    sim.reset()
    started = time.perf_counter()
    made = asyncio.run(_run(sim.api_base_url, calls, concurrency))
    seconds = time.perf_counter() - started
    return {"api_calls": made, "seconds": round(seconds, 3), "calls_per_s": made / seconds}


def main() -> int:
    """Measure the ceiling for a generated portfolio and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ceiling-") as tmp, simulator_process() as sim:
        portfolio = generate_portfolio(Path(tmp) / "p.jsonl", args.count, seed=42).path
        r = measure_ceiling(sim, portfolio, concurrency=args.concurrency)
    print(f"raw aiohttp ceiling: {r['api_calls']:,} calls in {r['seconds']} s = "
          f"{r['calls_per_s']:,.0f} calls/s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
