"""RedisLaneScheduler against a real Redis: lanes, weights and floors across processes."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff

from schlage_async import AccountBudget, Lane, SchlageClient
from schlage_async.shared import RedisLaneScheduler
from schlage_async.simulator import SimulatorHandle

Scheduler = Callable[..., RedisLaneScheduler]


@pytest.fixture
async def scheduler(redis: Redis, key_prefix: str) -> AsyncIterator[Scheduler]:
    """Schedulers on this test's keys (each one stands for a process), closed after."""
    made: list[RedisLaneScheduler] = []

    def make(client: Redis | None = None, **kwargs: object) -> RedisLaneScheduler:
        options: dict[str, object] = {"scope": "acct", "prefix": key_prefix, **kwargs}
        made.append(RedisLaneScheduler(client or redis, **options))  # type: ignore[arg-type]
        return made[-1]

    yield make
    for one in made:
        await one.aclose()


async def _keep_asking(
    scheduler: RedisLaneScheduler, lane: Lane, job: str, until: float, got: Counter[str],
    weight: float = 1.0, callers: int = 4,
) -> None:  # fmt: skip
    async def caller() -> None:
        while time.monotonic() < until:
            await scheduler.acquire(lane, job, weight)
            got[f"{lane}/{job}"] += 1

    await asyncio.gather(*(caller() for _ in range(callers)))


async def test_two_processes_together_hold_the_rate(scheduler: Scheduler) -> None:
    """Two schedulers on one account, told 100/s, grant about 100 a second between them."""
    got: Counter[str] = Counter()
    until = time.monotonic() + 2.0
    a, b = scheduler(rate=100.0), scheduler(rate=100.0)
    await asyncio.gather(
        _keep_asking(a, Lane.BULK, "a", until, got), _keep_asking(b, Lane.BULK, "b", until, got)
    )
    total = sum(got.values())
    assert 170 <= total <= 200 + 8 + 1  # eight callers may each finish one slot late


async def test_an_interactive_call_in_another_process_waits_about_a_slot(
    scheduler: Scheduler,
) -> None:
    """A migration saturating the account in one process; the front desk in another waits
    for its slot, not behind the migration's queue."""
    got: Counter[str] = Counter()
    bulk, desk = scheduler(rate=50.0), scheduler(rate=50.0)
    until = time.monotonic() + 3.0
    migration = asyncio.create_task(_keep_asking(bulk, Lane.BULK, "m", until, got, callers=32))
    await asyncio.sleep(0.5)
    waits = []
    for _ in range(10):
        started = time.monotonic()
        await desk.acquire(Lane.INTERACTIVE)
        waits.append(time.monotonic() - started)
        await asyncio.sleep(0.2)
    await migration
    assert max(waits) <= 0.1  # 32 bulk callers queued: behind them would be 0.6 s


async def test_two_jobs_share_the_bulk_lane_by_weight(scheduler: Scheduler) -> None:
    """Weights 1 and 3 in two processes: a quarter and three quarters (within 5 %)."""
    got: Counter[str] = Counter()
    until = time.monotonic() + 3.0
    light, heavy = scheduler(rate=200.0), scheduler(rate=200.0)
    await asyncio.gather(
        _keep_asking(light, Lane.BULK, "light", until, got, weight=1.0),
        _keep_asking(heavy, Lane.BULK, "heavy", until, got, weight=3.0),
    )
    share = got["bulk/heavy"] / (got["bulk/heavy"] + got["bulk/light"])
    assert share == pytest.approx(0.75, abs=0.05)
    shares = await light.shares(window=3.0)
    assert shares.job_share(Lane.BULK, "heavy") == pytest.approx(0.75, abs=0.05)


@pytest.mark.parametrize("higher", [Lane.INTERACTIVE, Lane.SYNC], ids=str)
async def test_a_higher_lane_goes_first_and_bulk_keeps_its_floor(
    scheduler: Scheduler, higher: Lane
) -> None:
    """A higher lane saturating in one process, bulk in another: bulk gets about a tenth."""
    got: Counter[str] = Counter()
    until = time.monotonic() + 2.0
    high, bulk = scheduler(rate=100.0), scheduler(rate=100.0)
    await asyncio.gather(
        _keep_asking(high, higher, "desk", until, got),
        _keep_asking(bulk, Lane.BULK, "m", until, got),
    )
    share = got["bulk/m"] / sum(got.values())
    assert 0.05 <= share <= 0.2


