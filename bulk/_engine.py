"""The run: a reader, a pool of workers and a progress ticker around two parts.

Where to look (a newcomer's map of ``bulk``'s engine):

* ``_state_machine.py``: one resident's state machine, every transition, with the
  state diagram at its top and the exactly-once rules;
* ``_calls.py``: the path every API call takes out (pause gate, limiter, 429 policy,
  stop conditions);
* this module: the run that uses both. One reader task parses the (streamed) input in a
  worker thread and sends residents down an anyio memory object stream whose small
  buffer holds the reader back while the ``concurrency`` workers are busy, so memory
  stays flat however long the input; closing the stream tells the workers the input is
  over. The reader and the workers run in one task group (the first failure cancels the
  rest), inside another that holds the progress ticker and the stop watcher and cancels
  them when the work is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Final

import anyio
import msgspec
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from schlage_async import ClientStats

from ._calls import ENGINE_RETRY_POLICY, CallPath, ProvisioningClient, Stopped
from ._errors import InputError, InputMismatchError, MigrationOptionsError
from ._input import Deduplicator, ParseOptions, parse_jsonl_line, row_digest
from ._limiter import RateLimiter, UnlimitedLimiter
from ._options import DEFAULT_CONCURRENCY, MigrationOptions
from ._pause import PauseGate
from ._progress import NullProgress, ProgressSink, ProgressSnapshot
from ._resident import ParsedRow, RejectedRow, Resident
from ._state_machine import ResidentMachine
from ._summary import MigrationStatus, MigrationSummary, StopReason
from ._telemetry import EngineTelemetry
from .store.protocol import CheckpointStore, ResidentRecord, ResidentState

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "DEFAULT_CONCURRENCY",
    "ENGINE_RETRY_POLICY",
    "MigrationOptions",
    "ProvisioningClient",
    "RowSource",
    "migrate",
    "row_batches",
]

_log = structlog.get_logger("bulk")

_READ_BATCH: Final = 256  # rows parsed per hop to the reader thread
_PROGRESS_INTERVAL: Final = 0.2  # seconds between progress snapshots

RowSource = Iterable[ParsedRow | str] | AsyncIterable[ParsedRow | str]
"""What :func:`migrate` reads: parsed rows, or raw JSON Lines (numbered from 1)."""


def content_digest(row: ParsedRow) -> str:
    """The digest of a parsed row's content, for rows that came from no file line."""
    return row_digest(msgspec.json.encode(row))


async def row_batches(
    rows: RowSource,
    options: ParseOptions,
    *,
    check: Callable[[list[ParsedRow]], list[ParsedRow]] | None = None,
) -> AsyncIterator[list[ParsedRow]]:
    """Yield ``rows`` in batches, parsing raw lines; sync sources are read in a thread.

    Every row comes out with a ``row_hash``: a file's rows have their line's digest, raw
    lines get theirs here, and parsed rows without one the digest of their content, so
    that a resume can tell the same row from another one at the same line. ``check``
    (the deduplicator's) is applied to each batch where it is read: in the reader's
    thread for a sync source, off the event loop.
    """
    number = 0

    def parse(item: ParsedRow | str) -> ParsedRow | None:
        nonlocal number
        number += 1
        if isinstance(item, str):
            return parse_jsonl_line(item, number, options, row_hash=row_digest(item))
        if item.row_hash is None:
            return replace(item, row_hash=content_digest(item))
        return item

    if isinstance(rows, AsyncIterable):
        # Nothing to batch for (no thread hop), and an async source may wait between rows
        # (a fleet's claims wait for other workers): hand each row on as it comes.
        async for item in rows:
            row = parse(item)
            if row is not None:
                yield [row] if check is None else check([row])
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

    def take_checked() -> tuple[list[ParsedRow], bool]:
        out, more = take()
        return (check(out) if check is not None and out else out), more

    reader = anyio.CapacityLimiter(1)  # one thread parses, in order
    while True:
        got, more = await anyio.to_thread.run_sync(take_checked, limiter=reader)
        if got:
            yield got
        if not more:
            return


