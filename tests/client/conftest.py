"""Fixtures for the client tests: a scriptable fake service on 127.0.0.1, fakes for time.

The fake service is a real aiohttp server on loopback, so the tests see what really
goes on the wire (raw path, headers, body). Faults that a server cannot produce on cue
(timeouts, resets at a chosen request) are injected with aioresponses (the maintained
fork ``aioresponses-ng``, which works with aiohttp 3.14): planned requests raise, every
other one passes through to the fake service.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from aioresponses import aioresponses

from schlage_async import SchlageClient
from schlage_async._login_limiter import SlidingWindowLimiter

USERNAME = "integrator@example.com"
PASSWORD = "pw-Sup3rSecret!"
SUBSCRIPTION_KEY = "sk-0123456789abcdef"
API_PREFIX = "/smc-api"
LOGIN_PATH = API_PREFIX + "/authentication/token"
USER_ID = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
MOBILE = "+15551237890"
_ID_HEADERS = ("x-request-id", "request-id", "x-ms-request-id", "apim-request-id")
NOW = 1_700_000_000.0  # the fake wall clock's start (epoch seconds)


def make_jwt(exp: float | None = None, *, seq: int = 0) -> str:
    """Return an unsigned JWT-shaped token carrying ``exp`` (and a serial to tell them apart)."""

    def seg(data: dict[str, Any]) -> str:
        raw = json.dumps(data).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    claims: dict[str, Any] = {"sub": USERNAME, "seq": seq}
    if exp is not None:
        claims["exp"] = exp
    return f"{seg({'alg': 'HS256', 'typ': 'JWT'})}.{seg(claims)}.c2lnbmF0dXJl"


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    json: Any = None
    body: bytes | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"
    disconnect: bool = False  # drop the connection instead of answering


@dataclass
class Recorded:
    """One request as the fake service received it."""

    method: str
    path: str
    raw_path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        """The body, decoded."""
        return json.loads(self.body) if self.body else None


Handler = Callable[[Recorded], Reply]


class FakeService:
    """A scriptable stand-in for the service: routes answer from queues or handlers.

    Test modules cannot import this conftest (importlib mode), so what they need rides on
    the fixture: ``fake.Reply``, ``fake.make_jwt``, ``fake.NOW``.
    """

    Reply = Reply
    make_jwt = staticmethod(make_jwt)
    NOW = NOW

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.request_ids: list[str] = []  # the id header of each answer, in order
        self.issued: list[str] = []  # tokens handed out by the login, in order
        self._scripts: dict[tuple[str, str], list[Reply | Handler]] = {}
        self._serial = itertools.count(1)
        self.token_exp: float | None = NOW + 36_000.0
        self.server: TestServer | None = None
        self.on("POST", "/authentication/token", self._login)

    def _login(self, _: Recorded) -> Reply:
        token = make_jwt(self.token_exp, seq=next(self._serial))
        self.issued.append(token)
        return Reply(200, {"token": token})

    @property
    def base_url(self) -> str:
        """Surface A's base URL on this server."""
        assert self.server is not None
        return str(self.server.make_url(API_PREFIX))

    @property
    def root_url(self) -> str:
        """The server's root URL (for surface B)."""
        assert self.server is not None
        return str(self.server.make_url("")).rstrip("/")

    def on(self, method: str, path: str, *replies: Reply | Handler) -> None:
        """Script ``path`` (under /smc-api, or absolute when it starts with //): in order,
        the last one repeating."""
        full = path[1:] if path.startswith("//") else API_PREFIX + path
        self._scripts[(method, full)] = list(replies)

    def logins(self) -> list[Recorded]:
        """The login requests received."""
        return [r for r in self.requests if r.path == LOGIN_PATH]

    def calls(self) -> list[Recorded]:
        """The non-login requests received."""
        return [r for r in self.requests if r.path != LOGIN_PATH]

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        rec = Recorded(
            request.method,
            request.path,
            request.raw_path.split("?")[0],
            dict(request.query),
            dict(request.headers),
            body,
        )
        self.requests.append(rec)
        script = self._scripts.get((request.method, request.path))
        if script is None:
            reply = Reply(599, {"message": f"unscripted {request.method} {request.path}"})
        else:
            step = script.pop(0) if len(script) > 1 else script[0]
            reply = step(rec) if callable(step) else step
        if reply.disconnect:
            assert request.transport is not None
            request.transport.close()
            return web.Response(status=500)
        headers = dict(reply.headers)
        if not any(h.lower() in _ID_HEADERS for h in headers):
            headers["x-request-id"] = str(uuid.uuid4())
        self.request_ids.append(next(v for h, v in headers.items() if h.lower() in _ID_HEADERS))
        if reply.json is not None:
            return web.Response(
                status=reply.status,
                body=json.dumps(reply.json).encode(),
                headers=headers,
                content_type=reply.content_type,
            )
        raw = reply.body.encode() if isinstance(reply.body, str) else reply.body
        return web.Response(
            status=reply.status, body=raw or b"", headers=headers, content_type=reply.content_type
        )


