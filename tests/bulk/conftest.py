"""Fixtures of the bulk tests: a fake service for engine unit tests, a fake clock, portfolios."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import threading
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import structlog

from bulk import Resident
from bulk._logs import configure_logging
from schlage_async import (
    ClientStats,
    CreatedCredential,
    Credential,
    ErrorCode,
    MobileNumberConflictError,
    NoTourPayload,
    Operation,
    UserIdConflictError,
    UserNotFoundError,
)
from schlage_async._seed_errors import message_for
from schlage_async.simulator import SimulatorConfig, SimulatorHandle, run_simulator

Fault = Callable[[str, Mapping[str, object]], BaseException | None]


@dataclass
class FakeClock:
    """A monotonic clock that moves only when a fake sleep says so."""

    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Advance the clock instead of waiting; yield once so other tasks run."""
        self.slept.append(seconds)
        self.now += max(seconds, 0.0)
        await asyncio.sleep(0)


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock with its fake sleep."""
    return FakeClock()


class FakeService:
    """An in-memory stand-in for the client and the service behind it.

    ``before`` may return an exception to raise instead of doing an operation (nothing
    happens); ``after`` may return one to raise after doing it (an answer lost on the way).
    Both get the operation name and the call's keyword arguments.
    """

    def __init__(self) -> None:
        self.credentials: dict[str, Credential] = {}  # user id -> credential
        self.payloads: dict[str, dict[str, NoTourPayload]] = {}  # credential id -> serial -> p
        self.calls: Counter[str] = Counter()
        self.creates_done = 0
        self.before: Fault | None = None
        self.after: Fault | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.latency = 0.0
        self.hold: asyncio.Event | None = None  # when set to an Event, calls wait for it

    @property
    def stats(self) -> ClientStats:
        """What a client would count."""
        return ClientStats(requests=sum(self.calls.values()))

    async def _enter(self, op: str, kwargs: Mapping[str, object]) -> None:
        self.calls[op] += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(self.latency)
            if self.hold is not None:
                await self.hold.wait()
        finally:
            self.in_flight -= 1
        if self.before is not None and (exc := self.before(op, kwargs)) is not None:
            raise exc

    def _leave(self, op: str, kwargs: Mapping[str, object]) -> None:
        if self.after is not None and (exc := self.after(op, kwargs)) is not None:
            raise exc

    async def create_credential(
        self,
        *,
        user_id: str,
        mobile_number: str,
        card_format: str,
        facility_code: int | None = None,
        issue_code: int | None = None,
        attributes: Mapping[str, str | None] | None = None,
    ) -> CreatedCredential:
        """Create, with the service's one-per-user and one-per-mobile rules."""
        kwargs = {"user_id": user_id, "mobile_number": mobile_number}
        await self._enter("create", kwargs)
        op = Operation.CREATE_CREDENTIAL
        if user_id in self.credentials:
            msg = message_for(op, ErrorCode.USER_ID_CONFLICT)
            raise UserIdConflictError(op, 409, [msg], code=ErrorCode.USER_ID_CONFLICT)
        if any(c.mobile_number == mobile_number for c in self.credentials.values()):
            msg = message_for(op, ErrorCode.MOBILE_NUMBER_CONFLICT)
            raise MobileNumberConflictError(op, 409, [msg], code=ErrorCode.MOBILE_NUMBER_CONFLICT)
        self.creates_done += 1
        cred = Credential(
            credential_id=str(uuid.uuid4()),
            user_id=user_id,
            mobile_number=mobile_number,
            card_number=self.creates_done,
            facility_code=facility_code,
        )
        self.credentials[user_id] = cred
        self._leave("create", kwargs)
        return CreatedCredential(credential_id=cred.credential_id, card_number=self.creates_done)

    async def save_no_tour_payloads(
        self, *, credential_id: str, payloads: Sequence[NoTourPayload]
    ) -> None:
        """Save (replace per device)."""
        kwargs = {"credential_id": credential_id}
        await self._enter("save", kwargs)
        saved = self.payloads.setdefault(credential_id, {})
        for p in payloads:
            saved[p.serial_number] = p
        self._leave("save", kwargs)

    async def get_credential_by_user(self, *, user_id: str) -> Credential:
        """Look up, 404 when none."""
        kwargs = {"user_id": user_id}
        await self._enter("get", kwargs)
        cred = self.credentials.get(user_id)
        if cred is None:
            op = Operation.GET_CREDENTIAL_BY_USER
            raise UserNotFoundError(op, 404, [message_for(op, ErrorCode.USER_NOT_FOUND)])
        self._leave("get", kwargs)
        return cred


