"""A checkpoint is bound to its service and to each row's content (issue 9, items 1, 4-6)."""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    InputError,
    InputMismatchError,
    MemoryCheckpointStore,
    ResidentRecord,
    ResidentState,
    ServiceIdentity,
    SQLiteCheckpointStore,
    StateFileError,
    bind_input,
    generate_portfolio,
    read_input,
    verify_against_state,
)
from bulk._binding import default_state_path
from bulk._input import row_digest
from bulk.cli.main import main

S = ResidentState
PROD = ServiceIdentity.of("https://prod.example.com/api/", "ops@example.com")
TEST = ServiceIdentity.of("https://test.example.com/api", "ops@example.com")


def _migrate(base_url: str, path: Path, tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "migrate",
            str(path),
            "--base-url",
            base_url,
            "--rate",
            "0",
            "--progress",
            "none",
            *extra,
        ]
    )


def _held(sim: Any) -> dict[str, Any]:
    state: dict[str, Any] = sim.call(lambda: sim.handle.state.snapshot())
    return state


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open() as handle:
        return list(csv.DictReader(handle))


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


async def _record_done(store: Any, path: Path, lines: range) -> None:
    """Record ``lines`` of ``path`` as done, as an earlier run would have."""
    for row in read_input(path):
        if row.line in lines:
            await store.write(
                ResidentRecord(
                    line=row.line,
                    state=S.DONE,
                    user_id=getattr(row, "user_id", None),
                    credential_id=f"c{row.line}",
                    create_attempts=1,
                    row_hash=row.row_hash,
                )
            )


# --- item 1: the service --------------------------------------------------------------


def test_the_identity_normalizes_the_url_and_names_no_secret() -> None:
    """Case of scheme and host and a final slash do not make another service."""
    same = ServiceIdentity.of("HTTPS://Prod.Example.com/api", "ops@example.com")
    assert same == PROD
    assert PROD.base_url == "https://prod.example.com/api"
    assert "ops@example.com" in PROD.describe()


def test_the_default_state_file_depends_on_the_service_and_the_account(tmp_path: Path) -> None:
    """Another URL or another user name: another default state file, beside the input."""
    path = tmp_path / "residents.jsonl"
    prod, test = default_state_path(path, PROD), default_state_path(path, TEST)
    other_user = default_state_path(path, ServiceIdentity.of(PROD.base_url, "other@example.com"))
    assert len({prod, test, other_user}) == 3
    assert prod.parent == tmp_path
    assert prod.name.startswith("residents.jsonl.prod.example.com-")
    assert prod.name.endswith(".state.sqlite")


async def test_a_store_bound_to_one_service_refuses_another(tmp_path: Path) -> None:
    """Resuming a test run's checkpoint against production is refused, naming both."""
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=1).path
    store = MemoryCheckpointStore()
    scan = await bind_input(store, path, service=TEST)
    assert (scan.rows, scan.resumed) == (5, False)
    assert (await bind_input(store, path, service=TEST)).resumed
    with pytest.raises(InputMismatchError, match=r"test\.example\.com.*prod\.example\.com"):
        await bind_input(store, path, service=PROD)
    other_user = ServiceIdentity.of(TEST.base_url, "someone@example.com")
    with pytest.raises(InputMismatchError, match=r"someone@example\.com"):
        await bind_input(store, path, service=other_user)
    assert not (await bind_input(store, path, service=PROD, restart=True)).resumed


