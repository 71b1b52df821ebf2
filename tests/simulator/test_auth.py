"""Tokens and the login limit: lifetime, revocation, malformed tokens, escalating 429s."""

from __future__ import annotations

import pytest

from schlage_async._routes import Operation

from .conftest import Api

Op = Operation


async def _list(api: Api, token: str) -> int:
    return (await api.call(Op.LIST_CREDENTIALS, token=token)).status


async def test_token_lives_exactly_36000_seconds(api: Api) -> None:
    """A token works until 10 hours after issue on the simulator clock, then is a 401."""
    token = await api.token()
    api.sim.clock.advance(35_999)
    assert await _list(api, token) == 200
    api.sim.clock.advance(1)
    assert await _list(api, token) == 401


@pytest.mark.parametrize(
    ("authorization", "status"),
    [
        (None, 401),
        ("Bearer ", 400),
        ("Bearer not-a-jwt", 400),
        ("Bearer a.b", 400),
        ("Bearer a!.b.c", 400),
        ("Bearer eyJhbGciOiJub25lIn0.e30.", 401),
        ("Bearer e30.e30.c2ln", 401),
    ],
    ids=["missing", "empty", "no-dots", "two-segments", "not-base64url", "alg-none", "unsigned"],
)
async def test_bad_tokens_are_400_when_not_a_jwt_else_401(
    api: Api, authorization: str | None, status: int
) -> None:
    """Not a JWT at all is a 400; a JWT the simulator did not sign (or none) is a 401."""
    reply = await api.call(Op.LIST_CREDENTIALS, authorization=authorization)
    assert reply.status == status
    assert reply.json["message"].startswith("Invalid authentication token")


async def test_a_tampered_signature_is_401(api: Api) -> None:
    """Changing the payload of a real token breaks its signature."""
    header, _payload, signature = (await api.token()).split(".")
    forged = f"{header}.eyJzdWIiOiJhZG1pbkBzaW0uZXhhbXBsZSIsImV4cCI6OTk5OTk5OTk5OTl9.{signature}"
    assert await _list(api, forged) == 401


async def test_revoke_invalidates_every_token_issued_so_far(api: Api) -> None:
    """After ``/_sim/tokens/revoke`` old tokens are 401 and a new login works."""
    old = await api.token()
    assert (await api.control("POST", "/_sim/tokens/revoke")).status == 204
    assert await _list(api, old) == 401
    assert await _list(api, await api.token()) == 200


async def test_login_counts_down_x_ratelimit_remaining(api: Api) -> None:
    """Every login answer carries x-ratelimit-remaining, one less per attempt."""
    first = await api.login_reply("admin@sim.example", "sim-admin-password")
    wrong = await api.login_reply("ADMIN@sim.example", "nope")
    invalid = await api.call(Op.LOGIN, json={"username": "admin@sim.example"})
    assert first.headers["x-ratelimit-remaining"] == "99"
    assert wrong.status == 403
    assert wrong.headers["x-ratelimit-remaining"] == "98"
    assert invalid.status == 400
    assert invalid.headers["x-ratelimit-remaining"] == "98"


async def test_login_user_names_are_case_insensitive(api: Api) -> None:
    """An e-mail user name logs in whatever its letter case."""
    assert (await api.login_reply("Admin@SIM.example", "sim-admin-password")).status == 200


async def _flood(api: Api, username: str, attempts: int) -> list[int]:
    return [(await api.login_reply(username, "x")).status for _ in range(attempts)]


async def test_login_window_slides_after_15_minutes(api: Api) -> None:
    """Past 100 attempts the next is 429; once the window has moved on, logins work again."""
    assert set(await _flood(api, "admin@sim.example", 100)) == {403}
    limited = await api.login_reply("admin@sim.example", "sim-admin-password")
    assert limited.status == 429
    assert int(limited.headers["Retry-After"]) <= 900
    api.sim.clock.advance(901)
    ok = await api.login_reply("admin@sim.example", "sim-admin-password")
    assert ok.status == 200
    assert ok.headers["x-ratelimit-remaining"] == "99"


async def test_third_attempt_over_the_limit_blocks_the_user_name_for_15_minutes(api: Api) -> None:
    """Rows 8, 9, then 10 and a block that answers row 10 until it ends."""
    await _flood(api, "admin@sim.example", 100)
    escalation = [
        (await api.login_reply("admin@sim.example", "sim-admin-password")).json["message"]
        for _ in range(3)
    ]
    assert escalation[0].endswith("Please try again later.")
    assert "may result in your account being blocked" in escalation[1]
    assert "temporarily blocked" in escalation[2]
    api.sim.clock.advance(600)
    blocked = await api.login_reply("admin@sim.example", "sim-admin-password")
    assert blocked.status == 429
    assert "temporarily blocked" in blocked.json["message"]
    assert blocked.headers["Retry-After"] == "300"
    other = await api.login_reply("manager@sim.example", "sim-manager-password")
    assert other.status == 200
    api.sim.clock.advance(300)
    assert (await api.login_reply("admin@sim.example", "sim-admin-password")).status == 200


async def test_only_administrators_of_onboarded_integrations_may_call(api: Api) -> None:
    """Manager and operator get the (203) 403; a pending integration gets onboarding 403."""
    for username in ("manager@sim.example", "operator@sim.example"):
        reply = await api.call(Op.LIST_CREDENTIALS, token=await api.token(username))
        assert reply.status == 403
        assert reply.json["message"].endswith("(203).")  # the live wording's final period
    pending = await api.call(Op.LIST_CREDENTIALS, token=await api.token("pending@sim.example"))
    assert pending.status == 403
    assert "Integration is not complete" in pending.json["message"]
