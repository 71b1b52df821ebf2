"""The engine against a fake service: exactly-once at every failure point, pauses, stops."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import pytest

from bulk import (
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationOptionsError,
    MigrationStatus,
    RejectedRow,
    ResidentRecord,
    ResidentState,
    StopReason,
    dry_run,
    migrate,
    run_migration,
)
from bulk._limiter import FixedRateLimiter, RateReport
from bulk._pause import PauseGate
from bulk.cli.exits import exit_code_for
from schlage_async import (
    AccountBlockedError,
    ConflictError,
    ConnectionFailedError,
    ErrorCode,
    Operation,
    OutcomeUnknownError,
    RateLimitedError,
    ServiceUnavailableError,
    ValidationError,
    WrongCredentialsError,
)

S = ResidentState
OPTIONS = MigrationOptions(concurrency=4, seed=1)


async def _run(service: Any, rows: list[Any], store: MemoryCheckpointStore, clock: Any, **kw: Any):
    options = kw.pop("options", OPTIONS)
    return await migrate(
        service,
        rows,
        store,
        options=options,
        gate=PauseGate(clock=clock, sleep=clock.sleep),
        sleep=clock.sleep,
        **kw,
    )


def _assert_exactly_once(service: Any, residents: list[Any]) -> None:
    """Every resident has exactly one credential with its mobile number and its payloads."""
    assert len(service.credentials) == len(residents)
    for r in residents:
        cred = service.credentials[r.user_id]
        assert cred.mobile_number == r.mobile_number
        saved = service.payloads.get(cred.credential_id, {})
        assert sorted(saved) == sorted(d.serial_number for d in r.doors)


async def test_every_resident_is_created_once_with_its_payloads(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """The happy path: one create per resident, one save per resident with doors."""
    residents = [make_resident(n, doors=n % 3) for n in range(1, 41)]
    store = MemoryCheckpointStore()
    summary = await _run(service, residents, store, clock)
    assert summary.status is MigrationStatus.COMPLETED
    assert exit_code_for(summary) == 0
    assert (summary.succeeded, summary.failed, summary.unprocessed) == (40, 0, 0)
    _assert_exactly_once(service, residents)
    assert service.calls["create"] == 40
    assert service.calls["save"] == sum(1 for r in residents if r.doors)
    assert service.calls["get"] == 0
    record = store.get(5)
    assert record is not None
    assert record.state is S.DONE
    assert record.credential_id == service.credentials[residents[4].user_id].credential_id


async def test_concurrency_is_bounded_by_the_worker_pool(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Never more calls in flight than workers, and no task per row."""
    service.latency = 0.001
    residents = [make_resident(n) for n in range(1, 201)]
    before = len(asyncio.all_tasks())
    run = asyncio.create_task(_run(service, residents, MemoryCheckpointStore(), clock))
    await asyncio.sleep(0.01)
    assert len(asyncio.all_tasks()) - before <= 4 + 4  # workers, reader, ticker, run, thread hop
    await run
    assert 1 < service.max_in_flight <= 4