def _check_line(row: ParsedRow, seen: set[int]) -> None:
    """Refuse a line number given twice (or below 1): each line is one report line."""
    if row.line < 1:
        raise InputError(f"a row has line {row.line}: lines are numbered from 1")
    if row.line in seen:
        raise InputError(
            f"line {row.line} is given twice: each row needs its own line number (the key "
            "of its checkpoint record and of its report line)"
        )
    seen.add(row.line)


def _same_final(row: ParsedRow, final_rows: dict[int, tuple[str | None, bool]] | None) -> bool:
    """Whether the final record at ``row.line`` is this row's (so it is skipped).

    Raises :class:`InputMismatchError` for another row where the record may stand for a
    credential on the service; False (new work) where the record never reached it.
    """
    if final_rows is None:
        return True
    recorded, replaceable = final_rows.get(row.line, (None, False))
    if recorded is None or row.row_hash is None or recorded == row.row_hash:
        return True
    if replaceable:
        return False
    raise InputMismatchError(
        f"line {row.line} now holds another row than the one the checkpoint finished there: "
        "the rows changed or moved since the last run (give each resident the line it had, "
        "new residents new lines)",
        lines=(row.line,),
    )


_Job = tuple[Resident, "ResidentRecord | None", "int | None"]
"""A resident sent to the workers: its row, its open record from an earlier run (if any),
and the store's write mark of the ``creating`` intent the reader wrote ahead (if any)."""


async def _send(job: _Job, send: MemoryObjectSendStream[_Job]) -> None:
    """Hand ``job`` to the workers; wait only while the buffer is full (backpressure).

    Like ``asyncio.Queue.put``, it does not yield while there is room: the reader fills
    the buffer in one go and the workers start together, as they did before anyio.
    """
    try:
        send.send_nowait(job)
    except anyio.WouldBlock:
        await send.send(job)


async def _receive(receive: MemoryObjectReceiveStream[_Job]) -> _Job | None:
    """The next job, or None once the reader has closed the stream (the input is over).

    Like ``asyncio.Queue.get``, it does not yield while a job is waiting.
    """
    try:
        return receive.receive_nowait()
    except anyio.WouldBlock:
        pass
    except anyio.EndOfStream:
        return None
    try:
        return await receive.receive()
    except anyio.EndOfStream:
        return None


