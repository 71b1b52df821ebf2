"""Login storms: a token expiring under 500 concurrent tasks, and a server that says 401 always.

``tests/client/test_auth.py`` proves single-flight renewal against a scripted fake (1,000
calls) and the login limiter against sequential calls. Here the same promises meet the
real simulator and the engine: 500 tasks at once when the token expires by the client's
clock, by the server's clock (every task gets a 401), and in the middle of a migration;
and 500 tasks at once, wave after wave, against a server that refuses every token (or
every login), which must never see more logins than the limiter admits.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulk import (
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    ProgressSnapshot,
    StopReason,
    generate_portfolio,
    migrate,
    read_input,
    verify_against_state,
)
from bulk._calls import ENGINE_RETRY_POLICY
from bulk._pause import PauseGate
from bulk.cli.exits import exit_code_for
from schlage_async import (
    AuthenticationError,
    ErrorCode,
    Operation,
    RateLimitedError,
    SchlageClient,
)
from schlage_async._login_limiter import SlidingWindowLimiter
from schlage_async._seed_errors import message_for

TASKS: Final = 500
LOGIN: Final = Operation.LOGIN.value


class WallClock:
    """A wall clock the test moves forward (the client's view of token expiry)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _client(sim: Any, **options: Any) -> SchlageClient:
    return SchlageClient(
        base_url=sim.api_base_url,
        username=sim.admin.username,
        password=sim.admin.password,
        subscription_key=sim.admin.subscription_key,
        connector_limit=TASKS,
        **options,
    )


def _logins(sim: Any) -> int:
    return sum(sim.state.snapshot()["counters"]["requests"].get(LOGIN, {}).values())


async def _seed_users(client: SchlageClient, count: int) -> list[str]:
    users = [str(uuid.uuid4()) for _ in range(count)]
    for n, user in enumerate(users):
        await client.create_credential(
            user_id=user, mobile_number=f"+1555300{n:04d}", card_format="26A", facility_code=1
        )
    return users


@pytest.mark.slow
@pytest.mark.parametrize("whose_clock", ["client", "server"], ids=["client-clock", "server-clock"])
async def test_a_token_expiring_under_500_concurrent_tasks_costs_exactly_one_login(
    simulator: Any, whose_clock: str
) -> None:
    """By the client's clock (renewed before sending) or the server's (500 401s): one login."""
    clock = WallClock()
    async with _client(simulator, clock=clock) as client:
        users = await _seed_users(client, 20)
        assert _logins(simulator) == 1
        if whose_clock == "client":
            clock.now += 36_000  # past the renewal point: every task finds it due
        else:
            simulator.clock.advance(36_001)  # the service now refuses the token
        found = await asyncio.gather(
            *(client.get_credential_by_user(user_id=users[n % 20]) for n in range(TASKS))
        )
        assert len(found) == TASKS
        assert _logins(simulator) == 2  # exactly one more, for 500 tasks
        assert client.stats.logins == 2
        refused = client.stats.by_status.get(401, 0)
        assert refused == (0 if whose_clock == "client" else TASKS)


class ExpireMidway:
    """A progress sink that moves the simulator's clock past the token's life mid-run."""

    def __init__(self, sim: Any) -> None:
        self.sim = sim
        self.expired = False

    def start(self, total: int | None) -> None:
        """The run begins."""

    def update(self, snapshot: ProgressSnapshot) -> None:
        """Once a third of the residents are done, expire every token."""
        if not self.expired and snapshot.succeeded >= 1000:
            self.sim.clock.advance(36_001)
            self.expired = True

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """The run ended."""


@pytest.mark.slow
async def test_a_token_expiring_mid_migration_under_500_workers_costs_one_login(
    simulator: Any, clock: Any, tmp_path: Path
) -> None:
    """The engine with 500 workers: the service expires the token mid-run; one login."""
    portfolio = generate_portfolio(tmp_path / "p.jsonl", 3000, seed=4)
    expiry = ExpireMidway(simulator)
    async with _client(simulator, retry=ENGINE_RETRY_POLICY) as client:
        summary = await migrate(
            client,
            read_input(portfolio.path),
            MemoryCheckpointStore(),
            options=MigrationOptions(concurrency=TASKS),
            progress=expiry,
            gate=PauseGate(clock=clock, sleep=clock.sleep),
            sleep=clock.sleep,
        )
    assert expiry.expired
    assert summary.status is MigrationStatus.COMPLETED
    assert verify_against_state(read_input(portfolio.path), simulator.state.snapshot()).ok
    assert summary.logins == 2
    assert _logins(simulator) == 2
    assert client.stats.by_status.get(401, 0) > 0  # the expiry really hit calls in flight


@dataclass
class RefusingServer:
    """A server that answers 401 to every credential call (and, if told, to every login)."""

    refuse_logins: bool
    logins: int = 0
    calls: int = 0
    url: str = ""

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        if request.path.endswith("/authentication/token"):
            self.logins += 1
            if not self.refuse_logins:
                return web.json_response({"token": f"a.b.{self.logins}"})
        else:
            self.calls += 1
        message = message_for(Operation.LIST_CREDENTIALS, ErrorCode.TOKEN_INVALID)
        return web.json_response({"message": message, "messages": [message]}, status=401)


@pytest.fixture(params=[False, True], ids=["tokens-refused", "logins-refused"])
async def refusing(request: pytest.FixtureRequest) -> AsyncIterator[RefusingServer]:
    """The refusing server on 127.0.0.1."""
    server = RefusingServer(refuse_logins=request.param)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.handle)
    test_server = TestServer(app, host="127.0.0.1")
    await test_server.start_server()
    server.url = str(test_server.make_url("/smc-api"))
    yield server
    await test_server.close()


