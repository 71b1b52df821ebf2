"""Checkpoint stores: what a resume sees, batching, and the crash-safety of the intent."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import queue
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    CheckpointStore,
    MemoryCheckpointStore,
    ResidentRecord,
    ResidentState,
    SQLiteCheckpointStore,
    StateInUseError,
)
from bulk._errors import StoreClosedError

S = ResidentState


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[CheckpointStore]:
    """Each store kind, open."""
    made: CheckpointStore = (
        SQLiteCheckpointStore(tmp_path / "state.sqlite")
        if request.param == "sqlite"
        else MemoryCheckpointStore()
    )
    await made.open()
    yield made
    await made.aclose()


def _rec(line: int, state: ResidentState, **kw: object) -> ResidentRecord:
    return ResidentRecord(line=line, state=state, user_id=f"user-{line}", **kw)  # type: ignore[arg-type]


async def test_resume_view_splits_final_from_open_records(store: CheckpointStore) -> None:
    """Done and failed are skipped; creating, created, deferred are finished; pending is new."""
    await store.write(_rec(1, S.DONE, credential_id="c1", card_number=7))
    await store.write(_rec(2, S.FAILED, reason="bad phone"))
    await store.write(_rec(3, S.CREATING, create_attempts=1))
    await store.write(_rec(4, S.CREATED, credential_id="c4", card_number=9, create_attempts=1))
    await store.write(_rec(5, S.DEFERRED, reason="503", retryable=True, create_attempts=2))
    await store.write(_rec(6, S.PENDING))
    await store.flush()
    view = await store.resume_view()
    assert view.final_lines == frozenset({1, 2})
    assert sorted(view.open_records) == [3, 4, 5]
    assert view.open_records[4].credential_id == "c4"
    assert view.open_records[5].create_attempts == 2


async def test_a_later_write_of_a_line_supersedes_the_earlier(store: CheckpointStore) -> None:
    """The store keeps each resident's latest state, one row per line."""
    await store.write(_rec(1, S.PENDING))
    await store.write_durable(_rec(1, S.CREATING, create_attempts=1))
    await store.write(_rec(1, S.CREATED, credential_id="c1", create_attempts=1))
    await store.write(_rec(1, S.DONE, credential_id="c1", create_attempts=1))
    await store.flush()
    records = [r async for r in store.iter_records()]
    assert [(r.line, r.state) for r in records] == [(1, S.DONE)]
    assert await store.counts() == {S.DONE: 1}


async def test_records_come_back_in_line_order_in_full(store: CheckpointStore) -> None:
    """Reports read every record, in line order, however many there are."""
    for line in reversed(range(1, 4502)):
        await store.write(_rec(line, S.DONE, credential_id=f"c{line}", card_number=line))
    await store.flush()
    lines = [r.line async for r in store.iter_records()]
    assert lines == list(range(1, 4502))


async def test_meta_values_are_kept(store: CheckpointStore) -> None:
    """Run settings live beside the checkpoints."""
    assert await store.get_meta("k") is None
    await store.set_meta("k", "v")
    assert await store.get_meta("k") == "v"


async def test_forget_and_reset_empty_the_store_in_place(store: CheckpointStore) -> None:
    """``forget`` drops chosen lines, ``reset`` every record and setting; the store stays open."""
    for line in (1, 2, 3):
        await store.write(_rec(line, S.DONE))
    await store.set_meta("k", "v")
    await store.forget([2])
    assert [r.line async for r in store.iter_records()] == [1, 3]
    await store.reset()
    assert [r async for r in store.iter_records()] == []
    assert await store.get_meta("k") is None
    await store.write(_rec(4, S.PENDING))
    assert [r.line async for r in store.iter_records()] == [4]


async def test_sqlite_batches_writes_into_few_transactions(tmp_path: Path) -> None:
    """Thousands of events cost a handful of commits, not one each."""
    async with SQLiteCheckpointStore(tmp_path / "s.sqlite", batch_size=500) as store:
        for line in range(1, 2001):
            await store.write(_rec(line, S.PENDING))
        await store.flush()
        assert store.stats.records == 2000
        assert store.stats.commits <= 8


