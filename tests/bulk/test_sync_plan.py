"""``plan``: a migrated portfolio against an export that moved on, counted exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulk import generate_portfolio
from bulk.cli.main import main
from bulk.sync.plan import plan_sync
from bulk.sync.plan_file import SyncAction, iter_plan_steps, read_plan_header

from .sync_scenario import build_scenario, client_for


@pytest.mark.slow
async def test_plan_counts_each_change_of_the_export_exactly(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """3 % moved out, 2 % new, 1 % numbers, 5 % doors, 4 % unopened invites: each counted."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path)
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
    counts = plan.header.counts
    assert counts[SyncAction.DELETE] == len(scenario.moved_out) == 12
    assert counts[SyncAction.CREATE] == len(scenario.new) == 8
    assert counts[SyncAction.REPLACE] == len(scenario.changed_numbers) == 4
    assert counts[SyncAction.SAVE_PAYLOADS] == len(scenario.changed_doors) == 20
    assert counts[SyncAction.RESEND] == len(scenario.undownloaded) == 16
    assert counts[SyncAction.UNKNOWN] == counts[SyncAction.REJECTED] == 0
    assert counts["equal"] == scenario.equal
    steps = list(iter_plan_steps(plan.path))
    by_action: dict[SyncAction, set[str]] = {}
    for step in steps:
        by_action.setdefault(step.action, set()).add(step.user_id or "")
    assert by_action[SyncAction.DELETE] == scenario.moved_out
    assert by_action[SyncAction.CREATE] == scenario.new
    assert by_action[SyncAction.REPLACE] == scenario.changed_numbers
    assert by_action[SyncAction.SAVE_PAYLOADS] == scenario.changed_doors
    assert by_action[SyncAction.RESEND] == scenario.undownloaded
    assert read_plan_header(plan.path).service.total == 400
    assert plan.path == scenario.export.with_name("export.jsonl.plan.jsonl")
    text = plan.path.read_text()
    for number in (c.mobile_number for c in sim.state.credentials.values()):
        assert number not in text  # only masked numbers in a plan


async def test_without_history_the_plan_says_what_it_cannot_know(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """No --history: unopened invites and stored payloads are 'unknown', never resent or saved."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path)
    async with client_for(sim) as client:
        plan = await plan_sync(client, scenario.export, now=sim.clock.now())
    counts = plan.header.counts
    assert counts[SyncAction.RESEND] == 0
    unknown = [s for s in iter_plan_steps(plan.path) if s.action is SyncAction.UNKNOWN]
    invites = {s.user_id for s in unknown if "resent" in s.reason}
    assert invites == scenario.undownloaded
    assert all("history" in s.reason for s in unknown)
    assert counts[SyncAction.DELETE] == 12
    assert counts[SyncAction.CREATE] == 8


@pytest.mark.usefixtures("sim_env")
def test_the_plan_command_prints_a_table_and_writes_the_plan(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`python -m bulk plan INPUT --history STATE`: counts per action on the terminal."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 60, seed=4).path
    base = ["--base-url", sim.handle.api_base_url]
    assert (
        main(
            [
                "migrate",
                str(path),
                *base,
                "--rate",
                "0",
                "--progress",
                "none",
                "--report-dir",
                str(tmp_path / "r"),
            ]
        )
        == 0
    )
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:-3]) + "\n")  # three residents moved out
    capsys.readouterr()
    out_plan = tmp_path / "sync.plan.jsonl"
    code = main(
        [
            "plan",
            str(path),
            *base,
            "--out",
            str(out_plan),
            "--history",
            str(next(tmp_path.glob("p.jsonl.*.state.sqlite"))),  # per service
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert read_plan_header(out_plan).counts["delete"] == 3
    assert "orphans" in printed
    assert "57" in printed  # equal
    assert main(["plan", str(tmp_path / "missing.jsonl"), *base]) == 2