@pytest.fixture
def service() -> FakeService:
    """A fresh fake service."""
    return FakeService()


def _resident(line: int, *, doors: int = 1, mobile: str | None = None) -> Resident:
    """A valid resident for ``line`` with ``doors`` doors."""
    return Resident(
        line=line,
        user_id=str(uuid.UUID(int=line, version=4)),
        mobile_number=mobile or f"+1555{line:07d}",
        card_format="26A",
        facility_code=12,
        issue_code=0,
        doors=tuple(
            NoTourPayload(lock_id=d + 1, serial_number=f"SN{line}-{d}", no_tour_payload="A" * 96)
            for d in range(doors)
        ),
    )


ResidentFactory = Callable[..., Resident]


@pytest.fixture
def make_resident() -> ResidentFactory:
    """Build a valid resident for a line: ``make_resident(line, doors=1, mobile=None)``."""
    return _resident


@pytest.fixture
def portfolio_dir(tmp_path: Path) -> Path:
    """A directory for generated portfolios, state files and reports."""
    return tmp_path


# --- simulators for the end-to-end tests -------------------------------------------------


class ThreadedSimulator:
    """A simulator served by its own event loop in a thread, for tests that call ``main()``."""

    def __init__(self, config: SimulatorConfig) -> None:
        self._config = config
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.handle: SimulatorHandle | None = None
        self._thread = threading.Thread(target=self._run, name="simulator", daemon=True)
        self._error: BaseException | None = None

    def _run(self) -> None:
        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with run_simulator(self._config, host="127.0.0.1", port=0) as sim:
                self.handle = sim
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(serve())
        except BaseException as exc:  # surfaced by start()
            self._error = exc
            self._ready.set()

    def start(self) -> SimulatorHandle:
        self._thread.start()
        self._ready.wait(10)
        if self._error is not None or self.handle is None:
            raise RuntimeError(f"simulator did not start: {self._error!r}")
        return self.handle

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def call(self, fn: Callable[[], object]) -> object:
        """Run ``fn`` on the simulator's loop (safe access to its live state)."""
        assert self._loop is not None
        result: list[object] = []
        done = threading.Event()

        def go() -> None:
            result.append(fn())
            done.set()

        self._loop.call_soon_threadsafe(go)
        done.wait(10)
        return result[0]


@pytest.fixture
def threaded_simulator() -> Iterator[Callable[..., ThreadedSimulator]]:
    """``start(**SimulatorConfig fields)``: a simulator on its own thread; stopped after."""
    started: list[ThreadedSimulator] = []

    def start(**fields: Any) -> ThreadedSimulator:
        sim = ThreadedSimulator(SimulatorConfig(**fields))
        sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


@pytest.fixture
def sim_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's default administrator in the SCHLAGE_* variables."""
    monkeypatch.setenv("SCHLAGE_USERNAME", SIM_USERNAME)
    monkeypatch.setenv("SCHLAGE_PASSWORD", SIM_PASSWORD)
    monkeypatch.setenv("SCHLAGE_SUBSCRIPTION_KEY", SIM_KEY)


SIM_USERNAME = "admin@sim.example"
SIM_PASSWORD = "sim-admin-password"
SIM_KEY = "sim-subscription-key"


@dataclass
class SimulatorProcess:
    """``python -m schlage_async.simulator`` in a subprocess, and how to reach it."""

    process: subprocess.Popen[str]
    url: str

    @property
    def api_base_url(self) -> str:
        return self.url + "/test/smc-api"

    def get(self, path: str) -> Any:
        with urllib.request.urlopen(self.url + path, timeout=30) as answer:  # noqa: S310  # loopback
            return json.loads(answer.read())

    def post(self, path: str, body: Mapping[str, object]) -> Any:
        request = urllib.request.Request(  # noqa: S310  # loopback only
            self.url + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310  # loopback
            return json.loads(answer.read())


@pytest.fixture
def simulator_process() -> Iterator[Callable[..., SimulatorProcess]]:
    """``start(*args)``: a simulator subprocess on a free loopback port; ended after."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str) -> SimulatorProcess:
        proc = subprocess.Popen(  # noqa: S603  # our own interpreter and module
            [sys.executable, "-m", "schlage_async.simulator", "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        started.append(proc)
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on "), line
        return SimulatorProcess(proc, line.removeprefix("listening on ").strip())

    yield start
    for proc in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


@pytest.fixture(autouse=True)
def _quiet_request_logs() -> Iterator[None]:
    """Drop the client's per-request log lines in these tests (restored after)."""
    saved = structlog.get_config()
    configure_logging("console")
    yield
    structlog.configure(**saved)