async def test_a_higher_lane_with_nobody_queued_leaves_no_slot_empty(
    scheduler: Scheduler,
) -> None:
    """One sync call every 0.1 s in one process, bulk saturating in another: bulk takes
    every slot the sync calls leave (a lane blocks lower ones only while callers queue)."""
    got: Counter[str] = Counter()
    until = time.monotonic() + 2.0
    sync, bulk = scheduler(rate=100.0), scheduler(rate=100.0)

    async def now_and_then() -> None:
        while time.monotonic() < until:
            await sync.acquire(Lane.SYNC, "apply")
            got["sync/apply"] += 1
            await asyncio.sleep(0.1)

    await asyncio.gather(now_and_then(), _keep_asking(bulk, Lane.BULK, "m", until, got))
    assert got["sync/apply"] >= 15
    assert sum(got.values()) >= 0.9 * 100 * 2.0


async def test_a_job_back_from_a_silence_claims_no_credit(scheduler: Scheduler) -> None:
    """Two jobs of one weight; one stops for 0.8 s (within its lease) and comes back: the
    two share the lane from then on, the one that went on is not shut out to even up."""
    got: Counter[str] = Counter()
    first, second = scheduler(rate=100.0), scheduler(rate=100.0)
    start = time.monotonic()
    steady = asyncio.create_task(_keep_asking(first, Lane.BULK, "a", start + 2.0, got))
    await _keep_asking(second, Lane.BULK, "b", start + 0.3, got)
    await asyncio.sleep(0.8)
    back = time.monotonic()
    before = got["bulk/a"]
    await _keep_asking(second, Lane.BULK, "b", back + 0.9, got)
    share = (got["bulk/a"] - before) / (100 * 0.9)
    await steady
    assert share >= 0.35  # an even share; shut out while "b" caught up, it would be ~0


async def test_a_job_that_stops_asking_gives_its_share_back_within_a_lease(
    scheduler: Scheduler,
) -> None:
    """A heavy job killed mid-run: the light one has the whole lane right after."""
    got: Counter[str] = Counter()
    light, heavy = scheduler(rate=100.0, lease=0.5), scheduler(rate=100.0, lease=0.5)
    killed = asyncio.create_task(
        _keep_asking(heavy, Lane.BULK, "heavy", time.monotonic() + 60, got, weight=3.0)
    )
    await asyncio.sleep(1.0)
    killed.cancel()  # as a SIGKILL would: no goodbye to Redis
    with contextlib.suppress(asyncio.CancelledError):
        await killed
    after: Counter[str] = Counter()
    start = time.monotonic()
    await _keep_asking(light, Lane.BULK, "light", start + 1.5, after)
    assert after["bulk/light"] >= 0.85 * 100 * 1.5


async def test_a_429_heard_anywhere_cuts_the_found_rate_for_everyone(
    scheduler: Scheduler,
) -> None:
    """No rate told: one process steers; 429s reported by another bring the rate down."""
    steering, other = scheduler(), scheduler()
    await steering.acquire(Lane.BULK, "m")
    await other.acquire(Lane.BULK, "n")
    await asyncio.sleep(0.3)
    before = other.rate
    assert before is not None
    for _ in range(3):
        other.feedback(Lane.BULK, throttled=True)
    for _ in range(20):
        await asyncio.sleep(0.1)
        await other.acquire(Lane.BULK, "n")  # each grant brings the stored rate back
        if (other.rate or before) < before:
            break
    assert other.rate is not None
    assert other.rate < before


