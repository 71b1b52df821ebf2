"""The migration engine: exactly-once, resumable provisioning of a stream of residents.

A fixed pool of ``concurrency`` workers pulls residents from a bounded queue that one
reader task fills from the (streamed) input, so memory stays flat however long the input.
Every API call passes the shared :class:`PauseGate` (one 429 pauses everyone, once) and
the shared :class:`RateLimiter`. Each resident's state goes to the
:class:`CheckpointStore`; the ``creating`` intent is durable before the create leaves.

Exactly-once, whatever the crash point:

* a resident whose record shows a create may have left (``create_attempts > 0``, no
  credential id) is looked up with ``get_credential_by_user`` before any new create:
  found with its mobile number means created (adopted), not found means create;
* a 409 on the user id is reconciled the same way; a 409 on the mobile number (another
  user holds it) is a permanent failure, never retried;
* an unknown outcome (no answer to a create), a 5xx or an unreadable answer is never
  replayed blindly: the retry starts with the lookup;
* saving no-tour payloads replaces per device, so it is simply done again.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import random
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from dataclasses import dataclass
from typing import Final, Protocol, TypeVar

import structlog

from schlage_async import (
    AccountBlockedError,
    APIError,
    AuthenticationError,
    ClientStats,
    CreatedCredential,
    Credential,
    InvalidResponseError,
    MobileNumberConflictError,
    NotFoundError,
    NoTourPayload,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    UserIdConflictError,
    mask_mobile,
)

from ._checkpoint import CheckpointStore, InputMismatchError, ResidentRecord, ResidentState
from ._input import Deduplicator, ParseOptions, parse_jsonl_line
from ._limiter import RateLimiter, UnlimitedLimiter
from ._pause import PauseGate
from ._progress import NullProgress, ProgressSink, ProgressSnapshot
from ._resident import ParsedRow, RejectedRow, Resident
from ._summary import MigrationStatus, MigrationSummary, StopReason

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ENGINE_RETRY_POLICY",
    "MigrationOptions",
    "ProvisioningClient",
    "migrate",
]

_T = TypeVar("_T")
_log = structlog.get_logger("bulk")

DEFAULT_CONCURRENCY: Final = 16
ENGINE_RETRY_POLICY: Final = RetryPolicy(retry_statuses=frozenset({502, 503, 504}))
"""The client's retries under the engine: 5xx and connection errors, never a 429 (the
engine pauses every worker once for a 429 instead of each call sleeping on its own)."""
_READ_BATCH: Final = 256  # rows parsed per hop to the reader thread
_PROGRESS_INTERVAL: Final = 0.2  # seconds between progress snapshots

RowSource = Iterable[ParsedRow | str] | AsyncIterable[ParsedRow | str]
"""What :func:`migrate` reads: parsed rows, or raw JSON Lines (numbered from 1)."""


class ProvisioningClient(Protocol):
    """The three calls the engine makes (``SchlageClient`` has them)."""

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the client's traffic."""
        ...

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
        """Create a resident's credential."""
        ...

    async def save_no_tour_payloads(
        self, *, credential_id: str, payloads: Sequence[NoTourPayload]
    ) -> None:
        """Save (replace) a credential's no-tour payloads."""
        ...

    async def get_credential_by_user(self, *, user_id: str) -> Credential:
        """Look a user's credential up (raises a NotFoundError when there is none)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationOptions:
    """How a run behaves; every field has a sensible default."""

    concurrency: int = DEFAULT_CONCURRENCY
    """Worker tasks (residents in flight at once)."""
    patience: float = 900.0
    """Seconds of 429 pauses (summed over the run) after which the run stops resumably."""
    max_consecutive_429: int = 50
    """429s in a row (no success between) after which the run stops resumably."""
    default_retry_after: float = 1.0
    """The pause for a 429 without a ``Retry-After`` (doubles while 429s keep coming)."""
    retry_attempts: int = 3
    """Tries per resident in a run before it is left ``deferred`` (5xx, transport)."""
    retry_base_delay: float = 1.0
    """Backoff before the second try, doubling after (full jitter)."""
    retry_max_delay: float = 30.0
    """Longest backoff between two tries of a resident."""
    total_rows: int | None = None
    """Rows expected, for the progress bar's total and ETA."""
    dry_run: bool = False
    """Check the rows and record them, send nothing."""
    seed: int | None = None
    """Seed for the backoff jitter (tests)."""