@pytest.fixture
async def fake() -> AsyncIterator[FakeService]:
    """A running fake service on 127.0.0.1."""
    service = FakeService()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", service.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    service.server = server
    yield service
    await server.close()


@pytest.fixture
def creds() -> Any:
    """The account the ``make_client`` clients use (the secrets the redaction test hunts)."""
    from types import SimpleNamespace

    return SimpleNamespace(
        username=USERNAME, password=PASSWORD, subscription_key=SUBSCRIPTION_KEY, mobile=MOBILE
    )


class SleepRecorder:
    """An injected sleep: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        await asyncio.sleep(0)


class FakeClock:
    """A settable clock (wall or monotonic)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def sleeps() -> SleepRecorder:
    """The injected sleep of clients built by ``make_client``."""
    return SleepRecorder()


@pytest.fixture
def clock() -> FakeClock:
    """The injected wall clock of clients built by ``make_client``."""
    return FakeClock(NOW)


@pytest.fixture
async def make_client(
    fake: FakeService, sleeps: SleepRecorder, clock: FakeClock
) -> AsyncIterator[Callable[..., SchlageClient]]:
    """Build SchlageClients aimed at the fake service; closed at teardown."""
    made: list[SchlageClient] = []

    def build(**overrides: Any) -> SchlageClient:
        options: dict[str, Any] = {
            "base_url": fake.base_url,
            "username": USERNAME,
            "password": PASSWORD,
            "subscription_key": SUBSCRIPTION_KEY,
            "sleep": sleeps,
            "random": 7,
            "clock": clock,
            "login_limiter": SlidingWindowLimiter(clock=FakeClock(0.0)),
        }
        options.update(overrides)
        client = SchlageClient(**options)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()


@pytest.fixture
def client(make_client: Callable[..., SchlageClient]) -> SchlageClient:
    """A SchlageClient with the defaults of ``make_client``."""
    return make_client()


class Faults:
    """Exceptions to raise instead of sending, per (method, path suffix), in order."""

    def __init__(self, mocked: aioresponses) -> None:
        self._mocked = mocked
        self.raised: list[tuple[str, str]] = []

    def add(self, method: str, path_suffix: str, *excs: BaseException) -> None:
        """Plan ``excs``: the next requests of ``method`` to a path ending so raise them."""
        pattern = re.compile(rf"^[^?]*{re.escape(path_suffix)}(\?.*)?$")

        def record(url: Any, **_: Any) -> None:
            self.raised.append((method, str(url).split("?")[0]))

        for exc in excs:
            self._mocked.add(pattern, method=method, exception=exc, callback=record)


@pytest.fixture
def faults() -> Iterator[Faults]:
    """Planned transport failures (aioresponses); unplanned requests reach the fake service."""
    with aioresponses(passthrough_unmatched=True) as mocked:
        yield Faults(mocked)