async def test_a_new_steering_process_starts_from_the_stored_rate(
    scheduler: Scheduler, redis: Redis, key_prefix: str
) -> None:
    """The process that steered is gone; the next one carries on from the rate it stored,
    not from slow start at 10/s."""
    from schlage_async.shared._keys import hashed

    state = f"{key_prefix}lanes:{hashed('acct')}"
    await redis.hset(state, mapping={"rate": "80.000", "found": "1"})
    heir = scheduler()
    await heir.acquire(Lane.BULK, "m")
    assert heir.rate == pytest.approx(80.0)
    for _ in range(5):
        heir.feedback(Lane.BULK, throttled=False)
    await asyncio.sleep(0.35)  # a few looks of the steering task
    assert heir.controller is not None  # it steers now
    assert heir.rate is not None
    assert heir.rate >= 75.0
    heir.feedback(Lane.BULK, throttled=True)
    await asyncio.sleep(0.35)
    assert heir.rate < 75.0  # and a 429 still cuts it


def test_redis_away_from_the_start_paces_at_the_fallback_rate(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """No Redis at all: this process paces at ``fallback_rate``, warning once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nobody listens there

    async def run() -> int:
        client = Redis(
            host="127.0.0.1", port=port, socket_connect_timeout=0.2,
            retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), 2),  # as AccountBudget.connect
        )  # fmt: skip
        alone = RedisLaneScheduler(client, scope="acct", rate=100.0, fallback_rate=20.0)
        await alone.acquire(Lane.BULK, "m")  # finds Redis away
        got: Counter[str] = Counter()
        await _keep_asking(alone, Lane.BULK, "m", time.monotonic() + 1.0, got)
        assert (await alone.shares()).lanes  # its own count while Redis is away
        await alone.aclose()
        await client.aclose()
        return got["bulk/m"]

    assert 18 <= asyncio.run(run()) <= 24  # 20/s for a second, the caller's last one late
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1


class _Proxy:
    """A TCP forwarder to Redis that the test can cut and restore."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.server: asyncio.Server | None = None
        self.port = 0
        self.links: list[asyncio.StreamWriter] = []

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.links:
            writer.close()
        self.links.clear()
        await self.server.wait_closed()

    async def _link(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self.links += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(Exception):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


async def test_redis_lost_mid_run_paces_locally_then_rejoins(
    scheduler: Scheduler, redis_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Redis away: this process goes on alone at the rate, warns once, and comes back
    without a burst when Redis answers again."""
    host, port = redis_url.split("//")[1].split("/")[0].rsplit(":", 1)
    proxy = _Proxy((host.split("@")[-1], int(port)))
    await proxy.start()
    client = Redis(
        host="127.0.0.1", port=proxy.port, socket_timeout=0.5, socket_connect_timeout=0.5,
        retry=Retry(ExponentialBackoff(cap=0.25, base=0.05), 2),  # as AccountBudget.connect
    )  # fmt: skip
    one = scheduler(client, rate=50.0, burst=5.0)
    got: Counter[str] = Counter()
    await _keep_asking(one, Lane.BULK, "m", time.monotonic() + 0.5, got)
    await proxy.cut()
    away: Counter[str] = Counter()
    start = time.monotonic()
    await _keep_asking(one, Lane.BULK, "m", start + 1.0, away)
    assert 30 <= away["bulk/m"] <= 60  # local pacing at about 50/s
    assert sum("Redis unreachable" in r.getMessage() for r in caplog.records) == 1
    await proxy.start()
    back: Counter[str] = Counter()
    sent: list[float] = []

    async def caller() -> None:
        while time.monotonic() < start + 1.0:
            await one.acquire(Lane.BULK, "m")
            sent.append(time.monotonic())
            back["bulk/m"] += 1

    start = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(4)))
    assert 35 <= back["bulk/m"] <= 56  # the shared schedule again
    # No burst on coming back (Redis's schedule went stale meanwhile): any five slots in
    # a row span at least 40 ms (evenly spaced they span 80; the bucket's five at once,
    # about none). Counted per 50 ms window, one wake-up the event loop held late let a
    # fourth slot in beside its neighbour (a wall-clock assertion, flaky).
    sent.sort()
    assert min(b - a for a, b in zip(sent, sent[4:], strict=False)) >= 0.04
    await one.aclose()
    await client.aclose()
    await proxy.cut()


_WORKER = """
import asyncio, sys, time
from redis.asyncio import Redis
from schlage_async import Lane
from schlage_async.shared import RedisLaneScheduler

async def main() -> None:
    url, prefix, job, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
    redis = Redis.from_url(url)
    scheduler = RedisLaneScheduler(redis, scope="acct", prefix=prefix, rate=90.0)
    until, got = time.monotonic() + seconds, 0
    async def caller() -> None:
        nonlocal got
        while time.monotonic() < until:
            await scheduler.acquire(Lane.BULK, job)
            got += 1
    await asyncio.gather(*(caller() for _ in range(4)))
    await scheduler.aclose()
    await redis.aclose()
    print(got)

asyncio.run(main())
"""


def test_three_processes_share_one_rate_and_one_lane(redis_url: str, key_prefix: str) -> None:
    """Three real processes, one job each: 90/s between them, a third each."""
    procs = [
        subprocess.Popen(  # noqa: S603  # our interpreter, our module
            [sys.executable, "-c", _WORKER, redis_url, key_prefix, f"job{i}", "3"],
            stdout=subprocess.PIPE,
            text=True,
        )
        for i in range(3)
    ]
    counts = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    keys = SyncRedis.from_url(redis_url)
    stale = list(keys.scan_iter(match=f"{key_prefix}*"))
    if stale:
        keys.delete(*stale)
    keys.close()
    assert sum(counts) <= 90 * 3.6  # start-up skews the ends, never above the rate
    assert sum(counts) >= 90 * 2.0
    assert max(counts) - min(counts) <= 0.15 * sum(counts) / 3 + 10


def test_bad_settings_are_refused(redis_url: str) -> None:
    """A rate that is not positive, a lease that is not: refused with their names."""
    client = Redis.from_url(redis_url)
    with pytest.raises(ValueError, match="rate must be"):
        RedisLaneScheduler(client, scope="acct", rate=0.0)
    with pytest.raises(ValueError, match="lease must be"):
        RedisLaneScheduler(client, scope="acct", lease=0.0)
    with pytest.raises(ValueError, match="fallback_rate must be"):
        RedisLaneScheduler(client, scope="acct", fallback_rate=-1.0)


async def test_clients_in_separate_budgets_on_one_redis_log_in_once(
    redis_url: str, key_prefix: str, redis: Redis, simulator: SimulatorHandle
) -> None:
    """Two processes' budgets on one Redis: one login for the account, whoever asks."""
    admin = simulator.admin
    budgets = [
        await AccountBudget.connect(
            redis_url, base_url=simulator.api_base_url, username=admin.username,
            prefix=key_prefix, rate=50.0,
        )
        for _ in range(2)
    ]  # fmt: skip
    clients = [
        SchlageClient(
            base_url=simulator.api_base_url, username=admin.username, password=admin.password,
            subscription_key=admin.subscription_key, budget=budget,
        )
        for budget in budgets
    ]  # fmt: skip
    try:
        await asyncio.gather(*(c.list_credentials() for c in clients for _ in range(3)))
    finally:
        for client in clients:
            await client.aclose()
        for budget in budgets:
            await budget.aclose()
    assert simulator.state.counters.logins_succeeded == 1
    assert simulator.state.counters.too_many_requests == 0


async def test_an_interactive_call_waits_for_the_accounts_429_pause(
    redis_url: str, key_prefix: str, redis: Redis, simulator: SimulatorHandle
) -> None:
    """A 429 pause (another process obeying a Retry-After) holds the front desk too."""
    admin = simulator.admin
    budget = await AccountBudget.connect(
        redis_url, base_url=simulator.api_base_url, username=admin.username,
        prefix=key_prefix, rate=50.0,
    )  # fmt: skip
    async with (
        budget,
        SchlageClient(
            base_url=simulator.api_base_url, username=admin.username, password=admin.password,
            subscription_key=admin.subscription_key, budget=budget,
        ) as desk,
    ):  # fmt: skip
        await desk.list_credentials()
        budget.pause.pause_for(0.6)
        started = time.monotonic()
        await desk.list_credentials()
        assert time.monotonic() - started >= 0.55