async def test_writes_of_one_loop_turn_reach_the_writer_in_one_handoff(tmp_path: Path) -> None:
    """Records written back to back cross to the writer thread once, in order, all kept."""
    path = tmp_path / "s.sqlite"
    puts: list[str] = []

    class CountingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            puts.append(item[0])
            super().put(item, block, timeout)

    store = SQLiteCheckpointStore(path)
    store._queue = CountingQueue()
    async with store:
        puts.clear()
        for line in range(1, 101):
            await store.write(_rec(line, S.PENDING))
        await store.write(_rec(7, S.DONE, credential_id="c7"))  # a later write wins
        await store.write_durable(_rec(101, S.CREATING, create_attempts=1))
        assert puts == ["writes", "durable"]
    async with SQLiteCheckpointStore(path) as store:
        view = await store.resume_view()
        assert view.final_lines == {7}
        assert set(view.open_records) == {101}
        assert len([r async for r in store.iter_records()]) == 101


async def test_writes_over_many_loop_turns_cross_once_per_batch(tmp_path: Path) -> None:
    """Writes spread over loop turns reach the writer once the batch is due, not per turn."""
    puts: list[tuple[str, int]] = []

    class CountingQueue(queue.SimpleQueue):  # type: ignore[type-arg]
        def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
            puts.append((item[0], len(item[1]) if item[0] == "writes" else 0))
            super().put(item, block, timeout)

    store = SQLiteCheckpointStore(tmp_path / "s.sqlite", batch_size=50, batch_interval=3600)
    store._queue = CountingQueue()
    async with store:
        puts.clear()
        for line in range(1, 121):
            await store.write(_rec(line, S.PENDING))
            await asyncio.sleep(0)  # another turn of the loop
        assert puts == [("writes", 50), ("writes", 50)]  # the size made them due
        await store.flush()
        assert puts[2:] == [("writes", 20), ("flush", 0)]
        assert store.stats.records == 120


@pytest.mark.parametrize("one_statement", [True, False], ids=["json", "executemany"])
async def test_a_commit_keeps_every_field_exactly(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, one_statement: bool
) -> None:
    """A batch committed in one JSON statement (or row by row without JSON1) reads back as
    written: None, numbers, flags and any text (quotes, non-ASCII) unchanged."""
    import bulk.store.sqlite as sqlite_store

    monkeypatch.setattr(sqlite_store, "has_json", lambda conn: one_statement)
    path = tmp_path / "s.sqlite"
    written = [
        _rec(1, S.DONE, credential_id="c1", card_number=2**40, create_attempts=3),
        _rec(2, S.FAILED, reason='bad "phone" \\ é ✓ \n next'),
        _rec(3, S.DEFERRED, reason="503", retryable=True, row_hash="ab" * 16),
        ResidentRecord(line=4, state=S.PENDING),
    ]
    async with SQLiteCheckpointStore(path) as store:
        for record in written:
            await store.write(record)
    async with SQLiteCheckpointStore(path) as store:
        assert [r async for r in store.iter_records()] == written


async def test_concurrent_durable_intents_share_commits(tmp_path: Path) -> None:
    """Intents written together by many workers are group-committed."""
    async with SQLiteCheckpointStore(tmp_path / "s.sqlite") as store:
        await asyncio.gather(
            *(store.write_durable(_rec(n, S.CREATING, create_attempts=1)) for n in range(1, 201))
        )
        assert store.stats.records == 200
        assert store.stats.commits < 200
        view = await store.resume_view()
        assert len(view.open_records) == 200


async def test_sqlite_uses_wal_and_keeps_records_across_reopen(tmp_path: Path) -> None:
    """Closing flushes; a new run reads what the last one wrote."""
    path = tmp_path / "s.sqlite"
    async with SQLiteCheckpointStore(path) as store:
        await store.write(_rec(1, S.DONE, credential_id="c1", card_number=5))
    with contextlib.closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    async with SQLiteCheckpointStore(path) as store:
        assert (await store.resume_view()).final_lines == {1}


async def test_a_second_run_on_the_same_state_file_is_refused(tmp_path: Path) -> None:
    """Two migrations never interleave on one checkpoint."""
    path = tmp_path / "s.sqlite"
    async with SQLiteCheckpointStore(path):
        with pytest.raises(StateInUseError, match="in use by another run"):
            await SQLiteCheckpointStore(path).open()


