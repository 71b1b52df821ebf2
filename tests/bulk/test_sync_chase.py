"""``chase``: unopened invites resent once, within a daily cap, never on a guess."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bulk import MigrationStatus, SQLiteCheckpointStore
from bulk.cli.main import main
from bulk.sync.chase import chase_invites

from .sync_scenario import build_scenario, client_for


async def test_chase_resends_due_invites_once_within_the_daily_cap(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Cap 10 of 16 due; the same day again sends nothing; the next day every due one once."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path)
    before = len(sim.state.outbox)
    state = tmp_path / "chase.sqlite"
    now = sim.clock.now()
    async with client_for(sim) as client:
        async with SQLiteCheckpointStore(state) as store:
            first = await chase_invites(
                client, store, daily_cap=10, history=[scenario.state], now=lambda: now
            )
        assert (first.due, first.resent, first.capped, first.unknown) == (16, 10, 6, 0)
        async with SQLiteCheckpointStore(state) as store:
            again = await chase_invites(
                client, store, daily_cap=10, history=[scenario.state], now=lambda: now
            )
        assert (again.resent, again.capped, again.sent_today_before) == (0, 6, 10)
        today = Counter(m.user_id for m in sim.state.outbox[before:])
        assert set(today.values()) == {1}
        assert set(today) <= scenario.undownloaded
        sim.clock.advance(25 * 3600)
        later = now + dt.timedelta(hours=25)
        async with SQLiteCheckpointStore(state) as store:
            next_day = await chase_invites(
                client, store, daily_cap=100, history=[scenario.state], now=lambda: later
            )
        assert next_day.resent == 16
        assert next_day.summary.status is MigrationStatus.COMPLETED
    every = Counter(m.user_id for m in sim.state.outbox[before:])
    assert set(every) == scenario.undownloaded
    assert sorted(every.values()) == [1] * 6 + [2] * 10  # at most one a day each


async def test_chase_without_history_sends_nothing_and_says_why(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """No history: the 16 unopened invites are 'unknown', none is resent on a guess."""
    sim = await simulator_factory()
    await build_scenario(sim, tmp_path)
    before = len(sim.state.outbox)
    now = sim.clock.now()
    async with client_for(sim) as client, SQLiteCheckpointStore(tmp_path / "c.sqlite") as store:
        result = await chase_invites(client, store, now=lambda: now)
    assert (result.unknown, result.resent, result.due) == (16, 0, 0)
    assert len(sim.state.outbox) == before


@pytest.mark.usefixtures("sim_env")
def test_the_chase_command_reports_what_it_did(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bulk chase`: one line of counts, the reports and exit 0."""
    sim = threaded_simulator()
    code = main(
        [
            "chase",
            "--base-url",
            sim.handle.api_base_url,
            "--state",
            str(tmp_path / "chase.sqlite"),
            "--report-dir",
            str(tmp_path / "r"),
            "--daily-cap",
            "5",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 credentials listed" in out
    assert (tmp_path / "r" / "summary.json").exists()