class _Run:
    """One migration run: the reader, the workers and the ticker, and their counts."""

    def __init__(
        self,
        client: ProvisioningClient | None,
        store: CheckpointStore,
        options: MigrationOptions,
        parse_options: ParseOptions,
        *,
        dry_run: bool,
        limiter: RateLimiter,
        gate: PauseGate,
        progress: ProgressSink,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        monotonic: Callable[[], float],
        telemetry: EngineTelemetry,
    ) -> None:
        self.client = client
        self.store = store
        self.options = options
        self.parse_options = parse_options
        self.dry_run = dry_run  # record the rows, send nothing
        self.limiter = limiter
        self.gate = gate
        self.progress = progress
        self.monotonic = monotonic  # durations
        self.calls = CallPath(
            gate=gate,
            limiter=limiter,
            options=options,
            sleep=sleep,
            clock=clock,
            url=getattr(client, "base_url", None),
            telemetry=telemetry,
        )
        self.machine = ResidentMachine(
            client=client, store=store, calls=self.calls, options=options
        )
        self.started = monotonic()
        self.rows = 0  # rows read (blank lines excluded)
        self.skipped = 0  # rows final in an earlier run
        self.in_flight = 0  # residents a worker holds now
        self.input_ended = True  # False when a stop left the rest of the input unread
        self.client_start = client.stats if client is not None else ClientStats()
        # What earlier runs of this checkpoint had finished (the progress shows it apart).
        self.done_before = 0
        self.failed_before = 0

    async def read(
        self,
        rows: RowSource,
        send: MemoryObjectSendStream[_Job],
        final_lines: frozenset[int],
        open_records: dict[int, ResidentRecord],
        final_rows: dict[int, tuple[str | None, bool]] | None,
    ) -> None:
        """Feed the workers from the input and record bad rows, until the input ends or the
        run stops (rows left unread have no record; the reports list them unprocessed).

        With ``final_rows`` (line -> the recorded row's digest and whether its record
        never reached the service), a row at a final line is skipped only when it is the
        row recorded there; another row there is refused (:class:`InputMismatchError`),
        or read as new work when the old record never reached the service; and a line
        given twice is refused (:class:`InputError`).
        """
        machine = self.machine
        seen: set[int] | None = set() if final_rows is not None else None
        async with send:  # closing it tells the workers the input is over
            with Deduplicator() as dedup:
                batches = row_batches(rows, self.parse_options, check=dedup.check_all)
                async for batch in batches:
                    if self.calls.stopped.is_set() and not self.dry_run:
                        self.input_ended = False
                        break
                    for row in batch:
                        if seen is not None:
                            _check_line(row, seen)
                        self.rows += 1
                        if row.line in final_lines and _same_final(row, final_rows):
                            self.skipped += 1
                            continue
                        if isinstance(row, RejectedRow):
                            await machine.reject(row)
                            continue
                        existing = open_records.pop(row.line, None)
                        if existing is not None and existing.user_id not in (None, row.user_id):
                            raise InputMismatchError(
                                f"line {row.line} now has user id {row.user_id}, but the "
                                f"checkpoint has {existing.user_id} for it: the input changed",
                                lines=(row.line,),
                            )
                        provisioning = not (self.calls.stopped.is_set() or self.dry_run)
                        mark: int | None = None
                        if existing is None:
                            mark = await machine.admit(row, provisioning=provisioning)
                        if not provisioning:
                            continue  # recorded; a later run provisions it
                        await _send((row, existing, mark), send)

    async def work(self, receive: MemoryObjectReceiveStream[_Job]) -> None:
        """One worker: provision residents until the reader closes the stream."""
        async with receive:
            while (job := await _receive(receive)) is not None:
                resident, existing, mark = job
                if self.calls.stopped.is_set():
                    if mark is not None:  # never sent: take back the intent written ahead
                        await self.machine.take_back(resident)
                    continue  # its pending (or open) record stays for the next run
                self.in_flight += 1
                try:
                    await self.machine.provision(resident, existing, mark)
                except Stopped:
                    pass
                finally:
                    self.in_flight -= 1

    def snapshot(self) -> ProgressSnapshot:
        """Where the run stands now."""
        return ProgressSnapshot(
            total=self.options.total_rows,
            rows_read=self.rows,
            succeeded=self.machine.succeeded,
            failed=self.machine.failed,
            deferred=self.machine.deferred,
            skipped=self.skipped,
            in_flight=self.in_flight,
            calls=self.calls.calls,
            rate_limited=self.calls.rate_limited,
            elapsed=self.monotonic() - self.started,
            rate_limit=self.limiter.rate,
            paused_until=self.calls.paused_until(),
            done_before=self.done_before,
            failed_before=self.failed_before,
        )

    async def tick(self) -> None:
        """Hand the progress sink a snapshot a few times a second."""
        while True:
            await anyio.sleep(_PROGRESS_INTERVAL)
            self.progress.update(self.snapshot())

    async def watch(self, event: asyncio.Event) -> None:
        """Stop the run when the caller's event is set (SIGINT, SIGTERM)."""
        await event.wait()
        self.calls.stop(StopReason.SIGNAL, "stopped on request (signal)")


_DEFAULT_OPTIONS: Final = MigrationOptions()
_DEFAULT_PARSE: Final = ParseOptions()


