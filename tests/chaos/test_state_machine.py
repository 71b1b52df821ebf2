"""Property: the resident state machine, under any sequence of answers, stays exactly-once.

Hypothesis draws a few residents (some colliding with credentials that already exist),
the engine's concurrency, and a script of what the service does with each call in turn:
answer, fail before doing anything (5xx, a reset, a 429, a block, a refused role, a
permanent refusal), or do it and lose or garble the answer. The engine runs against a
fake service that follows the script, then resumes (as an operator would rerun) until the
migration completes. Checked on every example:

* ``migrate`` never raises; each run's summary agrees with the store;
* every checkpoint write is a transition of the documented graph (``bulk.store.protocol``),
  or the withdrawal of a ``creating`` intent whose create the service refused unseen;
* the ``creating`` intent is durable before its create is sent;
* a create that may have landed is never followed by another create for that user
  without a lookup that found nothing in between (no blind replay), and no create ever
  meets an existing credential of the same user;
* at the end every resident is ``done`` with exactly one credential holding its mobile
  number and exactly its payloads, or ``failed`` with a reason the service gave.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bulk import (
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    ResidentRecord,
    ResidentState,
    migrate,
)
from bulk import Resident as BulkResident
from bulk._pause import PauseGate
from bulk.cli.exits import exit_code_for
from schlage_async import (
    ClientStats,
    ConnectionFailedError,
    CreatedCredential,
    Credential,
    ErrorCode,
    InvalidResponseError,
    NoTourPayload,
    Operation,
    OutcomeUnknownError,
    RetryPolicy,
    UserIdConflictError,
)
from schlage_async._outcomes import classify_error
from schlage_async._seed_errors import lookup, message_for
from schlage_async.simulator import SimClock, SimulatorConfig, SimulatorState
from schlage_async.simulator._answers import Refusal
from schlage_async.simulator._faults import FaultInjector

S = ResidentState
OUTCOMES: Final = (
    "ok",
    "server_error",
    "unavailable",
    "reset_before",
    "lost",
    "garbled",
    "rate_limited",
    "blocked",
    "access",
    "refused",
)
"""What the service may do with one call (see :meth:`ScriptedService._outcome`)."""
NOTHING_DONE: Final = frozenset(
    {"server_error", "unavailable", "reset_before", "rate_limited", "blocked", "access", "refused"}
)
SURELY_REFUSED: Final = frozenset({"rate_limited", "blocked", "access"})
"""Answers that say for certain the create did nothing, so sending it again is no replay."""
PRESEEDS: Final = ("none", "mobile_taken", "same_user_same_mobile", "same_user_other_mobile")

# The documented graph (bulk/_checkpoint.py), plus rewriting a state with itself.
GRAPH: Final[Mapping[S | None, frozenset[S]]] = {
    None: frozenset({S.PENDING, S.CREATING, S.FAILED}),  # CREATING: the intent written ahead
    S.PENDING: frozenset({S.PENDING, S.CREATING, S.FAILED, S.DEFERRED}),
    S.CREATING: frozenset({S.CREATING, S.CREATED, S.FAILED, S.DEFERRED}),
    S.CREATED: frozenset({S.CREATED, S.DONE, S.FAILED, S.DEFERRED}),
    S.DEFERRED: frozenset({S.DEFERRED, S.CREATING, S.CREATED, S.DONE, S.FAILED}),
    S.DONE: frozenset(),
    S.FAILED: frozenset(),
}


def _error(operation: Operation, *codes: ErrorCode, retry_after: float | None = None) -> Exception:
    """The client's exception for the first of ``codes`` the operation's seed table has."""
    for code in codes:
        try:
            row = lookup(operation, code)
        except KeyError:
            continue
        message = message_for(operation, code, seconds=retry_after or 1)
        return classify_error(operation, row.status, [message], code=code, retry_after=retry_after)
    raise AssertionError(f"{operation} has none of {codes}")


class RecordingStore(MemoryCheckpointStore):
    """A memory store that keeps every write and what a crash would have kept (durable)."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[int, list[ResidentRecord]] = defaultdict(list)
        self.latest: dict[int, ResidentRecord] = {}
        self.durable: dict[int, ResidentRecord] = {}

    async def write(self, record: ResidentRecord) -> None:
        """Keep ``record`` and its place in the line's history."""
        self.history[record.line].append(record)
        self.latest[record.line] = record
        await super().write(record)

    async def write_durable(self, record: ResidentRecord) -> None:
        """Keep ``record``; it and everything written before it are now durable."""
        await self.write(record)
        self.durable = dict(self.latest)

    async def flush(self) -> None:
        """Everything written is now durable."""
        self.durable = dict(self.latest)


