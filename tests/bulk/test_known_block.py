"""A rerun before a known account block ends sends nothing and exits 75, unless --force."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    ServiceIdentity,
    SQLiteCheckpointStore,
    generate_portfolio,
    read_input,
    verify_against_state,
)
from bulk._binding import default_state_path
from bulk._block import BLOCK_KEY, known_block
from bulk.cli.main import main
from schlage_async.simulator import FaultSpec


def _migrate(sim: Any, path: Path, tmp_path: Path, *extra: str) -> int:
    return main(
        [
            "migrate", str(path), "--base-url", sim.handle.api_base_url, "--rate", "0",
            "--report-dir", str(tmp_path / "reports"), "--progress", "none", *extra,
        ]
    )  # fmt: skip


def _state(sim: Any, path: Path) -> Path:
    """The default state file of ``path`` against ``sim`` (it is per service and account)."""
    service = ServiceIdentity.of(sim.handle.api_base_url, os.environ["SCHLAGE_USERNAME"])
    return default_state_path(path, service)


def _requests(sim: Any) -> int:
    """Requests the simulator answered so far (logins included)."""
    counters = sim.call(lambda: sim.handle.state.snapshot()["counters"])
    by_status = counters["requests"].values()
    return sum(counters["logins"].values()) + sum(sum(s.values()) for s in by_status)


def _remember(state: Path, resume_at: dt.datetime) -> None:
    """Write a known block into a (new) state file, as a blocked run leaves it."""

    async def write() -> None:
        async with SQLiteCheckpointStore(state) as store:
            detail = "AccountBlockedError: HTTP 429"
            value = {"resume_at": resume_at.isoformat(), "detail": detail}
            await store.set_meta(BLOCK_KEY, json.dumps(value))

    asyncio.run(write())


@pytest.mark.usefixtures("sim_env")
def test_a_rerun_during_a_known_block_sends_nothing(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 75 with no request: when to come back, the command, Allegion support, --force."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=1).path
    until = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=14)
    _remember(_state(sim, path), until)
    assert _migrate(sim, path, tmp_path) == 75
    assert _migrate(sim, path, tmp_path, "--restart") == 75  # a restart is no way around it
    assert _requests(sim) == 0
    err = capsys.readouterr().err
    assert f"blocked this account until {until:%Y-%m-%d %H:%M:%S} UTC" in err
    assert "Nothing was sent" in err
    assert "contact their assigned Allegion support engineer" in err
    assert f"python -m bulk migrate {path}" in err
    assert "--force" in err
    assert not (tmp_path / "reports").exists()


@pytest.mark.usefixtures("sim_env")
def test_force_or_an_ended_block_sends(threaded_simulator: Any, tmp_path: Path) -> None:
    """--force sends during the block; after the block a plain rerun does and forgets it."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 5, seed=1).path
    state = _state(sim, path)
    _remember(state, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert _migrate(sim, path, tmp_path, "--force") == 0
    assert _requests(sim) > 0
    assert known_block(state, dt.datetime.now(dt.UTC)) is None  # a clean run forgets it
    other = generate_portfolio(tmp_path / "q.jsonl", 5, seed=2).path
    _remember(_state(sim, other), dt.datetime.now(dt.UTC) - dt.timedelta(1))
    assert _migrate(sim, other, tmp_path / "q") == 0


@pytest.mark.usefixtures("sim_env")
def test_a_block_the_service_announces_is_remembered(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Blocked mid-run: exit 75 naming Allegion support; the rerun sends nothing until then."""
    sim = threaded_simulator(faults=FaultSpec.parse("block_after=12,block_seconds=900"))
    path = generate_portfolio(tmp_path / "p.jsonl", 40, seed=9).path
    assert _migrate(sim, path, tmp_path, "--concurrency", "2") == 75
    err = capsys.readouterr().err
    assert "Stopped resumably (AccountBlockedError" in err
    assert "Allegion support engineer" in err
    block = known_block(_state(sim, path), dt.datetime.now(dt.UTC))
    assert block is not None
    assert block.resume_at > dt.datetime.now(dt.UTC) + dt.timedelta(minutes=10)
    sent = _requests(sim)
    assert _migrate(sim, path, tmp_path) == 75
    assert _requests(sim) == sent

    request = urllib.request.Request(  # noqa: S310  # the loopback simulator
        sim.handle.url + "/_sim/clock",
        data=json.dumps({"advanceSeconds": 901}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310  # loopback
        assert answer.status == 200
    # The simulator's clock moved past the block, the wall clock did not: --force.
    assert _migrate(sim, path, tmp_path, "--force") == 0
    state = sim.call(lambda: sim.handle.state.snapshot())
    assert verify_against_state(read_input(path), state).ok  # type: ignore[arg-type]