@pytest.mark.usefixtures("sim_env")
def test_a_second_service_gets_every_resident_not_a_completed_nothing(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Test run, then the same command against production: production holds everyone."""
    test_sim, prod_sim = threaded_simulator(), threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 40, seed=3).path
    assert _migrate(test_sim.handle.api_base_url, path, tmp_path) == 0
    assert _migrate(prod_sim.handle.api_base_url, path, tmp_path) == 0
    capsys.readouterr()
    for sim in (test_sim, prod_sim):
        verification = verify_against_state(read_input(path), _held(sim))  # type: ignore[arg-type]
        assert verification.ok, str(verification)
    # One --state for both: refused with both services named, nothing sent.
    shared = tmp_path / "shared.sqlite"
    assert _migrate(test_sim.handle.api_base_url, path, tmp_path, "--state", str(shared)) == 0
    before = _held(prod_sim)["counters"]["requests"]
    assert _migrate(prod_sim.handle.api_base_url, path, tmp_path, "--state", str(shared)) == 2
    err = capsys.readouterr().err
    assert test_sim.handle.api_base_url.lower() in err
    assert prod_sim.handle.api_base_url.lower() in err
    assert _held(prod_sim)["counters"]["requests"] == before


# --- item 4: rows by content ----------------------------------------------------------


async def test_same_size_edits_past_64_kib_are_refused_with_their_lines(tmp_path: Path) -> None:
    """A done line swapped with an unstarted one far into the file: refused, line named."""
    path = generate_portfolio(tmp_path / "p.jsonl", 400, seed=5).path
    assert path.stat().st_size > 64 * 1024 + 4096
    async with SQLiteCheckpointStore(tmp_path / "s.sqlite") as store:
        await bind_input(store, path, service=PROD)
        await _record_done(store, path, range(1, 301))  # stopped after 300 of 400
        lines = _lines(path)
        lines[289], lines[389] = lines[389], lines[289]  # done line 290 <-> unstarted 390
        path.write_text("\n".join(lines) + "\n")
        with pytest.raises(InputMismatchError, match=r"line\(s\) 290 now hold") as caught:
            await bind_input(store, path, service=PROD)
        assert caught.value.lines == (290,)


async def test_a_replaced_done_resident_is_refused(tmp_path: Path) -> None:
    """A done resident replaced by a new one (same size or not) is refused, not skipped."""
    path = generate_portfolio(tmp_path / "p.jsonl", 30, seed=6).path
    store = MemoryCheckpointStore()
    await bind_input(store, path, service=PROD)
    await _record_done(store, path, range(1, 31))
    lines = _lines(path)
    lines[9] = _lines(generate_portfolio(tmp_path / "q.jsonl", 30, seed=7).path)[9]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(InputMismatchError) as caught:
        await bind_input(store, path, service=PROD)
    assert caught.value.lines == (10,)


async def test_appended_rows_and_a_moved_file_resume(tmp_path: Path) -> None:
    """Rows appended are new work; the same rows under another path resume as they are."""
    path = generate_portfolio(tmp_path / "p.jsonl", 20, seed=8).path
    store = MemoryCheckpointStore()
    await bind_input(store, path, service=PROD)
    await _record_done(store, path, range(1, 21))
    more = _lines(generate_portfolio(tmp_path / "more.jsonl", 25, seed=8).path)[20:]
    moved = tmp_path / "elsewhere" / "renamed.jsonl"
    moved.parent.mkdir()
    moved.write_text("\n".join([*_lines(path), *more]) + "\n")
    scan = await bind_input(store, moved, service=PROD)
    assert (scan.resumed, scan.rows, scan.forgotten) == (True, 25, 0)


async def test_a_fixed_rejected_row_is_read_again_as_new_work(tmp_path: Path) -> None:
    """A row that failed before any call and was then fixed is forgotten, not refused."""
    path = tmp_path / "p.jsonl"
    good = _lines(generate_portfolio(tmp_path / "g.jsonl", 3, seed=9).path)
    path.write_text("\n".join([good[0], '{"userId": "x"}', good[2]]) + "\n")
    store = MemoryCheckpointStore()
    await bind_input(store, path, service=PROD)
    await store.write(
        ResidentRecord(line=2, state=S.FAILED, reason="bad", row_hash=row_digest('{"userId": "x"}'))
    )
    path.write_text("\n".join(good) + "\n")
    scan = await bind_input(store, path, service=PROD)
    assert scan.forgotten == 1
    assert store.get(2) is None


@pytest.mark.usefixtures("sim_env")
def test_appending_rows_costs_no_restart_and_no_409(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Migrate 30, append 10, rerun: exit 0, only the 10 new ones are sent."""
    sim = threaded_simulator()
    full = generate_portfolio(tmp_path / "full.jsonl", 40, seed=10).path
    path = tmp_path / "p.jsonl"
    path.write_text("\n".join(_lines(full)[:30]) + "\n")
    assert _migrate(sim.handle.api_base_url, path, tmp_path) == 0
    shutil.copy(full, path)
    assert _migrate(sim.handle.api_base_url, path, tmp_path) == 0
    out = capsys.readouterr().out
    assert "10 succeeded" in out
    assert "30 skipped (done before)" in out
    requests = _held(sim)["counters"]["requests"]
    assert not any("409" in by_status for by_status in requests.values())
    verification = verify_against_state(read_input(path), _held(sim))  # type: ignore[arg-type]
    assert verification.ok, str(verification)


# --- item 5: piped input ----------------------------------------------------------------


def test_a_pipe_is_refused_with_one_clear_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FIFO (what ``/dev/stdin`` is under ``cat |``) is refused: never "completed, 0 rows"."""
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    for name in ("SCHLAGE_USERNAME", "SCHLAGE_PASSWORD", "SCHLAGE_SUBSCRIPTION_KEY"):
        monkeypatch.setenv(name, "x-value")
    assert _migrate("https://example.com", fifo, tmp_path) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "is not a regular file" in err
    assert not list(tmp_path.glob("*.state.sqlite"))


async def test_bind_refuses_a_pipe(tmp_path: Path) -> None:
    """The library refuses it too (InputError), before touching the store."""
    fifo = tmp_path / "in.jsonl"
    os.mkfifo(fifo)
    store = MemoryCheckpointStore()
    with pytest.raises(InputError, match="not a regular file"):
        await bind_input(store, fifo, service=PROD)
    assert await store.get_meta("binding") is None


# --- item 6: --restart never deletes what is not ours ------------------------------------


@pytest.mark.usefixtures("sim_env")
def test_restart_with_the_input_as_state_leaves_the_input_alone(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``--state <the input> --restart``: exit 2, the input byte for byte as it was."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=11).path
    before = path.read_bytes()
    code = _migrate(sim.handle.api_base_url, path, tmp_path, "--state", str(path), "--restart")
    assert code == 2
    assert "not a checkpoint of schlage-bulk" in capsys.readouterr().err
    assert path.read_bytes() == before
    assert _held(sim)["counters"]["requests"] == {}


async def test_a_foreign_sqlite_database_is_refused_untouched(tmp_path: Path) -> None:
    """An SQLite file with other tables is not taken for a checkpoint."""
    import sqlite3

    other = tmp_path / "app.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE users (name TEXT)")
    before = other.read_bytes()
    with pytest.raises(StateFileError, match="not a checkpoint"):
        await SQLiteCheckpointStore(other).open()
    assert other.read_bytes() == before


@pytest.mark.usefixtures("sim_env")
def test_restart_never_takes_a_state_file_another_run_holds(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """While a run holds the state file, ``--restart`` is refused and the file kept."""
    import asyncio

    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 8, seed=12).path
    state = tmp_path / "s.sqlite"
    assert _migrate(sim.handle.api_base_url, path, tmp_path, "--state", str(state)) == 0
    capsys.readouterr()

    async def hold_and_restart() -> int:
        async with SQLiteCheckpointStore(state) as store:  # "another run"
            url = sim.handle.api_base_url
            code = await asyncio.to_thread(
                _migrate, url, path, tmp_path, "--state", str(state), "--restart"
            )
            assert len([r async for r in store.iter_records()]) == 8
            return code

    assert asyncio.run(hold_and_restart()) == 2
    assert "in use by another run" in capsys.readouterr().err
    summary = json.loads((tmp_path / "s.reports" / "summary.json").read_text())
    assert summary["counts"]["succeeded"] == 8
    assert len(_csv(tmp_path / "s.reports" / "succeeded.csv")) == 8
