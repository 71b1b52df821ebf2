"""The simulator counts its answers by the lane header, so tests can tell who met 429s."""

from __future__ import annotations

from typing import Any

import aiohttp

from schlage_async import AccountBudget, Lane, RetryPolicy, SchlageClient, lane_context
from schlage_async.simulator import SimulatorHandle


def _client(sim: SimulatorHandle, **overrides: Any) -> SchlageClient:
    admin = sim.admin
    return SchlageClient(
        base_url=sim.api_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
        **overrides,
    )


async def test_answers_are_counted_by_lane_with_their_429s(simulator_factory: Any) -> None:
    """Two lanes, a bucket of one: 2xx and 429 land under the lane that was answered."""
    sim = await simulator_factory(rate_limit=1.0, burst=1.0)
    budget = AccountBudget(rate=0)  # no pacing: the gateway's 429s are the point
    async with _client(sim, budget=budget, send_lane_header=True) as client:
        await client.list_credentials()  # login (interactive) + one call: the bucket's token
        with lane_context(Lane.BULK):
            for _ in range(2):
                try:
                    await client.list_credentials(retry=RetryPolicy.none())
                except Exception:  # noqa: S112 - the 429 is what this test counts
                    continue
    lanes = sim.state.counters.as_json()["lanes"]
    assert lanes["interactive"]["ok"] == 2  # the login and the first list
    assert lanes["bulk"]["429"] >= 1
    assert lanes["bulk"]["total"] == lanes["bulk"]["ok"] + lanes["bulk"]["429"]


async def test_a_call_without_the_header_counts_as_none(simulator: SimulatorHandle) -> None:
    """No header (a real client's default): counted under ``none``."""
    async with _client(simulator) as client:
        await client.list_credentials()
    lanes = simulator.state.counters.as_json()["lanes"]
    assert set(lanes) == {"none"}
    assert lanes["none"]["ok"] == 2


async def test_an_unknown_lane_is_counted_as_other_never_refused(
    simulator: SimulatorHandle,
) -> None:
    """A gateway ignores headers it does not know: the call is answered, counted ``other``."""
    headers = {"alle-subscription-key": simulator.admin.subscription_key, "X-Schlage-Lane": "vip"}
    async with aiohttp.ClientSession() as session:
        url = f"{simulator.api_base_url}/authentication/token"
        body = {"username": simulator.admin.username, "password": simulator.admin.password}
        async with session.post(url, json=body, headers=headers) as response:
            assert response.status == 200
    assert simulator.state.counters.as_json()["lanes"] == {
        "other": {"total": 1, "ok": 1, "429": 0, "200": 1}
    }


async def test_a_reset_forgets_the_lane_counts(simulator: SimulatorHandle) -> None:
    """reset() clears the lane counts with the other counters."""
    async with _client(simulator, send_lane_header=True, budget=AccountBudget(rate=0)) as client:
        await client.list_credentials()
    simulator.state.reset()
    assert simulator.state.counters.as_json()["lanes"] == {}
