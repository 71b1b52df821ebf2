"""Seeing a run: progress snapshots, and the sinks that show them (a bar, or log lines)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import structlog
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

__all__ = ["LogProgress", "NullProgress", "ProgressSink", "ProgressSnapshot", "RichProgress"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ProgressSnapshot:
    """Where a run stands; the engine hands one to its sink a few times a second."""

    total: int | None
    """Rows expected (lines in the input), when known."""
    rows_read: int
    """Rows read so far (blank lines excluded)."""
    succeeded: int
    """Residents done in this run."""
    failed: int
    """Rows failed in this run (bad rows included)."""
    deferred: int
    """Residents left for a later try in this run."""
    skipped: int
    """Rows already final in an earlier run."""
    in_flight: int
    """Residents being worked on now."""
    calls: int
    """API calls sent in this run."""
    rate_limited: int
    """429 answers in this run."""
    elapsed: float
    """Seconds since the run started."""
    rate_limit: float | None
    """The limiter's current rate (req/s); None when unlimited."""
    paused_until: dt.datetime | None
    """When a 429 pause ends (UTC), while paused."""
    done_before: int = 0
    """Residents already done when this run began (a resume)."""
    failed_before: int = 0
    """Rows already failed for good when this run began (a resume)."""

    @property
    def finished_rows(self) -> int:
        """Rows that need nothing more from this run."""
        return self.succeeded + self.failed + self.deferred + self.skipped

    @property
    def work_done(self) -> int:
        """Rows this run has worked through (succeeded, failed or deferred now)."""
        return self.succeeded + self.failed + self.deferred

    @property
    def work_total(self) -> int | None:
        """Rows this run has to work through: the input less what was final before it."""
        if self.total is None:
            return None
        return max(self.total - self.done_before - self.failed_before, self.work_done, 0)

    @property
    def resuming(self) -> bool:
        """Whether an earlier run had already finished some rows."""
        return bool(self.done_before or self.failed_before)

    @property
    def input_succeeded(self) -> int:
        """Residents of the whole input done so far (earlier runs and this one)."""
        return self.done_before + self.succeeded

    @property
    def input_failed(self) -> int:
        """Rows of the whole input failed for good so far (earlier runs and this one)."""
        return self.failed_before + self.failed

    @property
    def calls_per_second(self) -> float:
        """API calls per second over the run so far."""
        return self.calls / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_seconds(self) -> float | None:
        """Seconds left at this run's own pace (rows skipped as done before do not count)."""
        remaining = None if self.work_total is None else self.work_total - self.work_done
        if remaining is None or self.work_done <= 0 or self.elapsed <= 0:
            return None
        return remaining / (self.work_done / self.elapsed)

    def log_fields(self) -> dict[str, Any]:
        """The snapshot as structured-log fields."""
        fields: dict[str, Any] = {
            "rows": self.rows_read,
            "total": self.total,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "deferred": self.deferred,
            "skipped": self.skipped,
            "in_flight": self.in_flight,
            "calls": self.calls,
            "calls_per_s": round(self.calls_per_second, 1),
            "rate_limited": self.rate_limited,
        }
        if self.resuming:
            fields["input_succeeded"] = self.input_succeeded
            fields["input_failed"] = self.input_failed
        eta = self.eta_seconds
        if eta is not None:
            fields["eta_s"] = round(eta)
        if self.rate_limit is not None:
            fields["rate_limit"] = round(self.rate_limit, 1)
        if self.paused_until is not None:
            fields["paused_until"] = self.paused_until.isoformat(timespec="seconds")
        return fields


@runtime_checkable
class ProgressSink(Protocol):
    """Something that shows a run's progress."""

    def start(self, total: int | None) -> None:
        """The run begins; ``total`` rows are expected when known."""

    def update(self, snapshot: ProgressSnapshot) -> None:
        """The run has moved on (called a few times a second)."""

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """The run has ended (completed or stopped)."""


class NullProgress:
    """Shows nothing (the Python API's default)."""

    __slots__ = ()

    def start(self, total: int | None) -> None:
        """Nothing to show."""

    def update(self, snapshot: ProgressSnapshot) -> None:
        """Nothing to show."""

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """Nothing to show."""


class LogProgress:
    """A structured log line every ``interval`` seconds (for runs without a terminal)."""

    __slots__ = ("_clock", "_last", "_logger", "interval")

    def __init__(
        self,
        interval: float = 10.0,
        *,
        logger: Any = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval  # seconds between lines
        self._logger = logger or structlog.get_logger("bulk")  # where lines go
        self._clock = clock  # monotonic seconds
        self._last = -float("inf")  # when the last line went out

    def start(self, total: int | None) -> None:
        """Log the start."""
        self._last = self._clock()
        self._logger.info("migration.progress", total=total, rows=0)

    def update(self, snapshot: ProgressSnapshot) -> None:
        """Log a line when ``interval`` has passed since the last one."""
        now = self._clock()
        if now - self._last >= self.interval:
            self._last = now
            self._logger.info("migration.progress", **snapshot.log_fields())

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """Log the last line."""
        self._logger.info("migration.progress", final=True, **snapshot.log_fields())


class RichProgress:
    """A live bar on the terminal: this run's work, the whole input's state, calls/s, ETA.

    The bar, its counts and its ETA are this run's work only: on a resume, rows final
    before it are left out (they would make the pace look far faster than it is); the
    whole input's state (done and failed across every run) is shown beside it.
    """

    __slots__ = ("_progress", "_task")

    def __init__(
        self, console: Console | None = None, *, get_time: Callable[[], float] | None = None
    ) -> None:
        self._progress = Progress(  # rich's live display, redrawn on its own thread
            TextColumn("[bold]migrating[/]"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn(
                "this run: [green]{task.fields[ok]} ok[/] [red]{task.fields[failed]} failed[/]"
                "{task.fields[deferred]}{task.fields[input]}"
            ),
            TextColumn("{task.fields[speed]}"),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("[yellow]{task.fields[paused]}[/]"),
            console=console or Console(stderr=True),
            transient=False,
            get_time=get_time,
        )
        self._task: TaskID | None = None  # the one bar

    @property
    def console(self) -> Console:
        """The console the bar draws on (log lines printed through it stay above the bar)."""
        return self._progress.console

    def start(self, total: int | None) -> None:
        """Show the bar."""
        self._progress.start()
        self._task = self._progress.add_task(
            "migrate", total=total, ok=0, failed=0, deferred="", input="", speed="", paused=""
        )

    def update(self, snapshot: ProgressSnapshot) -> None:
        """Move the bar."""
        if self._task is None:
            return
        paused = ""
        if snapshot.paused_until is not None:
            paused = f"429: paused until {snapshot.paused_until:%H:%M:%S} UTC"
        limit = f"/{snapshot.rate_limit:.0f}" if snapshot.rate_limit is not None else ""
        whole = ""
        if snapshot.resuming:
            of = f" of {snapshot.total}" if snapshot.total is not None else ""
            whole = f" | input: {snapshot.input_succeeded} ok {snapshot.input_failed} failed{of}"
        self._progress.update(
            self._task,
            total=snapshot.work_total,
            completed=snapshot.work_done,
            ok=snapshot.succeeded,
            failed=snapshot.failed,
            deferred=f" [yellow]{snapshot.deferred} deferred[/]" if snapshot.deferred else "",
            input=whole,
            speed=f"{snapshot.calls_per_second:.0f}{limit} calls/s",
            paused=paused,
        )

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """Draw the last state and stop the bar."""
        self.update(snapshot)
        self._progress.stop()