async def migrate(
    client: ProvisioningClient,
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
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    check_final: bool = True,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
) -> MigrationSummary:
    """Provision every resident of ``rows`` through ``client``, checkpointing to ``store``.

    The building block under :func:`run_migration` (which also binds the store to the input
    and writes the reports): ``rows`` yields parsed rows (:class:`Resident`,
    :class:`RejectedRow`, e.g. from :func:`read_input`) or raw JSON Lines; ``store`` must be
    open and already bound. Rows already final in ``store`` are skipped, open ones finished
    (a resume). ``limiter`` defaults to none here, in the building block (the entry points,
    :func:`run_migration` and the sync calls, pace adaptively by default); ``stop`` ends the
    run resumably when set. Every call passes :data:`ENGINE_RETRY_POLICY` as its ``retry=``,
    so any client works as handed over. ``clock`` (epoch seconds, like the client's) dates
    ``resume_at``; ``monotonic`` times the run; ``sleep`` waits out a resident's backoff.
    With ``check_final`` (the default) a row at a line the store finished is skipped only
    when it is the same row (by its digest), and a line given twice is refused; a caller
    that compared the rows already (a file bound by :func:`bind_input`) may pass False. With
    OpenTelemetry installed, pauses and the engine's metrics are recorded through
    ``tracer_provider`` and ``meter_provider``, else the global providers (see
    ``docs/observability.md``); the client records its calls through its own.
    """
    return await _execute(
        client,
        rows,
        store,
        options=options,
        parse_options=parse_options,
        limiter=limiter,
        progress=progress,
        stop=stop,
        gate=gate,
        sleep=sleep,
        clock=clock,
        monotonic=monotonic,
        check_final=check_final,
        telemetry=EngineTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider),
    )


async def check_rows(
    rows: RowSource,
    store: CheckpointStore,
    *,
    options: MigrationOptions = _DEFAULT_OPTIONS,
    parse_options: ParseOptions = _DEFAULT_PARSE,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
) -> MigrationSummary:
    """The dry run under :func:`dry_run`: check and record every row, send nothing."""
    return await _execute(
        None, rows, store, options=options, parse_options=parse_options, progress=progress,
        stop=stop,
    )  # fmt: skip


async def _execute(
    client: ProvisioningClient | None,
    rows: RowSource,
    store: CheckpointStore,
    *,
    options: MigrationOptions,
    parse_options: ParseOptions,
    limiter: RateLimiter | None = None,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
    gate: PauseGate | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    clock: Callable[[], float] = time.time,
    monotonic: Callable[[], float] = time.monotonic,
    check_final: bool = False,
    telemetry: EngineTelemetry | None = None,
) -> MigrationSummary:
    """One run: a live one through ``client``, or a dry run when ``client`` is None."""
    if options.concurrency < 1:
        raise MigrationOptionsError("concurrency must be at least 1")
    telemetry = telemetry or EngineTelemetry()
    telemetry.adopt_parent()  # pauses go under the entry point's span (run_migration's)
    run = _Run(
        client,
        store,
        options,
        parse_options,
        dry_run=client is None,
        limiter=limiter or UnlimitedLimiter(),
        gate=gate or PauseGate(),
        progress=progress or NullProgress(),
        sleep=sleep,
        clock=clock,
        monotonic=monotonic,
        telemetry=telemetry,
    )
    view = await store.resume_view()
    # A store that claims work as it goes (PostgreSQL) hands a live dict it keeps
    # filling; any other mapping is copied.
    open_records = (
        view.open_records if isinstance(view.open_records, dict) else dict(view.open_records)
    )
    final_rows: dict[int, tuple[str | None, bool]] | None = None
    if check_final:  # rows not compared by bind_input: each final line's row, checked here
        final_rows = await _final_rows(store) if view.final_lines else {}
    if view.final_lines:
        before = await store.counts()
        run.done_before = before.get(ResidentState.DONE, 0)
        run.failed_before = before.get(ResidentState.FAILED, 0)
    run.progress.start(options.total_rows)
    _log.info(
        "migration.start",
        resuming=bool(view.final_lines or view.open_records),
        already_final=len(view.final_lines),
        open=len(view.open_records),
        concurrency=options.concurrency,
        rate=run.limiter.rate,
        dry_run=run.dry_run,
    )
    try:
        async with anyio.create_task_group() as helpers:
            helpers.start_soon(run.tick)
            if stop is not None:
                helpers.start_soon(run.watch, stop)
            try:
                send, receive = anyio.create_memory_object_stream[_Job](options.concurrency * 4)
                # Read when the gauge is collected: nothing is spent per row.
                telemetry.watch_queue(run, lambda: send.statistics().current_buffer_used)
                async with anyio.create_task_group() as group:
                    group.start_soon(
                        run.read, rows, send, view.final_lines, open_records, final_rows
                    )
                    with receive:
                        for _ in range(options.concurrency):
                            group.start_soon(run.work, receive.clone())
            finally:
                helpers.cancel_scope.cancel()  # the work is over: the ticker and watcher too
    except BaseExceptionGroup as failure:
        # One task failed (an unreadable CSV header, a changed input, a broken store) and
        # the group cancelled the rest: raise that one error, not a group of one.
        raise _first(failure) from None
    finally:
        telemetry.unwatch_queue(run)
        await run.gate.aclose()
        with contextlib.suppress(Exception):
            await store.flush()
        run.progress.finish(run.snapshot())
    return await _summarize(run, store)


