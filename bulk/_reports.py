"""Result files of a run, regenerated from the checkpoint store (so they cover every run).

Like Salesforce Bulk API's results, in the report directory:

* ``succeeded.csv``: ``line,user_id,credential_id,card_number``
* ``failed.csv``: ``line,user_id,reason,retryable`` (``retryable`` is true for deferred
  residents, which the next run retries)
* ``unprocessed.csv``: ``line,user_id,state`` (never reached, or mid-way at a stop)
* ``summary.json``: the counts, the run's figures and, after a stop, when to resume

Each file is written under a temporary name and renamed, so a reader never sees half a
file; when writing fails (a full disk, no file descriptors) no temporary file is left and
:class:`ReportError` names the path. The writing happens in a thread
(``asyncio.to_thread``), a chunk at a time. Given the input, the reports account for
every line of it that holds a row: a line the run never read (a stop) is listed in
``unprocessed.csv`` as ``pending``. Free text (reasons, malformed user ids) is masked
(:func:`bulk._masking.mask_numbers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import os
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from ._errors import BulkError, ReportFolderTakenError
from ._input import DEFAULT_ENCODING, InputFormat, iter_row_numbers
from ._lanes import describe_lanes
from ._masking import mask_numbers
from ._summary import ADVICE_MIN_CALLS, MigrationSummary
from .store.protocol import CheckpointStore, ResidentRecord, ResidentState

__all__ = [
    "REPORT_FILES",
    "ReportError",
    "ReportFolderTakenError",
    "ReportPaths",
    "adaptive_advice",
    "check_report_folder",
    "default_report_dir",
    "format_summary",
    "report_paths",
    "write_reports",
]

REPORT_FILES: Final = ("succeeded.csv", "failed.csv", "unprocessed.csv", "summary.json")
_CHUNK: Final = 2000


def default_report_dir(state_path: Path, *, dry_run: bool = False) -> Path:
    """Where a run's reports go by default: beside its state file, named after it.

    ``residents.csv.state.sqlite`` reports to ``residents.csv.reports/`` (a dry run to
    ``residents.csv.dry-run-reports/``), so two inputs never share a folder unless they
    share a state file, and a dry run never touches a real run's reports.
    """
    stem = state_path.name.removesuffix(".sqlite").removesuffix(".state")
    return state_path.with_name(f"{stem}.{'dry-run-reports' if dry_run else 'reports'}")


def check_report_folder(directory: Path, owner: str) -> None:
    """Refuse ``directory`` when its ``summary.json`` belongs to another ``owner``.

    The owner is what the reports describe: a state file (``state:<path>``) or a dry run
    of an input (``dry-run:<path>``). A folder without a summary, or with this owner's,
    may be (re)written: the reports are regenerated from the checkpoint each run.
    """
    summary = directory / "summary.json"
    try:
        data = json.loads(summary.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise ReportFolderTakenError(
            f"the report folder {str(directory)!r} holds a summary.json that cannot be read "
            f"({exc}); pass another --report-dir, or remove that folder"
        ) from None
    theirs = data.get("report_owner") if isinstance(data, dict) else None
    if theirs is None and isinstance(data, dict) and data.get("state"):
        theirs = f"state:{data['state']}"  # reports written before owners were recorded
    if theirs is None or theirs == owner:
        return
    kind, _, what = str(theirs).partition(":")
    described = f"a dry run of {what}" if kind == "dry-run" else f"the state file {what}"
    raise ReportFolderTakenError(
        f"the report folder {str(directory)!r} holds the reports of {described}; "
        "nothing was overwritten: pass another --report-dir (or leave it out: by default "
        "each state file reports beside itself)"
    )


class ReportError(BulkError):
    """A report file could not be written; ``path`` says which (no temporary file is left).

    ``summary`` is the run's, when the run itself ended before the reports failed.
    """

    def __init__(self, path: Path, error: OSError) -> None:
        why = error.strerror or str(error)
        super().__init__(f"cannot write the report {str(path)!r}: {why}")
        self.path = path
        self.summary: MigrationSummary | None = None  # the run's, when it ended first


@dataclass(frozen=True, slots=True)
class ReportPaths:
    """Where the report files are."""

    directory: Path
    succeeded: Path
    failed: Path
    unprocessed: Path
    summary: Path


class _Writers:
    """The three CSV files being written (under temporary names)."""

    def __init__(self, paths: ReportPaths) -> None:
        self.finals = (paths.succeeded, paths.failed, paths.unprocessed)
        self.temps = tuple(p.with_name(f".{p.name}.tmp") for p in self.finals)
        self.files: list[IO[str]] = []
        self.current = paths.directory  # what is being written, for the error
        try:
            paths.directory.mkdir(parents=True, exist_ok=True)
            for temp, final in zip(self.temps, self.finals, strict=True):
                self.current = final
                self.files.append(temp.open("w", newline="", encoding="utf-8"))
            self.ok, self.failed, self.rest = (csv.writer(f) for f in self.files)
            self.ok.writerow(("line", "user_id", "credential_id", "card_number"))
            self.failed.writerow(("line", "user_id", "reason", "retryable"))
            self.rest.writerow(("line", "user_id", "state"))
        except OSError as exc:
            self.discard()
            raise ReportError(self.current, exc) from None

    def write(self, records: list[ResidentRecord | int]) -> None:
        try:
            for record in records:
                if isinstance(record, int):  # a line a stop left unread
                    self.rest.writerow((record, "", "pending"))
                else:
                    self._write(record)
        except OSError as exc:
            self.discard()
            raise ReportError(self.finals[0].parent, exc) from None

    def _write(self, record: ResidentRecord) -> None:
        user_id = mask_numbers(record.user_id or "")
        if record.state is ResidentState.DONE:
            card = "" if record.card_number is None else record.card_number
            self.ok.writerow((record.line, user_id, record.credential_id or "", card))
        elif record.state is ResidentState.FAILED:
            reason = mask_numbers(record.reason or "")
            self.failed.writerow((record.line, user_id, reason, "false"))
        elif record.state is ResidentState.DEFERRED:
            reason = mask_numbers(record.reason or "")
            self.failed.writerow((record.line, user_id, reason, "true"))
        else:
            self.rest.writerow((record.line, user_id, record.state.value))

    def discard(self) -> None:
        """Close and delete the temporary files (a failure: nothing half-written stays)."""
        for handle in self.files:
            with contextlib.suppress(OSError):
                handle.close()
        for temp in self.temps:
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)

    def close(self) -> None:
        """Close the files and move each into place."""
        try:
            for handle, final in zip(self.files, self.finals, strict=True):
                self.current = final
                handle.close()  # flushing may be what fails on a full disk
            for temp, final in zip(self.temps, self.finals, strict=True):
                self.current = final
                os.replace(temp, final)
        except OSError as exc:
            self.discard()
            raise ReportError(self.current, exc) from None


def _write_summary(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    try:
        temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise ReportError(path, exc) from None


class _RowLines:
    """The input's row line numbers, read a chunk at a time in a thread."""

    def __init__(self, lines: Iterator[int]) -> None:
        self._lines = lines
        self._buffer: deque[int] = deque()
        self._done = False

    async def upto(self, line: int | None) -> list[int]:
        """Return the row lines before ``line`` (all that are left when None), skipping
        ``line`` itself."""
        out: list[int] = []
        while True:
            if not self._buffer and not self._done:
                chunk = await asyncio.to_thread(lambda: list(itertools.islice(self._lines, 8192)))
                self._done = len(chunk) < 8192
                self._buffer.extend(chunk)
            if not self._buffer:
                return out
            head = self._buffer[0]
            if line is not None and head >= line:
                if head == line:
                    self._buffer.popleft()
                return out
            out.append(self._buffer.popleft())


