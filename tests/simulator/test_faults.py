"""Fault injection: the spec grammar, seeded draws, and what each fault does on the wire."""

from __future__ import annotations

from typing import Any

import aiohttp
import msgspec
import pytest

from schlage_async._routes import Operation
from schlage_async.simulator import FaultKind, FaultSpec, FaultSpecError, SimClock
from schlage_async.simulator._faults import FaultInjector

from .conftest import KEY, Api, basic, new_mobile, new_user_id

Op = Operation


def test_spec_parses_every_key_and_prints_canonically() -> None:
    """The README's example spec parses, and str() gives a spec that parses to the same."""
    text = (
        "500=0.05,502=0.01,503=0.01,reset_before=0.01,reset_after=0.01,slow=0.01,"
        "slow_seconds=5,truncate=0.01,html=0.01,block_after=1000,block_seconds=900,storm=0.0"
    )
    spec = FaultSpec.parse(text)
    assert spec.server_error == 0.05
    assert spec.block_after == 1000
    assert spec.slow_seconds == 5
    assert FaultSpec.parse(str(spec)) == spec
    assert FaultSpec.parse(" rate_storm = 0.5 , fail=0.1 ") == FaultSpec(
        storm=0.5, operation_failed=0.1
    )
    assert FaultSpec.parse("") == FaultSpec.parse("none") == FaultSpec()
    assert not FaultSpec().active


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("bogus=1", "unknown fault spec key 'bogus'"),
        ("500", "is not key=value"),
        ("500=lots", "is not a number"),
        ("500=nan", "finite"),
        ("500=1.5", "between 0 and 1"),
        ("500=-0.1", "between 0 and 1"),
        ("500=0.6,503=0.6", "more than 1"),
        ("500=0.1,500=0.2", "given twice"),
        ("slow_seconds=-1", "positive number of seconds"),
        ("block_seconds=0", "positive number of seconds"),
        ("block_after=2.5", "whole number"),
    ],
    ids=lambda value: str(value),
)
def test_bad_specs_are_refused_with_one_line(text: str, needle: str) -> None:
    """Each malformed spec raises FaultSpecError whose one-line message names the problem."""
    with pytest.raises(FaultSpecError) as caught:
        FaultSpec.parse(text)
    assert needle in str(caught.value)
    assert "\n" not in str(caught.value)


def test_draws_are_reproducible_for_a_seed() -> None:
    """Two injectors with the same seed inject the same faults in the same order."""
    spec = FaultSpec.parse("500=0.2,503=0.2,slow=0.1")

    def run(seed: int) -> list[FaultKind | None]:
        injector = FaultInjector(spec, seed=seed, clock=SimClock())
        return [injector.draw() for _ in range(200)]

    assert run(7) == run(7)
    assert run(7) != run(8)
    drawn = run(7)
    assert 20 <= drawn.count(FaultKind.SERVER_ERROR) <= 60
    assert drawn.count(None) > 60


async def _faulty(make_api: Any, spec: str) -> tuple[Api, str]:
    api = await make_api()
    token = await api.token()
    api.sim.set_faults(spec)
    return api, token


def _create_body() -> dict[str, Any]:
    return {
        "userId": new_user_id(),
        "mobileNumber": new_mobile(),
        "cardFormat": "26A",
        "facilityCode": 1,
    }


async def test_reset_before_drops_the_connection_and_changes_nothing(make_api: Any) -> None:
    """The client sees a disconnect and no credential was created."""
    api, token = await _faulty(make_api, "reset_before=1")
    with pytest.raises(aiohttp.ClientError):
        await api.call(Op.CREATE_CREDENTIAL, token=token, json=_create_body())
    assert api.sim.state.credentials == {}
    assert api.sim.faults_injected == {"reset_before": 1}


async def test_reset_after_commits_then_drops_the_connection(make_api: Any) -> None:
    """The create happened (and its SMS went out) although the client saw no answer."""
    api, token = await _faulty(make_api, "reset_after=1")
    body = _create_body()
    with pytest.raises(aiohttp.ClientError):
        await api.call(Op.CREATE_CREDENTIAL, token=token, json=body)
    (record,) = api.sim.state.credentials.values()
    assert record.user_id == body["userId"]
    assert len(api.sim.outbox) == 1


async def test_slow_answers_make_client_timeouts_fire_after_the_commit(make_api: Any) -> None:
    """A slow answer outlasts a short client timeout; the create was still carried out."""
    api, token = await _faulty(make_api, "slow=1,slow_seconds=0.3")
    with pytest.raises(TimeoutError):
        await api.session.post(
            api.sim.api_base_url + "/credentials/mobile/basic",
            json=_create_body(),
            headers={"alle-subscription-key": KEY, "Authorization": "Bearer " + token},
            timeout=aiohttp.ClientTimeout(total=0.1),
        )
    assert len(api.sim.state.credentials) == 1


