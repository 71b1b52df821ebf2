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
import os
import tempfile
from collections.abc import (
    AsyncIterable,
    Callable,
    Iterable,
    Mapping,
)
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final

import anyio

from ._binding import ServiceIdentity, bind_input, bind_source
from ._block import remember_block
from ._calls import ProvisioningClient
from ._engine import RowSource, check_rows, migrate
from ._errors import MigrationOptionsError
from ._guards import (
    check_options,
    claim_report_folder,
    guarded_store,
    report_owner,
    service_identity,
)
from ._input import (
    DEFAULT_ENCODING,
    InputFormat,
    ParseOptions,
    count_lines,
    detect_format,
    input_fingerprint,
    read_input,
)
from ._limiter import RateLimiter
from ._options import MigrationOptions
from ._progress import ProgressSink, ProgressSnapshot
from ._reports import ReportError, write_reports
from ._resident import ParsedRow
from ._summary import MigrationSummary
from .store.protocol import CheckpointStore
from .store.sqlite import SQLiteCheckpointStore

__all__ = ["MigrationSource", "ProgressCallback", "dry_run", "input_binding", "run_migration"]

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
    source: MigrationSource,
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

    ``progress`` is a :class:`ProgressSink` or a function called with a
    :class:`ProgressSnapshot` a few times a second; ``stop`` (an ``asyncio.Event``) ends
    the run resumably when set. With ``reports_dir`` the reports are written there
    (``report_extra``, fields or a function of the summary, is merged into
    ``summary.json``). Returns the run's summary.
    """
    check_options(options)
    identity = service_identity(client, service)
    prepared = await _prepare(
        source,
        input_id=input_id,
        input_format=input_format,
        parse_options=parse_options,
        count=False,
    )
    path = Path(source) if isinstance(source, str | os.PathLike) else None
    owner = report_owner(store)
    reports = claim_report_folder(reports_dir, owner) if reports_dir is not None else None
    async with guarded_store(store, force=force) as opened:
        if path is not None:
            scan = await bind_input(
                opened,
                path,
                service=identity,
                input_format=input_format,
                parse_options=parse_options,
                restart=restart,
            )
            options = replace(options, total_rows=scan.rows)
            prepared = replace(prepared, binding={**prepared.binding, **scan.as_dict()})
        else:
            await bind_source(
                opened,
                input_id=input_id or "",
                service=identity,
                parse_options=parse_options,
                restart=restart,
            )
        summary = await migrate(
            client,
            prepared.rows,
            opened,
            options=options,
            parse_options=parse_options,
            limiter=limiter,
            progress=_sink(progress),
            stop=stop,
            check_final=path is None,  # a file's rows were compared by bind_input
        )
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
        async with SQLiteCheckpointStore(Path(scratch) / "dry-run.sqlite") as store:
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
