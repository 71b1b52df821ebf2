"""Checkpoint stores: where a run keeps one record per input line.

* :mod:`bulk.store.protocol`: the seam (:class:`CheckpointStore`), the record and states;
* :mod:`bulk.store.sqlite`: one machine (the default);
* :mod:`bulk.store.postgres`: a fleet of workers (``pip install 'schlage-async[scale]'``;
  imported only when used, so the base install needs no psycopg);
* :mod:`bulk.store.memory`: tests and dry runs;
* :func:`open_store`: the one constructor every command and library entry uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._open import StoreKind, is_postgres_url, open_store, store_kind
from .memory import MemoryCheckpointStore
from .protocol import (
    FINAL_STATES,
    CheckpointStore,
    ResidentRecord,
    ResidentState,
    ResumeView,
    WorkQueue,
)
from .sqlite import SQLiteCheckpointStore

if TYPE_CHECKING:
    from .postgres import LeaseLostError, PostgresCheckpointStore

__all__ = [
    "FINAL_STATES",
    "CheckpointStore",
    "LeaseLostError",
    "MemoryCheckpointStore",
    "PostgresCheckpointStore",
    "ResidentRecord",
    "ResidentState",
    "ResumeView",
    "SQLiteCheckpointStore",
    "StoreKind",
    "WorkQueue",
    "is_postgres_url",
    "open_store",
    "store_kind",
]

_LAZY = {"PostgresCheckpointStore", "LeaseLostError"}


def __getattr__(name: str) -> Any:
    """The PostgreSQL store on first use: the base install has no psycopg."""
    if name in _LAZY:
        from . import postgres

        return getattr(postgres, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
