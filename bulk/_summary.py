"""What a run reports at its end: :class:`MigrationSummary` and its status."""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

__all__ = [
    "ADVICE_MARGIN",
    "ADVICE_MIN_CALLS",
    "MigrationStatus",
    "MigrationSummary",
    "StopReason",
]

ADVICE_MIN_CALLS: Final = 50

ADVICE_MARGIN: Final = 0.98
"""The share of the last minute's rate that ``--adaptive`` advises as ``--rate``."""
"""Successful calls after the first 429 below which ``--adaptive`` advises no ``--rate``."""


class MigrationStatus(enum.StrEnum):
    """How a run ended."""

    COMPLETED = "completed"  # every row final
    INCOMPLETE = "incomplete"  # the input was read to its end; some residents deferred
    STOPPED = "stopped"  # stopped early (see StopReason); rerun to resume
    DRY_RUN = "dry_run"  # rows checked, nothing sent


class StopReason(enum.StrEnum):
    """Why a run stopped before the end of its input."""

    ACCOUNT_BLOCKED = "account_blocked"  # a 429 that blocks the account for a while
    PATIENCE_EXHAUSTED = "patience_exhausted"  # too many 429s / too long paused
    SIGNAL = "signal"  # SIGINT or SIGTERM (or the caller's stop event)
    ACCESS_REFUSED = "access_refused"  # login refused, key refused, role or onboarding
    UNREACHABLE = "unreachable"  # no answer from the service for --unreachable-after seconds


@dataclass(frozen=True, slots=True, kw_only=True)
class MigrationSummary:
    """The outcome of one run; the counts by state cover every run of this checkpoint."""

    status: MigrationStatus
    stop_reason: StopReason | None = None
    stop_detail: str | None = None
    """The error or signal that stopped the run, in words."""
    resume_at: dt.datetime | None = None
    """The earliest useful time to rerun (UTC), when the service said."""
    total_rows: int = 0
    """Rows in the input (non-blank lines, the CSV header aside)."""
    succeeded: int = 0
    failed: int = 0
    deferred: int = 0
    """Residents whose last try failed in a retryable way; the next run retries them."""
    unprocessed: int = 0
    """Residents not final and not deferred (never reached, or mid-way at a stop; rows a
    stop left unread count here too)."""
    skipped: int = 0
    """Rows already final before this run (a resume)."""
    succeeded_this_run: int = 0
    failed_this_run: int = 0
    reconciled: int = 0
    """Residents whose credential was found by looking the user up (not created again)."""
    duration: float = 0.0
    """Seconds the run took."""
    api_calls: int = 0
    """API calls the engine sent (429s included, logins and client retries not)."""
    requests: int = 0
    """HTTP requests the client sent (logins and retries included)."""
    rate_limited: int = 0
    """429 answers."""
    logins: int = 0
    retries: int = 0
    pauses: int = 0
    """Engine-wide pauses for 429s."""
    paused_seconds: float = 0.0
    rate: float | None = None
    """The configured rate (req/s); None when unlimited or adaptive."""
    adaptive_rate: float | None = None
    """What ``--adaptive`` sustained after its slow start (req/s): the rate to reuse."""
    adaptive_ceiling: float | None = None
    """The highest rate ``--adaptive`` tried after its slow start (req/s)."""
    adaptive_held: float | None = None
    """The best rate that went through over a stretch without any 429 (req/s)."""
    adaptive_recent: float | None = None
    """What went through over ``--adaptive``'s last minute, pauses included (req/s)."""
    adaptive_found_limit: bool = False
    """Whether a 429 ended ``--adaptive``'s slow start (the service's limit was reached)."""
    adaptive_calls: int = 0
    """Successful calls since that first 429: what ``adaptive_rate`` was measured over."""
    lanes: Mapping[str, Any] | None = None
    """With an account budget: this run's lane, job and weight, and the last minute's
    shares of the account's rate (by lane, and this job's part of its lane)."""

    @property
    def advised_rate(self) -> float | None:
        """The ``--rate`` to pass next time, or None when this run measured none.

        Only after ``--adaptive`` found the service's limit (a 429 ended its slow start)
        and measured at least :data:`ADVICE_MIN_CALLS` successes since: :data:`ADVICE_MARGIN`
        of what went through over its last minute (pauses included; the margin keeps a
        gateway's bucket, which lends a short run more than its rate, out of the advice),
        never below what it sustained since slow start, never above what it held without
        a 429 nor the highest rate it tried; rounded down (to whole requests from 10/s,
        to tenths below). Never below 1 (``--rate 0`` means no limit at all).
        """
        sustained = self.adaptive_rate
        if sustained is None or not self.adaptive_found_limit:
            return None
        if self.adaptive_calls < ADVICE_MIN_CALLS:
            return None
        rate = max(ADVICE_MARGIN * (self.adaptive_recent or sustained), sustained)
        if self.adaptive_held:
            rate = min(rate, self.adaptive_held)
        if self.adaptive_ceiling:
            rate = min(rate, self.adaptive_ceiling)
        if rate < 1:
            return None
        return math.floor(rate) if rate >= 10 else math.floor(rate * 10) / 10

    @property
    def calls_per_second(self) -> float:
        """API calls per second over the run."""
        return self.api_calls / self.duration if self.duration > 0 else 0.0

    @property
    def complete(self) -> bool:
        """Whether every row reached a final state on the service (succeeded or failed)."""
        return self.status is MigrationStatus.COMPLETED

    def to_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready data (``summary.json``)."""
        return {
            "status": self.status.value,
            "stop_reason": self.stop_reason.value if self.stop_reason else None,
            "stop_detail": self.stop_detail,
            "resume_at": self.resume_at.isoformat(timespec="seconds") if self.resume_at else None,
            "counts": {
                "total_rows": self.total_rows,
                "succeeded": self.succeeded,
                "failed": self.failed,
                "deferred": self.deferred,
                "unprocessed": self.unprocessed,
            },
            "this_run": {
                "skipped_already_final": self.skipped,
                "succeeded": self.succeeded_this_run,
                "failed": self.failed_this_run,
                "reconciled": self.reconciled,
                "duration_s": round(self.duration, 3),
                "api_calls": self.api_calls,
                "calls_per_s": round(self.calls_per_second, 2),
                "http_requests": self.requests,
                "rate_limited_429": self.rate_limited,
                "logins": self.logins,
                "client_retries": self.retries,
                "pauses": self.pauses,
                "paused_s": round(self.paused_seconds, 3),
                "rate": self.rate,
                "adaptive_rate": round(self.adaptive_rate, 2) if self.adaptive_rate else None,
                "adaptive_ceiling": (
                    round(self.adaptive_ceiling, 2) if self.adaptive_ceiling else None
                ),
                "adaptive_held": round(self.adaptive_held, 2) if self.adaptive_held else None,
                "adaptive_recent": (
                    round(self.adaptive_recent, 2) if self.adaptive_recent else None
                ),
                "adaptive_found_limit": self.adaptive_found_limit,
                "adaptive_calls": self.adaptive_calls,
                "advised_rate": self.advised_rate,
            },
            "lanes": dict(self.lanes) if self.lanes is not None else None,
        }
