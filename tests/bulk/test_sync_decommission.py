"""``decommission``: every payload of a lock deleted once, reported per lock; plan sees it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulk import SQLiteCheckpointStore
from bulk.cli.main import main
from bulk.sync.decommission import decommission_locks
from bulk.sync.plan import plan_sync
from bulk.sync.plan_file import SyncAction, iter_plan_steps

from .sync_scenario import build_scenario, client_for


async def test_decommission_deletes_each_lock_once_and_the_plan_saves_doors_again(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Two locks emptied, an unknown one 'none_held'; a rerun sends nothing; plan re-saves."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=200)
    held: dict[str, set[str]] = {}
    for credential in sim.state.credentials.values():
        for serial in credential.payloads:
            held.setdefault(serial, set()).add(credential.user_id)
    serials = sorted(held, key=lambda s: (-len(held[s]), s))[:2]
    state = tmp_path / "decommission.sqlite"
    async with client_for(sim) as client:
        async with SQLiteCheckpointStore(state) as store:
            result = await decommission_locks(client, [*serials, "NO-SUCH-LOCK"], store)
        assert [x.outcome for x in result.locks] == ["deleted", "deleted", "none_held"]
        assert result.complete
        assert not any(
            serial in c.payloads for c in sim.state.credentials.values() for serial in serials
        )
        calls = result.calls
        async with SQLiteCheckpointStore(state) as store:
            again = await decommission_locks(client, [*serials, "NO-SUCH-LOCK"], store)
        assert calls == 3
        assert again.calls == 0
        assert not any(x.this_run for x in again.locks)
        plan = await plan_sync(
            client,
            scenario.portfolio,
            out=tmp_path / "p.plan.jsonl",
            history=[scenario.state, state],
            now=sim.clock.now(),
        )
    resaved = {
        s.user_id
        for s in iter_plan_steps(plan.path)
        if s.action is SyncAction.SAVE_PAYLOADS and "decommissioned" in s.reason
    }
    assert resaved == set().union(*(held[s] for s in serials))


@pytest.mark.usefixtures("sim_env")
def test_the_decommission_command_prints_one_row_per_lock(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bulk decommission --serial SN`: a table per lock and locks.csv."""
    sim = threaded_simulator()
    code = main(
        [
            "decommission",
            "--serial",
            "SN-GONE",
            "--base-url",
            sim.handle.api_base_url,
            "--state",
            str(tmp_path / "d.sqlite"),
            "--report-dir",
            str(tmp_path / "r"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 0, out
    assert "SN-GONE" in out
    assert "none_held" in (tmp_path / "r" / "locks.csv").read_text()