async def _final_rows(store: CheckpointStore) -> dict[int, tuple[str | None, bool]]:
    """Each final record's row digest, and whether the record never reached the service."""
    out: dict[int, tuple[str | None, bool]] = {}
    async for record in store.iter_records():
        if record.final:
            never_sent = record.credential_id is None and record.create_attempts == 0
            out[record.line] = (record.row_hash, never_sent)
    return out


def _first(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The first error of a (possibly nested) exception group."""
    first = group.exceptions[0]
    while isinstance(first, BaseExceptionGroup):
        first = first.exceptions[0]
    return first


async def _summarize(run: _Run, store: CheckpointStore) -> MigrationSummary:
    if not run.dry_run:
        run.calls.settle_silence()
    counts = await store.counts()
    done = counts.get(ResidentState.DONE, 0)
    failed = counts.get(ResidentState.FAILED, 0)
    deferred = counts.get(ResidentState.DEFERRED, 0)
    unprocessed = sum(
        counts.get(s, 0)
        for s in (ResidentState.PENDING, ResidentState.CREATING, ResidentState.CREATED)
    )
    total = run.rows
    if (
        not run.input_ended
        and run.options.total_rows is not None
        and run.options.total_rows > run.rows
    ):
        # A stop leaves the rest of the input unread (no record): still unprocessed.
        unprocessed += run.options.total_rows - run.rows
        total = run.options.total_rows
    if run.dry_run:
        status = MigrationStatus.DRY_RUN
    elif run.calls.stop_reason is not None:
        status = MigrationStatus.STOPPED
    elif deferred or unprocessed:
        status = MigrationStatus.INCOMPLETE
    else:
        status = MigrationStatus.COMPLETED
    stats = run.client.stats if run.client is not None else ClientStats()
    start = run.client_start
    pace = run.limiter.report()
    summary = MigrationSummary(
        status=status,
        stop_reason=run.calls.stop_reason,
        stop_detail=run.calls.stop_detail,
        resume_at=run.calls.resume_at,
        total_rows=total,
        succeeded=done,
        failed=failed,
        deferred=deferred,
        unprocessed=unprocessed,
        skipped=run.skipped,
        succeeded_this_run=run.machine.succeeded,
        failed_this_run=run.machine.failed,
        reconciled=run.machine.reconciled,
        duration=run.monotonic() - run.started,
        api_calls=run.calls.calls,
        requests=stats.requests - start.requests,
        rate_limited=run.calls.rate_limited,
        logins=stats.logins - start.logins,
        retries=stats.retries - start.retries,
        pauses=run.gate.pauses,
        paused_seconds=run.gate.paused_seconds,
        rate=pace.rate,
        adaptive_rate=pace.adaptive_rate,
        adaptive_ceiling=pace.adaptive_ceiling,
        adaptive_held=pace.adaptive_held,
        adaptive_recent=pace.adaptive_recent,
        adaptive_found_limit=pace.adaptive_found_limit,
        adaptive_calls=pace.adaptive_calls,
    )
    _log.info("migration.end", **summary.to_dict()["counts"], status=status.value)
    return summary
