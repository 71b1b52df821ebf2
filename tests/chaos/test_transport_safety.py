"""Transport safety: no redirect carries a secret to another host; no plain http off loopback.

Already proven in ``tests/client`` and not repeated here: TLS is verified by default and
a self-signed server is refused (``test_config_and_lifecycle.py::test_tls_verified_by_default``),
plain ``http://`` is refused off loopback unless ``allow_insecure_http=True``
(``test_plain_http_off_loopback_refused``, ``test_insecure_http_can_be_allowed_explicitly``),
and a GET answered with a redirect is not followed (``test_invalid_responses.py``). This
module extends those to the calls that carry more: the login (the password), a create and
a save (the body), under every redirect status, and to the command line.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bulk import generate_portfolio
from bulk.cli.main import main
from schlage_async import InvalidResponseError, NoTourPayload, SchlageClient

PASSWORD: Final = "pw-redirect-7a6b5c"
KEY: Final = "sk-redirect-4d3e2f"
TOKEN: Final = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJyZWRpcmVjdCJ9.c2lnLXJlZGlyZWN0"
CREDENTIAL_ID: Final = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


@dataclass
class Recorder:
    """A server that records every request it receives (the other host)."""

    seen: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append((request.path, dict(request.headers), await request.read()))
        return web.json_response({"token": "stolen", "credentialId": "stolen", "cardNumber": 1})


@pytest.fixture
async def servers() -> AsyncIterator[Callable[[int, bool], Awaitable[tuple[str, Recorder]]]]:
    """``await servers(status, redirect_login)``: the service (redirecting) and another host."""
    started: list[TestServer] = []

    async def start(status: int, redirect_login: bool) -> tuple[str, Recorder]:
        other = Recorder()
        other_app = web.Application()
        other_app.router.add_route("*", "/{tail:.*}", other.handle)
        other_server = TestServer(other_app, host="127.0.0.1")
        await other_server.start_server()
        started.append(other_server)
        location = str(other_server.make_url("/smc-api/elsewhere"))

        async def service(request: web.Request) -> web.Response:
            await request.read()
            if request.path.endswith("/authentication/token") and not redirect_login:
                return web.json_response({"token": TOKEN})
            return web.Response(status=status, headers={"Location": location})

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", service)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        started.append(server)
        return str(server.make_url("/smc-api")), other

    yield start
    for server in started:
        await server.close()


CALLS: Final[dict[str, Callable[[SchlageClient], Awaitable[object]]]] = {
    "login": lambda c: c.list_credentials(),  # the first call logs in: the login is redirected
    "create": lambda c: c.create_credential(
        user_id="0d0d0d0d-0000-4000-8000-000000000001",
        mobile_number="+15554443322",
        card_format="26A",
        facility_code=1,
    ),
    "save": lambda c: c.save_no_tour_payloads(
        credential_id=CREDENTIAL_ID,
        payloads=[NoTourPayload(lock_id=1, serial_number="SN", no_tour_payload="ab" * 48)],
    ),
    "get": lambda c: c.get_credential_by_user(user_id="0d0d0d0d-0000-4000-8000-000000000001"),
}
STATUSES: Final = (301, 302, 303, 307, 308)


@pytest.mark.parametrize("status", STATUSES, ids=[str(s) for s in STATUSES])
@pytest.mark.parametrize("call", sorted(CALLS), ids=sorted(CALLS))
async def test_a_redirect_is_never_followed_so_no_secret_reaches_another_host(
    servers: Any, call: str, status: int
) -> None:
    """Login, create, save, lookup under any redirect: the other host receives nothing."""
    url, other = await servers(status, call == "login")
    async with SchlageClient(
        base_url=url, username="ops@example.com", password=PASSWORD, subscription_key=KEY
    ) as client:
        with pytest.raises(InvalidResponseError) as caught:
            await CALLS[call](client)
    assert other.seen == []  # no Authorization, no key, no password, no body went there
    assert caught.value.status == status
    assert "redirect" in str(caught.value)
    for secret in (PASSWORD, KEY, TOKEN):
        assert secret not in repr(caught.value)


@pytest.mark.parametrize(
    "base_url",
    ["http://api.securewebserv.com/test/smc-api", "http://10.1.2.3:8080/smc-api"],
    ids=["public-host", "private-address"],
)
def test_the_command_refuses_plain_http_off_loopback_before_sending_anything(
    base_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any
) -> None:
    """``python -m bulk migrate --base-url http://...`` off loopback: exit 2, one clear line."""
    for name, value in {
        "SCHLAGE_USERNAME": "ops@example.com",
        "SCHLAGE_PASSWORD": PASSWORD,
        "SCHLAGE_SUBSCRIPTION_KEY": KEY,
    }.items():
        monkeypatch.setenv(name, value)
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=1).path
    code = main(["migrate", str(path), "--base-url", base_url, "--progress", "none"])
    out, err = capsys.readouterr()
    assert code == 2
    assert err.count("\n") == 1
    assert "refusing plain http" in err
    assert PASSWORD not in out + err
    assert KEY not in out + err
    assert not list(path.parent.glob("*.state.sqlite"))  # nothing was started
