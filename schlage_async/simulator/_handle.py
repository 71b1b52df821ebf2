"""Running a simulator inside the caller's event loop: :func:`run_simulator` and its handle."""

from __future__ import annotations

import contextlib
import ipaddress
import logging
from collections.abc import AsyncIterator
from typing import Final

from aiohttp import web

from ._accounts import AdminLogin
from ._app import SimulatorApp
from ._clock import SimClock
from ._config import SimulatorConfig
from ._faults import FaultSpec
from ._state import SimulatorState, SmsMessage

__all__ = ["SimulatorHandle", "run_simulator"]

_SHUTDOWN_TIMEOUT: Final = 1.0  # seconds in-flight requests (e.g. slow faults) get at exit


class SimulatorHandle:
    """A running simulator: where it listens, and its live state for assertions."""

    __slots__ = ("_app", "url")

    def __init__(self, app: SimulatorApp, url: str) -> None:
        self._app = app  # the simulated service
        self.url = url  # "http://HOST:PORT"

    def __repr__(self) -> str:
        return f"SimulatorHandle(url={self.url!r})"

    @property
    def api_base_url(self) -> str:
        """Surface A's base URL (the live test environment's path)."""
        return self.url + "/test/smc-api"

    @property
    def engage_base_url(self) -> str:
        """Surface B's base URL."""
        return self.url + "/engage"

    @property
    def admin(self) -> AdminLogin:
        """User name, password and subscription key of the default administrator."""
        return self._app.accounts.admin

    @property
    def config(self) -> SimulatorConfig:
        """The configuration this simulator was started with."""
        return self._app.config

    @property
    def state(self) -> SimulatorState:
        """The live in-memory state (credentials, outbox, counters)."""
        return self._app.state

    @property
    def clock(self) -> SimClock:
        """The simulator's clock; ``advance(seconds)`` moves it forward."""
        return self._app.clock

    @property
    def outbox(self) -> list[SmsMessage]:
        """Every text message sent so far, oldest first."""
        return self._app.state.outbox

    @property
    def faults(self) -> FaultSpec:
        """The fault spec in force."""
        return self._app.faults.spec

    @property
    def faults_injected(self) -> dict[str, int]:
        """How many faults of each kind were injected so far."""
        return dict(self._app.faults.counts)

    def set_faults(self, spec: FaultSpec | str) -> None:
        """Replace the fault spec now (a string is parsed with :meth:`FaultSpec.parse`)."""
        self._app.set_faults(FaultSpec.parse(spec) if isinstance(spec, str) else spec)

    def revoke_tokens(self) -> None:
        """Invalidate every token issued so far."""
        self._app.signer.revoke_all()

    def reset(self) -> None:
        """Forget credentials, outbox, counters, login windows and runtime faults."""
        self._app.reset()


def _url(host: str, port: int) -> str:
    try:
        is_v6 = ipaddress.ip_address(host).version == 6
    except ValueError:
        is_v6 = False
    return f"http://[{host}]:{port}" if is_v6 else f"http://{host}:{port}"


@contextlib.asynccontextmanager
async def run_simulator(
    config: SimulatorConfig | None = None,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    clock: SimClock | None = None,
) -> AsyncIterator[SimulatorHandle]:
    """Serve a simulator on ``host:port`` (0 = a free port) in the running event loop."""
    config = config or SimulatorConfig()
    sim = SimulatorApp(config, clock=clock)
    runner = web.AppRunner(
        sim.build(),
        access_log=logging.getLogger("aiohttp.access") if config.access_log else None,
        shutdown_timeout=_SHUTDOWN_TIMEOUT,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        await site.start()
        bound_port = int(runner.addresses[0][1])
        yield SimulatorHandle(sim, _url(host, bound_port))
    finally:
        await runner.cleanup()