class Monotonic:
    """The login limiter's clock, moved by the test."""

    def __init__(self) -> None:
        self.now = 10_000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.slow
async def test_a_server_that_always_says_401_never_sees_more_logins_than_the_limiter_allows(
    refusing: RefusingServer,
) -> None:
    """Waves of 500 concurrent calls: one login per wave at most, never over the budget."""
    monotonic = Monotonic()
    limit = 5
    limiter = SlidingWindowLimiter(limit, 900.0, clock=monotonic)
    async with SchlageClient(
        base_url=refusing.url,
        username="ops@example.com",
        password="pw-storm-123",
        subscription_key="sk-storm-456",
        login_limiter=limiter,
        connector_limit=TASKS,
    ) as client:
        for _wave in range(limit + 3):
            results = await asyncio.gather(
                *(client.list_credentials() for _ in range(TASKS)), return_exceptions=True
            )
            assert all(isinstance(r, AuthenticationError | RateLimitedError) for r in results)
            assert refusing.logins <= limit
            monotonic.now += 1.0
        assert refusing.logins == limit  # the budget was spent, and never overspent
        refused = [r for r in results if isinstance(r, RateLimitedError)]
        assert len(refused) == TASKS  # the last wave: refused before sending any login
        assert all(r.sent is False and r.retry_after for r in refused)
        # Once the window has slid past the first logins, one more login goes out.
        monotonic.now += 900.0
        await asyncio.gather(
            *(client.list_credentials() for _ in range(TASKS)), return_exceptions=True
        )
        assert limit < refusing.logins <= limit + 2


@pytest.mark.slow
async def test_the_engine_against_a_server_that_always_says_401_stops_after_two_logins(
    refusing: RefusingServer, clock: Any, tmp_path: Path
) -> None:
    """A migration meeting 401s everywhere stops (exit 2) at once: no login storm."""
    portfolio = generate_portfolio(tmp_path / "p.jsonl", 2000, seed=8)
    async with SchlageClient(
        base_url=refusing.url,
        username="ops@example.com",
        password="pw-storm-123",
        subscription_key="sk-storm-456",
        retry=ENGINE_RETRY_POLICY,
        connector_limit=TASKS,
    ) as client:
        summary = await migrate(
            client,
            read_input(portfolio.path),
            MemoryCheckpointStore(),
            options=MigrationOptions(concurrency=TASKS),
            gate=PauseGate(clock=clock, sleep=clock.sleep),
            sleep=clock.sleep,
        )
    assert summary.stop_reason is StopReason.ACCESS_REFUSED
    assert exit_code_for(summary) == 2
    assert refusing.logins <= 2
    assert summary.succeeded == 0