@dataclass
class Event:
    """One call as the service saw it."""

    operation: str
    user_id: str
    outcome: str
    found: bool | None = None  # for a lookup: whether it found a credential


class ScriptedService:
    """The engine's client and the service behind it, following a script of outcomes.

    Each call takes the next outcome of the script (``ok`` once it is used up). What a
    call that goes through does is the simulator's own state, in process: one credential
    per user id and per mobile number (409s), card numbers, payloads replaced per device.
    """

    def __init__(self, script: Sequence[str], store: RecordingStore) -> None:
        self.script = list(script)
        self.store = store
        self.lines: dict[str, int] = {}  # user id -> input line (for the durability check)
        config = SimulatorConfig()
        clock = SimClock()
        faults = FaultInjector(config.faults, seed=0, clock=clock)  # none: the script decides
        self.state = SimulatorState(config, clock, faults)
        admin = config.accounts.accounts[config.accounts.admin.username.lower()]
        self.integration = config.accounts.integrations[admin.integration]
        self.events: list[Event] = []
        self.refused: set[str] = set()  # users the service refused for good
        self.user_conflicts: list[str] = []
        self.intent_violations: list[str] = []
        self.calls = 0

    @property
    def stats(self) -> ClientStats:
        """What a client would count."""
        return ClientStats(requests=self.calls)

    @property
    def credentials(self) -> dict[str, Credential]:
        """The simulator's active credentials, by user id."""
        return {
            r.user_id: Credential(
                credential_id=r.credential_id,
                user_id=r.user_id,
                mobile_number=r.mobile_number,
                card_number=r.card_number,
            )
            for r in self.state.credentials.values()
            if not r.deleted
        }

    @property
    def payloads(self) -> dict[str, dict[str, NoTourPayload]]:
        """The simulator's saved payloads: credential id -> serial number -> payload."""
        return {cid: dict(r.payloads) for cid, r in self.state.credentials.items() if r.payloads}

    def create(self, user_id: str, mobile_number: str) -> CreatedCredential:
        """Create in the simulator's state (26A, facility 12); a refusal as the client's error."""
        body = {
            "userId": user_id,
            "mobileNumber": mobile_number,
            "cardFormat": "26A",
            "facilityCode": 12,
            "issueCode": 0,
        }
        try:
            record = self.state.create_credential(self.integration, body)
        except Refusal as refusal:
            op = Operation.CREATE_CREDENTIAL
            raise classify_error(op, refusal.status, refusal.messages, code=refusal.code) from None
        return CreatedCredential(credential_id=record.credential_id, card_number=record.card_number)

    def _outcome(self, operation: str, user_id: str) -> str:
        self.calls += 1
        outcome = self.script.pop(0) if self.script else "ok"
        self.events.append(Event(operation, user_id, outcome))
        return outcome

    def _before(self, op: Operation, outcome: str, user_id: str) -> None:
        """Raise what the service answers when it does nothing."""
        if outcome in ("server_error", "refused") and op is Operation.GET_CREDENTIAL_BY_USER:
            raise _error(op, ErrorCode.SERVER_ERROR)
        if outcome == "server_error":
            raise _error(op, ErrorCode.SERVER_ERROR, ErrorCode.OPERATION_FAILED)
        if outcome == "unavailable":
            raise _error(op, ErrorCode.SERVICE_UNAVAILABLE)
        if outcome == "reset_before":
            raise ConnectionFailedError(op, "could not connect (reset)")
        if outcome == "rate_limited":
            raise _error(op, ErrorCode.RATE_LIMITED, retry_after=1.0)
        if outcome == "blocked":
            raise _error(op, ErrorCode.ACCOUNT_BLOCKED, retry_after=900.0)
        if outcome == "access":
            raise _error(op, ErrorCode.ROLE_FORBIDDEN)
        if outcome == "refused":
            self.refused.add(user_id)
            raise _error(op, ErrorCode.CARD_NUMBERS_EXHAUSTED, ErrorCode.CREDENTIAL_NOT_OWNED)

    def _after(self, op: Operation, outcome: str, status: int) -> None:
        """Raise what the client sees when the answer to a done call is lost or garbled."""
        if outcome == "lost":
            if op is Operation.CREATE_CREDENTIAL:
                raise OutcomeUnknownError(op, "connection lost after sending")
            raise ConnectionFailedError(op, "connection lost")
        if outcome == "garbled":
            raise InvalidResponseError(op, status, "a body that is not JSON (or is cut short)")

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
        """Create, with the intent check and the service's one-per-user/mobile rules."""
        await asyncio.sleep(0)
        op = Operation.CREATE_CREDENTIAL
        line = self.lines[user_id]
        durable = self.store.durable.get(line)
        if durable is None or durable.state is not S.CREATING or durable.create_attempts < 1:
            self.intent_violations.append(f"line {line}: create sent with {durable!r} durable")
        outcome = self._outcome("create", user_id)
        self._before(op, outcome, user_id)
        try:
            created = self.create(user_id, mobile_number)
        except UserIdConflictError:
            self.user_conflicts.append(user_id)
            raise
        self._after(op, outcome, 201)
        return created

    async def save_no_tour_payloads(
        self,
        *,
        credential_id: str,
        payloads: Sequence[NoTourPayload],
        retry: RetryPolicy | None = None,
    ) -> None:
        """Save (replace per device)."""
        await asyncio.sleep(0)
        op = Operation.SAVE_NO_TOUR_PAYLOADS
        user_id = next(u for u, c in self.credentials.items() if c.credential_id == credential_id)
        outcome = self._outcome("save", user_id)
        self._before(op, outcome, user_id)
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
            raise classify_error(op, refusal.status, refusal.messages, code=refusal.code) from None
        self._after(op, outcome, 200)

    async def get_credential_by_user(
        self, *, user_id: str, retry: RetryPolicy | None = None
    ) -> Credential:
        """Look up; a NotFoundError when the user has no credential."""
        await asyncio.sleep(0)
        op = Operation.GET_CREDENTIAL_BY_USER
        outcome = self._outcome("get", user_id)
        self._before(op, outcome, user_id)
        credential = self.credentials.get(user_id)
        self.events[-1].found = credential is not None
        self._after(op, outcome, 200)
        if credential is None:
            raise _error(op, ErrorCode.USER_NOT_FOUND)
        return credential


