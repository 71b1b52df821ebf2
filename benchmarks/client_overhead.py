"""Client overhead: the same creates and gets made by five clients, side by side.

Against a light stand-in server in its own process (``_standin.py``: canned answers, a
few microseconds a request, so the server is never the limit and its CPU share is
printed), N create-credential calls then N get-credential calls at a fixed concurrency,
made by

(a) ``schlage_async.SchlageClient`` (validation, retries, structured logs, msgspec),
    with logging at its default (nothing configured: warnings only);
(a') the same inside an application that configured structlog as the ``bulk`` CLI does
    (INFO filter, ``cache_logger_on_first_use=False``);
(b) raw aiohttp with stdlib json and no checks at all: the floor for this stack;
(c) aiohttp + pydantic v2 + tenacity, written well: one session with its headers and
    base URL, pydantic models validating the input and decoding the answers from bytes
    (``model_validate_json``), a tenacity decorator retrying connection errors: what a
    competent integrator writes instead on the same stack;
(d) httpx + pydantic + tenacity, kept as a separate, labelled row with the versions of
    httpx, httpcore and anyio and whether sniffio is installed (httpcore 1.0.9 imports
    sniffio on every request; without it the failed import rescans ``sys.path`` each
    time, which is most of what once looked like a 17x gap).

The headline is the client process's CPU-seconds per request (its own
``time.process_time``: the server runs elsewhere); requests per second stand beside it.
The variants run interleaved over several rounds (each round starting with another
variant) and a ratio is the median of the per-round ratios, with the spread (lowest and
highest round) beside it, so a noisy neighbour slows the variants alike.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import importlib.util
import json
import os
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from itertools import count
from typing import Any

import aiohttp

from ._log_config import structlog_configured
from ._process_usage import cpu_seconds
from ._simproc import ADMIN_PASSWORD, ADMIN_USERNAME, SUBSCRIPTION_KEY, SimProcess

__all__ = ["ClientRun", "library_versions", "measure_client_overhead"]

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
    server_cpu_s: float = 0.0

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


async def _ours(base_url: str, n: int, concurrency: int, **telemetry: Any) -> int:
    from schlage_async import SchlageClient

    ids: list[str] = [""] * n
    async with SchlageClient(
        base_url=base_url,
        username=ADMIN_USERNAME,
        password=ADMIN_PASSWORD,
        subscription_key=SUBSCRIPTION_KEY,
        **telemetry,
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


async def _ours_recording_telemetry(base_url: str, n: int, concurrency: int) -> int:
    """(a'') our client with the OpenTelemetry SDK's providers passed in: every span kept
    (an in-memory exporter behind a simple processor) and every metric recorded."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    meter_provider = MeterProvider(metric_readers=[InMemoryMetricReader()])
    try:
        return await _ours(
            base_url,
            n,
            concurrency,
            tracer_provider=tracer_provider,
            meter_provider=meter_provider,
        )
    finally:
        tracer_provider.shutdown()
        meter_provider.shutdown()


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


# --- (c) aiohttp + pydantic v2 + tenacity, written well ------------------------------------


async def _aiohttp_pydantic(base_url: str, n: int, concurrency: int) -> int:
    import pydantic
    import tenacity
    from pydantic.alias_generators import to_camel

    class Wire(pydantic.BaseModel):
        model_config = pydantic.ConfigDict(alias_generator=to_camel, populate_by_name=True)

    class NewCredential(Wire):
        user_id: str = pydantic.Field(min_length=1, max_length=64)
        mobile_number: str = pydantic.Field(pattern=r"^\+[1-9][0-9]{6,14}$")
        card_format: str
        facility_code: int | None = pydantic.Field(default=None, ge=0, le=65535)
        issue_code: int | None = pydantic.Field(default=None, ge=0)

    class Created(Wire):
        credential_id: str
        card_number: int

    class Credential(Wire):
        credential_id: str
        user_id: str
        mobile_number: str
        card_number: int | None = None
        facility_code: int | None = None
        issue_code: int | None = None
        is_downloaded: bool = False

    retry = tenacity.retry(
        stop=tenacity.stop_after_attempt(4),
        wait=tenacity.wait_random_exponential(multiplier=0.25, max=20),
        retry=tenacity.retry_if_exception_type((aiohttp.ClientConnectionError, TimeoutError)),
        reraise=True,
    )
    ids: list[str] = [""] * n
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(
        base_url=base_url + "/", connector=connector, headers=_HEADERS
    ) as session:
        async with session.post(
            "authentication/token",
            data=json.dumps({"username": ADMIN_USERNAME, "password": ADMIN_PASSWORD}),
        ) as resp:
            resp.raise_for_status()
            token = json.loads(await resp.read())["token"]
        session.headers["Authorization"] = f"Bearer {token}"

        @retry
        async def create_credential(new: NewCredential) -> Created:
            async with session.post(
                "credentials/mobile/basic", data=new.model_dump_json(by_alias=True)
            ) as resp:
                resp.raise_for_status()
                return Created.model_validate_json(await resp.read())

        @retry
        async def get_credential(credential_id: str) -> Credential:
            async with session.get("credentials/mobile/basic/" + credential_id) as resp:
                resp.raise_for_status()
                return Credential.model_validate_json(await resp.read())

        async def create(i: int) -> None:
            ids[i] = (await create_credential(NewCredential(**_resident()))).credential_id

        async def get(i: int) -> None:
            await get_credential(ids[i])

        await _bounded(n, concurrency, create)
        await _bounded(n, concurrency, get)
    return 2 * n


