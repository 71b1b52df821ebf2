"""A pytest plugin: test your own service against a faithful Schlage simulator.

Installed with the package (entry point ``pytest11``), so a PACS service that depends on
``schlage-async`` gets two fixtures without any import::

    async def test_onboarding_creates_a_credential(schlage_simulator, schlage_client):
        await my_service.onboard(schlage_client, resident)   # your code under test
        assert len(schlage_simulator.credentials()) == 1

* ``schlage_simulator``: a running simulator on a free loopback port, served by its own
  thread (so sync and async tests alike can call it); every test starts from a fresh
  state (no credentials, no text messages, counters at zero, the configured faults, the
  clock at real time). ``@pytest.mark.schlage_simulator(rate_limit=5, faults="503=0.1")``
  gives one test its own simulator with that :class:`SimulatorConfig`.
* ``schlage_client``: a :class:`SchlageClient` logged in as the simulator's default
  administrator (surface A), closed after the test; ``schlage_engage_client`` is the
  same for ENGAGE (surface B). Both need ``pytest-asyncio``.

The simulator's clock moves with ``schlage_simulator.advance(seconds)`` (tokens, invites,
login windows, blocks and rate buckets all read it). Disable the plugin with
``-p no:schlage_async.pytest_plugin``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import TYPE_CHECKING, Any, Final, Literal, TypeVar

import pytest

if TYPE_CHECKING:  # imported when a fixture is first used: pytest starts no slower
    from ._client import SchlageClient
    from ._engage import EngageClient
    from .simulator import (
        AdminLogin,
        FaultSpec,
        SimClock,
        SimulatorConfig,
        SimulatorHandle,
        SmsMessage,
    )

__all__ = ["SchlageSimulator", "schlage_client", "schlage_engage_client", "schlage_simulator"]

_T = TypeVar("_T")
_C = TypeVar("_C")
_MARKER: Final = "schlage_simulator"
_START_TIMEOUT: Final = 30.0  # seconds a simulator may take to start (a loaded CI machine)


def _test_clock() -> SimClock:
    """The simulator's clock, which the plugin may set back to real time between tests."""
    from .simulator import SimClock

    return SimClock()


