"""The default checkpoint store: one SQLite file in WAL mode, written by one thread.

Every SQLite call runs in a dedicated writer thread (``threading.Thread`` fed by a
``queue.SimpleQueue``), never on the event loop: the engine's coroutines only enqueue.
One thread rather than ``anyio.to_thread`` per call, because batching needs a single
owner of the pending records and the open transaction, and because an sqlite3
connection belongs to the thread that made it.

Writes are group-committed: the event loop gathers the records written and hands them to
the thread in one piece when ``batch_size`` records are pending, ``batch_interval``
seconds after the first pending one, or at once when someone waits (a durable write, a
flush, a read); the thread commits each hand-off in one transaction, one statement (the
records cross as one JSON array, so SQLite does the whole batch without handing the GIL
back and forth per row). The ``creating`` intents of concurrent workers therefore share
one commit (one fsync), and the thread wakes once per commit, not once per write.

The file is opened with ``locking_mode=EXCLUSIVE``: a second run on the same state file
is refused with :class:`StateInUseError` instead of interleaving with the first. A file
that is not one of these checkpoints (the input, say, passed as ``--state``) is refused
with :class:`StateFileError` before anything is written to it; ``reset`` (``--restart``)
empties the store in place, under that lock, and never deletes a file.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from .._errors import StateFileError, StateInUseError, StoreClosedError, StoreError
from .._sqlite_batch import encode_rows, has_json, json_rows_select
from .protocol import ResidentRecord, ResidentState, ResumeView

__all__ = [
    "SQLiteCheckpointStore",
    "StoreStats",
    "peek_meta",
]

_T = TypeVar("_T")

_SCHEMA: Final = """
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS residents (
    line INTEGER PRIMARY KEY,
    state TEXT NOT NULL,
    user_id TEXT,
    credential_id TEXT,
    card_number INTEGER,
    reason TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    create_attempts INTEGER NOT NULL DEFAULT 0,
    updated_at REAL NOT NULL,
    row_hash TEXT
);
CREATE INDEX IF NOT EXISTS residents_state ON residents (state);
"""
_MARKER_KEY: Final = "checkpoint_of"
_MARKER: Final = "schlage-bulk"
"""Kept in ``meta``: what tells this engine's checkpoint from any other SQLite file."""
_SQLITE_MAGIC: Final = b"SQLite format 3\x00"
_UPSERT: Final = (
    "INSERT OR REPLACE INTO residents (line, state, user_id, credential_id, card_number, "
    "reason, retryable, create_attempts, updated_at, row_hash) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_UPSERT_JSON: Final = (
    "INSERT OR REPLACE INTO residents (line, state, user_id, credential_id, card_number, "
    "reason, retryable, create_attempts, updated_at, row_hash) " + json_rows_select(10)
)
"""The whole batch in one statement (see ``bulk._sqlite_batch``), where ``executemany``
steps once per record and hands the GIL to the event loop and back around each."""
_COLUMNS: Final = (
    "line, state, user_id, credential_id, card_number, reason, retryable, create_attempts, row_hash"
)
_CHUNK: Final = 2000


def peek_meta(path: Path, key: str) -> str | None:
    """Read one run setting from a state file without opening it as a store.

    None when the file does not exist, is not a state file, or another run holds it
    (that run will refuse the open anyway). Never creates the file.
    """
    if not path.is_file():
        return None
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=rw", uri=True, timeout=0.5)
    except sqlite3.Error:
        return None
    try:
        row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
    except sqlite3.Error:
        return None
    finally:
        conn.close()
    return None if row is None else str(row[0])


@dataclass(slots=True)
class StoreStats:
    """What the writer thread did: transactions committed and records written."""

    commits: int = 0
    records: int = 0


def _row(record: ResidentRecord, now: float) -> tuple[object, ...]:
    return (
        record.line,
        record.state.value,
        record.user_id,
        record.credential_id,
        record.card_number,
        record.reason,
        int(record.retryable),
        record.create_attempts,
        now,
        record.row_hash,
    )


def _record(row: tuple[Any, ...]) -> ResidentRecord:
    return ResidentRecord(
        line=row[0],
        state=ResidentState(row[1]),
        user_id=row[2],
        credential_id=row[3],
        card_number=row[4],
        reason=row[5],
        retryable=bool(row[6]),
        create_attempts=row[7],
        row_hash=row[8],
    )


