"""Client overhead: the same creates and gets made by three clients, side by side.

Measures, against one simulator running in its own process, N create-credential calls
then N get-credential calls at a fixed concurrency, made by

(a) ``schlage_async.SchlageClient`` (validation, retries, structured logs, msgspec);
(b) raw aiohttp with stdlib json and no checks at all: the floor for this stack;
(c) httpx.AsyncClient with pydantic models and tenacity retries: what an integrator
    would otherwise write;

and (a) once more inside an application that configured structlog (at INFO, as the
``bulk`` CLI does), where the client hands every request's event to structlog.

For each it reports requests per second and the client process's CPU-seconds per 1,000
requests. The variants run interleaved over several rounds (each round starting with
another variant) and a ratio is the median of the per-round ratios, so a noisy
neighbour slows the variants alike and the ratios hold.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from itertools import count
from typing import Any

import aiohttp

from ._log_config import structlog_configured
from ._simproc import ADMIN_PASSWORD, ADMIN_USERNAME, SUBSCRIPTION_KEY, SimProcess

__all__ = ["ClientRun", "measure_client_overhead"]

_HEADERS = {
    "alle-subscription-key": SUBSCRIPTION_KEY,
    "Accept": "application/json;version=1",
    "Content-Type": "application/json",
}
_numbers = count(2_000_000_000)


def _resident() -> dict[str, Any]:
    return {
        "userId": str(uuid.uuid4()),
        "mobileNumber": f"+1{next(_numbers):010d}",
        "cardFormat": "37X",
        "facilityCode": 100,
        "issueCode": 0,
    }


@dataclass(frozen=True, slots=True)
class ClientRun:
    """One variant's measured round: requests, wall seconds and CPU seconds."""

    variant: str
    requests: int
    wall_s: float
    cpu_s: float

    @property
    def rps(self) -> float:
        """Requests per second of wall time."""
        return self.requests / self.wall_s

    @property
    def cpu_per_1000(self) -> float:
        """Client CPU-seconds spent per 1,000 requests."""
        return self.cpu_s * 1000 / self.requests


async def _bounded(n: int, concurrency: int, call: Callable[[int], Awaitable[None]]) -> None:
    queue: asyncio.Queue[int] = asyncio.Queue()
    for i in range(n):
        queue.put_nowait(i)

    async def worker() -> None:
        while True:
            try:
                i = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            await call(i)

    async with asyncio.TaskGroup() as tg:
        for _ in range(concurrency):
            tg.create_task(worker())


# --- (a) our client -------------------------------------------------------------------------


async def _ours(base_url: str, n: int, concurrency: int) -> int:
    from schlage_async import SchlageClient

    ids: list[str] = [""] * n
    async with SchlageClient(
        base_url=base_url,
        username=ADMIN_USERNAME,
        password=ADMIN_PASSWORD,
        subscription_key=SUBSCRIPTION_KEY,
    ) as client:

        async def create(i: int) -> None:
            r = _resident()
            created = await client.create_credential(
                user_id=r["userId"],
                mobile_number=r["mobileNumber"],
                card_format=r["cardFormat"],
                facility_code=r["facilityCode"],
                issue_code=r["issueCode"],
            )
            ids[i] = created.credential_id

        async def get(i: int) -> None:
            await client.get_credential(credential_id=ids[i])

        await _bounded(n, concurrency, create)
        await _bounded(n, concurrency, get)
    return 2 * n


async def _ours_under_structlog(base_url: str, n: int, concurrency: int) -> int:
    with structlog_configured():
        return await _ours(base_url, n, concurrency)


# --- (b) raw aiohttp + stdlib json ----------------------------------------------------------


async def _raw_aiohttp(base_url: str, n: int, concurrency: int) -> int:
    ids: list[str] = [""] * n
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.post(
            base_url + "/authentication/token",
            data=json.dumps({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}),
            headers=_HEADERS,
        ) as resp:
            token = json.loads(await resp.read())["token"]
        headers = {**_HEADERS, "Authorization": f"Bearer {token}"}

        async def create(i: int) -> None:
            async with session.post(
                base_url + "/credentials/mobile/basic",
                data=json.dumps(_resident()),
                headers=headers,
            ) as resp:
                ids[i] = json.loads(await resp.read())["credentialId"]

        async def get(i: int) -> None:
            async with session.get(
                base_url + "/credentials/mobile/basic/" + ids[i], headers=headers
            ) as resp:
                json.loads(await resp.read())

        await _bounded(n, concurrency, create)
        await _bounded(n, concurrency, get)
    return 2 * n


