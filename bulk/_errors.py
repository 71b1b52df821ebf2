"""The bulk engine's errors: one base class, so a caller can catch the engine's own.

::

    BulkError
    ├── InputError .............. the input cannot be read (missing, not a file, binary,
    │                             not UTF-8, a CSV header it cannot use)
    ├── InputMismatchError ...... the store belongs to another input or settings, or rows
    │                             it recorded changed (their line numbers are given)
    ├── StoreError .............. the checkpoint store failed; ``__cause__`` holds the
    │   │                         backend's own error (``sqlite3.Error``, ``OSError``)
    │   ├── StoreClosedError .... used before ``open()`` or after ``aclose()`` / a failure
    │   ├── StateInUseError ..... another run holds the state file
    │   ├── StateFileError ...... the state file is not a checkpoint of this engine (refused,
    │   │                         never overwritten or deleted)
    │   ├── StoreNotFoundError .. a store that was to be read does not exist (nothing made)
    │   └── LeaseLostError ...... a fleet worker's lease on a resident expired
    ├── ReportFolderTakenError .. the report folder holds another run's reports
    ├── AccountBlockedError ..... the checkpoint knows the account is blocked until a time:
    │                             nothing was sent (``resume_at`` says when to come back)
    ├── PlanError ............... a sync plan that cannot be computed, read or applied
    ├── PhoneNumberError ........ one row's mobile number (also a ``ValueError``; it never
    │                             leaves the parser: it becomes a rejected row)
    └── MigrationOptionsError ... options that cannot make a run (also a ``ValueError``)

Every message is one line a person can act on, in the library's words (no command-line
flags: the command line adds its own advice); none holds a secret or a mobile number.
"""

from __future__ import annotations

import datetime as dt

__all__ = [
    "AccountBlockedError",
    "BulkError",
    "InputError",
    "InputMismatchError",
    "LeaseLostError",
    "MigrationOptionsError",
    "PhoneNumberError",
    "PlanError",
    "ReportFolderTakenError",
    "StateFileError",
    "StateInUseError",
    "StoreClosedError",
    "StoreError",
    "StoreNotFoundError",
]


class BulkError(Exception):
    """Base class of the bulk engine's own errors."""


class InputError(BulkError):
    """The input cannot be read at all (missing, a directory, binary, a bad CSV header)."""


class InputMismatchError(BulkError):
    """The store is bound to something else, or rows it recorded changed; resume refused.

    ``lines`` holds the input line numbers that changed (empty when the whole binding
    differs: another input, format or settings).
    """

    def __init__(self, message: str, *, lines: tuple[int, ...] = ()) -> None:
        super().__init__(message)
        self.lines = lines


class StoreError(BulkError):
    """The checkpoint store failed; every record written before the failure is kept."""


class StoreClosedError(StoreError, RuntimeError):
    """The checkpoint store was used before ``open()``, after ``aclose()`` or a failure."""


class StateInUseError(StoreError, RuntimeError):
    """Another run holds the state file."""


class StateFileError(StoreError):
    """The state file is not a checkpoint of this engine; it is left untouched (never
    written, emptied or deleted)."""


class MigrationOptionsError(BulkError, ValueError):
    """Options that cannot make a run (no client for a live run, concurrency below 1)."""


class StoreNotFoundError(StoreError):
    """A store that was to be read (a report of it) does not exist; nothing was created."""


class LeaseLostError(StoreError, RuntimeError):
    """This worker's lease on a resident expired and another worker may hold it now."""


class ReportFolderTakenError(BulkError):
    """The report folder holds the reports of another input, state file or kind of run."""


class AccountBlockedError(BulkError):
    """The checkpoint knows the service blocked the account until ``resume_at`` (UTC).

    Raised before anything is sent: a request during a block risks a longer one.
    ``detail`` is what the service said, when it said something.
    """

    def __init__(self, resume_at: dt.datetime, detail: str = "") -> None:
        said = f" ({detail})" if detail else ""
        super().__init__(
            f"the service blocked this account until {resume_at:%Y-%m-%d %H:%M:%S} UTC{said}; "
            "nothing was sent"
        )
        self.resume_at = resume_at
        self.detail = detail


class PlanError(BulkError):
    """A plan that cannot be computed, read or applied as it is (one clear line)."""


class PhoneNumberError(BulkError, ValueError):
    """A mobile number that cannot be read as a phone number of the region."""