def report_paths(directory: str | Path) -> ReportPaths:
    """Where :func:`write_reports` puts the four files under ``directory``."""
    target = Path(directory)
    return ReportPaths(
        directory=target,
        succeeded=target / "succeeded.csv",
        failed=target / "failed.csv",
        unprocessed=target / "unprocessed.csv",
        summary=target / "summary.json",
    )


async def write_reports(
    store: CheckpointStore,
    directory: str | Path,
    summary: MigrationSummary,
    *,
    extra: dict[str, Any] | None = None,
    input_path: Path | None = None,
    input_format: InputFormat | None = None,
    encoding: str = DEFAULT_ENCODING,
) -> ReportPaths:
    """Write the four report files for ``store`` into ``directory``; return their paths.

    ``extra`` is merged into ``summary.json`` (the input and state file, the command).
    With ``input_path``, every row line of the input without a record (left unread by a
    stop) is listed as ``pending`` in ``unprocessed.csv``. Raises :class:`ReportError`
    (naming the file) when one cannot be written.
    """
    paths = report_paths(directory)
    writers = await asyncio.to_thread(_Writers, paths)
    rows = (
        _RowLines(iter_row_numbers(input_path, input_format, encoding))
        if input_path is not None
        else None
    )
    done = False
    try:
        chunk: list[ResidentRecord | int] = []
        async for record in store.iter_records():
            if rows is not None:
                chunk.extend(await rows.upto(record.line))
            chunk.append(record)
            if len(chunk) >= _CHUNK:
                await asyncio.to_thread(writers.write, chunk)
                chunk = []
        if rows is not None:
            chunk.extend(await rows.upto(None))
        await asyncio.to_thread(writers.write, chunk)
        await asyncio.to_thread(writers.close)
        done = True
    finally:
        if not done:
            await asyncio.to_thread(writers.discard)
    await asyncio.to_thread(_write_summary, paths.summary, {**summary.to_dict(), **(extra or {})})
    return paths


