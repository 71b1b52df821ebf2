"""Result files of a run, regenerated from the checkpoint store (so they cover every run).

Like Salesforce Bulk API's results, in the report directory:

* ``succeeded.csv``: ``line,user_id,credential_id,card_number``
* ``failed.csv``: ``line,user_id,reason,retryable`` (``retryable`` is true for deferred
  residents, which the next run retries)
* ``unprocessed.csv``: ``line,user_id,state`` (never reached, or mid-way at a stop)
* ``summary.json``: the counts, the run's figures and, after a stop, when to resume

Each file is written under a temporary name and renamed, so a reader never sees half a
file. The writing happens in a thread (``asyncio.to_thread``), a chunk at a time.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Final

from ._checkpoint import CheckpointStore, ResidentRecord, ResidentState
from ._summary import MigrationSummary

__all__ = ["REPORT_FILES", "ReportPaths", "format_summary", "write_reports"]

REPORT_FILES: Final = ("succeeded.csv", "failed.csv", "unprocessed.csv", "summary.json")
_CHUNK: Final = 2000


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
        paths.directory.mkdir(parents=True, exist_ok=True)
        self.files: list[IO[str]] = []
        for temp in self.temps:
            self.files.append(temp.open("w", newline="", encoding="utf-8"))
        self.ok, self.failed, self.rest = (csv.writer(f) for f in self.files)
        self.ok.writerow(("line", "user_id", "credential_id", "card_number"))
        self.failed.writerow(("line", "user_id", "reason", "retryable"))
        self.rest.writerow(("line", "user_id", "state"))

    def write(self, records: list[ResidentRecord]) -> None:
        for record in records:
            user_id = record.user_id or ""
            if record.state is ResidentState.DONE:
                card = "" if record.card_number is None else record.card_number
                self.ok.writerow((record.line, user_id, record.credential_id or "", card))
            elif record.state is ResidentState.FAILED:
                self.failed.writerow((record.line, user_id, record.reason or "", "false"))
            elif record.state is ResidentState.DEFERRED:
                self.failed.writerow((record.line, user_id, record.reason or "", "true"))
            else:
                self.rest.writerow((record.line, user_id, record.state.value))

    def close(self, *, keep: bool) -> None:
        for handle in self.files:
            handle.close()
        for temp, final in zip(self.temps, self.finals, strict=True):
            if keep:
                os.replace(temp, final)
            else:
                temp.unlink(missing_ok=True)


def _write_summary(path: Path, data: dict[str, Any]) -> None:
    temp = path.with_name(f".{path.name}.tmp")
    temp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, path)


async def write_reports(
    store: CheckpointStore,
    directory: str | Path,
    summary: MigrationSummary,
    *,
    extra: dict[str, Any] | None = None,
) -> ReportPaths:
    """Write the four report files for ``store`` into ``directory``; return their paths.

    ``extra`` is merged into ``summary.json`` (the input and state file, the command).
    """
    target = Path(directory)
    paths = ReportPaths(
        directory=target,
        succeeded=target / "succeeded.csv",
        failed=target / "failed.csv",
        unprocessed=target / "unprocessed.csv",
        summary=target / "summary.json",
    )
    writers = await asyncio.to_thread(_Writers, paths)
    keep = False
    try:
        chunk: list[ResidentRecord] = []
        async for record in store.iter_records():
            chunk.append(record)
            if len(chunk) >= _CHUNK:
                await asyncio.to_thread(writers.write, chunk)
                chunk = []
        await asyncio.to_thread(writers.write, chunk)
        keep = True
    finally:
        await asyncio.to_thread(writers.close, keep=keep)
    await asyncio.to_thread(_write_summary, paths.summary, {**summary.to_dict(), **(extra or {})})
    return paths


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
        f"  API calls    {summary.api_calls:,} ({summary.calls_per_second:.1f} calls/s), "
        f"429s: {summary.rate_limited:,}, logins: {summary.logins:,}, "
        f"client retries: {summary.retries:,}",
    ]
    if summary.pauses:
        lines.append(f"  paused       {summary.pauses:,} times, {summary.paused_seconds:.1f} s")
    if summary.adaptive_rate is not None:
        ceiling = summary.adaptive_ceiling
        lines.append(
            f"  adaptive     sustained {summary.adaptive_rate:.1f} req/s after slow start"
            + (f" (probed up to {ceiling:.1f} req/s)" if ceiling else "")
            + f"; pass --rate {summary.adaptive_rate:.0f} next time"
        )
    lines.append(f"Reports: {reports.directory}/ (summary.json, succeeded.csv, failed.csv, ...)")
    return "\n".join(lines)
