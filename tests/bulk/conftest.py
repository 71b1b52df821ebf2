"""Fixtures of the bulk tests: a fake service for engine unit tests, residents, portfolios.

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
from bulk._logs import configure_logging
from schlage_async import (
    ClientStats,
    CreatedCredential,
    Credential,
    ErrorCode,
    MobileNumberConflictError,
    NoTourPayload,
    Operation,
    RetryPolicy,
    UserIdConflictError,
    UserNotFoundError,
)
from schlage_async._seed_errors import message_for

Fault = Callable[[str, Mapping[str, object]], BaseException | None]


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
        retry: RetryPolicy | None = None,
    ) -> CreatedCredential:
        """Create, with the service's one-per-user and one-per-mobile rules."""
        kwargs = {"user_id": user_id, "mobile_number": mobile_number, "retry": retry}
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
        self,
        *,
        credential_id: str,
        payloads: Sequence[NoTourPayload],
        retry: RetryPolicy | None = None,
    ) -> None:
        """Save (replace per device)."""
        kwargs = {"credential_id": credential_id, "retry": retry}
        await self._enter("save", kwargs)
        saved = self.payloads.setdefault(credential_id, {})
        for p in payloads:
            saved[p.serial_number] = p
        self._leave("save", kwargs)

    async def get_credential_by_user(
        self, *, user_id: str, retry: RetryPolicy | None = None
    ) -> Credential:
        """Look up, 404 when none."""
        kwargs = {"user_id": user_id, "retry": retry}
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