def _store_error(path: Path, doing: str, exc: BaseException) -> StoreError:
    """The backend's error as a :class:`StoreError` (the original kept as its cause)."""
    error = StoreError(f"the state file {str(path)!r} failed to {doing}: {exc}")
    error.__cause__ = exc
    return error


def _settle(fut: asyncio.Future[Any], result: object, error: BaseException | None) -> None:
    if fut.done():  # the waiter was cancelled; nobody wants the answer
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)


class SQLiteCheckpointStore:
    """Checkpoints in an SQLite file (WAL), batched, with durable ``creating`` intents."""

    __slots__ = (
        "_batch",
        "_batch_interval",
        "_batch_size",
        "_committed",
        "_failure",
        "_json",
        "_loop",
        "_path",
        "_queue",
        "_synchronous",
        "_thread",
        "_timer",
        "_written",
        "stats",
    )

    def __init__(
        self,
        path: str | Path,
        *,
        batch_size: int = 512,
        batch_interval: float = 0.02,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
    ) -> None:
        self._path = Path(path)  # the SQLite file; -wal beside it while open
        self._batch_size = batch_size  # commit once this many records are pending ...
        self._batch_interval = batch_interval  # ... or this long after the first one
        # NORMAL (WAL): a commit survives a killed process, not a power loss; FULL adds an
        # fsync per commit. Exactly-once does not rest on it: a commit lost to a power cut
        # leaves a resident earlier in its states, and the service's one-credential-per-
        # user rule plus the engine's lookup on every 409 turn a repeat into an adoption.
        self._synchronous = synchronous
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()  # to the writer
        self._thread: threading.Thread | None = None  # the writer; None when closed
        self._loop: asyncio.AbstractEventLoop | None = None  # where answers are delivered
        self._failure: BaseException | None = None  # a commit that failed breaks the store
        self._written = 0  # records queued so far (event loop side)
        # Records written and not yet handed to the writer thread: they cross in one put
        # per commit (a put per record woke the thread, and took the GIL, each time).
        self._batch: list[ResidentRecord] = []
        # The hand-off due ``batch_interval`` after the first record of ``_batch``.
        self._timer: asyncio.TimerHandle | None = None
        # Whether the writer commits with one JSON statement (set when it connects).
        self._json = False
        # Records committed so far, in queue order (set by the writer thread; an int
        # assignment, so the event loop reads a whole value).
        self._committed = 0
        self.stats = StoreStats()

    @property
    def path(self) -> Path:
        """The SQLite file."""
        return self._path

    @property
    def location(self) -> str:
        """The SQLite file's absolute path."""
        return str(self._path.resolve())

    def __repr__(self) -> str:
        return f"SQLiteCheckpointStore({str(self._path)!r})"

    async def __aenter__(self) -> SQLiteCheckpointStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def open(self) -> None:
        """Open the file (creating it and its tables), take its lock and start the writer."""
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._failure = None
        ready: asyncio.Future[None] = self._loop.create_future()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="bulk-checkpoint-writer", daemon=True
        )
        self._thread.start()
        try:
            await ready
        except BaseException:
            self._thread.join()
            self._thread = None
            raise

    async def aclose(self) -> None:
        """Commit everything queued, close the file and stop the writer."""
        thread = self._thread
        if thread is None or self._loop is None:
            return
        fut = self._loop.create_future()  # even after a failure: the writer must end
        self._hand_off()
        self._queue.put(("stop", fut))
        try:
            await fut
        finally:
            await asyncio.to_thread(thread.join)
            self._thread = None

    def _future(self) -> asyncio.Future[Any]:
        if self._thread is None or self._loop is None:
            raise StoreClosedError(f"{self!r} is not open")
        if self._failure is not None:
            raise StoreClosedError(f"{self!r} failed: {self._failure}") from self._failure
        return self._loop.create_future()

    async def _call(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        fut = self._future()
        self._hand_off()
        self._queue.put(("call", fn, fut))
        result: _T = await fut
        return result

    async def get_meta(self, key: str) -> str | None:
        """Return the value kept under ``key``, or None."""

        def read(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
            return None if row is None else str(row[0])

        return await self._call(read)

    async def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` (committed before this returns)."""

        def put(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

        await self._call(put)

    async def resume_view(self) -> ResumeView:
        """Return the final lines and the open (started, not final) records."""

        def read(conn: sqlite3.Connection) -> ResumeView:
            final = frozenset(
                row[0]
                for row in conn.execute(
                    "SELECT line FROM residents WHERE state IN (?, ?)",
                    (ResidentState.DONE.value, ResidentState.FAILED.value),
                )
            )
            open_records = {
                row[0]: _record(row)
                for row in conn.execute(
                    f"SELECT {_COLUMNS} FROM residents WHERE state NOT IN (?, ?, ?)",  # noqa: S608  # constant columns
                    (
                        ResidentState.DONE.value,
                        ResidentState.FAILED.value,
                        ResidentState.PENDING.value,
                    ),
                )
            }
            return ResumeView(final_lines=final, open_records=open_records)

        return await self._call(read)

    async def write(self, record: ResidentRecord) -> None:
        """Queue ``record``; it is committed with the next batch."""
        if self._thread is None or self._failure is not None:
            self._future()  # raises the error that says why
        self._written += 1
        batch = self._batch
        batch.append(record)
        if len(batch) >= self._batch_size:
            self._hand_off()
        elif len(batch) == 1:
            assert self._loop is not None
            self._timer = self._loop.call_later(self._batch_interval, self._hand_off)

    def _hand_off(self) -> None:
        """Put the records written so far on the writer's queue, in one piece, in order."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._batch:
            batch, self._batch = self._batch, []
            self._queue.put(("writes", batch))

    async def write_durable(self, record: ResidentRecord) -> None:
        """Write ``record`` and return once it (and all queued before it) is committed."""
        fut = self._future()
        self._written += 1
        self._hand_off()
        self._queue.put(("durable", record, fut))
        await fut

    async def flush(self) -> None:
        """Commit everything queued so far."""
        fut = self._future()
        self._hand_off()
        self._queue.put(("flush", fut))
        await fut

    def write_mark(self) -> int:
        """Return a mark for every record queued so far."""
        return self._written

    async def ensure_committed(self, mark: int) -> None:
        """Return once the first ``mark`` records queued are committed (flush if not)."""
        if self._committed >= mark and self._failure is None:
            return
        await self.flush()

    async def iter_records(self) -> AsyncIterator[ResidentRecord]:
        """Yield every record in line order, reading 2,000 at a time."""
        after = 0
        while True:

            def read(conn: sqlite3.Connection, after: int = after) -> list[ResidentRecord]:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM residents WHERE line > ? ORDER BY line LIMIT ?",  # noqa: S608  # constant columns
                    (after, _CHUNK),
                )
                return [_record(row) for row in rows]

            chunk = await self._call(read)
            for record in chunk:
                yield record
            if len(chunk) < _CHUNK:
                return
            after = chunk[-1].line

    async def counts(self) -> Mapping[ResidentState, int]:
        """Return how many residents are in each state."""

        def read(conn: sqlite3.Connection) -> dict[ResidentState, int]:
            rows = conn.execute("SELECT state, COUNT(*) FROM residents GROUP BY state")
            return {ResidentState(state): count for state, count in rows}

        return await self._call(read)

    async def forget(self, lines: Iterable[int]) -> None:
        """Drop the records of ``lines`` (committed before this returns)."""
        await self.flush()  # a queued write of those lines must not come back after
        chosen = [(line,) for line in lines]

        def drop(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.executemany("DELETE FROM residents WHERE line = ?", chosen)

        await self._call(drop)

    async def reset(self) -> None:
        """Drop every record and setting (committed before this returns), keep the file."""
        await self.flush()

        def empty(conn: sqlite3.Connection) -> None:
            with conn:
                conn.execute("BEGIN")
                conn.execute("DELETE FROM residents")
                conn.execute("DELETE FROM meta WHERE key != ?", (_MARKER_KEY,))

        await self._call(empty)

    # --- the writer thread ---------------------------------------------------------------

    def _answer(
        self, fut: asyncio.Future[Any], result: object, error: BaseException | None
    ) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(_settle, fut, result, error)
        except RuntimeError:  # the loop closed meanwhile; nobody is waiting any more
            return

    def _refuse_foreign(self) -> None:
        """Raise :class:`StateFileError` if the path holds something other than SQLite."""
        try:
            with self._path.open("rb") as handle:
                head = handle.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            return
        except IsADirectoryError:
            raise StateFileError(f"the state file {str(self._path)!r} is a directory") from None
        if head and head != _SQLITE_MAGIC:
            raise StateFileError(
                f"{str(self._path)!r} is not a checkpoint of schlage-bulk (not an SQLite "
                "file): refusing to use it as the state file; use another state file"
            ) from sqlite3.DatabaseError("file is not a database")

    def _refuse_foreign_tables(self, conn: sqlite3.Connection) -> None:
        """Raise :class:`StateFileError` unless the database is empty or ours."""
        tables = {
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        }
        if tables and tables != {"meta", "residents"}:
            raise StateFileError(
                f"{str(self._path)!r} is an SQLite database but not a checkpoint of "
                "schlage-bulk: refusing to use it as the state file; use another state file"
            )

    def _claim(self, conn: sqlite3.Connection) -> None:
        """Create (or upgrade) the schema of the locked database and mark it ours."""
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                conn.execute(statement)
        columns = {row[1] for row in conn.execute("PRAGMA table_info(residents)")}
        if "row_hash" not in columns:  # a checkpoint written before rows had digests
            conn.execute("ALTER TABLE residents ADD COLUMN row_hash TEXT")
        conn.execute(
            "INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (_MARKER_KEY, _MARKER)
        )

    def _connect(self) -> sqlite3.Connection:
        self._refuse_foreign()
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, isolation_level=None, timeout=0.5)
        try:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")
            self._refuse_foreign_tables(conn)  # before anything changes the file
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self._synchronous}")
            conn.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now, not at first write
            self._claim(conn)
            conn.execute("COMMIT")
            self._json = has_json(conn)
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" in str(exc):
                raise StateInUseError(
                    f"the state file {str(self._path)!r} is in use by another run"
                ) from None
            raise
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise StateFileError(
                f"{str(self._path)!r} is not a usable checkpoint ({exc}); use another state file"
            ) from None
        except StateFileError:
            conn.close()
            raise
        return conn

    def _run(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
        except (StateInUseError, StateFileError) as exc:
            self._answer(ready, None, exc)
            return
        except (sqlite3.Error, OSError) as exc:
            self._answer(ready, None, _store_error(self._path, "open", exc))
            return
        self._answer(ready, None, None)
        pending: dict[int, ResidentRecord] = {}  # latest record per line, not yet committed
        consumed = 0  # write commands taken off the queue so far
        try:
            while True:
                # The event loop hands records over when a batch is due: each hand-off is
                # committed at once, with whatever else is queued by then.
                commands = [self._queue.get()]
                while True:  # take whatever else is queued: it joins this transaction
                    try:
                        commands.append(self._queue.get_nowait())
                    except queue.Empty:
                        break
                waiters: list[asyncio.Future[Any]] = []
                calls: list[tuple[Any, ...]] = []
                stop: asyncio.Future[Any] | None = None
                for command in commands:
                    kind = command[0]
                    if kind == "writes":
                        records: list[ResidentRecord] = command[1]
                        consumed += len(records)
                        for record in records:
                            pending[record.line] = record
                    elif kind == "durable":
                        consumed += 1
                        pending[command[1].line] = command[1]
                        waiters.append(command[2])
                    elif kind == "flush":
                        waiters.append(command[1])
                    elif kind == "call":
                        calls.append(command)
                    else:
                        stop = command[1]
                if pending:
                    error = self._commit(conn, pending)
                    if error is None:
                        self._committed = consumed
                    pending.clear()
                    for fut in waiters:
                        self._answer(fut, None, error)
                    waiters = []
                for fut in waiters:  # a flush with nothing pending
                    self._answer(fut, None, self._failure)
                for _, fn, fut in calls:
                    try:
                        result = fn(conn)
                    except sqlite3.Error as exc:
                        self._answer(fut, None, _store_error(self._path, "read", exc))
                    else:
                        self._answer(fut, result, None)
                if stop is not None:
                    conn.close()
                    self._answer(stop, None, self._failure)
                    return
        except BaseException:  # pragma: no cover - a bug here must not hang the loop
            conn.close()
            raise

    def _commit(
        self, conn: sqlite3.Connection, pending: dict[int, ResidentRecord]
    ) -> BaseException | None:
        now = time.time()
        rows = [_row(r, now) for r in pending.values()]
        try:
            with conn:
                conn.execute("BEGIN")
                if self._json:
                    conn.execute(_UPSERT_JSON, (encode_rows(rows),))
                else:
                    conn.executemany(_UPSERT, rows)
        except sqlite3.Error as exc:
            error = _store_error(self._path, "commit", exc)
            self._failure = error
            return error
        self.stats.commits += 1
        self.stats.records += len(pending)
        return None