class SchlageSimulator:
    """A simulator served on its own thread and event loop, and thread-safe ways to use it.

    Every method may be called from the test's thread, sync or async: work on the
    simulator's state runs on the simulator's own loop.
    """

    __slots__ = ("_clock", "_config", "_error", "_handle", "_loop", "_ready", "_stop", "_thread")

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        from .simulator import SimulatorConfig

        self._config = config or SimulatorConfig()  # what this simulator was started with
        self._clock = _test_clock()  # the clock the tests move
        self._ready = threading.Event()  # set once serving (or failed to start)
        self._loop: asyncio.AbstractEventLoop | None = None  # the simulator's own loop
        self._stop: asyncio.Event | None = None  # set to stop serving
        self._handle: SimulatorHandle | None = None  # the running simulator
        self._error: BaseException | None = None  # why it did not start
        self._thread = threading.Thread(target=self._serve, name="schlage-simulator", daemon=True)

    def __repr__(self) -> str:
        return f"SchlageSimulator(url={self.url!r})"

    # --- life ---------------------------------------------------------------------------

    def _serve(self) -> None:
        from .simulator import run_simulator

        async def serve() -> None:
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            async with run_simulator(
                self._config, host="127.0.0.1", port=0, clock=self._clock
            ) as sim:
                self._handle = sim
                self._ready.set()
                await self._stop.wait()

        try:
            asyncio.run(serve())
        except BaseException as exc:  # noqa: BLE001  # surfaced by start()
            self._error = exc
            self._ready.set()

    def start(self) -> SchlageSimulator:
        """Start serving on a free loopback port; return self once it answers."""
        self._thread.start()
        if not self._ready.wait(_START_TIMEOUT) or self._handle is None:
            raise RuntimeError(f"the Schlage simulator did not start: {self._error!r}")
        return self

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(_START_TIMEOUT)

    def call(self, fn: Callable[[SimulatorHandle], _T]) -> _T:
        """Run ``fn(handle)`` on the simulator's loop and return its result."""
        if self._loop is None or self._handle is None:
            raise RuntimeError("the Schlage simulator is not running")
        handle = self._handle

        async def run() -> _T:
            return fn(handle)

        return asyncio.run_coroutine_threadsafe(run(), self._loop).result(_START_TIMEOUT)

    # --- where it is --------------------------------------------------------------------

    @property
    def handle(self) -> SimulatorHandle:
        """The running simulator (touch its state through :meth:`call` from other threads)."""
        if self._handle is None:
            raise RuntimeError("the Schlage simulator is not running")
        return self._handle

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the root (the simulator-only ``/_sim/`` routes)."""
        return self._handle.url if self._handle is not None else "<not started>"

    @property
    def api_base_url(self) -> str:
        """Surface A's base URL (``.../test/smc-api``): pass it as ``base_url``."""
        return self.handle.api_base_url

    @property
    def engage_base_url(self) -> str:
        """Surface B's (ENGAGE) base URL (``.../engage``)."""
        return self.handle.engage_base_url

    @property
    def admin(self) -> AdminLogin:
        """User name, password and subscription key of the default administrator."""
        return self.handle.admin

    @property
    def config(self) -> SimulatorConfig:
        """The configuration this simulator was started with."""
        return self._config

    # --- state and control --------------------------------------------------------------

    def reset(self) -> None:
        """A fresh start: no credentials, messages, counters, windows, blocks; the
        configured faults; the clock back at real time."""

        def reset(handle: SimulatorHandle) -> None:
            handle.reset()
            handle.set_faults(self._config.faults)
            self._clock.reset()  # back to real time, between tests only

        self.call(reset)

    def advance(self, seconds: float) -> None:
        """Move the simulator's clock ``seconds`` forward (tokens, invites, blocks expire)."""
        self.call(lambda handle: handle.clock.advance(seconds))

    def now(self) -> dt.datetime:
        """The simulator's current time (UTC)."""
        return self.call(lambda handle: handle.clock.now())

    def set_faults(self, spec: FaultSpec | str) -> None:
        """Inject faults from now on (e.g. ``"503=0.2"``; ``""`` for none)."""
        self.call(lambda handle: handle.set_faults(spec))

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far (the next call must log in again)."""
        self.call(lambda handle: handle.revoke_tokens())

    def snapshot(self) -> dict[str, Any]:
        """Credentials, counters, faults and clock, exactly as ``GET /_sim/state``."""
        return self.call(lambda handle: handle.state.snapshot())

    def credentials(self, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """The active credentials of surface A, as JSON-ready dicts (deleted ones too with
        ``include_deleted``: the service keeps them to answer 410)."""
        found: list[dict[str, Any]] = self.snapshot()["credentials"]
        return [c for c in found if include_deleted or not c.get("deleted")]

    def outbox(self) -> list[SmsMessage]:
        """Every invite text message sent so far, oldest first."""
        return self.call(lambda handle: list(handle.outbox))


@pytest.fixture(scope="session")
def _schlage_simulator_session() -> Iterator[SchlageSimulator]:
    """The simulator the tests share (started on first use, reset before each test)."""
    sim = SchlageSimulator().start()
    try:
        yield sim
    finally:
        sim.stop()


@pytest.fixture
def schlage_simulator(request: pytest.FixtureRequest) -> Iterator[SchlageSimulator]:
    """A running Schlage simulator on a free loopback port, in a fresh state for this test.

    ``@pytest.mark.schlage_simulator(**SimulatorConfig fields)`` starts one for this test
    with that configuration (``faults`` may be a spec string).
    """
    marker = request.node.get_closest_marker(_MARKER)
    if marker is None or not (marker.args or marker.kwargs):
        shared: SchlageSimulator = request.getfixturevalue("_schlage_simulator_session")
        shared.reset()
        yield shared
        return
    from .simulator import FaultSpec, SimulatorConfig

    fields = dict(marker.kwargs)
    if isinstance(fields.get("faults"), str):
        fields["faults"] = FaultSpec.parse(fields["faults"])
    config = marker.args[0] if marker.args else SimulatorConfig(**fields)
    own = SchlageSimulator(config).start()
    try:
        yield own
    finally:
        own.stop()


_LoopScope = Literal["function", "class", "module", "package", "session"]
_LOOP_SCOPES: Final[tuple[_LoopScope, ...]] = ("function", "class", "module", "package", "session")


def _async_fixture(name: str, loop_scope: _LoopScope) -> Callable[[Callable[..., Any]], Any]:
    """pytest-asyncio's fixture decorator for ``loop_scope``; without it, pytest's own
    (pytest then says that an async fixture needs an async plugin, naming the fixture)."""
    try:
        import pytest_asyncio
    except ImportError:  # pragma: no cover - the project's tests install pytest-asyncio
        return pytest.fixture(name=name)
    decorator: Callable[[Callable[..., Any]], Any] = pytest_asyncio.fixture(
        name=name, loop_scope=loop_scope
    )
    return decorator


def _test_loop_scope(request: pytest.FixtureRequest) -> str:
    """The event loop the test runs in: its ``asyncio`` marker's, else the ini default."""
    marker = request.node.get_closest_marker("asyncio")
    scope = marker.kwargs.get("loop_scope") if marker is not None else None
    if scope is None:
        try:
            scope = request.config.getini("asyncio_default_test_loop_scope") or None
        except ValueError:  # an older pytest-asyncio: tests run in the function's loop
            scope = None
    return str(scope) if scope in _LOOP_SCOPES else "function"


