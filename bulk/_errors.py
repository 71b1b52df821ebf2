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
    │   └── StateFileError ...... the state file is not a checkpoint of this engine (refused,
    │                             never overwritten or deleted)
    └── MigrationOptionsError ... options that cannot make a run (also a ``ValueError``)

Every message is one line a person can act on, in the library's words (no command-line
flags: the command line adds its own advice); none holds a secret or a mobile number.
:class:`~bulk.PhoneNumberError` (a ``ValueError`` of one row) never leaves the parser:
it becomes a rejected row.
"""

from __future__ import annotations

__all__ = [
    "BulkError",
    "InputError",
    "InputMismatchError",
    "MigrationOptionsError",
    "StateFileError",
    "StateInUseError",
    "StoreClosedError",
    "StoreError",
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