@dataclass(frozen=True)
class Scenario:
    """What hypothesis drew: residents, what exists before the run, concurrency, the script."""

    doors: tuple[int, ...]  # doors per resident
    preseeds: tuple[str, ...]  # per resident, one of PRESEEDS
    concurrency: int
    script: tuple[str, ...]


scenarios = st.integers(1, 3).flatmap(
    lambda n: st.builds(
        Scenario,
        doors=st.tuples(*[st.integers(0, 2)] * n),
        preseeds=st.tuples(*[st.sampled_from(PRESEEDS)] * n),
        concurrency=st.integers(1, 3),
        script=st.lists(st.sampled_from(OUTCOMES), max_size=24).map(tuple),
    )
)


def _residents(scenario: Scenario) -> list[BulkResident]:
    return [
        BulkResident(
            line=i + 1,
            user_id=str(uuid.UUID(int=i + 1, version=4)),
            mobile_number=f"+1555000{i:04d}",
            card_format="26A",
            facility_code=12,
            issue_code=0,
            doors=tuple(
                NoTourPayload(
                    lock_id=d + 1, serial_number=f"SN{i}-{d}", no_tour_payload=f"{i}{d}" * 48
                )
                for d in range(n)
            ),
        )
        for i, n in enumerate(scenario.doors)
    ]


