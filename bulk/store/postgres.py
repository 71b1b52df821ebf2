"""A checkpoint store in PostgreSQL: one run's work list, shared by workers on many hosts.

psycopg 3 (async) with psycopg_pool, chosen over asyncpg: it ships its own type hints
(``mypy --strict`` needs no stubs), streams ``COPY ... FROM STDIN`` row by row from an
async loop, and its pool checks and replaces a connection the server dropped.

One schema per run (``postgresql://.../db?schema=NAME``, default ``schlage_bulk``) holds
``meta`` and ``residents``: one row per input line, with the state machine's columns,
the resident to provision (``resident``, JSON; NULL for a rejected row) and a lease
(``lease_owner``, ``lease_until``).

* **Loading** (:meth:`PostgresCheckpointStore.load`): the input, parsed and deduplicated,
  goes in by one streamed ``COPY`` in one transaction, under an advisory lock, once; a
  second ``migrate`` of the same input finds it loaded and joins.
* **Claiming** (:meth:`claimed_rows`): a worker takes a batch of open residents with
  ``FOR UPDATE SKIP LOCKED`` and stamps its lease on them; a heartbeat extends the leases
  it holds. A row is claimable when nobody's lease on it is alive, so one resident is
  never worked by two workers at once; a worker that died (kill -9) leaves leases that
  expire, and whoever claims such a row next reconciles it exactly as after a crash (a
  ``creating`` row is looked up before any create).
* **Writing**: the engine's records are batched (group commit) into one ``UPDATE ...
  FROM unnest(...)`` per batch that only touches rows this worker's lease still holds;
  a row it no longer holds stops the worker (:class:`LeaseLostError`, exit 75), never
  overwrites another worker's progress. A commit that fails on a dropped connection is
  retried on a fresh one (an UPDATE of the same values is idempotent).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import uuid
from collections.abc import AsyncIterator, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec
import psycopg
from psycopg import sql
from psycopg_pool import AsyncConnectionPool

from schlage_async import cancel_and_wait

from .._errors import LeaseLostError, StoreClosedError, StoreNotFoundError
from .._resident import ParsedRow, RejectedRow, Resident
from .protocol import ResidentRecord, ResidentState, ResumeView

__all__ = [
    "DEFAULT_SCHEMA",
    "LeaseLostError",
    "PostgresCheckpointStore",
]

DEFAULT_SCHEMA: Final = "schlage_bulk"
_FINAL: Final = (ResidentState.DONE.value, ResidentState.FAILED.value)
_RELEASED: Final = frozenset({ResidentState.PENDING, ResidentState.DEFERRED, *_FINAL})
_CHUNK: Final = 2000
_COLUMNS: Final = (
    "line, state, user_id, credential_id, card_number, reason, retryable, create_attempts, row_hash"
)
_COMMIT_TRIES: Final = 5  # a commit retried on fresh connections before the store fails


def _split_url(url: str) -> tuple[str, str]:
    """Return the libpq URL without our ``schema`` parameter, and the schema."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((v for k, v in query if k == "schema"), DEFAULT_SCHEMA)
    rest = urlencode([(k, v) for k, v in query if k != "schema"])
    if not schema.replace("_", "").isalnum() or not schema[0].isalpha():
        raise ValueError(f"schema {schema!r}: use letters, digits and _ (a letter first)")
    return urlunsplit(parts._replace(query=rest)), schema.lower()


def _schema_sql(schema: str) -> list[sql.Composed]:
    s = sql.Identifier(schema)
    return [
        sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(s),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.meta (key text PRIMARY KEY, value text NOT NULL)"
        ).format(s),
        sql.SQL(
            """CREATE TABLE IF NOT EXISTS {}.residents (
                line integer PRIMARY KEY,
                state text NOT NULL,
                user_id text,
                credential_id text,
                card_number bigint,
                reason text,
                retryable boolean NOT NULL DEFAULT false,
                create_attempts integer NOT NULL DEFAULT 0,
                row_hash text,
                resident text,
                lease_owner text,
                lease_until timestamptz,
                updated_at timestamptz NOT NULL DEFAULT now()
            )"""
        ).format(s),
        sql.SQL(
            "CREATE INDEX IF NOT EXISTS residents_open ON {}.residents (line) "
            "WHERE state NOT IN ('done', 'failed')"
        ).format(s),
    ]


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


