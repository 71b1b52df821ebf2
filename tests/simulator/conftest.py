"""A plain-aiohttp caller for the simulator suite (the client library is tested elsewhere)."""

from __future__ import annotations

import base64
import itertools
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import msgspec
import pytest
from multidict import CIMultiDictProxy

from schlage_async._routes import ENGAGE_ROUTES, ROUTES, Operation
from schlage_async.simulator import SimulatorConfig, SimulatorHandle

KEY = "sim-subscription-key"
PAYLOAD = "0123456789abcdef" * 6  # 96 hexadecimal characters
_MISSING: Any = object()
_mobiles = itertools.count(2_000_000_000)


def new_user_id() -> str:
    """A fresh UUIDv4 for a resident."""
    return str(uuid.uuid4())


def new_mobile() -> str:
    """A fresh, valid E.164 number."""
    return f"+1{next(_mobiles)}"


def basic(username: str, password: str) -> str:
    """An HTTP Basic Authorization value."""
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


@dataclass(frozen=True)
class Reply:
    """An answer as the tests look at it."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body decoded as JSON."""
        return msgspec.json.decode(self.body)

    @property
    def messages(self) -> list[str]:
        """The error body's messages."""
        return list(self.json["messages"])


class Api:
    """Calls one simulator over loopback with aiohttp, by operation name."""

    def __init__(self, session: aiohttp.ClientSession, sim: SimulatorHandle) -> None:
        self.session = session
        self.sim = sim
        self._tokens: dict[str, str] = {}

    async def request(
        self,
        method: str,
        url: str,
        *,
        json: Any = _MISSING,
        data: Any = None,
        headers: Mapping[str, str] | None = None,
        params: Mapping[str, str] | None = None,
    ) -> Reply:
        """Send one request and read the whole answer."""
        kwargs: dict[str, Any] = {"headers": dict(headers or {}), "params": params}
        if json is not _MISSING:
            kwargs["json"] = json
        elif data is not None:
            kwargs["data"] = data
        async with self.session.request(method, url, **kwargs) as resp:
            return Reply(resp.status, resp.headers, await resp.read())

    async def call(
        self,
        op: Operation,
        *,
        token: str | None = None,
        path: Mapping[str, str] | None = None,
        json: Any = _MISSING,
        data: Any = None,
        query: Mapping[str, str] | None = None,
        key: str | None = KEY,
        authorization: str | None = None,
    ) -> Reply:
        """Call a surface-A or surface-B operation by its route in the shared table."""
        route = ROUTES.get(op) or ENGAGE_ROUTES[op]
        base = self.sim.api_base_url if op in ROUTES else self.sim.engage_base_url
        headers: dict[str, str] = {}
        if key is not None:
            headers["alle-subscription-key"] = key
        if authorization is not None:
            headers["Authorization"] = authorization
        elif token is not None:
            headers["Authorization"] = "Bearer " + token
        return await self.request(
            route.method,
            base + route.format(**(path or {})),
            json=json,
            data=data,
            headers=headers,
            params=query,
        )

    async def login_reply(self, username: str, password: str) -> Reply:
        """The raw answer to a login."""
        return await self.call(Operation.LOGIN, json={"username": username, "password": password})

    async def token(self, username: str | None = None, password: str | None = None) -> str:
        """A token for ``username`` (the default administrator when omitted)."""
        username = username or self.sim.admin.username
        if password is None:
            account = self.sim.config.accounts.account(username)
            assert account is not None, username
            password = account.password
        reply = await self.login_reply(username, password)
        assert reply.status == 200, reply.body
        return str(reply.json["token"])

    async def create(self, token: str | None = None, **fields: Any) -> dict[str, Any]:
        """Create a credential (26A, facility code 1 by default) and return the answer."""
        body: dict[str, Any] = {
            "userId": new_user_id(),
            "mobileNumber": new_mobile(),
            "cardFormat": "26A",
            "facilityCode": 1,
            "issueCode": 0,
            **fields,
        }
        reply = await self.call(
            Operation.CREATE_CREDENTIAL, token=token or await self.token(), json=body
        )
        assert reply.status == 201, reply.body
        return dict(reply.json)

    async def control(self, method: str, path: str, json: Any = _MISSING) -> Reply:
        """Call a ``/_sim/`` endpoint."""
        return await self.request(method, self.sim.url + path, json=json)


ApiFactory = Callable[..., Awaitable[Api]]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One aiohttp session per test, closed after it."""
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, simulator: SimulatorHandle) -> Api:
    """A caller for the default simulator."""
    return Api(http, simulator)


@pytest.fixture
def make_api(http: aiohttp.ClientSession, simulator_factory: Any) -> ApiFactory:
    """``await make_api(**config_fields)``: a caller for a freshly configured simulator."""

    async def make(config: SimulatorConfig | None = None, **fields: Any) -> Api:
        return Api(http, await simulator_factory(config, **fields))

    return make