def _preseed(
    service: ScriptedService, residents: Sequence[BulkResident], preseeds: Sequence[str]
) -> None:
    for resident, preseed in zip(residents, preseeds, strict=True):
        if preseed == "none":
            continue
        other_user = str(uuid.uuid4())
        user, mobile = {
            "mobile_taken": (other_user, resident.mobile_number),
            "same_user_same_mobile": (resident.user_id, resident.mobile_number),
            "same_user_other_mobile": (resident.user_id, "+15559999" + resident.mobile_number[-3:]),
        }[preseed]
        service.create(user, mobile)


def _check_history(history: Sequence[ResidentRecord]) -> None:
    """Every write of one line follows the graph, or withdraws an unseen create's intent."""
    before: ResidentRecord | None = None
    previous: ResidentRecord | None = None
    for record in history:
        state = previous.state if previous is not None else None
        if record.state not in GRAPH[state]:
            withdrawn = (
                previous is not None
                and previous.state is S.CREATING
                and record.create_attempts == previous.create_attempts - 1
                and (before is None or record.state is before.state)
            )
            assert withdrawn, f"{state} -> {record.state}: {list(history)}"
        if record.state is S.FAILED:
            assert record.reason, record
        if record.state is S.DEFERRED:
            assert record.retryable, record
            assert record.reason, record
        if record.state in (S.CREATED, S.DONE):
            assert record.credential_id is not None, record
        before, previous = previous, record


def _check_no_blind_replay(events: Sequence[Event]) -> None:
    """Between two creates of a user that may have landed, a lookup found nothing."""
    may_exist: dict[str, bool] = {}
    for event in events:
        if event.operation == "get" and event.found is False:
            may_exist[event.user_id] = False
        elif event.operation == "create":
            assert not may_exist.get(event.user_id, False), f"blind replay: {events}"
            may_exist[event.user_id] = event.outcome not in SURELY_REFUSED


@pytest.mark.slow
@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(scenario=scenarios)
async def test_any_sequence_of_answers_keeps_every_resident_exactly_once(
    scenario: Scenario, clock: Any
) -> None:
    """Transitions follow the graph, intents are durable first, no blind replay, exact end."""
    residents = _residents(scenario)
    store = RecordingStore()
    service = ScriptedService(scenario.script, store)
    service.lines = {r.user_id: r.line for r in residents}
    _preseed(service, residents, scenario.preseeds)
    preseeded = set(service.credentials)
    options = MigrationOptions(concurrency=scenario.concurrency, seed=1, retry_attempts=3)

    for _ in range(len(scenario.script) + 2):
        summary = await migrate(
            service,
            residents,
            store,
            options=options,
            gate=PauseGate(clock=clock, sleep=clock.sleep),
            sleep=clock.sleep,
        )
        counts = await store.counts()
        assert summary.succeeded == counts.get(S.DONE, 0)
        assert summary.failed == counts.get(S.FAILED, 0)
        assert summary.deferred == counts.get(S.DEFERRED, 0)
        if summary.status is MigrationStatus.COMPLETED:
            break
    assert summary.status is MigrationStatus.COMPLETED, (summary, scenario)
    assert exit_code_for(summary) == 0

    assert service.intent_violations == []
    assert [u for u in service.user_conflicts if u not in preseeded] == []
    _check_no_blind_replay(service.events)
    for resident, preseed in zip(residents, scenario.preseeds, strict=True):
        _check_history(store.history[resident.line])
        record = store.latest[resident.line]
        credential = service.credentials.get(resident.user_id)
        if record.state is S.FAILED:
            assert resident.user_id in service.refused or preseed in (
                "mobile_taken",
                "same_user_other_mobile",
            ), (record, scenario)
            continue
        assert record.state is S.DONE, (record, scenario)
        assert preseed in ("none", "same_user_same_mobile"), (record, scenario)
        assert credential is not None
        assert record.credential_id == credential.credential_id
        assert credential.mobile_number == resident.mobile_number
        saved = service.payloads.get(credential.credential_id, {})
        assert sorted(saved.values(), key=lambda p: p.serial_number) == sorted(
            resident.doors, key=lambda p: p.serial_number
        )
    # Only the residents themselves and what existed before: nothing created twice.
    assert set(service.credentials) <= preseeded | {r.user_id for r in residents}