class _Stopped(Exception):
    """The run is stopping; the resident is left as its checkpoint says."""


class _Transient(Exception):
    """A retryable failure of one resident; ``record`` is what to keep meanwhile."""

    def __init__(self, record: ResidentRecord, reason: str) -> None:
        super().__init__(reason)
        self.record = record
        self.reason = reason


def _describe(exc: BaseException) -> str:
    """One line for a report: the error's class and its (redacted) text."""
    return f"{type(exc).__name__}: {exc}"


async def _aiter_rows(rows: RowSource, options: ParseOptions) -> AsyncIterator[list[ParsedRow]]:
    """Yield ``rows`` in batches, parsing raw lines; sync sources are read in a thread."""
    number = 0

    def parse(item: ParsedRow | str) -> ParsedRow | None:
        nonlocal number
        number += 1
        if isinstance(item, str):
            return parse_jsonl_line(item, number, options)
        return item

    if isinstance(rows, AsyncIterable):
        batch: list[ParsedRow] = []
        async for item in rows:
            row = parse(item)
            if row is not None:
                batch.append(row)
            if len(batch) >= _READ_BATCH:
                yield batch
                batch = []
        if batch:
            yield batch
        return

    iterator: Iterator[ParsedRow | str] = iter(rows)

    def take() -> tuple[list[ParsedRow], bool]:
        out: list[ParsedRow] = []
        # Counting items, not rows: a run of blank lines must not read the file whole.
        for _ in range(_READ_BATCH):
            try:
                item = next(iterator)
            except StopIteration:
                return out, False
            row = parse(item)
            if row is not None:
                out.append(row)
        return out, True

    while True:
        got, more = await asyncio.to_thread(take)
        if got:
            yield got
        if not more:
            return


_Job = tuple[Resident, "ResidentRecord | None", "int | None"]
"""A queued resident: its row, its open record from an earlier run (if any), and the
store's write mark of the ``creating`` intent the reader wrote ahead for it (if any)."""