async def test_a_closed_store_refuses_writes(tmp_path: Path) -> None:
    """Using a store after aclose() is a clear error, not a silent loss."""
    store = SQLiteCheckpointStore(tmp_path / "s.sqlite")
    await store.open()
    await store.aclose()
    with pytest.raises(StoreClosedError):
        await store.write(_rec(1, S.PENDING))


_CRASH_SCRIPT = textwrap.dedent(
    """
    import asyncio, os, signal, sys
    from bulk import ResidentRecord, ResidentState, SQLiteCheckpointStore

    async def main() -> None:
        store = SQLiteCheckpointStore(sys.argv[1], batch_interval=3600, batch_size=10**6)
        await store.open()
        for line in range(1, 51):  # batched, never flushed: may be lost in a crash
            await store.write(ResidentRecord(line=line, state=ResidentState.PENDING))
        await store.write_durable(
            ResidentRecord(line=7, state=ResidentState.CREATING, user_id="u7", create_attempts=1)
        )
        await store.write(ResidentRecord(line=99, state=ResidentState.PENDING))
        os.kill(os.getpid(), signal.SIGKILL)  # the create would leave now

    asyncio.run(main())
    """
)


@pytest.mark.slow
async def test_the_creating_intent_survives_a_kill_right_after_it_returns(tmp_path: Path) -> None:
    """Once write_durable returns, a SIGKILL cannot lose the intent (or what came before)."""
    path = tmp_path / "s.sqlite"
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", _CRASH_SCRIPT, str(path)], check=False
    )
    assert proc.returncode == -9
    async with SQLiteCheckpointStore(path) as store:
        view = await store.resume_view()
        counts = await store.counts()
    assert view.open_records[7].state is S.CREATING
    assert view.open_records[7].create_attempts == 1
    assert counts[S.PENDING] == 49  # the batched writes queued before the intent went with it


def _kinds() -> list[Callable[[Path], CheckpointStore]]:
    return [lambda p: SQLiteCheckpointStore(p / "x.sqlite"), lambda p: MemoryCheckpointStore()]


@pytest.mark.parametrize("make", _kinds(), ids=["sqlite", "memory"])
def test_both_stores_satisfy_the_protocol(
    make: Callable[[Path], CheckpointStore], tmp_path: Path
) -> None:
    """The engine accepts either (PostgreSQL comes later behind the same Protocol)."""
    assert isinstance(make(tmp_path), CheckpointStore)


def test_evolve_changes_only_what_it_is_told_and_refuses_unknown_fields() -> None:
    """A copy with the changes, every other field kept; a misspelt field is an error."""
    record = _rec(3, S.CREATING, create_attempts=2, reason="r")
    done = record.evolve(state=S.DONE, credential_id="c", reason=None)
    assert (done.line, done.user_id, done.create_attempts) == (3, "user-3", 2)
    assert (done.state, done.credential_id, done.reason) == (S.DONE, "c", None)
    assert record.state is S.CREATING  # the original is untouched
    with pytest.raises(TypeError):
        record.evolve(stat=S.DONE)


def test_evolve_is_dataclasses_replace_field_by_field() -> None:
    """Each field changed alone lands in its own slot: the copy equals (and hashes as)
    what ``dataclasses.replace`` makes, and stays frozen."""
    record = ResidentRecord(
        line=1, state=S.CREATED, user_id="u", credential_id="c", card_number=5,
        reason="r", retryable=True, create_attempts=2, row_hash="h",
    )  # fmt: skip
    changed: dict[str, object] = {
        "line": 9, "state": S.DONE, "user_id": "v", "credential_id": "d", "card_number": 6,
        "reason": None, "retryable": False, "create_attempts": 3, "row_hash": "g",
    }  # fmt: skip
    assert set(changed) == {f.name for f in dataclasses.fields(ResidentRecord)}
    for name, value in changed.items():
        copy = record.evolve(**{name: value})
        assert copy == dataclasses.replace(record, **{name: value}), name
        assert hash(copy) == hash(dataclasses.replace(record, **{name: value}))
    with pytest.raises(dataclasses.FrozenInstanceError):
        copy.line = 2  # type: ignore[misc]
