"""AccountBudget: one account's token, logins, rate and pause shared by every caller."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from schlage_async import (
    AccountBudget,
    ConfigurationError,
    InMemoryTokenCache,
    Lane,
    SchlageClient,
    lane_context,
)
from schlage_async.simulator import SimulatorHandle


def _client(sim: SimulatorHandle, budget: AccountBudget | None, **overrides: Any) -> SchlageClient:
    options: dict[str, Any] = {
        "base_url": sim.api_base_url,
        "username": sim.admin.username,
        "password": sim.admin.password,
        "subscription_key": sim.admin.subscription_key,
        "budget": budget,
    }
    options.update(overrides)
    return SchlageClient(**options)


async def test_clients_on_one_budget_log_in_once(simulator: SimulatorHandle) -> None:
    """Three clients of one account, all calling at once, share one login."""
    budget = AccountBudget(rate=0)
    clients = [_client(simulator, budget) for _ in range(3)]
    try:
        await asyncio.gather(*(c.list_credentials() for c in clients for _ in range(3)))
    finally:
        for client in clients:
            await client.aclose()
    assert simulator.state.counters.logins_succeeded == 1


async def test_clients_without_a_budget_log_in_each(simulator: SimulatorHandle) -> None:
    """The contrast: separate clients, separate tokens."""
    clients = [_client(simulator, None) for _ in range(2)]
    try:
        await asyncio.gather(*(c.list_credentials() for c in clients))
    finally:
        for client in clients:
            await client.aclose()
    assert simulator.state.counters.logins_succeeded == 2


async def test_a_budget_paces_its_clients_at_the_account_rate(simulator: SimulatorHandle) -> None:
    """Told 20/s, two clients' calls together are spaced 50 ms apart."""
    budget = AccountBudget(rate=20.0)
    clients = [_client(simulator, budget) for _ in range(2)]
    loop = asyncio.get_running_loop()
    try:
        await clients[0].list_credentials()  # the login, out of the measurement
        started = loop.time()
        await asyncio.gather(*(c.list_credentials() for c in clients for _ in range(5)))
        elapsed = loop.time() - started
    finally:
        for client in clients:
            await client.aclose()
    assert elapsed >= 9 * 0.05 * 0.9  # ten calls: nine intervals at least


async def test_a_429_heard_by_a_client_cuts_an_adaptive_budget(
    simulator_factory: Any,
) -> None:
    """The gateway's 429 reaches the budget through the client: its rate comes down."""
    sim = await simulator_factory(rate_limit=2.0, burst=1.0)
    budget = AccountBudget(rate=None)
    controller = budget.controller
    assert controller is not None
    controller.rate = 50.0
    controller.slow_start = False
    client = _client(sim, budget)
    try:
        await asyncio.gather(*(client.list_credentials() for _ in range(6)), return_exceptions=True)
    finally:
        await client.aclose()
    assert budget.rate is not None
    assert budget.rate < 50.0


async def test_the_lane_header_names_the_lane_when_asked(simulator: SimulatorHandle) -> None:
    """send_lane_header: the client's lane, or the lane of the block the call is made in."""
    seen: list[str | None] = []

    async def trace(_session: object, _context: object, params: Any) -> None:
        seen.append(params.headers.get("X-Schlage-Lane"))

    tracing = aiohttp.TraceConfig()
    tracing.on_request_start.append(trace)
    async with aiohttp.ClientSession(trace_configs=[tracing]) as session:
        budget = AccountBudget(rate=0)
        async with _client(simulator, budget, send_lane_header=True, session=session) as client:
            await client.list_credentials()
            with lane_context(Lane.BULK):
                await client.list_credentials()
        async with _client(simulator, None, session=session) as quiet:
            await quiet.list_credentials()
    # login + list as interactive, list as bulk; then the client not told: no header.
    assert seen == ["interactive", "interactive", "bulk", None, None]


def _offline(**overrides: Any) -> SchlageClient:
    """A client of a made-up service (never called): what its settings allow."""
    options: dict[str, Any] = {
        "base_url": "https://api.example.com",
        "username": "u",
        "password": "p",
        "subscription_key": "k",
    }
    return SchlageClient(**{**options, **overrides})


def test_a_budget_refuses_the_parts_it_holds() -> None:
    """budget= with token_cache/rate_limiter/...: one of them would be ignored; refused."""
    with pytest.raises(ConfigurationError, match="drop token_cache"):
        _offline(budget=AccountBudget(rate=0), token_cache=InMemoryTokenCache())


def test_a_budget_is_one_accounts() -> None:
    """A second account on the same budget is refused."""
    budget = AccountBudget(rate=0)
    _offline(username="one", budget=budget)
    with pytest.raises(ConfigurationError, match="another account"):
        _offline(username="two", budget=budget)


def test_an_unknown_lane_is_refused() -> None:
    """lane= must be one of the three lanes."""
    with pytest.raises(ConfigurationError, match="unknown lane 'vip'"):
        _offline(budget=AccountBudget(rate=0), lane="vip")


@pytest.mark.parametrize("weight", [0.0, -1.0, float("nan"), float("inf")], ids=str)
def test_a_weight_must_be_positive(weight: float) -> None:
    """A job's weight is a positive number."""
    with pytest.raises(ConfigurationError, match="weight must be a positive number"):
        AccountBudget(rate=10).limiter(Lane.BULK, job="m", weight=weight)


async def test_connect_without_a_url_is_this_process() -> None:
    """connect(None): an in-process budget, bound to the account given."""
    budget = await AccountBudget.connect(None, base_url="https://api.example.com", username="u")
    assert budget.account == "https://api.example.com|u"
    await budget.aclose()


async def test_connect_to_a_server_that_does_not_answer_names_no_url() -> None:
    """A Redis that does not answer: one clear error that never repeats the URL."""
    with pytest.raises(ConfigurationError, match="does not answer") as caught:
        await AccountBudget.connect(
            "redis://user:s3cret@127.0.0.1:1/0", base_url="https://api.example.com", username="u"
        )
    assert "s3cret" not in str(caught.value)
