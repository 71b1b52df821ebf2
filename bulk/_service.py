"""The one call a service makes: :func:`run_migration` (and :func:`dry_run`, its check).

::

    summary = await bulk.run_migration(
        client, "residents.jsonl", store="residents.state.sqlite", reports_dir="reports"
    )

It binds the checkpoint to the service and to the input before anything is sent
(:func:`bulk.bind_input`: a store made for another service, account or settings, or whose
recorded rows changed, is refused with :class:`InputMismatchError`), runs the engine
(:func:`migrate`), and writes the reports. The command line and the demo call it too.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import anyio
import structlog

from schlage_async import AccountBudget, Lane, lane_context

from ._binding import ServiceIdentity, bind_input, bind_source, check_service, last_input
from ._block import remember_block
from ._calls import ProvisioningClient
from ._engine import RowSource, check_rows, migrate, row_batches
from ._errors import InputError, MigrationOptionsError
from ._guards import (
    check_options,
    claim_report_folder,
    guarded_store,
    report_owner,
    service_identity,
)
from ._input import (
    DEFAULT_ENCODING,
    Deduplicator,
    InputFormat,
    ParseOptions,
    count_lines,
    detect_format,
    input_fingerprint,
    iter_row_numbers,
    read_input,
)
from ._lanes import LANES_KEY, lane_limiter, lane_record
from ._limiter import RateLimiter
from ._options import MigrationOptions
from ._pause import PauseGate
from ._progress import ProgressSink, ProgressSnapshot
from ._reports import ReportError, write_reports
from ._resident import ParsedRow
from ._summary import MigrationStatus, MigrationSummary
from ._telemetry import EngineTelemetry, summary_attributes
from .store import open_store
from .store.protocol import CheckpointStore, ResidentState, WorkQueue

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = [
    "MigrationSource",
    "ProgressCallback",
    "dry_run",
    "input_binding",
    "report_run",
    "run_migration",
]

MigrationSource = (
    str | os.PathLike[str] | Iterable[ParsedRow | str] | AsyncIterable[ParsedRow | str]
)
"""A path to a JSON Lines or CSV file, or (async) parsed rows, or raw JSON Lines."""

ProgressCallback = Callable[[ProgressSnapshot], object]
"""Called with a snapshot a few times a second and once at the end."""

ReportExtra = Mapping[str, Any] | Callable[[MigrationSummary], Mapping[str, Any]]
"""What ``summary.json`` gets besides the summary: fields, or a function of the summary."""


def _extra(extra: ReportExtra | None, summary: MigrationSummary) -> Mapping[str, Any]:
    if extra is None:
        return {}
    return extra(summary) if callable(extra) else extra


_log = structlog.get_logger("bulk")

_DEFAULT_OPTIONS: Final = MigrationOptions()
_DEFAULT_PARSE: Final = ParseOptions()


class _CallbackProgress:
    """A progress sink that hands every snapshot to a callback."""

    __slots__ = ("_callback",)

    def __init__(self, callback: ProgressCallback) -> None:
        self._callback = callback  # the caller's function

    def start(self, total: int | None) -> None:
        """Nothing to show yet."""

    def update(self, snapshot: ProgressSnapshot) -> None:
        """Hand the snapshot over."""
        self._callback(snapshot)

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """Hand the last snapshot over."""
        self._callback(snapshot)


def _sink(progress: ProgressSink | ProgressCallback | None) -> ProgressSink | None:
    if progress is None or isinstance(progress, ProgressSink):
        return progress
    return _CallbackProgress(progress)


@dataclass(frozen=True, slots=True)
class _Input:
    """A source made ready: its rows, what binds a store to it, how many rows it has."""

    rows: RowSource
    binding: dict[str, str | int]
    total_rows: int | None


def input_binding(
    path: str | os.PathLike[str],
    *,
    input_format: InputFormat | None = None,
    parse_options: ParseOptions = _DEFAULT_PARSE,
) -> dict[str, str | int]:
    """What ties a checkpoint to the file at ``path`` and the settings that shape its rows.

    The file's fingerprint (path, size, SHA-256 of its head), its format, the phone
    region, the external-id namespace and (when not UTF-8) the text encoding. Raises
    :class:`InputError` for a file that cannot be read.
    """
    source = Path(path)
    binding: dict[str, str | int] = {
        **input_fingerprint(source).as_dict(),
        "format": detect_format(source, input_format),
        "region": parse_options.region.upper(),
        "namespace": str(parse_options.namespace),
    }
    if parse_options.encoding != DEFAULT_ENCODING:  # a UTF-8 run's state binds as before
        binding["encoding"] = parse_options.encoding
    return binding


async def _prepare(
    source: MigrationSource,
    *,
    input_id: str | None,
    input_format: InputFormat | None,
    parse_options: ParseOptions,
    count: bool,
    bind: bool = True,
) -> _Input:
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        binding = await anyio.to_thread.run_sync(
            lambda: input_binding(path, input_format=input_format, parse_options=parse_options)
        )
        if input_id is not None:
            binding["input_id"] = input_id
        fmt = detect_format(path, input_format)
        total = None
        if count:
            lines = await anyio.to_thread.run_sync(count_lines, path)
            total = lines - (fmt == "csv")  # CSV: the header
        rows = read_input(path, input_format=fmt, options=parse_options)
        return _Input(rows, binding, total)
    if input_id is None and bind:
        raise MigrationOptionsError(
            "rows that are not a file need input_id= naming them (an export's name and "
            "date, say): the checkpoint is bound to it, so that it never resumes another input"
        )
    binding = {
        "input_id": input_id or "",
        "region": parse_options.region.upper(),
        "namespace": str(parse_options.namespace),
    }
    return _Input(source, binding, None)


async def run_migration(
    client: ProvisioningClient,
    source: MigrationSource | None,
    *,
    store: CheckpointStore | str | os.PathLike[str],
    reports_dir: str | os.PathLike[str] | None = None,
    input_id: str | None = None,
    options: MigrationOptions = _DEFAULT_OPTIONS,
    parse_options: ParseOptions = _DEFAULT_PARSE,
    input_format: InputFormat | None = None,
    limiter: RateLimiter | None = None,
    progress: ProgressSink | ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    report_extra: ReportExtra | None = None,
    restart: bool = False,
    service: ServiceIdentity | None = None,
    force: bool = False,
    gate: PauseGate | None = None,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    budget: AccountBudget | None = None,
    weight: float = 1.0,
) -> MigrationSummary:
    """Provision every resident of ``source`` through ``client``, exactly once, resumably.

    ``client`` is any :class:`ProvisioningClient` (a ``SchlageClient`` as it is: the
    engine passes its own retry policy on every call). ``source`` is a path to a JSON
    Lines or CSV file, or an iterable or async iterable of parsed rows (then
    ``input_id`` must name them). ``store`` is an open :class:`CheckpointStore`, or the
    path of a SQLite state file this call opens and closes. Before anything is sent the
    store is bound to the service (the client's base URL and user name) and to the
    input: each row by its content for a file (see :func:`bulk.bind_input`), ``input_id``
    for rows; a store bound to another service or settings, or whose recorded rows
    changed, is refused with :class:`InputMismatchError` and nothing happens.
    ``restart`` empties the store first. Run it again with the same arguments to resume.
    A client that cannot say which service and account it talks to (no ``base_url`` and
    ``username``) needs ``service=ServiceIdentity.of(...)``. A store that remembers an
    account block still in force raises :class:`AccountBlockedError` before anything is
    sent, unless ``force``. One run at a time per store object (:class:`StateInUseError`).

    A store that many workers share (a :class:`~bulk.store.WorkQueue`: PostgreSQL, see
    :func:`bulk.store.open_store`) is bound and loaded with ``source`` under its lock (an
    input that differs from the one it holds is refused, even in rows not sent yet), and
    this call then works the rows it claims, beside any other worker; with ``source``
    None it joins the run the store holds. ``gate`` shares 429 pauses (a fleet's).

    ``progress`` is a :class:`ProgressSink` or a function called with a
    :class:`ProgressSnapshot` a few times a second; ``stop`` (an ``asyncio.Event``) ends
    the run resumably when set. With ``reports_dir`` the reports are written there
    (``report_extra``, fields or a function of the summary, is merged into
    ``summary.json``). Returns the run's summary.

    ``limiter`` paces the calls; without it (and without ``budget``) the run paces as
    ``python -m bulk migrate`` does by default, adaptively (an :class:`AdaptiveRateLimiter`
    finds the gateway's rate from its 429s), unless the client waits in a budget of its own;
    :class:`UnlimitedLimiter` sends unpaced (an unlimited server, a benchmark). ``budget``
    (an :class:`~schlage_async.AccountBudget`) paces the run in the ``bulk`` lane of the
    account it shares with other callers (a front desk's calls go first), as one job of the
    lane (its input's name; a shared work list's schema) with ``weight``; give it a client
    built with ``SchlageClient(budget=budget, lane=None)``. The summary then records the
    run's shares (``lanes``). See ``docs/sharing.md``.

    With OpenTelemetry installed the run is a ``bulk.migration`` span (its input's name,
    rows, outcome and exit status; the client's calls and the 429 pauses under it) and
    the engine's metrics are recorded, through ``tracer_provider`` and
    ``meter_provider``, else the global providers; nothing when none is configured.
    """
    telemetry = EngineTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    name = Path(source).name if isinstance(source, str | os.PathLike) else input_id or "joined run"
    attributes = {"bulk.input.name": name, "bulk.concurrency": options.concurrency}
    with telemetry.run("bulk.migration", attributes) as span:
        summary = await _run_migration(
            client, source, store=store, reports_dir=reports_dir, input_id=input_id,
            options=options, parse_options=parse_options, input_format=input_format,
            limiter=limiter, progress=progress, stop=stop, report_extra=report_extra,
            restart=restart, service=service, force=force, gate=gate,
            tracer_provider=tracer_provider, meter_provider=meter_provider,
            budget=budget, weight=weight, job=name,
        )  # fmt: skip
        span.finish(summary_attributes(summary))
    return summary


async def _run_migration(
    client: ProvisioningClient,
    source: MigrationSource | None,
    *,
    store: CheckpointStore | str | os.PathLike[str],
    reports_dir: str | os.PathLike[str] | None,
    input_id: str | None,
    options: MigrationOptions,
    parse_options: ParseOptions,
    input_format: InputFormat | None,
    limiter: RateLimiter | None,
    progress: ProgressSink | ProgressCallback | None,
    stop: asyncio.Event | None,
    report_extra: ReportExtra | None,
    restart: bool,
    service: ServiceIdentity | None,
    force: bool,
    gate: PauseGate | None,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None,
    budget: AccountBudget | None,
    weight: float,
    job: str,
) -> MigrationSummary:
    """:func:`run_migration`'s work, inside its span."""
    check_options(options)
    # Refused here, before the store is opened; the run's own limiter is built below,
    # once the store says which job it is (a shared work list's schema).
    lane_limiter(
        budget, client, lane=Lane.BULK, job=job, weight=weight, limiter=limiter,
        sends=not options.dry_run,
    )  # fmt: skip
    identity = service_identity(client, service)
    path = Path(source) if isinstance(source, str | os.PathLike) else None
    owner = report_owner(store)
    reports = claim_report_folder(reports_dir, owner) if reports_dir is not None else None
    async with guarded_store(store, force=force) as opened:
        if isinstance(opened, WorkQueue):
            prepared, options = await _load_queue(
                opened,
                source,
                service=identity,
                input_id=input_id,
                options=options,
                parse_options=parse_options,
                input_format=input_format,
                restart=restart,
            )
            check_final = False  # the work list hands each line out once
        elif source is None:
            raise MigrationOptionsError(
                "source is None: only a store that many workers share can be joined "
                "without an input"
            )
        else:
            prepared, options = await _bind(
                opened,
                source,
                service=identity,
                input_id=input_id,
                options=options,
                parse_options=parse_options,
                input_format=input_format,
                restart=restart,
            )
            check_final = path is None  # a file's rows were compared by bind_input
        if budget is not None and isinstance(opened, WorkQueue):
            job = str(getattr(opened, "schema", job))  # every worker of the run: one job
        paced = lane_limiter(
            budget, client, lane=Lane.BULK, job=job, weight=weight, limiter=limiter,
            sends=not options.dry_run,
        )  # fmt: skip
        with lane_context(Lane.BULK):  # a client naming its lane says "bulk"
            summary = await migrate(
                client,
                prepared.rows,
                opened,
                options=options,
                parse_options=parse_options,
                limiter=paced,
                progress=_sink(progress),
                stop=stop,
                gate=gate,
                check_final=check_final,
                tracer_provider=tracer_provider,
                meter_provider=meter_provider,
            )
        lanes = await lane_record(paced)
        if lanes is not None:
            summary = replace(summary, lanes=lanes)
            # ``bulk report`` shows the last run's shares from the checkpoint.
            await opened.set_meta(LANES_KEY, json.dumps(lanes, sort_keys=True))
        if isinstance(opened, WorkQueue):  # the whole run's rows, not this worker's share
            summary = replace(summary, total_rows=await opened.loaded_rows() or 0)
        await remember_block(opened, summary)  # a rerun during the block then waits
        if reports is not None:
            extra = {
                "input": prepared.binding,
                "report_owner": owner,
                **_extra(report_extra, summary),
            }
            try:
                await write_reports(
                    opened,
                    reports,
                    summary,
                    extra=extra,
                    input_path=path,
                    input_format=input_format,
                    encoding=parse_options.encoding,
                )
            except ReportError as exc:
                exc.summary = summary  # the run itself ended: its outcome goes with it
                raise
    return summary


async def _bind(
    store: CheckpointStore,
    source: MigrationSource,
    *,
    service: ServiceIdentity,
    input_id: str | None,
    options: MigrationOptions,
    parse_options: ParseOptions,
    input_format: InputFormat | None,
    restart: bool,
) -> tuple[_Input, MigrationOptions]:
    """Bind a store that one run works alone to ``source``; the rows to read."""
    prepared = await _prepare(
        source,
        input_id=input_id,
        input_format=input_format,
        parse_options=parse_options,
        count=False,
    )
    if isinstance(source, str | os.PathLike):
        scan = await bind_input(
            store,
            Path(source),
            service=service,
            input_format=input_format,
            parse_options=parse_options,
            restart=restart,
        )
        options = replace(options, total_rows=scan.rows)
        return replace(prepared, binding={**prepared.binding, **scan.as_dict()}), options
    await bind_source(
        store,
        input_id=input_id or "",
        service=service,
        parse_options=parse_options,
        restart=restart,
    )
    return prepared, options


async def _load_queue(
    queue: WorkQueue,
    source: MigrationSource | None,
    *,
    service: ServiceIdentity,
    input_id: str | None,
    options: MigrationOptions,
    parse_options: ParseOptions,
    input_format: InputFormat | None,
    restart: bool,
) -> tuple[_Input, MigrationOptions]:
    """Bind and load a shared work list under its lock; the rows this worker claims."""
    store: CheckpointStore = queue  # type: ignore[assignment]  # a WorkQueue is a store too
    async with queue.exclusive():
        if source is None:
            if restart:
                raise MigrationOptionsError("restart needs the input: there is none to join")
            if not await check_service(store, service):
                raise MigrationOptionsError(
                    "the store holds no run yet: start one with its input first"
                )
            binding: dict[str, str | int] = {}
        else:
            prepared = await _prepare(
                source,
                input_id=input_id,
                input_format=input_format,
                parse_options=parse_options,
                count=False,
            )
            binding = prepared.binding
            if isinstance(source, str | os.PathLike):
                scan = await bind_input(
                    store,
                    Path(source),
                    service=service,
                    input_format=input_format,
                    parse_options=parse_options,
                    restart=restart,
                    forget_changed=False,  # another input never takes over a shared run
                )
                binding = {**binding, **scan.as_dict()}
            else:
                await bind_source(
                    store,
                    input_id=input_id or "",
                    service=service,
                    parse_options=parse_options,
                    restart=restart,
                )
            read, added = await queue.load(_deduplicated(prepared.rows, parse_options))
            _log.info("queue.loaded", rows=read, added=added)
    total = await queue.loaded_rows()
    return _Input(queue.claimed_rows(), binding, total), replace(options, total_rows=total)


async def _deduplicated(
    rows: RowSource, parse_options: ParseOptions
) -> AsyncIterator[list[ParsedRow]]:
    """``rows`` parsed, digested and deduplicated (user ids, numbers), in batches."""
    with Deduplicator() as dedup:
        async for batch in row_batches(rows, parse_options):
            yield [dedup.check(row) for row in batch]


async def dry_run(
    source: MigrationSource,
    *,
    reports_dir: str | os.PathLike[str] | None = None,
    options: MigrationOptions = _DEFAULT_OPTIONS,
    parse_options: ParseOptions = _DEFAULT_PARSE,
    input_format: InputFormat | None = None,
    progress: ProgressSink | ProgressCallback | None = None,
    stop: asyncio.Event | None = None,
    report_extra: ReportExtra | None = None,
) -> MigrationSummary:
    """Check every row of ``source`` as :func:`run_migration` would, sending nothing.

    Nothing needs a client and nothing is kept: the rows are recorded in a scratch SQLite
    file (so memory stays flat however long the input) that is deleted at the end. The
    summary's ``unprocessed`` is what a run would provision, ``failed`` the bad rows;
    with ``reports_dir`` the reports list them.
    """
    check_options(options)
    path = Path(source) if isinstance(source, str | os.PathLike) else None
    owner = report_owner(None, dry_run_of=path) if path is not None else "dry-run:rows"
    reports = claim_report_folder(reports_dir, owner) if reports_dir is not None else None
    prepared = await _prepare(
        source,
        input_id=None,
        input_format=input_format,
        parse_options=parse_options,
        count=progress is not None and options.total_rows is None,
        bind=False,
    )
    if prepared.total_rows is not None:
        options = replace(options, total_rows=prepared.total_rows)
    with tempfile.TemporaryDirectory(prefix="bulk-dry-") as scratch:
        async with open_store(Path(scratch) / "dry-run.sqlite") as store:
            summary = await check_rows(
                prepared.rows,
                store,
                options=options,
                parse_options=parse_options,
                progress=_sink(progress),
                stop=stop,
            )
            if reports is not None:
                extra = {
                    "input": prepared.binding,
                    "report_owner": owner,
                    **_extra(report_extra, summary),
                }
                await write_reports(store, reports, summary, extra=extra)
    return summary


async def report_run(
    store: CheckpointStore | str | os.PathLike[str],
    reports_dir: str | os.PathLike[str],
    *,
    input_path: str | os.PathLike[str] | None = None,
    report_extra: ReportExtra | None = None,
) -> MigrationSummary:
    """Write the reports of the run ``store`` keeps, as its own run would have, sending nothing.

    ``store`` is an open store or a location; a location that holds no run raises
    :class:`~bulk.StoreNotFoundError` and nothing is created. The input the run last read
    (recorded in the store) or ``input_path`` puts every row line in exactly one report:
    lines a stop left unread are listed unprocessed. A folder holding another run's reports
    is refused (:class:`~bulk.ReportFolderTakenError`). Returns the summary written.
    """
    owner = report_owner(store)
    reports = claim_report_folder(reports_dir, owner)
    # Nothing is sent: a known block does not matter, and nothing is created either.
    async with guarded_store(store, force=True, create=False) as opened:
        seen = await last_input(opened)
        path = Path(input_path) if input_path is not None else seen.path if seen else None
        fmt = seen.input_format if seen else None
        encoding = seen.encoding if seen else DEFAULT_ENCODING
        if path is not None and not await anyio.to_thread.run_sync(path.is_file):
            raise InputError(
                f"the run's input {str(path)!r} is not there any more: give it (input_path) "
                "so that every line is reported"
            )
        counts = await opened.counts()
        done = counts.get(ResidentState.DONE, 0)
        failed = counts.get(ResidentState.FAILED, 0)
        deferred = counts.get(ResidentState.DEFERRED, 0)
        recorded = sum(counts.values())
        total = recorded
        if path is not None:
            total = await anyio.to_thread.run_sync(
                lambda: sum(1 for _ in iter_row_numbers(path, fmt, encoding))
            )
            total = max(total, recorded)
        unprocessed = total - done - failed - deferred
        status = (
            MigrationStatus.COMPLETED if not deferred and not unprocessed
            else MigrationStatus.INCOMPLETE
        )  # fmt: skip
        lanes = await opened.get_meta(LANES_KEY)
        summary = MigrationSummary(
            status=status,
            total_rows=total,
            succeeded=done,
            failed=failed,
            deferred=deferred,
            unprocessed=unprocessed,
            lanes=json.loads(lanes) if lanes else None,
        )
        extra = {"report_owner": owner, "regenerated": True, **_extra(report_extra, summary)}
        await write_reports(
            opened,
            reports,
            summary,
            extra=extra,
            input_path=path,
            input_format=fmt,
            encoding=encoding,
        )
    return summary