async def _surface_a(schlage_simulator: SchlageSimulator) -> AsyncIterator[SchlageClient]:
    from ._client import SchlageClient

    admin = schlage_simulator.admin
    async with SchlageClient(
        base_url=schlage_simulator.api_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
    ) as client:
        yield client


async def _surface_b(schlage_simulator: SchlageSimulator) -> AsyncIterator[EngageClient]:
    from ._engage import EngageClient

    admin = schlage_simulator.admin
    async with EngageClient(
        base_url=schlage_simulator.engage_base_url,
        username=admin.username,
        password=admin.password,
        subscription_key=admin.subscription_key,
    ) as client:
        yield client


def _per_loop(
    open_client: Callable[[SchlageSimulator], AsyncIterator[_C]],
    name: str,
    loop_scope: _LoopScope,
) -> Any:
    """A fixture of its own (a new function: a decorator marks the function it is given)."""

    async def fixture(schlage_simulator: SchlageSimulator) -> AsyncIterator[_C]:
        async for client in open_client(schlage_simulator):
            yield client

    fixture.__name__ = name
    return _async_fixture(name, loop_scope)(fixture)


# One fixture per event-loop scope, so a client is opened, used and closed on the loop the
# test runs in (a module-scoped loop included): aiohttp's session belongs to one loop.
for _scope in _LOOP_SCOPES:
    globals()[f"_schlage_client_{_scope}"] = _per_loop(
        _surface_a, f"_schlage_client_{_scope}", _scope
    )
    globals()[f"_schlage_engage_client_{_scope}"] = _per_loop(
        _surface_b, f"_schlage_engage_client_{_scope}", _scope
    )


@pytest.fixture
def schlage_client(request: pytest.FixtureRequest) -> SchlageClient:
    """A surface A client wired to ``schlage_simulator`` as its default administrator."""
    client: SchlageClient = request.getfixturevalue(f"_schlage_client_{_test_loop_scope(request)}")
    return client


@pytest.fixture
def schlage_engage_client(request: pytest.FixtureRequest) -> EngageClient:
    """A surface B (ENGAGE) client wired to ``schlage_simulator``."""
    client: EngageClient = request.getfixturevalue(
        f"_schlage_engage_client_{_test_loop_scope(request)}"
    )
    return client


def pytest_configure(config: pytest.Config) -> None:
    """Register the ``schlage_simulator`` marker (strict-markers projects need it)."""
    config.addinivalue_line(
        "markers",
        f"{_MARKER}(**config): give this test its own Schlage simulator with these "
        "SimulatorConfig fields (e.g. rate_limit=5, faults='503=0.1')",
    )
