"""The checkpoint seam: each resident's record, and the :class:`CheckpointStore` Protocol.

The states a record moves through, and every transition between them, are drawn and
written in ``_state_machine.py``; this module holds only the data the store keeps
(:class:`ResidentRecord`, one per input line) and what a store must do.
"""

from __future__ import annotations

import contextlib
import enum
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Protocol, runtime_checkable

from .._errors import InputMismatchError
from .._resident import ParsedRow, Resident

__all__ = [
    "FINAL_STATES",
    "CheckpointStore",
    "InputMismatchError",
    "ResidentRecord",
    "ResidentState",
    "ResumeView",
    "WorkQueue",
]


class ResidentState(enum.StrEnum):
    """Where one resident is in its provisioning (the diagram: ``bulk._state_machine``)."""

    PENDING = "pending"
    CREATING = "creating"
    CREATED = "created"
    DONE = "done"
    FAILED = "failed"
    DEFERRED = "deferred"


FINAL_STATES: Final = frozenset({ResidentState.DONE, ResidentState.FAILED})
"""States a resume skips: the resident needs nothing more."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ResidentRecord:
    """The checkpoint of one resident (one input line); never holds a mobile number.

    ``create_attempts`` counts creates that may have left (intents written): above zero
    with no ``credential_id`` means "look the user up before creating again".
    ``row_hash`` is the digest of the input line the record was made from: a resume
    compares it with the line read again (:func:`bulk.bind_input`).
    """

    line: int
    state: ResidentState
    user_id: str | None = None
    credential_id: str | None = None
    card_number: int | None = None
    reason: str | None = None
    retryable: bool = False
    create_attempts: int = 0
    row_hash: str | None = None

    def evolve(self, **changes: Any) -> ResidentRecord:
        """Return a copy with ``changes`` applied (an unknown field is a TypeError).

        Three times per resident on the engine's hot path, so neither
        ``dataclasses.replace`` (which looks the fields up again on every call) nor the
        frozen ``__init__`` (an ``object.__setattr__`` call per field, most of the
        cost): the copy's slots are filled directly, every field spelled out.
        """
        if not _RECORD_FIELD_SET.issuperset(changes):
            unknown = sorted(changes.keys() - _RECORD_FIELD_SET)
            raise TypeError(f"ResidentRecord has no field {', '.join(unknown)}")
        get = changes.get
        put = _PUT_SLOT
        new: ResidentRecord = _new_object(ResidentRecord)
        put[0](new, get("line", self.line))
        put[1](new, get("state", self.state))
        put[2](new, get("user_id", self.user_id))
        put[3](new, get("credential_id", self.credential_id))
        put[4](new, get("card_number", self.card_number))
        put[5](new, get("reason", self.reason))
        put[6](new, get("retryable", self.retryable))
        put[7](new, get("create_attempts", self.create_attempts))
        put[8](new, get("row_hash", self.row_hash))
        return new

    @property
    def final(self) -> bool:
        """Whether a resume can skip this resident."""
        return self.state in FINAL_STATES


_RECORD_FIELD_SET: Final = frozenset(f.name for f in fields(ResidentRecord))
_new_object: Final = object.__new__
_PUT_SLOT: Final[tuple[Callable[[ResidentRecord, Any], None], ...]] = tuple(
    ResidentRecord.__dict__[f.name].__set__ for f in fields(ResidentRecord)
)
"""Each field's slot setter, in field order (what ``evolve`` fills, by position)."""


@dataclass(frozen=True, slots=True)
class ResumeView:
    """What a run needs from earlier runs: final lines to skip, open records to finish."""

    final_lines: frozenset[int] = frozenset()
    open_records: Mapping[int, ResidentRecord] = field(default_factory=dict)


@runtime_checkable
class WorkQueue(Protocol):
    """A store that many workers share (PostgreSQL): the input is loaded into it once and
    each worker claims rows from it, instead of reading the input itself."""

    def exclusive(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Hold the run alone while it is bound and loaded (one binding, one input)."""
        ...

    async def load(self, rows: AsyncIterator[list[ParsedRow]]) -> tuple[int, int]:
        """Add the rows the work list lacks; return (rows read, rows added)."""
        ...

    async def loaded_rows(self) -> int | None:
        """How many rows the work list holds, or None before anything was loaded."""
        ...

    def claimed_rows(self) -> AsyncIterator[Resident]:
        """The residents this worker claims, until none is open anywhere."""
        ...


@runtime_checkable
class CheckpointStore(Protocol):
    """Where a migration keeps each resident's state, so a run can stop and resume.

    ``write`` may batch (it returns once the record is queued; a later ``write`` of the
    same line supersedes it); ``write_durable`` returns only once the record, and every
    record written before it, is committed. ``flush`` commits everything queued;
    ``write_mark`` and ``ensure_committed`` wait for a point in the stream of writes.
    """

    @property
    def location(self) -> str:
        """Where the records are kept, for messages and report owners (never a secret)."""
        ...

    async def open(self) -> None:
        """Open (and create, if needed) the store."""

    async def aclose(self) -> None:
        """Commit everything queued and close."""

    async def get_meta(self, key: str) -> str | None:
        """Return a run setting kept with the checkpoint (the input fingerprint, ...)."""

    async def set_meta(self, key: str, value: str) -> None:
        """Keep a run setting with the checkpoint, durably."""

    async def resume_view(self) -> ResumeView:
        """Return the final lines and the open records of earlier runs."""

    async def write(self, record: ResidentRecord) -> None:
        """Queue ``record`` (batched)."""

    async def write_durable(self, record: ResidentRecord) -> None:
        """Write ``record`` and wait until it is committed."""

    async def flush(self) -> None:
        """Commit everything queued so far."""

    def write_mark(self) -> int:
        """Return a mark for every record written so far (see :meth:`ensure_committed`)."""

    async def ensure_committed(self, mark: int) -> None:
        """Return once every record written before ``mark`` was taken is committed.

        Cheap when it already is: the engine writes each ``creating`` intent ahead, in
        an ordinary batch, and waits here only if that batch has not been committed by
        the time the create is about to be sent.
        """

    def iter_records(self) -> AsyncIterator[ResidentRecord]:
        """Yield every record, in line order (for the reports)."""

    async def counts(self) -> Mapping[ResidentState, int]:
        """Return how many residents are in each state."""

    async def forget(self, lines: Iterable[int]) -> None:
        """Drop the records of ``lines``, durably (rows that changed before reaching the
        service: the next run reads them as new)."""

    async def reset(self) -> None:
        """Drop every record and setting, durably (``--restart``), keeping the store open.

        The store is emptied in place, under the hold it already has, so a restart never
        deletes a file another run holds or that is not a checkpoint.
        """