@pytest.mark.slow
async def test_the_input_is_streamed_a_bounded_distance_ahead_of_the_workers(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A long input is never read whole: rows are pulled as workers free up."""
    pulled = 0

    def rows() -> Any:
        nonlocal pulled
        for n in range(1, 20_001):
            pulled += 1
            yield make_resident(n)

    service.hold = asyncio.Event()
    stop = asyncio.Event()
    run = asyncio.create_task(_run(service, rows(), MemoryCheckpointStore(), clock, stop=stop))
    for _ in range(50):
        await asyncio.sleep(0.002)
    assert service.in_flight == 4
    assert pulled <= 2 * 256 + 4 * 2 + 4  # two read batches, the queue, the workers
    stop.set()
    service.hold.set()
    summary = await run
    assert pulled < 20_000  # after the stop the rest is left unread (item 9: a fast stop)
    assert summary.total_rows <= pulled
    assert summary.unprocessed + summary.succeeded == summary.total_rows


async def test_bad_rows_and_duplicates_fail_without_any_call(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Rejected rows go to failed with their reason; duplicates fail the second occurrence."""
    first = make_resident(1)
    rows: list[Any] = [
        first,
        RejectedRow(line=2, reason="invalid JSON: truncated"),
        make_resident(3, mobile=first.mobile_number),
    ]
    store = MemoryCheckpointStore()
    summary = await _run(service, rows, store, clock)
    assert summary.status is MigrationStatus.COMPLETED
    assert (summary.succeeded, summary.failed) == (1, 2)
    assert service.calls["create"] == 1
    bad = store.get(2)
    dup = store.get(3)
    assert bad is not None
    assert bad.reason == "invalid JSON: truncated"
    assert dup is not None
    assert dup.reason is not None
    assert "duplicate mobile number" in dup.reason


async def test_raw_json_lines_are_parsed_and_numbered(service: Any, clock: Any) -> None:
    """The Python API takes raw lines too; blank lines keep the numbering physical."""
    row = {
        "externalId": "E1",
        "mobileNumber": "(555) 010-0001",
        "cardFormat": "26A",
        "facilityCode": 1,
    }
    store = MemoryCheckpointStore()
    summary = await _run(service, ["", json.dumps(row), "{broken"], store, clock)
    assert (summary.succeeded, summary.failed) == (1, 1)
    done, failed = store.get(2), store.get(3)
    assert done is not None
    assert done.state is S.DONE
    assert failed is not None
    assert failed.state is S.FAILED


async def test_a_409_on_the_mobile_number_fails_without_a_retry(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Another user holds the number: one create, one lookup, a permanent failure naming it."""
    other = make_resident(99)
    await service.create_credential(
        user_id=other.user_id, mobile_number="+15550000001", card_format="26A", facility_code=12
    )
    service.calls.clear()
    store = MemoryCheckpointStore()
    summary = await _run(service, [make_resident(1, mobile="+15550000001")], store, clock)
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.failed == 1
    assert service.calls == {"create": 1, "get": 1}  # the lookup finds no credential of ours
    record = store.get(1)
    assert record is not None
    assert record.retryable is False
    assert record.reason is not None
    assert "+1******0001 already belongs to another user's credential (409" in record.reason


async def test_a_409_on_the_user_id_adopts_the_existing_credential(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Created by an earlier tool (same mobile): looked up and adopted, not created twice."""
    resident = make_resident(1, doors=2)
    created = await service.create_credential(
        user_id=resident.user_id,
        mobile_number=resident.mobile_number,
        card_format="26A",
        facility_code=12,
    )
    store = MemoryCheckpointStore()
    summary = await _run(service, [resident], store, clock)
    assert summary.succeeded == 1
    assert summary.reconciled == 1
    _assert_exactly_once(service, [resident])
    record = store.get(1)
    assert record is not None
    assert record.credential_id == created.credential_id


@pytest.mark.parametrize(
    "words",
    [
        pytest.param(("Conflict.",), id="unknown-words"),
        pytest.param((), id="no-words"),
        pytest.param(("the user is ALREADY associated with mobile credential",), id="live-ish"),
    ],
)
async def test_any_409_on_create_is_reconciled_by_looking_the_user_up_first(
    service: Any, clock: Any, make_resident: Any, words: tuple[str, ...]
) -> None:
    """A 409 whose words name no rule still adopts the user's existing credential."""
    resident = make_resident(1)
    created = await service.create_credential(
        user_id=resident.user_id,
        mobile_number=resident.mobile_number,
        card_format="26A",
        facility_code=12,
    )
    service.calls.clear()

    def bare_conflict(op: str, kwargs: Any) -> BaseException | None:
        if op == "create":
            return ConflictError(Operation.CREATE_CREDENTIAL, 409, words)
        return None

    service.before = bare_conflict
    store = MemoryCheckpointStore()
    summary = await _run(service, [resident], store, clock)
    assert (summary.succeeded, summary.failed, summary.reconciled) == (1, 0, 1)
    assert service.calls == {"create": 1, "get": 1, "save": 1}
    record = store.get(1)
    assert record is not None
    assert record.credential_id == created.credential_id


async def test_an_unworded_409_with_no_credential_to_adopt_fails_saying_so(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A bare 409 and a lookup that finds nothing: failed for good, the number masked."""
    service.before = lambda op, kw: (
        ConflictError(Operation.CREATE_CREDENTIAL, 409, ()) if op == "create" else None
    )
    store = MemoryCheckpointStore()
    summary = await _run(service, [make_resident(1)], store, clock)
    assert summary.failed == 1
    assert service.calls == {"create": 1, "get": 1}
    record = store.get(1)
    assert record is not None
    assert record.reason is not None
    assert "409" in record.reason
    assert "no credential to adopt" in record.reason
    assert "+1555" not in record.reason.replace("+1******", "")


async def test_an_existing_credential_with_another_mobile_fails_the_resident(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """The user id is taken by a credential for another number: reported, not touched."""
    resident = make_resident(1)
    await service.create_credential(
        user_id=resident.user_id, mobile_number="+15559999999", card_format="26A", facility_code=12
    )
    store = MemoryCheckpointStore()
    summary = await _run(service, [resident], store, clock)
    assert summary.failed == 1
    record = store.get(1)
    assert record is not None
    assert record.reason is not None
    assert "for mobile number +1******9999" in record.reason
    assert service.calls["save"] == 0


def _lost_answer_once(target: str) -> Any:
    fired: set[str] = set()

    def after(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if op == "create" and kwargs["user_id"] == target and target not in fired:
            fired.add(target)
            return OutcomeUnknownError(Operation.CREATE_CREDENTIAL, "connection lost")
        return None

    return after


async def test_an_unknown_outcome_that_did_create_is_reconciled_not_replayed(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """The create went through but the answer was lost: look up, adopt, save payloads."""
    residents = [make_resident(n, doors=1) for n in range(1, 6)]
    service.after = _lost_answer_once(residents[2].user_id)
    summary = await _run(service, residents, MemoryCheckpointStore(), clock)
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.reconciled == 1
    assert service.calls["create"] == 5
    assert service.calls["get"] == 1
    _assert_exactly_once(service, residents)


async def test_an_unknown_outcome_that_did_not_create_is_created_after_the_lookup(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Nothing was created: the lookup says so, and only then is the create sent again."""
    resident = make_resident(1)
    fired: list[bool] = []

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if op == "create" and not fired:
            fired.append(True)
            return OutcomeUnknownError(Operation.CREATE_CREDENTIAL, "timed out")
        return None

    service.before = before
    summary = await _run(service, [resident], MemoryCheckpointStore(), clock)
    assert summary.succeeded == 1
    assert service.calls["create"] == 2
    assert service.calls["get"] == 1
    _assert_exactly_once(service, [resident])


async def test_a_resident_left_creating_by_a_crash_is_looked_up_before_any_create(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Resume after a crash between intent and answer: found means adopt, none means create."""
    created, missing = make_resident(1), make_resident(2)
    await service.create_credential(
        user_id=created.user_id,
        mobile_number=created.mobile_number,
        card_format="26A",
        facility_code=12,
    )
    service.calls.clear()
    store = MemoryCheckpointStore()
    for r in (created, missing):
        await store.write(
            ResidentRecord(line=r.line, state=S.CREATING, user_id=r.user_id, create_attempts=1)
        )
    summary = await _run(service, [created, missing], store, clock)
    assert summary.succeeded == 2
    assert service.calls["get"] == 2
    assert service.calls["create"] == 1
    _assert_exactly_once(service, [created, missing])


async def test_a_resident_left_created_only_saves_its_payloads_again(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Crash between created and payloads saved: the save is repeated, nothing else."""
    resident = make_resident(1, doors=3)
    cred = await service.create_credential(
        user_id=resident.user_id,
        mobile_number=resident.mobile_number,
        card_format="26A",
        facility_code=12,
    )
    service.calls.clear()
    store = MemoryCheckpointStore()
    await store.write(
        ResidentRecord(
            line=1,
            state=S.CREATED,
            user_id=resident.user_id,
            credential_id=cred.credential_id,
            card_number=cred.card_number,
            create_attempts=1,
        )
    )
    summary = await _run(service, [resident], store, clock)
    assert summary.succeeded == 1
    assert service.calls == {"save": 1}
    _assert_exactly_once(service, [resident])


async def test_done_and_failed_rows_are_skipped_on_resume(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A rerun of a finished input sends nothing and reports the same counts."""
    residents = [make_resident(n) for n in range(1, 11)]
    store = MemoryCheckpointStore()
    await _run(service, residents, store, clock)
    service.calls.clear()
    summary = await _run(service, residents, store, clock)
    assert summary.skipped == 10
    assert summary.succeeded == 10
    assert not service.calls


async def test_server_errors_are_retried_with_backoff_then_deferred(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A resident that keeps getting 503 is left deferred (retryable), and the run is 75."""
    bad = make_resident(2)

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if kwargs.get("user_id") == bad.user_id:
            return ServiceUnavailableError(Operation.CREATE_CREDENTIAL, 503, ["unavailable"])
        return None

    service.before = before
    store = MemoryCheckpointStore()
    summary = await _run(service, [make_resident(1), bad], store, clock)
    assert summary.status is MigrationStatus.INCOMPLETE
    assert exit_code_for(summary) == 75
    assert (summary.succeeded, summary.deferred) == (1, 1)
    record = store.get(2)
    assert record is not None
    assert record.state is S.DEFERRED
    assert record.retryable
    assert record.reason is not None
    assert "ServiceUnavailableError" in record.reason
    # three tries: the create (503), then twice a lookup first (a 503 create may exist)
    assert service.calls["create"] == 2  # one for each resident, never a blind replay
    assert service.calls["get"] == 2
    assert len(clock.slept) >= 2  # backed off between tries, on the fake clock
    service.before = None
    again = await _run(service, [make_resident(1), bad], store, clock)
    assert again.status is MigrationStatus.COMPLETED
    _assert_exactly_once(service, [make_resident(1), bad])


async def test_a_connection_failure_is_retried_within_the_run(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A transient failure costs a retry, not the resident."""
    fired: list[bool] = []

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if op == "save" and not fired:
            fired.append(True)
            return ConnectionFailedError(Operation.SAVE_NO_TOUR_PAYLOADS, "reset")
        return None

    service.before = before
    summary = await _run(service, [make_resident(1, doors=2)], MemoryCheckpointStore(), clock)
    assert summary.succeeded == 1
    assert service.calls == {"create": 1, "save": 2}


async def test_a_validation_refusal_is_a_permanent_failure(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A 400 from the service fails the resident with the service's message."""

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        return ValidationError(Operation.CREATE_CREDENTIAL, 400, ["The Card Format is invalid."])

    service.before = before
    store = MemoryCheckpointStore()
    summary = await _run(service, [make_resident(1)], store, clock)
    assert summary.status is MigrationStatus.COMPLETED
    record = store.get(1)
    assert record is not None
    assert record.state is S.FAILED
    assert record.reason is not None
    assert "The Card Format is invalid." in record.reason


async def test_429s_pause_the_whole_engine_once_and_then_go_on(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A burst of 429s with Retry-After: one engine-wide pause, every resident done after."""
    refused: list[int] = []

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if len(refused) < 4:
            refused.append(1)
            return RateLimitedError(
                Operation.CREATE_CREDENTIAL, 429, ["Rate limit is exceeded."], retry_after=2.0
            )
        return None

    service.before = before
    service.hold = asyncio.Event()  # the four workers' creates are in flight together
    residents = [make_resident(n) for n in range(1, 21)]
    run = asyncio.create_task(_run(service, residents, MemoryCheckpointStore(), clock))
    while service.in_flight < 4:  # noqa: ASYNC110  # the fake counts; no event to wait on
        await asyncio.sleep(0)
    service.hold.set()  # ... and all four answered 429 at once
    summary = await run
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.rate_limited == 4
    assert summary.pauses == 1
    assert summary.paused_seconds == pytest.approx(2.0)
    _assert_exactly_once(service, residents)


async def test_an_account_block_stops_resumably_with_a_resume_time(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Blocked: checkpoint, exit 75, and the time to come back; a rerun after it completes."""
    blocked = True

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if blocked and len(service.credentials) >= 5:
            return AccountBlockedError(
                Operation.CREATE_CREDENTIAL,
                429,
                ["blocked"],
                code=ErrorCode.ACCOUNT_BLOCKED,
                retry_after=900.0,
            )
        return None

    service.before = before
    residents = [make_resident(n) for n in range(1, 31)]
    store = MemoryCheckpointStore()
    summary = await _run(service, residents, store, clock)
    assert summary.status is MigrationStatus.STOPPED
    assert summary.stop_reason is StopReason.ACCOUNT_BLOCKED
    assert exit_code_for(summary) == 75
    assert summary.resume_at is not None
    assert summary.succeeded + summary.unprocessed == 30
    assert summary.unprocessed > 0
    counts = await store.counts()
    assert S.CREATING not in counts  # refused creates gave their intent back
    blocked = False
    again = await _run(service, residents, store, clock)
    assert again.status is MigrationStatus.COMPLETED
    _assert_exactly_once(service, residents)


async def test_429s_beyond_patience_stop_resumably(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """A service that keeps answering 429 is not hammered forever."""

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        return RateLimitedError(Operation.CREATE_CREDENTIAL, 429, ["slow down"], retry_after=30.0)

    service.before = before
    options = MigrationOptions(concurrency=2, patience=100.0, max_consecutive_429=1000)
    summary = await _run(
        service, [make_resident(n) for n in range(1, 6)], MemoryCheckpointStore(), clock,
        options=options,
    )  # fmt: skip
    assert summary.stop_reason is StopReason.PATIENCE_EXHAUSTED
    assert exit_code_for(summary) == 75
    assert summary.unprocessed == 5
    assert 60.0 <= summary.paused_seconds <= 100.0  # it stops instead of pausing past patience


async def test_a_refused_login_stops_with_exit_2(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Wrong credentials are not retried row after row: the run stops at once."""

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        return WrongCredentialsError(Operation.LOGIN, 403, ["wrong password"])

    service.before = before
    summary = await _run(
        service, [make_resident(n) for n in range(1, 50)], MemoryCheckpointStore(), clock
    )
    assert summary.stop_reason is StopReason.ACCESS_REFUSED
    assert exit_code_for(summary) == 2
    assert service.calls["create"] <= 4  # one per worker at most


async def test_a_stop_event_ends_the_run_resumably_and_records_the_rest(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """SIGINT: calls in flight finish, the rest stays pending for the rerun."""
    stop = asyncio.Event()

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if len(service.credentials) >= 10:
            stop.set()
        return None

    service.before = before
    residents = [make_resident(n) for n in range(1, 101)]
    store = MemoryCheckpointStore()
    summary = await _run(service, residents, store, clock, stop=stop)
    assert summary.stop_reason is StopReason.SIGNAL
    assert exit_code_for(summary) == 75
    assert summary.total_rows == 100
    assert summary.succeeded + summary.unprocessed == 100
    service.before = None
    again = await _run(service, residents, store, clock)
    assert again.status is MigrationStatus.COMPLETED
    _assert_exactly_once(service, residents)


async def test_a_dry_run_sends_nothing(clock: Any, make_resident: Any) -> None:
    """Rows are checked and recorded as pending; no client is needed."""
    rows: list[Any] = [make_resident(1), RejectedRow(line=2, reason="bad")]
    summary = await dry_run(rows)
    assert summary.status is MigrationStatus.DRY_RUN
    assert exit_code_for(summary) == 0
    assert (summary.unprocessed, summary.failed) == (1, 1)


async def test_parsed_rows_without_an_input_id_are_refused(service: Any) -> None:
    """Rows that are not a file must be named, so that their checkpoint binds to them."""
    with pytest.raises(MigrationOptionsError, match="input_id"):
        await run_migration(service, [], store=MemoryCheckpointStore())


async def test_a_slot_granted_during_a_pause_is_not_spent_after_it(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """Workers that got a limiter slot while paused take a fresh one: no burst at reopening."""
    gate = PauseGate(clock=clock, sleep=clock.sleep)
    granted_open = 0
    granted_paused = 0

    one_at_a_time = asyncio.Lock()

    class SlowLimiter:
        rate = 10.0

        async def acquire(self) -> None:
            nonlocal granted_open, granted_paused
            async with one_at_a_time:  # a slot every 0.1 s, as a paced bucket gives them
                await clock.sleep(0.1)
            if gate.paused:
                granted_paused += 1
            else:
                granted_open += 1

        def on_success(self) -> None:
            """Nothing to learn."""

        def on_throttled(self) -> None:
            """Nothing to learn."""

        def report(self) -> RateReport:
            """No pace to report."""
            return RateReport()

    refused: list[int] = []

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if not refused:
            refused.append(1)
            return RateLimitedError(
                Operation.CREATE_CREDENTIAL, 429, ["Rate limit is exceeded."], retry_after=2.0
            )
        return None

    service.before = before
    residents = [make_resident(n) for n in range(1, 13)]
    summary = await migrate(
        service,
        residents,
        MemoryCheckpointStore(),
        options=OPTIONS,
        gate=gate,
        sleep=clock.sleep,
        limiter=SlowLimiter(),
    )
    assert summary.status is MigrationStatus.COMPLETED
    assert granted_paused > 0  # the scenario did grant slots during the pause
    assert summary.api_calls == granted_open  # ...and none of those was spent
    _assert_exactly_once(service, residents)


async def test_a_429_without_retry_after_pauses_one_interval_then_doubles(
    service: Any, clock: Any, make_resident: Any
) -> None:
    """No Retry-After: the first three in a row pause one interval of the paced rate (the
    limiter has slowed down already); from the fourth on, 1 s doubling, as for a block."""
    refused: list[int] = []

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        if op == "create" and len(refused) < 5:
            refused.append(1)
            return RateLimitedError(Operation.CREATE_CREDENTIAL, 429, ["Rate limit is exceeded."])
        return None

    service.before = before
    residents = [make_resident(n) for n in range(1, 4)]
    limiter = FixedRateLimiter(20.0, clock=clock, sleep=clock.sleep)
    options = MigrationOptions(concurrency=1, seed=1, default_retry_after=1.0)
    summary = await _run(
        service, residents, MemoryCheckpointStore(), clock, options=options, limiter=limiter
    )
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.rate_limited == 5
    assert summary.pauses == 5
    assert summary.paused_seconds == pytest.approx(3 * (1 / 20.0) + 1.0 + 2.0)
    _assert_exactly_once(service, residents)