# --- (d) httpx + pydantic + tenacity (a separate, labelled row) ----------------------------


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
    "aiohttp_pydantic_tenacity": _aiohttp_pydantic,
    "schlage_async_structlog": _ours_under_structlog,
    "httpx_pydantic_tenacity": _httpx_pydantic,
}
if importlib.util.find_spec("opentelemetry.sdk") is not None:  # the metrics extra
    VARIANTS["schlage_async_otel_sdk"] = _ours_recording_telemetry


def _run(server: SimProcess, name: str, n: int, concurrency: int) -> ClientRun:
    server0 = cpu_seconds(server.pid)
    wall0, cpu0 = time.perf_counter(), time.process_time()
    requests = asyncio.run(VARIANTS[name](server.api_base_url, n, concurrency))
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return ClientRun(name, requests, wall, cpu, cpu_seconds(server.pid) - server0)


SHARE_OF_N: dict[str, float] = {"httpx_pydantic_tenacity": 0.1}
"""Variants run with fewer calls: httpx is 10x slower, and only a labelled row."""


def measure_client_overhead(
    server: SimProcess,
    *,
    n: int,
    concurrency: int,
    rounds: int,
    only: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Run every variant ``rounds`` times, interleaved; return medians, ratios and spreads.

    ``server`` is the stand-in (or any server answering the three calls). A short
    unmeasured pass first loads every import. Each round starts with a different variant
    (rotation), so none always runs right after another; a ratio is the median of the
    per-round ratios (each taken between runs seconds apart, so a slow spell of the
    machine cancels out), not a ratio of medians.
    """
    names = [name for name in VARIANTS if only is None or name in only]
    sizes = {name: max(int(n * SHARE_OF_N.get(name, 1.0)), 20) for name in names}
    for name in names:
        _run(server, name, max(sizes[name] // 10, 20), concurrency)
    load_before = os.getloadavg()
    runs: dict[str, list[ClientRun]] = {name: [] for name in names}
    for round_ in range(rounds):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            runs[name].append(_run(server, name, sizes[name], concurrency))
    load_after = os.getloadavg()
    medians = {
        name: {
            "rps": statistics.median(r.rps for r in rs),
            "cpu_us_per_request": statistics.median(r.cpu_per_1000 for r in rs) * 1000,
            "cpu_s_per_1000": statistics.median(r.cpu_per_1000 for r in rs),
            "server_cpu_share": statistics.median(r.server_cpu_s / r.wall_s for r in rs),
            "client_cpu_share": statistics.median(r.cpu_s / r.wall_s for r in rs),
            "rps_rounds": [round(r.rps) for r in rs],
            "cpu_us_rounds": [round(r.cpu_per_1000 * 1000, 1) for r in rs],
        }
        for name, rs in runs.items()
    }

    def ratio(name: str, baseline: str, measure: str = "rps") -> dict[str, Any]:
        if name not in runs or baseline not in runs:
            return {"value": float("nan"), "rounds": [], "spread": None}
        per_round = [
            float(getattr(mine, measure)) / float(getattr(theirs, measure))
            for mine, theirs in zip(runs[name], runs[baseline], strict=True)
        ]
        return {
            "value": statistics.median(per_round),
            "rounds": [round(r, 3) for r in per_round],
            "spread": [round(min(per_round), 3), round(max(per_round), 3)],
        }

    return {
        "variants": medians,
        "client_cpu_vs_aiohttp": ratio("schlage_async", "aiohttp_json", "cpu_per_1000"),
        "client_cpu_vs_aiohttp_structlog": ratio(
            "schlage_async_structlog", "aiohttp_json", "cpu_per_1000"
        ),
        "client_vs_aiohttp": ratio("schlage_async", "aiohttp_json"),
        "client_structlog_vs_aiohttp": ratio("schlage_async_structlog", "aiohttp_json"),
        "client_vs_aiohttp_pydantic": ratio("schlage_async", "aiohttp_pydantic_tenacity"),
        "client_cpu_vs_aiohttp_pydantic": ratio(
            "schlage_async", "aiohttp_pydantic_tenacity", "cpu_per_1000"
        ),
        "client_vs_httpx_pydantic": ratio("schlage_async", "httpx_pydantic_tenacity"),
        "client_cpu_otel_sdk_vs_off": ratio(
            "schlage_async_otel_sdk", "schlage_async", "cpu_per_1000"
        ),
        "server_cpu_share_max": max(
            statistics.median(r.server_cpu_s / r.wall_s for r in rs) for rs in runs.values()
        ),
        "load_average": {"before": list(load_before), "after": list(load_after)},
        "versions": library_versions(),
        "params": {
            "requests_per_run": 2 * n,
            "requests_per_run_by_variant": {name: 2 * size for name, size in sizes.items()},
            "concurrency": concurrency,
            "rounds": rounds,
            "server": "light stand-in (benchmarks/_standin.py), its own process",
        },
    }


_LIBRARIES = (
    "aiohttp", "yarl", "multidict", "msgspec", "structlog", "pydantic", "pydantic-core",
    "tenacity", "httpx", "httpcore", "anyio", "sniffio", "aiolimiter",
)  # fmt: skip


def library_versions() -> dict[str, str | None]:
    """The installed version of every library a variant uses (None: not installed)."""
    found: dict[str, str | None] = {}
    for name in _LIBRARIES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            found[name] = None
    return found
