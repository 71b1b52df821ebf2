"""Fixtures every suite shares: simulators (in-process, threaded, subprocess), a fake clock.

Also the size options of the chaos suite (``tests/chaos``): pytest reads
``pytest_addoption`` only from the root conftest and plugins, so they live here.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import subprocess
import sys
import threading
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import pytest

from schlage_async.simulator import SimulatorConfig, SimulatorHandle, run_simulator

pytest_plugins = ("pytester", "schlage_async.pytest_plugin")
"""pytester runs the plugin's own tests; the plugin is named too, so the suite has its
fixtures even where the package was installed before its ``pytest11`` entry point."""

SimulatorFactory = Callable[..., Awaitable[SimulatorHandle]]
"""``await simulator_factory(config=None, **config_fields)`` starts one more simulator."""

# --- the chaos suite's sizes ---------------------------------------------------------------

CHAOS_SIZES: Final = {
    # option: (environment variable, CI default, full size, help)
    "chaos_size": ("CHAOS_SIZE", 2_000, 20_000, "residents of the chaos run"),
    "chaos_kills": ("CHAOS_KILLS", 3, 10, "SIGKILLs of the crash loop"),
}
"""Sizes of the chaos suite: small defaults for CI, the full sizes by option or variable."""


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--chaos-size N``, ``--chaos-kills K`` and ``--chaos-seed S`` (tests/chaos)."""
    group = parser.getgroup("chaos", "the chaos, crash and bad-input suite (tests/chaos)")
    for name, (env, ci, full, what) in CHAOS_SIZES.items():
        group.addoption(
            "--" + name.replace("_", "-"),
            type=int,
            default=None,
            metavar="N",
            help=f"{what} (default ${env} or {ci:,}; the full size is {full:,})",
        )
    group.addoption(
        "--chaos-seed",
        type=int,
        default=None,
        metavar="S",
        help="seed of the chaos suite's faults and kill points (default $CHAOS_SEED or 1); "
        "a failure prints the seed that replays it",
    )


def chaos_option(config: pytest.Config, name: str) -> int:
    """The value of a chaos size option: the command line, else its variable, else CI's."""
    given = config.getoption(name)
    if given is not None:
        return int(given)
    if name == "chaos_seed":
        return int(os.environ.get("CHAOS_SEED", "1"))
    env, ci, _full, _what = CHAOS_SIZES[name]
    return int(os.environ.get(env, str(ci)))


@pytest.fixture
def chaos_seed(request: pytest.FixtureRequest) -> int:
    """The seed of the chaos suite's faults, kill points and portfolios (default 1)."""
    return chaos_option(request.config, "chaos_seed")


@pytest.fixture
def chaos_size(request: pytest.FixtureRequest) -> int:
    """Residents of the chaos run (``--chaos-size``; CI 2,000, full 20,000)."""
    return chaos_option(request.config, "chaos_size")


@pytest.fixture
def chaos_kills(request: pytest.FixtureRequest) -> int:
    """SIGKILLs of the crash loop (``--chaos-kills``; CI 3, full 10)."""
    return chaos_option(request.config, "chaos_kills")


def pytest_configure(config: pytest.Config) -> None:
    """Register the chaos suite's marker (pyproject's list is strict)."""
    config.addinivalue_line(
        "markers", "chaos_sized: a chaos test whose work grows with --chaos-size/--chaos-kills"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the chaos suite's sized tests a time limit that grows with the chosen sizes."""
    scale = max(
        chaos_option(config, name) / ci for name, (_env, ci, _full, _what) in CHAOS_SIZES.items()
    )
    if scale <= 1:
        return  # CI sizes: the ini file's limit applies
    for item in items:
        if item.get_closest_marker("chaos_sized") is not None:
            item.add_marker(pytest.mark.timeout(int(120 * scale) + 120))


# --- in-process simulators -----------------------------------------------------------------


@pytest.fixture
async def simulator() -> AsyncIterator[SimulatorHandle]:
    """A simulator with the default accounts and no faults, stopped after the test."""
    async with run_simulator(SimulatorConfig(), host="127.0.0.1", port=0) as sim:
        yield sim


@pytest.fixture
async def simulator_factory() -> AsyncIterator[SimulatorFactory]:
    """Start simulators with custom configs; all of them stop after the test.

    ``await simulator_factory(rate_limit=5, faults=FaultSpec.parse("503=0.1"))`` or
    ``await simulator_factory(SimulatorConfig(...))``.
    """
    async with contextlib.AsyncExitStack() as stack:

        async def start(config: SimulatorConfig | None = None, **fields: Any) -> SimulatorHandle:
            if config is None:
                config = SimulatorConfig(**fields)
            elif fields:
                raise TypeError("pass either a SimulatorConfig or its fields, not both")
            return await stack.enter_async_context(run_simulator(config, host="127.0.0.1", port=0))

        yield start


# --- a fake clock ----------------------------------------------------------------------------


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


# --- a simulator on its own thread (for tests that run a command in this process) -----


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


# --- a simulator subprocess (for tests that kill or signal a command) ----------------


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
            data = answer.read()
        return json.loads(data) if data else None  # 204: no body


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
def _own_resend_ledger(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each test its own resend ledger (the machine's, by default, outlives every test)."""
    folder = tmp_path_factory.mktemp("ledger")
    monkeypatch.setenv("SCHLAGE_BULK_LEDGER", str(folder / "resends.sqlite"))