def adaptive_advice(summary: MigrationSummary) -> str:
    """What ``--adaptive`` learned, and a ``--rate`` only when it measured one."""
    advised = summary.advised_rate
    ceiling = summary.adaptive_ceiling
    if advised is not None and summary.adaptive_rate is not None:
        held = summary.adaptive_held
        kept = f", held {held:.1f} req/s without a 429" if held else ""
        probed = f", probed up to {ceiling:.1f} req/s" if ceiling else ""
        return (
            f"sustained {summary.adaptive_rate:.1f} req/s over {summary.adaptive_calls:,} "
            f"calls after the first 429{kept}{probed}; pass --rate {advised:g} next time"
        )
    if not summary.adaptive_found_limit:
        return (
            "no 429 ended the slow start, so the service's limit was not measured; "
            "no --rate advice (keep --adaptive)"
        )
    return (
        f"only {summary.adaptive_calls:,} call(s) succeeded after the first 429 "
        f"(fewer than {ADVICE_MIN_CALLS}), too few to measure a rate; "
        "no --rate advice (keep --adaptive)"
    )


def format_summary(summary: MigrationSummary, reports: ReportPaths) -> str:
    """The end-of-run summary a person reads."""
    lines = [
        f"Migration {summary.status.value} in {summary.duration:.1f} s",
        f"  rows         {summary.total_rows:>9,}",
        f"  succeeded    {summary.succeeded:>9,}",
        f"  failed       {summary.failed:>9,}   {reports.failed}",
        f"  deferred     {summary.deferred:>9,}",
        f"  unprocessed  {summary.unprocessed:>9,}   {reports.unprocessed}",
        f"  this run     {summary.succeeded_this_run:,} succeeded, "
        f"{summary.failed_this_run:,} failed, {summary.skipped:,} skipped (done before), "
        f"{summary.reconciled:,} reconciled",
        f"               {summary.api_calls:,} API calls ({summary.calls_per_second:.1f} "
        f"calls/s), 429s: {summary.rate_limited:,}, logins: {summary.logins:,}, "
        f"client retries: {summary.retries:,}",
    ]
    if summary.pauses:
        lines.append(
            f"               paused {summary.pauses:,} times, {summary.paused_seconds:.1f} s"
        )
    if summary.adaptive_rate is not None:
        lines.append(f"  adaptive     {adaptive_advice(summary)}")
    if summary.lanes is not None:
        lines.append(f"  lanes        {describe_lanes(summary.lanes)}")
    lines.append(f"Reports: {reports.directory}/ (summary.json, succeeded.csv, failed.csv, ...)")
    return "\n".join(lines)
