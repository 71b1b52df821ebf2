"""The gateway in front of both surfaces: subscription key, rate limit, unknown routes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schlage_async._routes import ENGAGE_ROUTES, ROUTES, Operation

from .conftest import Api, basic

Op = Operation


@pytest.mark.parametrize("key", [None, "", "wrong"], ids=["missing", "empty", "wrong"])
@pytest.mark.parametrize("op", [*ROUTES, *ENGAGE_ROUTES], ids=str)
async def test_every_operation_needs_the_subscription_key(
    api: Api, op: Operation, key: str | None
) -> None:
    """Without a valid ``alle-subscription-key`` every operation is a 401 with an id."""
    path = {"userId": "x", "credentialId": "x", "serialNumber": "x"}
    reply = await api.call(op, key=key, path=path)
    assert reply.status == 401
    assert reply.headers["x-request-id"]
    assert "invalid subscription key" in reply.json["message"]


async def test_rate_limit_is_a_token_bucket_per_integration(make_api: Any) -> None:
    """At 2/s the third quick call is a 429 with Retry-After; another integration is untouched."""
    api = await make_api(rate_limit=2)
    token, other = await api.token(), await api.token("other@sim.example")
    statuses = [(await api.call(Op.LIST_CREDENTIALS, token=token)).status for _ in range(3)]
    assert statuses[:2] == [200, 200]
    assert statuses[2] == 429
    limited = await api.call(Op.LIST_CREDENTIALS, token=token)
    assert int(limited.headers["Retry-After"]) >= 1
    assert limited.json["message"].startswith("Rate limit is exceeded. Try again in ")
    assert (await api.call(Op.LIST_CREDENTIALS, token=other)).status == 200
    api.sim.clock.advance(1)
    assert (await api.call(Op.LIST_CREDENTIALS, token=token)).status == 200
    assert api.sim.state.counters.too_many_requests == 2


async def test_burst_sets_the_bucket_size(make_api: Any) -> None:
    """``burst=3`` at 1/s lets three calls through at once and refuses the fourth."""
    api = await make_api(rate_limit=1, burst=3)
    token = await api.token()
    statuses = [(await api.call(Op.LIST_CREDENTIALS, token=token)).status for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    api.sim.clock.advance(2)  # two tokens back at 1/s
    statuses = [(await api.call(Op.LIST_CREDENTIALS, token=token)).status for _ in range(3)]
    assert statuses == [200, 200, 429]


@pytest.mark.parametrize("burst", [0, 0.5, -1])
def test_burst_below_one_is_refused(burst: float) -> None:
    """A bucket smaller than one request could never let anything through."""
    from schlage_async.simulator import SimulatorConfig

    with pytest.raises(ValueError, match="burst"):
        SimulatorConfig(rate_limit=10, burst=burst)


async def test_rate_limit_leaves_login_alone(make_api: Any) -> None:
    """The bucket counts credential operations only; logins have their own limit."""
    api = await make_api(rate_limit=0.001)
    for _ in range(3):
        assert (await api.login_reply("admin@sim.example", "sim-admin-password")).status == 200


async def test_any_environment_name_serves_surface_a(api: Api) -> None:
    """``/{env}/smc-api`` answers for any env name, as the live base URL varies."""
    reply = await api.request(
        "POST",
        api.sim.url + "/prod/smc-api/authentication/token",
        json={"username": "admin@sim.example", "password": "sim-admin-password"},
        headers={"alle-subscription-key": "sim-subscription-key"},
    )
    assert reply.status == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/nothing/here"), ("PUT", "/test/smc-api/credentials/mobile/basic"), ("GET", "/")],
    ids=["unknown-path", "wrong-method", "root"],
)
async def test_unknown_routes_are_json_404s(api: Api, method: str, path: str) -> None:
    """Anything off the route table is a 404 with the usual error body and a request id."""
    reply = await api.request(method, api.sim.url + path)
    assert reply.status == 404
    assert reply.json == {"message": "Resource not found", "messages": ["Resource not found"]}
    assert reply.headers["x-request-id"]


async def test_sim_endpoints_need_no_key_or_token(api: Api) -> None:
    """The ``/_sim/`` endpoints are open: this is a test server."""
    for path in ("/_sim/state", "/_sim/outbox", "/_sim/faults"):
        reply = await api.control("GET", path)
        assert reply.status == 200
        assert reply.headers["x-request-id"]


async def test_clock_endpoint_advances_time_and_refuses_going_back(api: Api) -> None:
    """``/_sim/clock`` moves time forward only."""
    ok = await api.control("POST", "/_sim/clock", {"advanceSeconds": 60})
    assert ok.status == 200
    assert ok.json["offsetSeconds"] == 60
    for bad in ({"advanceSeconds": -1}, {"advanceSeconds": "1"}, {}, [1]):
        assert (await api.control("POST", "/_sim/clock", bad)).status == 400
    assert api.sim.clock.offset == 60


async def test_the_clock_is_bounded_and_reset_puts_it_back(api: Api) -> None:
    """3e11 s is a 400 with a reason (state still readable); ``/_sim/reset`` rewinds the clock."""
    assert (await api.control("POST", "/_sim/clock", {"advanceSeconds": 3600})).status == 200
    too_far = await api.control("POST", "/_sim/clock", {"advanceSeconds": 3e11})
    assert too_far.status == 400
    assert "century" in json.dumps(too_far.json)
    assert api.sim.clock.offset == 3600  # unchanged by the refusal
    state = await api.control("GET", "/_sim/state")
    assert state.status == 200
    assert (await api.control("POST", "/_sim/reset")).status == 204
    assert api.sim.clock.offset == 0
    assert (await api.control("GET", "/_sim/state")).status == 200


async def test_engage_needs_basic_auth_of_an_active_account(api: Api) -> None:
    """Surface B answers 401 in its Error shape without valid Basic credentials."""
    for authorization in (
        None,
        "Bearer x",
        basic("admin@sim.example", "wrong"),
        basic("deleted@sim.example", "sim-deleted-password"),
        "Basic !!!",
    ):
        reply = await api.call(Op.ENGAGE_LIST_DEVICES, authorization=authorization)
        assert reply.status == 401
        assert set(reply.json) == {"code", "message"}
