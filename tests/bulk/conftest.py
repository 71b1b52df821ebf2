"""Fixtures of the bulk tests: the simulator's state behind the engine's calls, residents.

The fake clock (``clock``) and the threaded and subprocess simulators live in
``tests/conftest.py``: the chaos suite uses them too.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pytest
import structlog

from bulk import Resident
from bulk.cli.logs import configure_logging
from schlage_async import (
    ClientStats,
    CreatedCredential,
    Credential,
    NoTourPayload,
    Operation,
    RetryPolicy,
)
from schlage_async._outcomes import classify_error
from schlage_async.simulator import SimClock, SimulatorConfig, SimulatorState
from schlage_async.simulator._answers import Refusal
from schlage_async.simulator._faults import FaultInjector

Fault = Callable[[str, Mapping[str, object]], BaseException | None]


class FakeService:
    """The client's three calls answered by the simulator's own state, in process.

    No HTTP and no fake rules: uniqueness (one active credential per user and per mobile
    number), card numbers, payload replacement and every refusal are the simulator's
    (``SimulatorState``), and a refusal becomes the exception the client would raise for
    that answer (``classify_error``). Around each call the test can script the network:
    ``before`` may return an exception to raise instead of doing the operation (nothing
    happens); ``after`` may return one to raise after doing it (an answer lost on the
    way). Both get the operation name and the call's keyword arguments.
    """

    def __init__(self) -> None:
        config = SimulatorConfig()
        clock = SimClock()
        self.state = SimulatorState(
            config, clock, FaultInjector(config.faults, seed=0, clock=clock)
        )
        admin = config.accounts.accounts[config.accounts.admin.username.lower()]
        self.integration = config.accounts.integrations[admin.integration]
        self.calls: Counter[str] = Counter()
        self.before: Fault | None = None
        self.after: Fault | None = None
        self.in_flight = 0
        self.max_in_flight = 0
        self.latency = 0.0
        self.hold: asyncio.Event | None = None  # when set to an Event, calls wait for it
        # Which service and account it is, as a SchlageClient says (a checkpoint binds to it).
        self.base_url = "https://simulator.invalid/smc-api"
        self.username = config.accounts.admin.username

    @property
    def credentials(self) -> dict[str, Credential]:
        """The simulator's active credentials, by user id."""
        return {
            r.user_id: Credential(
                credential_id=r.credential_id,
                user_id=r.user_id,
                mobile_number=r.mobile_number,
                card_number=r.card_number,
                facility_code=r.facility_code,
            )
            for r in self.state.credentials.values()
            if not r.deleted
        }

    @property
    def payloads(self) -> dict[str, dict[str, NoTourPayload]]:
        """The simulator's saved payloads: credential id -> serial number -> payload."""
        return {cid: dict(r.payloads) for cid, r in self.state.credentials.items() if r.payloads}

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

    @staticmethod
    def _refused(operation: Operation, refusal: Refusal) -> Exception:
        """The client's exception for the simulator's refusal."""
        return classify_error(operation, refusal.status, refusal.messages, code=refusal.code)

    async def create_credential(
        self,
        *,
        user_id: str,
        mobile_number: str,
        card_format: str,
        facility_code: int | None = None,
        issue_code: int | None = None,
        attributes: Mapping[str, str | None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> CreatedCredential:
        """Create Credential, by the simulator's rules."""
        kwargs = {"user_id": user_id, "mobile_number": mobile_number, "retry": retry}
        await self._enter("create", kwargs)
        body: dict[str, object] = {
            "userId": user_id,
            "mobileNumber": mobile_number,
            "cardFormat": card_format,
        }
        if facility_code is not None:
            body["facilityCode"] = facility_code
        if issue_code is not None:
            body["issueCode"] = issue_code
        if attributes:
            body["attributes"] = dict(attributes)
        try:
            record = self.state.create_credential(self.integration, body)
        except Refusal as refusal:
            raise self._refused(Operation.CREATE_CREDENTIAL, refusal) from None
        self._leave("create", kwargs)
        return CreatedCredential(credential_id=record.credential_id, card_number=record.card_number)

    async def save_no_tour_payloads(
        self,
        *,
        credential_id: str,
        payloads: Sequence[NoTourPayload],
        retry: RetryPolicy | None = None,
    ) -> None:
        """Save No-Tour Payloads (replaced per device), by the simulator's rules."""
        kwargs = {"credential_id": credential_id, "retry": retry}
        await self._enter("save", kwargs)
        body = {
            "noTourPayloadDetails": [
                {
                    "lockId": p.lock_id,
                    "serialNumber": p.serial_number,
                    "noTourPayload": p.no_tour_payload,
                }
                for p in payloads
            ]
        }
        try:
            self.state.save_no_tour_payloads(self.integration, credential_id, body)
        except Refusal as refusal:
            raise self._refused(Operation.SAVE_NO_TOUR_PAYLOADS, refusal) from None
        self._leave("save", kwargs)

    async def get_credential_by_user(
        self, *, user_id: str, retry: RetryPolicy | None = None
    ) -> Credential:
        """Get Credential by User Id (404 when the user has none), by the simulator's rules."""
        kwargs = {"user_id": user_id, "retry": retry}
        await self._enter("get", kwargs)
        try:
            record = self.state.get_credential_by_user(self.integration, user_id)
        except Refusal as refusal:
            raise self._refused(Operation.GET_CREDENTIAL_BY_USER, refusal) from None
        self._leave("get", kwargs)
        return self.credentials[record.user_id]


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


@pytest.fixture
def sim_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The simulator's default administrator in the SCHLAGE_* variables."""
    monkeypatch.setenv("SCHLAGE_USERNAME", SIM_USERNAME)
    monkeypatch.setenv("SCHLAGE_PASSWORD", SIM_PASSWORD)
    monkeypatch.setenv("SCHLAGE_SUBSCRIPTION_KEY", SIM_KEY)


SIM_USERNAME = "admin@sim.example"
SIM_PASSWORD = "sim-admin-password"
SIM_KEY = "sim-subscription-key"


@pytest.fixture(autouse=True)
def _quiet_request_logs() -> Iterator[None]:
    """Drop the client's per-request log lines in these tests (restored after)."""
    saved = structlog.get_config()
    configure_logging("console")
    yield
    structlog.configure(**saved)