@dataclass(slots=True)
class _Pending:
    """Records queued for the next commit."""

    records: dict[int, ResidentRecord]
    through: int  # write count this batch brings the committed mark to


class PostgresCheckpointStore:
    """The :class:`CheckpointStore` of a fleet: PostgreSQL rows with leases."""

    def __init__(
        self,
        url: str,
        *,
        worker_id: str | None = None,
        lease_seconds: float = 60.0,
        claim_size: int = 64,
        batch_size: int = 512,
        batch_interval: float = 0.02,
        pool_size: int = 4,
        create: bool = True,
    ) -> None:
        self._conninfo, self.schema = _split_url(url)
        self._create = create  # False: a run that must exist already (a report of it)
        host = socket.gethostname()
        self.worker_id = worker_id or f"{host}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._lease = lease_seconds  # a lease not renewed for this long frees its rows
        self._claim_size = claim_size  # residents taken per claim
        self._batch_size = batch_size  # commit once this many records are pending ...
        self._batch_interval = batch_interval  # ... or this long after the first one
        self._pool_size = pool_size
        self._pool: AsyncConnectionPool | None = None
        self._writer: asyncio.Task[None] | None = None
        self._heart: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()  # something was queued or someone waits
        # The heartbeat and the batch commits touch the same rows from two connections:
        # one at a time, or they can deadlock each other.
        self._row_lock = asyncio.Lock()
        self._pending = _Pending({}, 0)
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []  # (write count, waiter)
        self._written = 0  # records queued so far
        self._committed = 0  # records committed so far (in queue order)
        self._failure: BaseException | None = None  # a store that failed stays failed
        self._claimed: dict[int, ResidentRecord] = {}  # open records of rows just claimed
        self._started = dt.datetime.now(dt.UTC)  # deferred rows older than this are retried
        self.claimed_count = 0  # residents this worker claimed
        # Set when the engine gives a row back (writes it ``pending``), which it does only
        # when the run is stopping: no more claims then, or it would take the rows back.
        self._giving_back = False

    @property
    def location(self) -> str:
        """``postgresql://[user@]host[:port]/db?schema=NAME``, without a password."""
        parts = urlsplit(self._conninfo)
        netloc = parts.hostname or ""
        if parts.port:
            netloc = f"{netloc}:{parts.port}"
        if parts.username:
            netloc = f"{parts.username}@{netloc}"
        return urlunsplit((parts.scheme, netloc, parts.path, f"schema={self.schema}", ""))

    def __repr__(self) -> str:
        return f"PostgresCheckpointStore(schema={self.schema!r}, worker={self.worker_id!r})"

    async def __aenter__(self) -> PostgresCheckpointStore:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # --- lifecycle ------------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, create the schema's tables if needed, start the writer and heartbeat."""
        if self._pool is not None:
            return
        pool = AsyncConnectionPool(
            self._conninfo,
            min_size=1,
            max_size=self._pool_size,
            open=False,
            check=AsyncConnectionPool.check_connection,
            kwargs={
                "autocommit": True,
                "application_name": f"schlage-bulk {self.worker_id}"[:63],
            },
        )
        await pool.open(wait=True, timeout=15.0)
        self._pool = pool
        try:
            async with pool.connection() as conn, conn.transaction():
                if not self._create:
                    await self._check_exists(conn)
                # Two workers creating the tables at once would collide on the catalog.
                await conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema,))
                for statement in _schema_sql(self.schema):
                    await conn.execute(statement)
        except BaseException:
            await pool.close()
            self._pool = None
            raise
        self._failure = None
        self._writer = asyncio.create_task(self._write_loop(), name="bulk-pg-writer")
        self._heart = asyncio.create_task(self._heartbeat(), name="bulk-pg-heartbeat")

    async def _check_exists(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Raise :class:`StoreNotFoundError` unless this schema already holds a run."""
        cur = await conn.execute(
            "SELECT 1 FROM information_schema.tables "
            "WHERE table_schema = %s AND table_name = 'residents'",
            (self.schema,),
        )
        if await cur.fetchone() is None:
            raise StoreNotFoundError(
                f"no run is kept in the PostgreSQL schema {self.schema!r} of {self.location} "
                "(nothing was created)"
            )

    async def aclose(self) -> None:
        """Commit what is queued, release this worker's leases and close the pool."""
        pool = self._pool
        if pool is None:
            return
        with contextlib.suppress(Exception):
            await self.flush()
        for task in (self._heart, self._writer):
            if task is not None:
                await cancel_and_wait(task)
        self._heart = self._writer = None
        with contextlib.suppress(psycopg.Error):
            async with pool.connection() as conn:
                await conn.execute(
                    self._q(
                        "UPDATE {}.residents SET lease_owner = NULL, lease_until = NULL "
                        "WHERE lease_owner = %s"
                    ),
                    (self.worker_id,),
                )
        self._pool = None
        await pool.close()

    def _q(self, text: str) -> sql.Composed:
        ident = sql.Identifier(self.schema)
        holes = text.count("{}")
        return sql.SQL(text).format(*[ident] * holes) if holes else sql.SQL(text).format(ident)

    def _check(self) -> AsyncConnectionPool:
        if self._pool is None:
            raise StoreClosedError(f"{self!r} is not open")
        if self._failure is not None:
            raise StoreClosedError(f"{self!r} failed: {self._failure}") from self._failure
        return self._pool

    # --- meta -----------------------------------------------------------------------------

    async def get_meta(self, key: str) -> str | None:
        """Return the value kept under ``key``, or None."""
        async with self._check().connection() as conn:
            cur = await conn.execute(self._q("SELECT value FROM {}.meta WHERE key = %s"), (key,))
            row = await cur.fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str) -> None:
        """Keep ``value`` under ``key`` (committed before this returns)."""
        async with self._check().connection() as conn:
            await conn.execute(
                self._q(
                    "INSERT INTO {}.meta (key, value) VALUES (%s, %s) "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                ),
                (key, value),
            )

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold this run alone (a session advisory lock) while it is bound and loaded.

        Two ``migrate`` commands started together on one fresh schema take turns: the
        second sees the first's binding and rows, and is refused if its input differs.
        """
        async with self._check().connection() as conn:
            await conn.execute("SELECT pg_advisory_lock(hashtext(%s))", (self.schema + ":bind",))
            try:
                yield
            finally:
                await conn.execute(
                    "SELECT pg_advisory_unlock(hashtext(%s))", (self.schema + ":bind",)
                )

    # --- loading the work list ------------------------------------------------------------

    async def loaded_rows(self) -> int | None:
        """How many input rows the work list holds, or None before it was loaded."""
        value = await self.get_meta("loaded_rows")
        return None if value is None else int(value)

    async def load(self, rows: AsyncIterator[list[ParsedRow]]) -> tuple[int, int]:
        """Add the input's rows the work list lacks; return (rows read, rows added).

        The first ``migrate`` loads every row; a later one (joining, or after rows were
        appended to the input or forgotten by the binding check) adds only the lines the
        work list does not hold, and never touches a row a worker recorded. One streamed
        ``COPY`` into a temporary table, then one ``INSERT ... ON CONFLICT DO NOTHING``,
        in one transaction under an advisory lock. Rejected rows go in ``failed`` with
        their reason; the others ``pending`` with the resident to provision.
        """
        pool = self._check()
        async with pool.connection() as conn, conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(hashtext(%s))", (self.schema + ":load",)
            )
            await conn.execute(
                "CREATE TEMPORARY TABLE schlage_load (line integer, state text, user_id text, "
                "reason text, row_hash text, resident text) ON COMMIT DROP"
            )
            count = 0
            copy_sql = "COPY schlage_load FROM STDIN"
            async with conn.cursor() as cursor, cursor.copy(copy_sql) as copy:
                async for batch in rows:
                    for row in batch:
                        count += 1
                        if isinstance(row, RejectedRow):
                            failed = ResidentState.FAILED.value
                            await copy.write_row(
                                (row.line, failed, row.user_id, row.reason, row.row_hash, None)
                            )
                        else:
                            await copy.write_row(
                                (
                                    row.line,
                                    ResidentState.PENDING.value,
                                    row.user_id,
                                    None,
                                    row.row_hash,
                                    msgspec.json.encode(row).decode(),
                                )
                            )
            cur = await conn.execute(
                self._q(
                    "INSERT INTO {}.residents (line, state, user_id, reason, row_hash, resident) "
                    "SELECT line, state, user_id, reason, row_hash, resident FROM schlage_load "
                    "ON CONFLICT (line) DO NOTHING"
                )
            )
            added = cur.rowcount
            await conn.execute(
                self._q(
                    "INSERT INTO {}.meta (key, value) "
                    "SELECT 'loaded_rows', count(*)::text FROM {}.residents "
                    "ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
                )
            )
        return count, added

    async def forget(self, lines: Iterable[int]) -> None:
        """Drop the records of ``lines`` (the next load adds them afresh), durably."""
        wanted = list(lines)
        if not wanted:
            return
        await self.flush()
        async with self._check().connection() as conn:
            await conn.execute(self._q("DELETE FROM {}.residents WHERE line = ANY(%s)"), (wanted,))

    async def reset(self) -> None:
        """Drop every record and setting of this run, durably (``--restart``)."""
        await self.flush()
        async with self._check().connection() as conn, conn.transaction():
            await conn.execute(self._q("DELETE FROM {}.residents"))
            await conn.execute(self._q("DELETE FROM {}.meta"))
        self._claimed.clear()

    # --- claiming -------------------------------------------------------------------------

    async def claim(self) -> list[Resident]:
        """Lease the next batch of open residents to this worker (empty when none is free)."""
        async with self._check().connection() as conn:
            cur = await conn.execute(
                self._q(
                    """WITH picked AS (
                        SELECT line FROM {0}.residents
                        WHERE (state IN ('pending', 'creating', 'created')
                               OR (state = 'deferred' AND updated_at < %(started)s))
                          AND (lease_until IS NULL OR lease_until < now())
                        ORDER BY line LIMIT %(n)s
                        FOR UPDATE SKIP LOCKED)
                    UPDATE {0}.residents r
                    SET lease_owner = %(me)s,
                        lease_until = now() + make_interval(secs => %(lease)s)
                    FROM picked WHERE r.line = picked.line
                    RETURNING r.line, r.state, r.user_id, r.credential_id, r.card_number,
                              r.reason, r.retryable, r.create_attempts, r.row_hash, r.resident"""
                ),
                {
                    "started": self._started,
                    "n": self._claim_size,
                    "me": self.worker_id,
                    "lease": self._lease,
                },
            )
            rows = await cur.fetchall()
        out: list[Resident] = []
        for row in sorted(rows, key=lambda r: int(r[0])):
            record = _record(row)
            if record.state is not ResidentState.PENDING or record.create_attempts:
                self._claimed[record.line] = record  # the engine finishes it from here
            out.append(msgspec.json.decode(row[9], type=Resident))
        self.claimed_count += len(out)
        return out

    async def others_working(self) -> bool:
        """Whether open residents remain that another worker's live lease holds."""
        async with self._check().connection() as conn:
            cur = await conn.execute(
                self._q(
                    """SELECT EXISTS (SELECT 1 FROM {}.residents
                        WHERE (state IN ('pending', 'creating', 'created')
                               OR (state = 'deferred' AND updated_at < %s))
                          AND lease_until >= now() AND lease_owner <> %s)"""
                ),
                (self._started, self.worker_id),
            )
            row = await cur.fetchone()
        return bool(row and row[0])

    def stopping(self) -> bool:
        """Whether the engine began giving rows back (the run is stopping)."""
        return self._giving_back

    async def claimed_rows(self, *, poll: float | None = None) -> AsyncIterator[Resident]:
        """Yield residents as this worker claims them, until none is open anywhere.

        Stops as soon as the run stops (the engine gives rows back). When nothing is free
        but other workers hold leases, waits (``poll`` seconds,
        default a quarter of the lease) and tries again: a worker that died leaves rows
        whose leases expire, and they are taken over here.
        """
        wait = poll if poll is not None else max(0.2, self._lease / 4)
        while not self.stopping():
            batch = await self.claim()
            if batch:
                for resident in batch:
                    if self.stopping():
                        return  # the rest stay leased until aclose releases them
                    yield resident
                continue
            if not await self.others_working():
                return
            await asyncio.sleep(wait)

    async def _heartbeat(self) -> None:
        """Extend this worker's leases every third of a lease; fail the store if it cannot."""
        last_ok = asyncio.get_running_loop().time()
        while True:
            await asyncio.sleep(self._lease / 3)
            try:
                async with self._row_lock, self._check().connection() as conn:
                    await conn.execute(
                        self._q(
                            "UPDATE {}.residents "
                            "SET lease_until = now() + make_interval(secs => %s) "
                            "WHERE lease_owner = %s"
                        ),
                        (self._lease, self.worker_id),
                    )
                last_ok = asyncio.get_running_loop().time()
            except StoreClosedError:
                return
            except (psycopg.Error, OSError) as exc:
                # Tried again at the next beat; past a whole lease the rows may be gone.
                if asyncio.get_running_loop().time() - last_ok >= self._lease * 0.9:
                    self._fail(LeaseLostError(f"the leases could not be renewed: {exc}"))
                    return

    # --- the CheckpointStore protocol --------------------------------------------------

    async def resume_view(self) -> ResumeView:
        """No final lines to skip (only open rows are claimed); the claimed open records.

        The mapping is live: :meth:`claim` adds the open record of each row it takes, and
        the engine takes it from there as it reads the claimed rows.
        """
        return ResumeView(final_lines=frozenset(), open_records=self._claimed)

    async def write(self, record: ResidentRecord) -> None:
        """Queue ``record`` for the next batch."""
        self._check()
        if record.state is ResidentState.PENDING:
            self._giving_back = True
        self._written += 1
        self._pending.records[record.line] = record
        self._pending.through = self._written
        if len(self._pending.records) >= self._batch_size:
            self._wake.set()
        elif len(self._pending.records) == 1:
            asyncio.get_running_loop().call_later(self._batch_interval, self._wake.set)

    async def write_durable(self, record: ResidentRecord) -> None:
        """Write ``record`` and return once it (and all queued before it) is committed."""
        await self.write(record)
        await self.flush()

    async def flush(self) -> None:
        """Commit everything queued so far (including a batch already being committed)."""
        self._check()
        target = self._written
        if self._committed >= target:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        self._wake.set()
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
        """Yield every record in line order, 2,000 at a time."""
        after = 0
        while True:
            async with self._check().connection() as conn:
                cur = await conn.execute(
                    self._q(
                        f"SELECT {_COLUMNS} FROM {{}}.residents "  # noqa: S608  # constant columns
                        "WHERE line > %s ORDER BY line LIMIT %s"
                    ),
                    (after, _CHUNK),
                )
                chunk = [_record(row) for row in await cur.fetchall()]
            for record in chunk:
                yield record
            if len(chunk) < _CHUNK:
                return
            after = chunk[-1].line

    async def counts(self) -> Mapping[ResidentState, int]:
        """Return how many residents of the whole run are in each state."""
        async with self._check().connection() as conn:
            cur = await conn.execute(
                self._q("SELECT state, count(*) FROM {}.residents GROUP BY state")
            )
            return {ResidentState(state): int(n) for state, n in await cur.fetchall()}

    # --- the writer -----------------------------------------------------------------------

    def _fail(self, error: BaseException) -> None:
        self._failure = error
        for _, fut in self._waiters:
            if not fut.done():
                fut.set_exception(error)
        self._waiters = []

    def _settle(self) -> None:
        """Answer the waiters whose writes are all committed now."""
        still: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._waiters:
            if target <= self._committed:
                if not fut.done():
                    fut.set_result(None)
            else:
                still.append((target, fut))
        self._waiters = still

    async def _write_loop(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            batch = self._pending
            if batch.records:
                self._pending = _Pending({}, batch.through)
                try:
                    await self._commit(batch.records.values())
                except Exception as exc:  # noqa: BLE001  # any failure breaks the store, loudly
                    self._fail(exc)
                    return
                self._committed = batch.through
            self._settle()
            if self._waiters and self._pending.records:
                self._wake.set()  # someone waits for records queued during that commit

    async def _commit(self, records: Iterable[ResidentRecord]) -> None:
        rows = list(records)
        columns: list[list[Any]] = [[] for _ in range(10)]
        for r in rows:
            for i, value in enumerate(
                (
                    r.line,
                    r.state.value,
                    r.user_id,
                    r.credential_id,
                    r.card_number,
                    r.reason,
                    r.retryable,
                    r.create_attempts,
                    r.row_hash,
                    r.state in _RELEASED,
                )
            ):
                columns[i].append(value)
        statement = self._q(
            """UPDATE {}.residents r SET
                state = v.state, user_id = v.user_id, credential_id = v.credential_id,
                card_number = v.card_number, reason = v.reason, retryable = v.retryable,
                create_attempts = v.create_attempts,
                row_hash = COALESCE(v.row_hash, r.row_hash), updated_at = now(),
                lease_owner = CASE WHEN v.release THEN NULL ELSE r.lease_owner END,
                lease_until = CASE WHEN v.release THEN NULL ELSE r.lease_until END
            FROM unnest(%s::int[], %s::text[], %s::text[], %s::text[], %s::bigint[],
                        %s::text[], %s::bool[], %s::int[], %s::text[], %s::bool[])
                AS v(line, state, user_id, credential_id, card_number, reason, retryable,
                     create_attempts, row_hash, release)
            WHERE r.line = v.line AND r.lease_owner = %s
            RETURNING r.line"""
        )
        pool = self._check()
        for attempt in range(1, _COMMIT_TRIES + 1):
            try:
                async with self._row_lock, pool.connection() as conn:
                    cur = await conn.execute(statement, (*columns, self.worker_id))
                    updated = {int(row[0]) for row in await cur.fetchall()}
                break
            except psycopg.OperationalError:
                if attempt == _COMMIT_TRIES:
                    raise
                await asyncio.sleep(0.2 * attempt)  # the pool replaces the dropped connection
        lost = [r.line for r in rows if r.line not in updated]
        if lost and attempt > 1:
            # A retry after a lost answer: the first try may have committed (and released
            # the rows it finished). Rows already holding what we wrote are not lost.
            updated |= await self._already_written([r for r in rows if r.line in set(lost)])
            lost = [line for line in lost if line not in updated]
        if lost:
            # Our lease on them is gone (we stalled longer than a lease): another worker
            # may be on them. Stop rather than overwrite its progress.
            raise LeaseLostError(
                f"this worker's lease on {len(lost)} resident(s) (line {lost[0]} first) "
                "expired; they are left to the worker that holds them now"
            )
        for line in updated:
            self._claimed.pop(line, None)

    async def _already_written(self, rows: list[ResidentRecord]) -> set[int]:
        async with self._check().connection() as conn:
            cur = await conn.execute(
                self._q(
                    "SELECT line, state, create_attempts, lease_owner FROM {}.residents "
                    "WHERE line = ANY(%s)"
                ),
                ([r.line for r in rows],),
            )
            found = {int(row[0]): row[1:] for row in await cur.fetchall()}
        done: set[int] = set()
        for r in rows:
            state, attempts, owner = found.get(r.line, (None, None, None))
            if (
                state == r.state.value
                and attempts == r.create_attempts
                and owner
                in (
                    None,
                    self.worker_id,
                )
            ):
                done.add(r.line)
        return done
