"""How a run behaves: :class:`MigrationOptions`, every field with a sensible default."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["DEFAULT_CONCURRENCY", "MigrationOptions"]

DEFAULT_CONCURRENCY: Final = 16


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
    unreachable_after: float = 60.0
    """Seconds without any answer from the service (connections refused, timeouts) after
    which the run stops resumably, saying the service is unreachable."""
    total_rows: int | None = None
    """Rows expected, for the progress bar's total and ETA (and the rows a stop leaves
    unread, see :attr:`MigrationSummary.unprocessed`)."""
    dry_run: bool = False
    """Check the rows and record them, send nothing."""
    seed: int | None = None
    """Seed for the backoff jitter (tests)."""
