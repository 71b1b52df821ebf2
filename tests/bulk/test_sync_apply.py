"""``apply``: the plan executed exactly once, its rails, and a stale plan refused."""

from __future__ import annotations

import asyncio
import csv
import os
import signal
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    MigrationStatus,
    SQLiteCheckpointStore,
    generate_portfolio,
    read_input,
    verify_against_state,
)
from bulk.cli.main import main
from bulk.sync.apply import ApplyOptions, apply_plan
from bulk.sync.plan import plan_sync
from bulk.sync.plan_file import PlanError
from schlage_async.simulator import SimulatorHandle

from .sync_scenario import Scenario, build_scenario, client_for


def _resent(sim: SimulatorHandle, since: int) -> Counter[str]:
    """Invites sent after the first ``since`` messages, by user id."""
    return Counter(m.user_id for m in sim.state.outbox[since:])


def assert_service_equals_export(sim: SimulatorHandle, scenario: Scenario) -> None:
    """One active credential per export resident with its number and payloads; no other."""
    check = verify_against_state(read_input(scenario.export), sim.state.snapshot())
    assert check.matched == check.expected, str(check)
    assert check.unexpected == 0
    assert set(check.duplicated) == scenario.changed_numbers  # deleted, then created


async def test_apply_leaves_the_service_equal_to_the_export(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Deletes, creates, replaces, saves and resends: the service ends as the export says."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path)
    sent_before = len(sim.state.outbox)
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
        async with SQLiteCheckpointStore(tmp_path / "apply.sqlite") as store:
            summary = await apply_plan(
                client, plan.path, store, options=ApplyOptions(allow_delete=True)
            )
    assert summary.status is MigrationStatus.COMPLETED, summary
    assert summary.succeeded == 12 + 8 + 4 + 20 + 16
    assert_service_equals_export(sim, scenario)
    sent = _resent(sim, sent_before)
    expected = scenario.undownloaded | scenario.new | scenario.changed_numbers
    assert set(sent) == expected
    assert set(sent.values()) == {1}


async def test_the_rails_refuse_deletes_without_allow_and_a_halved_export(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """No --allow-delete: refused; an export cut in half: refused by the 5 % rail."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path)
    lines = scenario.export.read_text().splitlines()
    half = tmp_path / "half.jsonl"
    half.write_text("\n".join(lines[: len(lines) // 2]) + "\n")
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
        halved = await plan_sync(client, half, history=[scenario.state], now=sim.clock.now())
        requests = sim.state.counters.as_json()["requests"]
        async with SQLiteCheckpointStore(tmp_path / "a.sqlite") as store:
            with pytest.raises(PlanError, match="--allow-delete"):
                await apply_plan(client, plan.path, store)
            with pytest.raises(PlanError, match="truncated export"):
                await apply_plan(
                    client, halved.path, store, options=ApplyOptions(allow_delete=True)
                )
        assert sim.state.counters.as_json()["requests"] == requests  # not a call made
        async with SQLiteCheckpointStore(tmp_path / "b.sqlite") as store:
            summary = await apply_plan(
                client,
                halved.path,
                store,
                options=ApplyOptions(allow_delete=True, max_delete_fraction=0.6, dry_run=True),
            )
    assert summary.status is MigrationStatus.DRY_RUN


async def test_a_stale_plan_is_refused_before_any_change(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """A credential created after the plan: apply refuses with 'plan again', changes nothing."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path, size=200)
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
        await client.create_credential(
            user_id="0b9a3a6e-9d7c-4c52-8f1e-2f4a1b6c7d8e",
            mobile_number="+12025550143",
            card_format="26A",
            facility_code=1,
        )
        active = len([c for c in sim.state.credentials.values() if not c.deleted])
        async with SQLiteCheckpointStore(tmp_path / "a.sqlite") as store:
            with pytest.raises(PlanError, match="stale"):
                await apply_plan(client, plan.path, store, options=ApplyOptions(allow_delete=True))
    assert len([c for c in sim.state.credentials.values() if not c.deleted]) == active


def _apply_command(plan: Path, sim: SimulatorHandle, tmp_path: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "bulk",
        "apply",
        str(plan),
        "--base-url",
        sim.api_base_url,
        "--allow-delete",
        "--rate",
        "25",
        "--concurrency",
        "4",
        "--progress",
        "none",
        "--report-dir",
        str(tmp_path / "reports"),
        "--now",
        sim.clock.now().isoformat(),
    ]


def _env(sim: SimulatorHandle) -> dict[str, str]:
    return {
        **os.environ,
        "SCHLAGE_USERNAME": sim.admin.username,
        "SCHLAGE_PASSWORD": sim.admin.password,
        "SCHLAGE_SUBSCRIPTION_KEY": sim.admin.subscription_key,
    }


@pytest.mark.slow
async def test_apply_killed_twice_then_rerun_is_exact_and_sends_each_invite_once(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """SIGKILL mid-deletes and mid-creates, rerun: the export exactly, each invite once."""
    sim = await simulator_factory()
    scenario = await build_scenario(sim, tmp_path)
    sent_before = len(sim.state.outbox)
    async with client_for(sim) as client:
        plan = await plan_sync(
            client, scenario.export, history=[scenario.state], now=sim.clock.now()
        )
    command = _apply_command(plan.path, sim, tmp_path)

    def deleted() -> int:
        return sum(
            1
            for c in sim.state.credentials.values()
            if c.deleted and c.user_id in scenario.moved_out
        )

    def created() -> int:
        return sum(1 for c in sim.state.credentials.values() if c.user_id in scenario.new)

    for reached in (lambda: deleted() >= 6, lambda: created() >= 3):
        proc = await asyncio.create_subprocess_exec(
            *command, env=_env(sim), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
        )
        for _ in range(60_000):
            if reached() or proc.returncode is not None:
                break
            await asyncio.sleep(0.005)
        assert proc.returncode is None, "the run ended before the kill point"
        proc.send_signal(signal.SIGKILL)
        await proc.wait()
    proc = await asyncio.create_subprocess_exec(
        *command, env=_env(sim), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert "Apply completed" in out.decode()
    assert_service_equals_export(sim, scenario)
    sent = _resent(sim, sent_before)
    assert set(sent) == scenario.undownloaded | scenario.new | scenario.changed_numbers
    assert set(sent.values()) == {1}
    creates = sim.state.counters.as_json()["requests"]["create_credential"]
    assert "409" not in creates
    with (tmp_path / "reports" / "succeeded.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 12 + 8 + 4 + 20 + 16


@pytest.mark.usefixtures("sim_env")
def test_the_apply_command_refuses_deletes_without_the_flag_and_dry_runs(
    threaded_simulator: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 and the flag to pass without --allow-delete; --dry-run sends nothing, exit 0."""
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 60, seed=4).path
    base = ["--base-url", sim.handle.api_base_url]
    migrate_args = ["migrate", str(path), *base, "--rate", "0", "--progress", "none"]
    assert main([*migrate_args, "--report-dir", str(tmp_path / "r")]) == 0
    lines = path.read_text().splitlines()
    export = tmp_path / "export.jsonl"
    export.write_text("\n".join(lines[:-2]) + "\n")  # two residents moved out
    plan = tmp_path / "export.plan.jsonl"
    assert main(["plan", str(export), *base, "--out", str(plan)]) == 0
    capsys.readouterr()
    assert main(["apply", str(plan), *base]) == 2
    assert "pass --allow-delete" in capsys.readouterr().err
    calls = sim.call(lambda: sim.handle.state.snapshot()["counters"]["requests"])
    assert main(["apply", str(plan), *base, "--allow-delete", "--dry-run"]) == 0
    assert "Dry run" in capsys.readouterr().out
    after = sim.call(lambda: sim.handle.state.snapshot()["counters"]["requests"])
    assert after.get("delete_credential") == calls.get("delete_credential")
    report = tmp_path / "rep"
    assert main(["apply", str(plan), *base, "--allow-delete", "--report-dir", str(report)]) == 0
    assert "Apply completed" in capsys.readouterr().out
    assert main(["apply", str(plan), *base, "--allow-delete", "--report-dir", str(report)]) == 0
