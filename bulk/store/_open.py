"""The one place a checkpoint store is built from what a user names (``--state``).

Every command and library entry that takes a state location calls :func:`open_store`;
nothing else branches on "is this PostgreSQL?". A third backend plugs in here.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit

from .._errors import StoreNotFoundError

if TYPE_CHECKING:
    from .postgres import PostgresCheckpointStore
    from .sqlite import SQLiteCheckpointStore

__all__ = ["StoreKind", "is_postgres_url", "open_store", "store_kind"]

StoreKind = Literal["sqlite", "postgresql"]


def is_postgres_url(text: str | Path | None) -> bool:
    """Whether ``text`` names a PostgreSQL database (``postgresql://...``) rather than a file."""
    if text is None or isinstance(text, Path):
        return False
    return urlsplit(text).scheme in ("postgres", "postgresql")


def store_kind(state: str | Path) -> StoreKind:
    """Which backend ``state`` names: a PostgreSQL URL or an SQLite file path."""
    return "postgresql" if is_postgres_url(state) else "sqlite"


def open_store(
    state: str | Path,
    *,
    lease_seconds: float | None = None,
    worker_id: str | None = None,
    create: bool = True,
    synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
) -> SQLiteCheckpointStore | PostgresCheckpointStore:
    """The checkpoint store ``state`` names, not yet opened (``async with`` it).

    A ``postgresql://`` URL gives a :class:`~bulk.store.postgres.PostgresCheckpointStore`
    (the ``scale`` extra; imported only then), anything else an SQLite file. The fleet
    options (``lease_seconds``, ``worker_id``) only apply to PostgreSQL. With ``create``
    False (a report of a run) a store that does not exist raises
    :class:`~bulk.StoreNotFoundError` when opened, and nothing is created.
    ``synchronous="FULL"`` makes an SQLite commit survive a power loss too (``--sync full``).
    """
    if is_postgres_url(state):
        from .postgres import PostgresCheckpointStore  # needs the scale extra

        if lease_seconds is None:
            return PostgresCheckpointStore(str(state), worker_id=worker_id, create=create)
        return PostgresCheckpointStore(
            str(state), worker_id=worker_id, create=create, lease_seconds=lease_seconds
        )
    from .sqlite import SQLiteCheckpointStore

    path = Path(state)
    if not create and not path.is_file():
        raise StoreNotFoundError(f"no state file at {str(path)!r} (nothing was created)")
    return SQLiteCheckpointStore(path, synchronous=synchronous)
