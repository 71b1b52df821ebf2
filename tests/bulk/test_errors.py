"""``bulk``'s one error tree: a base class, the store's errors wrapped, no CLI words."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import bulk
from bulk import (
    BulkError,
    InputError,
    InputMismatchError,
    MigrationOptions,
    MigrationOptionsError,
    ResidentRecord,
    ResidentState,
    SQLiteCheckpointStore,
    StateInUseError,
    StoreError,
    dry_run,
)
from bulk._errors import StoreClosedError
from bulk._input import check_input


@pytest.mark.parametrize(
    "error",
    [
        InputError,
        InputMismatchError,
        StoreError,
        StoreClosedError,
        StateInUseError,
        MigrationOptionsError,
    ],
)
def test_every_bulk_error_derives_from_bulk_error(error: type[Exception]) -> None:
    """A service catches the engine's own errors with one ``except BulkError``."""
    assert issubclass(error, BulkError)


def test_the_store_errors_keep_their_builtin_bases() -> None:
    """Code that caught ``RuntimeError``/``ValueError`` before still does (httpx's way)."""
    assert issubclass(StoreClosedError, StoreError)
    assert issubclass(StoreClosedError, RuntimeError)
    assert issubclass(StateInUseError, StoreError)
    assert issubclass(MigrationOptionsError, ValueError)


async def test_a_state_file_sqlite_cannot_open_is_a_store_error(tmp_path: Path) -> None:
    """Garbage where the state file should be: StoreError, the sqlite3 error as its cause."""
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"this is not a database, just bytes " * 200)
    store = SQLiteCheckpointStore(path)
    with pytest.raises(StoreError) as caught:
        await store.open()
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    assert str(path) in str(caught.value)


async def test_a_failed_commit_is_a_store_error_and_breaks_the_store(tmp_path: Path) -> None:
    """A commit that fails surfaces as StoreError, later calls as StoreClosedError."""
    store = SQLiteCheckpointStore(tmp_path / "state.sqlite")
    await store.open()

    def break_table(conn: sqlite3.Connection) -> None:
        conn.execute("DROP TABLE residents")

    await store._call(break_table)  # the writer's own connection: the next commit fails
    with pytest.raises(StoreError) as caught:
        await store.write_durable(ResidentRecord(line=1, state=ResidentState.PENDING))
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    with pytest.raises(StoreClosedError):
        await store.write(ResidentRecord(line=2, state=ResidentState.PENDING))
    with pytest.raises(StoreError):  # closing says so too, and still ends the writer
        await store.aclose()
    with pytest.raises(StoreClosedError, match="not open"):
        await store.get_meta("k")


async def test_options_that_cannot_make_a_run_are_refused_before_anything_starts() -> None:
    """No workers: MigrationOptionsError (a ValueError), before any row is read."""
    with pytest.raises(MigrationOptionsError, match="concurrency"):
        await dry_run([], options=MigrationOptions(concurrency=0))


def test_missing_input_is_an_input_error(tmp_path: Path) -> None:
    """A missing input raises the engine's InputError, not an OSError."""
    with pytest.raises(InputError, match="does not exist"):
        check_input(tmp_path / "nope.jsonl")


def test_library_messages_hold_no_command_line_flags() -> None:
    """Flag advice ("pass --restart") lives in the command line, not in ``bulk``'s code."""
    package = Path(bulk.__file__).parent
    checked = 0
    for path in package.rglob("*.py"):
        if path.parent.name == "cli" or path.name == "__main__.py":
            continue
        checked += 1
        text = path.read_text(encoding="utf-8")
        assert "pass --restart" not in text, path.name
        assert "EXIT_" not in text, path.name
    assert checked > 30  # the library's modules, in every package but cli/