# --- (c) httpx + pydantic + tenacity --------------------------------------------------------


async def _httpx_pydantic(base_url: str, n: int, concurrency: int) -> int:
    import httpx
    import pydantic
    import tenacity

    class Created(pydantic.BaseModel):
        credentialId: str  # the wire's own name
        cardNumber: int

    class Cred(pydantic.BaseModel):
        credentialId: str
        userId: str
        mobileNumber: str
        cardNumber: int | None = None
        facilityCode: int | None = None
        issueCode: int | None = None
        isDownloaded: bool = False

    class NewCred(pydantic.BaseModel):
        userId: str
        mobileNumber: str
        cardFormat: str
        facilityCode: int
        issueCode: int

    retrying = tenacity.AsyncRetrying(
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_random_exponential(multiplier=0.25, max=20),
        retry=tenacity.retry_if_exception_type(httpx.TransportError),
        reraise=True,
    )
    ids: list[str] = [""] * n
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=base_url, headers=_HEADERS, limits=limits) as http:
        resp = await http.post(
            "/authentication/token",
            json={"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD},
        )
        http.headers["Authorization"] = f"Bearer {resp.json()['token']}"

        async def create(i: int) -> None:
            body = NewCred.model_validate(_resident()).model_dump()
            async for attempt in retrying.copy():
                with attempt:
                    resp = await http.post("/credentials/mobile/basic", json=body)
            ids[i] = Created.model_validate_json(resp.content).credentialId

        async def get(i: int) -> None:
            async for attempt in retrying.copy():
                with attempt:
                    resp = await http.get("/credentials/mobile/basic/" + ids[i])
            Cred.model_validate_json(resp.content)

        await _bounded(n, concurrency, create)
        await _bounded(n, concurrency, get)
    return 2 * n


VARIANTS: dict[str, Callable[[str, int, int], Coroutine[Any, Any, int]]] = {
    "schlage_async": _ours,
    "aiohttp_json": _raw_aiohttp,
    "httpx_pydantic_tenacity": _httpx_pydantic,
    "schlage_async_structlog": _ours_under_structlog,
}


def _run(sim: SimProcess, name: str, n: int, concurrency: int) -> ClientRun:
    sim.reset()
    wall0, cpu0 = time.perf_counter(), time.process_time()
    requests = asyncio.run(VARIANTS[name](sim.api_base_url, n, concurrency))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return ClientRun(name, requests, wall, cpu)


def measure_client_overhead(
    sim: SimProcess, *, n: int, concurrency: int, rounds: int
) -> dict[str, Any]:
    """Run every variant ``rounds`` times, interleaved; return medians and ratios.

    A short unmeasured pass first loads every import and warms the simulator. Each round
    starts with a different variant (rotation), so none always runs right after another;
    a ratio is the median of the per-round ratios (each taken between runs seconds apart,
    so a slow spell of the machine cancels out), not a ratio of medians.
    """
    names = list(VARIANTS)
    for name in names:
        _run(sim, name, max(n // 10, 20), concurrency)
    runs: dict[str, list[ClientRun]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_run(sim, name, n, concurrency))
    medians = {
        name: {
            "rps": statistics.median(r.rps for r in rs),
            "cpu_s_per_1000": statistics.median(r.cpu_per_1000 for r in rs),
            "rps_rounds": [round(r.rps) for r in rs],
        }
        for name, rs in runs.items()
    }

    def ratio(name: str, baseline: str, measure: str = "rps") -> float:
        return statistics.median(
            float(getattr(mine, measure)) / float(getattr(theirs, measure))
            for mine, theirs in zip(runs[name], runs[baseline], strict=True)
        )

    return {
        "variants": medians,
        "client_vs_aiohttp": ratio("schlage_async", "aiohttp_json"),
        "client_vs_httpx_pydantic": ratio("schlage_async", "httpx_pydantic_tenacity"),
        "cpu_vs_aiohttp": ratio("schlage_async", "aiohttp_json", "cpu_per_1000"),
        "client_structlog_vs_aiohttp": ratio("schlage_async_structlog", "aiohttp_json"),
        "cpu_structlog_vs_aiohttp": ratio(
            "schlage_async_structlog", "aiohttp_json", "cpu_per_1000"
        ),
        "params": {"requests_per_run": 2 * n, "concurrency": concurrency, "rounds": rounds},
    }
