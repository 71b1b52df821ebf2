"""A faithful, stateful simulator of Allegion's API-Only service and ENGAGE Cloud API.

Run it with ``python -m schlage_async.simulator`` (or ``schlage-simulator``), or inside
a test's event loop::

    async with run_simulator(SimulatorConfig(faults=FaultSpec.parse("503=0.1"))) as sim:
        ...  # talk to sim.api_base_url; read sim.state; sim.clock.advance(86_400)
"""

from __future__ import annotations

from ._accounts import (
    DEFAULT_ACCOUNTS,
    Account,
    Accounts,
    AccountsFileError,
    AccountStatus,
    AdminLogin,
    Integration,
    Role,
    load_accounts,
)
from ._clock import SimClock
from ._config import DEFAULT_MAX_CARD_NUMBERS, SimulatorConfig
from ._faults import FaultKind, FaultSpec, FaultSpecError
from ._handle import SimulatorHandle, run_simulator
from ._state import CredentialRecord, SimulatorState, SmsMessage

__all__ = [
    "DEFAULT_ACCOUNTS",
    "DEFAULT_MAX_CARD_NUMBERS",
    "Account",
    "AccountStatus",
    "Accounts",
    "AccountsFileError",
    "AdminLogin",
    "CredentialRecord",
    "FaultKind",
    "FaultSpec",
    "FaultSpecError",
    "Integration",
    "Role",
    "SimClock",
    "SimulatorConfig",
    "SimulatorHandle",
    "SimulatorState",
    "SmsMessage",
    "load_accounts",
    "run_simulator",
]
