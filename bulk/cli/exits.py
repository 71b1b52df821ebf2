"""The command line's exit codes, and the one a run's summary maps to.

Only the command line (``_cli.py``, ``_cli_sync.py``, the demo) speaks in exit codes; the
library reports a :class:`~bulk.MigrationSummary` and raises :class:`~bulk.BulkError`.
"""

from __future__ import annotations

from typing import Final

from .._summary import MigrationSummary
from .._telemetry import exit_status

__all__ = ["EXIT_OK", "EXIT_RESUMABLE", "EXIT_USAGE", "exit_code_for"]

EXIT_OK: Final = 0
"""Every row reached a final state (succeeded, or failed with a reason)."""
EXIT_USAGE: Final = 2
"""Usage, unreadable input, or the service refused the account (fix, then rerun)."""
EXIT_RESUMABLE: Final = 75
"""Stopped resumably (EX_TEMPFAIL): rerun the same command, after ``resume_at`` if given."""


_CODES: Final = {"ok": EXIT_OK, "refused": EXIT_USAGE, "resumable": EXIT_RESUMABLE}


def exit_code_for(summary: MigrationSummary) -> int:
    """The command's exit code for a run: 0, 75 (resumable) or 2 (access refused).

    The rule is the library's (:func:`bulk._telemetry.exit_status`, which a run's span
    reports too); only the numbers are the command line's.
    """
    return _CODES[exit_status(summary)]