async def test_truncate_cuts_the_json_body_after_the_commit(make_api: Any) -> None:
    """The status is the real one but the body is half a JSON document."""
    api, token = await _faulty(make_api, "truncate=1")
    reply = await api.call(Op.CREATE_CREDENTIAL, token=token, json=_create_body())
    assert reply.status == 201
    with pytest.raises(msgspec.DecodeError):
        msgspec.json.decode(reply.body)
    assert len(api.sim.state.credentials) == 1


async def test_html_fault_answers_200_html_after_the_commit(make_api: Any) -> None:
    """A gateway's HTML page replaces the JSON answer; the create was carried out."""
    api, token = await _faulty(make_api, "html=1")
    reply = await api.call(Op.CREATE_CREDENTIAL, token=token, json=_create_body())
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/html")
    assert len(api.sim.state.credentials) == 1


async def test_502_is_an_html_gateway_page_and_changes_nothing(make_api: Any) -> None:
    """502 comes from the gateway: HTML, a request id, and no credential."""
    api, token = await _faulty(make_api, "502=1")
    reply = await api.call(Op.CREATE_CREDENTIAL, token=token, json=_create_body())
    assert reply.status == 502
    assert b"502 Bad Gateway" in reply.body
    assert reply.headers["x-request-id"]
    assert api.sim.state.credentials == {}


async def test_account_block_starts_at_request_n_and_ends_on_time(make_api: Any) -> None:
    """From the Nth request on, everything is 429 ACCOUNT_BLOCKED until block_seconds pass."""
    api, token = await _faulty(make_api, "block_after=3,block_seconds=120")
    statuses = [(await api.call(Op.LIST_CREDENTIALS, token=token)).status for _ in range(4)]
    assert statuses == [200, 200, 429, 429]
    login = await api.login_reply("admin@sim.example", "sim-admin-password")
    assert login.status == 429
    assert "temporarily blocked" in login.json["message"]
    assert login.headers["x-ratelimit-remaining"] == "99"
    api.sim.clock.advance(120)
    assert (await api.call(Op.LIST_CREDENTIALS, token=token)).status == 200


async def test_storm_answers_429_with_retry_after_1(make_api: Any) -> None:
    """A rate storm is 429 RATE_LIMITED with Retry-After: 1."""
    api, token = await _faulty(make_api, "storm=1")
    reply = await api.call(Op.LIST_CREDENTIALS, token=token)
    assert reply.status == 429
    assert reply.headers["Retry-After"] == "1"
    assert reply.json["message"] == "Rate limit is exceeded. Try again in 1 seconds."


async def test_faults_never_touch_sim_endpoints_or_engage(make_api: Any) -> None:
    """With every request failing, ``/_sim/`` and surface B still answer normally."""
    api, _ = await _faulty(make_api, "500=1")
    assert (await api.control("GET", "/_sim/state")).status == 200
    devices = await api.call(
        Op.ENGAGE_LIST_DEVICES, authorization=basic("admin@sim.example", "sim-admin-password")
    )
    assert devices.status == 200


async def test_faults_can_be_switched_over_http_and_are_counted(make_api: Any) -> None:
    """``POST /_sim/faults`` starts and stops a storm mid-run; state counts what was injected."""
    api = await make_api(seed=3)
    token = await api.token()
    bad = await api.control("POST", "/_sim/faults", {"spec": "bogus=1"})
    assert bad.status == 400
    assert "unknown fault spec key" in bad.json["message"]
    set_ = await api.control("POST", "/_sim/faults", {"spec": "503=0.5"})
    assert set_.json == {"spec": "503=0.5"}
    statuses = [(await api.call(Op.LIST_CREDENTIALS, token=token)).status for _ in range(40)]
    assert set(statuses) == {200, 503}
    await api.control("POST", "/_sim/faults", {"spec": "none"})
    assert (await api.call(Op.LIST_CREDENTIALS, token=token)).status == 200
    state = (await api.control("GET", "/_sim/state")).json
    assert state["faults"]["injected"]["503"] == statuses.count(503)
    assert state["counters"]["requests"]["list_credentials"]["503"] == statuses.count(503)


async def test_configured_faults_apply_from_the_start_and_return_after_reset(make_api: Any) -> None:
    """A config spec is active from the first request; reset restores it after runtime changes."""
    api = await make_api(faults=FaultSpec.parse("503=1"))
    assert (await api.login_reply("admin@sim.example", "sim-admin-password")).status == 503
    api.sim.set_faults("none")
    assert (await api.login_reply("admin@sim.example", "sim-admin-password")).status == 200
    api.sim.reset()
    assert api.sim.faults == FaultSpec(unavailable=1.0)
