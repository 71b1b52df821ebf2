"""Seeing a run: the progress bar, periodic log lines, and reports from the store."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

from rich.console import Console
from structlog.testing import capture_logs

from bulk import (
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    MigrationSummary,
    ProgressSink,
    ProgressSnapshot,
    ResidentRecord,
    ResidentState,
    StopReason,
    migrate,
    write_reports,
)
from bulk._progress import LogProgress, RichProgress


def _plain(out: io.StringIO) -> str:
    """What the terminal shows, without its colour and cursor codes."""
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", out.getvalue())


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
    text = _plain(out)
    assert "44/100" in text  # this run's work: 40 + 3 + 1 (skipped rows are not its work)
    assert "this run: 40 ok 3 failed 1 deferred" in text
    assert "input:" not in text  # nothing was final before this run
    assert "30/50 calls/s" in text
    assert "429: paused until 12:30:05 UTC" in text


class _Time:
    """A clock for rich's speed and ETA estimates, moved by the test."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_resumed_run_shows_its_own_work_and_the_whole_input_apart() -> None:
    """19,000 final before: the bar counts this run's 1,000; the input's state is beside it."""
    out = io.StringIO()
    bar = RichProgress(Console(file=out, force_terminal=True, width=250))
    bar.start(20_000)
    bar.finish(
        _snapshot(
            total=20_000, rows_read=20_000, succeeded=975, failed=25, deferred=0,
            skipped=19_000, done_before=18_990, failed_before=10,
        )
    )  # fmt: skip
    text = _plain(out)
    assert "1000/1000" in text
    assert "this run: 975 ok 25 failed" in text
    assert "input: 19965 ok 35 failed of 20000" in text
    assert "20000/20000" not in text
    assert "19975 ok" not in text  # skipped rows are never counted as this run's successes


def test_the_eta_comes_from_this_runs_pace_not_the_skipped_rows() -> None:
    """100 rows in 10 s with 900 to go is 90 s left, however many rows were skipped."""
    out = io.StringIO()
    now = _Time()
    bar = RichProgress(Console(file=out, force_terminal=True, width=250), get_time=now)
    bar.start(20_000)
    resumed = {"total": 20_000, "done_before": 19_000, "skipped": 19_000, "failed": 0}
    resumed["deferred"] = 0
    for second in range(11):
        now.now = float(second)
        bar.update(_snapshot(succeeded=10 * second, rows_read=19_000 + 10 * second, **resumed))
    bar.finish(_snapshot(succeeded=100, rows_read=19_100, **resumed))
    assert "ETA 0:01:30" in _plain(out)
    snap = _snapshot(succeeded=100, elapsed=10.0, **resumed)
    assert snap.eta_seconds == 90.0
    assert snap.log_fields()["eta_s"] == 90
    assert snap.log_fields()["input_succeeded"] == 19_100


async def test_the_engine_hands_the_rows_final_before_to_the_progress(
    service: object, clock: object, make_resident: Any
) -> None:
    """A resume's snapshots carry what earlier runs finished, apart from this run's work."""
    residents = [make_resident(n) for n in range(1, 21)]
    store = MemoryCheckpointStore()
    await migrate(service, residents[:15], store)  # type: ignore[arg-type]
    seen: list[ProgressSnapshot] = []

    class Sink:
        def start(self, total: int | None) -> None:
            """Nothing to do."""

        def update(self, snapshot: ProgressSnapshot) -> None:
            seen.append(snapshot)

        def finish(self, snapshot: ProgressSnapshot) -> None:
            seen.append(snapshot)

    await migrate(
        service,  # type: ignore[arg-type]
        residents,
        store,
        options=MigrationOptions(total_rows=20),
        progress=Sink(),
    )
    last = seen[-1]
    assert (last.done_before, last.failed_before, last.skipped) == (15, 0, 15)
    assert (last.succeeded, last.work_done, last.work_total) == (5, 5, 5)
    assert last.input_succeeded == 20


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
    assert data["status"] == "stopped"
    assert data["resume_at"] == "2030-01-01T00:00:00+00:00"
    assert data["rerun"] == "python -m bulk"
    assert not list((tmp_path / "r").glob(".*.tmp"))