class _Run:
    """One migration run: the shared state of the reader, the workers and the ticker."""

    def __init__(
        self,
        client: ProvisioningClient | None,
        store: CheckpointStore,
        options: MigrationOptions,
        parse_options: ParseOptions,
        limiter: RateLimiter,
        gate: PauseGate,
        progress: ProgressSink,
        sleep: Callable[[float], Awaitable[object]],
        stop_event: asyncio.Event | None,
    ) -> None:
        self.client = client
        self.store = store
        self.options = options
        self.parse_options = parse_options
        self.limiter = limiter
        self.gate = gate
        self.progress = progress
        self.sleep = sleep
        self.external_stop = stop_event
        self.rng = random.Random(options.seed)
        self.stopped = asyncio.Event()  # set when the run must wind down
        self.stop_reason: StopReason | None = None
        self.stop_detail: str | None = None
        self.resume_at: dt.datetime | None = None
        self.started = time.monotonic()
        # Counters of this run.
        self.rows = 0
        self.succeeded = 0
        self.failed = 0
        self.deferred = 0
        self.skipped = 0
        self.reconciled = 0
        self.in_flight = 0
        self.calls = 0
        self.rate_limited = 0
        self.consecutive_429 = 0
        self.client_start = client.stats if client is not None else ClientStats()

    # --- stopping ---------------------------------------------------------------------

    def stop(self, reason: StopReason, detail: str, *, retry_after: float | None = None) -> None:
        """Wind the run down (the first reason wins); workers finish their current call."""
        if self.stopped.is_set():
            return
        self.stop_reason = reason
        self.stop_detail = detail
        if retry_after is not None:
            self.resume_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=retry_after)
        self.stopped.set()
        _log.warning(
            "migration.stopping",
            reason=reason.value,
            detail=detail,
            resume_at=self.resume_at.isoformat(timespec="seconds") if self.resume_at else None,
        )
        self.gate.close()

    # --- calls ----------------------------------------------------------------------------

    async def call(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """Send one API call through the gate and the limiter; handle 429s engine-wide."""
        while True:
            await self.gate.wait()
            if self.stopped.is_set():
                raise _Stopped
            await self.limiter.acquire()
            await self.gate.wait()  # a pause may have begun while waiting for a slot
            if self.stopped.is_set():
                raise _Stopped
            self.calls += 1
            try:
                result = await make()
            except AccountBlockedError as exc:
                self.rate_limited += 1
                self.stop(StopReason.ACCOUNT_BLOCKED, _describe(exc), retry_after=exc.retry_after)
                raise _Stopped from exc
            except RateLimitedError as exc:
                self.rate_limited += 1
                self.consecutive_429 += 1
                self.limiter.on_throttled()
                wait = exc.retry_after
                if wait is None:
                    backoff = 2.0 ** min(self.consecutive_429 - 1, 6)
                    wait = self.options.default_retry_after * backoff
                if self.gate.pause_for(wait):
                    _log.info(
                        "migration.paused",
                        seconds=round(wait, 3),
                        paused_until=(
                            dt.datetime.now(dt.UTC) + dt.timedelta(seconds=wait)
                        ).isoformat(timespec="seconds"),
                        operation=str(exc.operation),
                    )
                if (
                    self.consecutive_429 >= self.options.max_consecutive_429
                    or self.gate.committed_seconds > self.options.patience
                ):
                    self.stop(
                        StopReason.PATIENCE_EXHAUSTED,
                        f"{self.consecutive_429} 429s in a row, "
                        f"{self.gate.committed_seconds:.0f}s paused in all: {_describe(exc)}",
                        retry_after=max(wait, 60.0),
                    )
                    raise _Stopped from exc
                continue
            except (AuthenticationError, PermissionDeniedError) as exc:
                self.stop(StopReason.ACCESS_REFUSED, _describe(exc))
                raise _Stopped from exc
            except APIError:
                self.consecutive_429 = 0  # an answer that is not a 429 (404, 409, ...)
                self.limiter.on_success()
                raise
            self.consecutive_429 = 0
            self.limiter.on_success()
            return result

    # --- one resident -------------------------------------------------------------------

    async def provision(
        self, resident: Resident, record: ResidentRecord | None, intent_mark: int | None = None
    ) -> None:
        """Bring one resident to ``done`` or ``failed``, or leave it ``deferred``/open."""
        if record is None:
            record = ResidentRecord(
                line=resident.line, state=ResidentState.PENDING, user_id=resident.user_id
            )
        tries = 0
        while True:
            tries += 1
            try:
                final = await self.advance(resident, record, intent_mark)
            except _Transient as exc:
                record = exc.record
                if tries >= self.options.retry_attempts:
                    deferred = record.evolve(
                        state=ResidentState.DEFERRED, reason=exc.reason, retryable=True
                    )
                    await self.store.write(deferred)
                    self.deferred += 1
                    _log.warning(
                        "resident.deferred",
                        line=resident.line,
                        user_id=resident.user_id,
                        reason=exc.reason,
                        tries=tries,
                    )
                    return
                ceiling = min(
                    self.options.retry_max_delay,
                    self.options.retry_base_delay * 2.0 ** (tries - 1),
                )
                await self.nap(self.rng.uniform(0.0, ceiling))
                if self.stopped.is_set():
                    await self.store.write(
                        record.evolve(
                            state=ResidentState.DEFERRED, reason=exc.reason, retryable=True
                        )
                    )
                    return
                continue
            if final.state is ResidentState.DONE:
                self.succeeded += 1
            else:
                self.failed += 1
                _log.info(
                    "resident.failed",
                    line=resident.line,
                    user_id=resident.user_id,
                    reason=final.reason,
                )
            return

    async def nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the run stops meanwhile."""
        napping = asyncio.ensure_future(self.sleep(seconds))
        stopping = asyncio.ensure_future(self.stopped.wait())
        try:
            await asyncio.wait((napping, stopping), return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (napping, stopping):
                task.cancel()
            await asyncio.gather(napping, stopping, return_exceptions=True)

    async def advance(
        self, resident: Resident, record: ResidentRecord, intent_mark: int | None = None
    ) -> ResidentRecord:
        """Take one resident as far as it goes; return its final record."""
        if record.credential_id is None:
            if record.create_attempts > 0:
                record = await self.reconcile(resident, record)
            if record.credential_id is None and record.state is not ResidentState.FAILED:
                record = await self.create(resident, record, intent_mark)
        if record.state is ResidentState.FAILED:
            await self.store.write(record)
            return record
        if resident.doors:
            record = await self.save(resident, record)
            if record.state is ResidentState.FAILED:
                await self.store.write(record)
                return record
        done = record.evolve(state=ResidentState.DONE, reason=None, retryable=False)
        await self.store.write(done)
        return done

    def fail(self, record: ResidentRecord, reason: str) -> ResidentRecord:
        """Return ``record`` failed for good with ``reason``."""
        return record.evolve(state=ResidentState.FAILED, reason=reason, retryable=False)

    async def reconcile(self, resident: Resident, record: ResidentRecord) -> ResidentRecord:
        """Look the user up: adopt the credential a create may have made, or say none."""
        assert self.client is not None
        client = self.client
        try:
            found = await self.call(lambda: client.get_credential_by_user(user_id=resident.user_id))
        except NotFoundError:
            return record  # nothing was created: the caller creates
        except (ServerError, TransportError, InvalidResponseError) as exc:
            raise _Transient(record, f"lookup failed: {_describe(exc)}") from exc
        except APIError as exc:
            return self.fail(record, f"lookup refused: {_describe(exc)}")
        if found.mobile_number != resident.mobile_number:
            return self.fail(
                record.evolve(credential_id=found.credential_id, card_number=found.card_number),
                f"user id {resident.user_id} already has credential {found.credential_id} "
                f"for mobile number {mask_mobile(found.mobile_number)}, "
                f"not {mask_mobile(resident.mobile_number)}",
            )
        created = record.evolve(
            state=ResidentState.CREATED,
            credential_id=found.credential_id,
            card_number=found.card_number,
            reason=None,
        )
        await self.store.write(created)
        self.reconciled += 1
        _log.info(
            "resident.reconciled",
            line=resident.line,
            user_id=resident.user_id,
            credential_id=found.credential_id,
        )
        return created

    async def create(
        self, resident: Resident, record: ResidentRecord, intent_mark: int | None = None
    ) -> ResidentRecord:
        """Create the credential: durable intent first, then the call.

        For a new row the reader already wrote this very intent in an ordinary batch
        (``intent_mark``): the create waits only if that batch is not committed yet, so
        the durable intent costs no fsync of its own on the hot path.
        """
        assert self.client is not None
        client = self.client
        intent = record.evolve(
            state=ResidentState.CREATING,
            create_attempts=record.create_attempts + 1,
            reason=None,
        )
        if intent_mark is not None and record.create_attempts == 0:
            await self.store.ensure_committed(intent_mark)
        else:
            await self.store.write_durable(intent)
        try:
            created = await self.call(
                lambda: client.create_credential(
                    user_id=resident.user_id,
                    mobile_number=resident.mobile_number,
                    card_format=resident.card_format,
                    facility_code=resident.facility_code,
                    issue_code=resident.issue_code,
                    attributes=dict(resident.attributes) if resident.attributes else None,
                )
            )
        except _Stopped:
            # Refused (429, block, access) or never sent: nothing was created.
            await self.store.write(record)
            raise
        except UserIdConflictError:
            found = await self.reconcile(resident, intent)
            if found.credential_id is None and found.state is not ResidentState.FAILED:
                raise _Transient(
                    intent, "409 on the user id, but the lookup found no credential"
                ) from None
            return found
        except MobileNumberConflictError as exc:
            # Whether a service checks the user id or the number first is not documented:
            # after a lost answer, our own credential could be the one holding the
            # number. Look the user up before calling the number someone else's.
            found = await self.reconcile(resident, intent)
            if found.credential_id is not None or found.state is ResidentState.FAILED:
                return found
            return self.fail(
                intent,
                f"mobile number {mask_mobile(resident.mobile_number)} already belongs to "
                f"another user's credential (409: {exc.message})",
            )
        except (ServerError, TransportError, InvalidResponseError) as exc:
            # It may exist: the next try looks the user up first (create_attempts > 0).
            raise _Transient(intent, f"create: {_describe(exc)}") from exc
        except APIError as exc:
            return self.fail(intent, f"create refused: {_describe(exc)}")
        done = intent.evolve(
            state=ResidentState.CREATED,
            credential_id=created.credential_id,
            card_number=created.card_number,
        )
        await self.store.write(done)
        return done

    async def save(self, resident: Resident, record: ResidentRecord) -> ResidentRecord:
        """Save the resident's no-tour payloads (safe to repeat: it replaces per device)."""
        assert self.client is not None
        assert record.credential_id is not None
        client = self.client
        credential_id = record.credential_id
        try:
            await self.call(
                lambda: client.save_no_tour_payloads(
                    credential_id=credential_id, payloads=resident.doors
                )
            )
        except (ServerError, TransportError, InvalidResponseError) as exc:
            raise _Transient(record, f"save payloads: {_describe(exc)}") from exc
        except APIError as exc:
            return self.fail(
                record,
                f"credential {credential_id} created, but its no-tour payloads were "
                f"refused: {_describe(exc)}",
            )
        return record

    # --- tasks -------------------------------------------------------------------------

    async def read(
        self,
        rows: RowSource,
        queue: asyncio.Queue[_Job | None],
        final_lines: frozenset[int],
        open_records: dict[int, ResidentRecord],
        workers: int,
    ) -> None:
        """Feed the queue from the input; record bad rows; after a stop, record the rest."""
        with Deduplicator() as dedup:
            async for batch in _aiter_rows(rows, self.parse_options):
                for parsed in batch:
                    row = dedup.check(parsed)
                    self.rows += 1
                    if row.line in final_lines:
                        self.skipped += 1
                        continue
                    if isinstance(row, RejectedRow):
                        await self.store.write(
                            ResidentRecord(
                                line=row.line,
                                state=ResidentState.FAILED,
                                user_id=row.user_id,
                                reason=row.reason,
                            )
                        )
                        self.failed += 1
                        _log.info(
                            "resident.rejected",
                            line=row.line,
                            user_id=row.user_id,
                            reason=row.reason,
                        )
                        continue
                    existing = open_records.pop(row.line, None)
                    if existing is not None and existing.user_id not in (None, row.user_id):
                        raise InputMismatchError(
                            f"line {row.line} now has user id {row.user_id}, but the state "
                            f"file has {existing.user_id} for it: the input changed; "
                            "pass --restart to start over"
                        )
                    provisioning = not (self.stopped.is_set() or self.options.dry_run)
                    mark: int | None = None
                    if existing is None:
                        # A row about to be provisioned is recorded with its ``creating``
                        # intent already (conservative: a resume looks such a user up
                        # before creating); the worker makes sure it is committed first.
                        await self.store.write(
                            ResidentRecord(
                                line=row.line,
                                state=(
                                    ResidentState.CREATING
                                    if provisioning
                                    else ResidentState.PENDING
                                ),
                                user_id=row.user_id,
                                create_attempts=1 if provisioning else 0,
                            )
                        )
                        if provisioning:
                            mark = self.store.write_mark()
                    if not provisioning:
                        continue  # recorded; a later run provisions it
                    await queue.put((row, existing, mark))
        for _ in range(workers):  # the input is over: one end marker per worker
            await queue.put(None)

    async def work(self, queue: asyncio.Queue[_Job | None]) -> None:
        """One worker: provision residents until the reader says the input is over."""
        while True:
            item = await queue.get()
            if item is None:
                return
            if self.stopped.is_set():
                resident, _existing, mark = item
                if mark is not None:  # never sent: take back the intent written ahead
                    await self.store.write(
                        ResidentRecord(
                            line=resident.line,
                            state=ResidentState.PENDING,
                            user_id=resident.user_id,
                        )
                    )
                continue  # its pending (or open) record stays for the next run
            self.in_flight += 1
            try:
                await self.provision(*item)
            except _Stopped:
                pass
            finally:
                self.in_flight -= 1

    def snapshot(self) -> ProgressSnapshot:
        """Where the run stands now."""
        return ProgressSnapshot(
            total=self.options.total_rows,
            rows_read=self.rows,
            succeeded=self.succeeded,
            failed=self.failed,
            deferred=self.deferred,
            skipped=self.skipped,
            in_flight=self.in_flight,
            calls=self.calls,
            rate_limited=self.rate_limited,
            elapsed=time.monotonic() - self.started,
            rate_limit=self.limiter.rate,
            paused_until=self.gate.paused_until,
        )

    async def tick(self) -> None:
        """Hand the progress sink a snapshot a few times a second."""
        while True:
            await asyncio.sleep(_PROGRESS_INTERVAL)
            self.progress.update(self.snapshot())

    async def watch(self, event: asyncio.Event) -> None:
        """Stop the run when the caller's event is set (SIGINT, SIGTERM)."""
        await event.wait()
        self.stop(StopReason.SIGNAL, "stopped on request (signal)")


_DEFAULT_OPTIONS: Final = MigrationOptions()
_DEFAULT_PARSE: Final = ParseOptions()


async def migrate(
    client: ProvisioningClient | None,
    rows: RowSource,
    store: CheckpointStore,
    *,
    options: MigrationOptions = _DEFAULT_OPTIONS,
    parse_options: ParseOptions = _DEFAULT_PARSE,
    limiter: RateLimiter | None = None,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
    gate: PauseGate | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> MigrationSummary:
    """Provision every resident of ``rows`` through ``client``, checkpointing to ``store``.

    ``rows`` yields parsed rows (:class:`Resident`, :class:`RejectedRow`, e.g. from
    :func:`read_input`) or raw JSON Lines; ``store`` must be open. Rows already final in
    ``store`` are skipped, open ones finished (a resume). ``limiter`` defaults to none;
    ``stop`` ends the run resumably when set. The client should not retry 429s itself
    (``RetryPolicy(retry_statuses=frozenset({502, 503, 504}))``) so that the engine sees
    them and pauses once for all workers. ``client`` may be None only for a dry run.
    """
    if client is None and not options.dry_run:
        raise ValueError("a client is needed unless options.dry_run")
    if options.concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    run = _Run(
        client,
        store,
        options,
        parse_options,
        limiter or UnlimitedLimiter(),
        gate or PauseGate(),
        progress or NullProgress(),
        sleep,
        stop,
    )
    view = await store.resume_view()
    open_records = dict(view.open_records)
    queue: asyncio.Queue[_Job | None] = asyncio.Queue(maxsize=options.concurrency * 4)
    run.progress.start(options.total_rows)
    helpers: list[asyncio.Task[None]] = [asyncio.create_task(run.tick())]
    if stop is not None:
        helpers.append(asyncio.create_task(run.watch(stop)))
    _log.info(
        "migration.start",
        resuming=bool(view.final_lines or view.open_records),
        already_final=len(view.final_lines),
        open=len(view.open_records),
        concurrency=options.concurrency,
        rate=run.limiter.rate,
        dry_run=options.dry_run,
    )
    try:
        async with asyncio.TaskGroup() as group:
            group.create_task(
                run.read(rows, queue, view.final_lines, open_records, options.concurrency)
            )
            for _ in range(options.concurrency):
                group.create_task(run.work(queue))
    except BaseExceptionGroup as failure:
        # One task failed (an unreadable CSV header, a changed input, a broken store) and
        # the group cancelled the rest: raise that one error, not a group of one.
        raise failure.exceptions[0] from None
    finally:
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)
        await run.gate.aclose()
        with contextlib.suppress(Exception):
            await store.flush()
        run.progress.finish(run.snapshot())
    return await _summarize(run, store)


async def _summarize(run: _Run, store: CheckpointStore) -> MigrationSummary:
    counts = await store.counts()
    done = counts.get(ResidentState.DONE, 0)
    failed = counts.get(ResidentState.FAILED, 0)
    deferred = counts.get(ResidentState.DEFERRED, 0)
    unprocessed = sum(
        counts.get(s, 0)
        for s in (ResidentState.PENDING, ResidentState.CREATING, ResidentState.CREATED)
    )
    if run.options.dry_run:
        status = MigrationStatus.DRY_RUN
    elif run.stop_reason is not None:
        status = MigrationStatus.STOPPED
    elif deferred or unprocessed:
        status = MigrationStatus.INCOMPLETE
    else:
        status = MigrationStatus.COMPLETED
    stats = run.client.stats if run.client is not None else ClientStats()
    start = run.client_start
    adaptive = getattr(run.limiter, "controller", None)
    summary = MigrationSummary(
        status=status,
        stop_reason=run.stop_reason,
        stop_detail=run.stop_detail,
        resume_at=run.resume_at,
        total_rows=run.rows,
        succeeded=done,
        failed=failed,
        deferred=deferred,
        unprocessed=unprocessed,
        skipped=run.skipped,
        succeeded_this_run=run.succeeded,
        failed_this_run=run.failed,
        reconciled=run.reconciled,
        duration=time.monotonic() - run.started,
        api_calls=run.calls,
        requests=stats.requests - start.requests,
        rate_limited=run.rate_limited,
        logins=stats.logins - start.logins,
        retries=stats.retries - start.retries,
        pauses=run.gate.pauses,
        paused_seconds=run.gate.paused_seconds,
        rate=None if adaptive is not None else run.limiter.rate,
        adaptive_rate=adaptive.sustained_rate if adaptive is not None else None,
        adaptive_ceiling=adaptive.converged_rate if adaptive is not None else None,
    )
    _log.info("migration.end", **summary.to_dict()["counts"], status=status.value)
    return summary
