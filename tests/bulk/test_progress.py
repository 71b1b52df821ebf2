"""Seeing a run: the progress bar, periodic log lines, and reports from the store."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path

from rich.console import Console
from structlog.testing import capture_logs

from bulk import (
    LogProgress,
    MemoryCheckpointStore,
    MigrationStatus,
    MigrationSummary,
    ProgressSink,
    ProgressSnapshot,
    ResidentRecord,
    ResidentState,
    RichProgress,
    StopReason,
    write_reports,
)


def _snapshot(**changes: object) -> ProgressSnapshot:
    fields: dict[str, object] = {
        "total": 100, "rows_read": 60, "succeeded": 40, "failed": 3, "deferred": 1, "skipped": 6,
        "in_flight": 8, "calls": 90, "rate_limited": 2, "elapsed": 3.0, "rate_limit": 50.0,
        "paused_until": None,
    }  # fmt: skip
    fields.update(changes)
    return ProgressSnapshot(**fields)  # type: ignore[arg-type]


def test_the_bar_shows_done_failed_rate_and_the_pause() -> None:
    """On a terminal: counts, calls per second against the limit, paused-until when paused."""
    out = io.StringIO()
    bar = RichProgress(Console(file=out, force_terminal=True, width=200))
    assert isinstance(bar, ProgressSink)
    bar.start(100)
    until = dt.datetime(2030, 1, 1, 12, 30, 5, tzinfo=dt.UTC)
    bar.finish(_snapshot(paused_until=until))
    text = out.getvalue()
    assert "50/100" in text
    assert "46 ok" in text
    assert "4 failed" in text
    assert "30/50 calls/s" in text
    assert "429: paused until 12:30:05 UTC" in text


def test_log_lines_come_at_most_once_per_interval() -> None:
    """Without a terminal: a structured line every interval, and a final one."""
    now = [0.0]
    sink = LogProgress(interval=10.0, clock=lambda: now[0])
    with capture_logs() as logs:
        sink.start(100)
        for step in range(25):
            now[0] = float(step)
            sink.update(_snapshot())
        sink.finish(_snapshot(rows_read=100))
    progress = [entry for entry in logs if entry["event"] == "migration.progress"]
    assert len(progress) == 1 + 2 + 1  # start, t=10, t=20, final
    assert progress[-1]["final"] is True
    assert progress[1]["calls_per_s"] == 30.0


async def test_reports_cover_every_state_of_the_store(tmp_path: Path) -> None:
    """succeeded, failed (deferred as retryable), unprocessed and summary.json."""
    store = MemoryCheckpointStore()
    S = ResidentState
    records = [
        ResidentRecord(line=1, state=S.DONE, user_id="u1", credential_id="c1", card_number=11),
        ResidentRecord(line=2, state=S.FAILED, user_id="u2", reason="bad phone"),
        ResidentRecord(line=3, state=S.DEFERRED, user_id="u3", reason="503", retryable=True),
        ResidentRecord(line=4, state=S.CREATING, user_id="u4", create_attempts=1),
        ResidentRecord(line=5, state=S.PENDING, user_id="u5"),
    ]
    for record in records:
        await store.write(record)
    summary = MigrationSummary(
        status=MigrationStatus.STOPPED,
        stop_reason=StopReason.ACCOUNT_BLOCKED,
        resume_at=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
        total_rows=5, succeeded=1, failed=1, deferred=1, unprocessed=2,
    )  # fmt: skip
    paths = await write_reports(store, tmp_path / "r", summary, extra={"rerun": "python -m bulk"})

    def rows(path: Path) -> list[list[str]]:
        with path.open() as handle:
            return list(csv.reader(handle))

    assert rows(paths.succeeded) == [
        ["line", "user_id", "credential_id", "card_number"], ["1", "u1", "c1", "11"],
    ]  # fmt: skip
    assert rows(paths.failed) == [
        ["line", "user_id", "reason", "retryable"],
        ["2", "u2", "bad phone", "false"],
        ["3", "u3", "503", "true"],
    ]
    assert rows(paths.unprocessed) == [
        ["line", "user_id", "state"], ["4", "u4", "creating"], ["5", "u5", "pending"],
    ]  # fmt: skip
    data = json.loads(paths.summary.read_text())
    assert data["exit_code"] == 75
    assert data["resume_at"] == "2030-01-01T00:00:00+00:00"
    assert data["rerun"] == "python -m bulk"
    assert not list((tmp_path / "r").glob(".*.tmp"))
