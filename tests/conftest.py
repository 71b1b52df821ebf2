"""Fixtures every suite shares: an in-process simulator on a free loopback port."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from schlage_async.simulator import SimulatorConfig, SimulatorHandle, run_simulator

SimulatorFactory = Callable[..., Awaitable[SimulatorHandle]]
"""``await simulator_factory(config=None, **config_fields)`` starts one more simulator."""


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
