"""run_migration and the sync entries on an AccountBudget: lanes, weights, the guards."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import pytest

import bulk
from bulk import MigrationOptionsError
from bulk._limiter import FixedRateLimiter
from bulk._reports import format_summary, report_paths
from schlage_async import AccountBudget, SchlageClient
from schlage_async.simulator import SimulatorHandle


def _client(sim: SimulatorHandle, budget: AccountBudget | None, **overrides: Any) -> SchlageClient:
    admin = sim.admin
    options: dict[str, Any] = {
        "base_url": sim.api_base_url,
        "username": admin.username,
        "password": admin.password,
        "subscription_key": admin.subscription_key,
        "budget": budget,
        "lane": None,
    }
    options.update(overrides)
    return SchlageClient(**options)


async def test_two_migrations_on_one_budget_share_by_weight(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """Weights 1 and 3 on one account: while both run, the heavier gets about 3/4."""
    budget = AccountBudget(rate=100.0)
    inputs = [
        bulk.generate_portfolio(tmp_path / f"{name}.jsonl", 400, seed=seed).path
        for name, seed in (("light", 1), ("heavy", 2))
    ]
    engine = _client(simulator, budget)
    async with engine:
        light = asyncio.create_task(
            bulk.run_migration(engine, inputs[0], store=tmp_path / "l.db", budget=budget)
        )
        heavy = asyncio.create_task(
            bulk.run_migration(engine, inputs[1], store=tmp_path / "h.db", budget=budget, weight=3)
        )
        await asyncio.sleep(3.0)
        shares = await budget.shares(window=2.5)
        summaries = await asyncio.gather(light, heavy)
    assert shares.job_share("bulk", "heavy.jsonl") == pytest.approx(0.75, abs=0.05)
    assert all(s.complete for s in summaries)
    record = summaries[1].lanes
    assert record is not None
    assert record["lane"] == "bulk"
    assert record["job"] == "heavy.jsonl"
    assert record["weight"] == 3.0


async def test_a_front_desk_call_goes_before_a_running_migration(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """A migration holding the whole rate; the desk's call waits about a slot, not a queue."""
    budget = AccountBudget(rate=40.0)
    portfolio = bulk.generate_portfolio(tmp_path / "p.jsonl", 300, seed=3).path
    engine = _client(simulator, budget)
    desk = _client(simulator, budget, lane="interactive")
    stop = asyncio.Event()
    async with engine, desk:
        migration = asyncio.create_task(
            bulk.run_migration(
                engine, portfolio, store=tmp_path / "s.db", budget=budget, stop=stop,
                options=bulk.MigrationOptions(concurrency=32),
            )
        )  # fmt: skip
        await asyncio.sleep(1.5)
        loop = asyncio.get_running_loop()
        waits = []
        for i in range(5):
            started = loop.time()
            await desk.create_credential(
                user_id=str(uuid.uuid4()), mobile_number=f"+1555999000{i}", card_format="26A",
                facility_code=12,
            )  # fmt: skip
            waits.append(loop.time() - started)
            await asyncio.sleep(0.2)
        stop.set()
        summary = await migration
    assert summary.lanes is not None
    assert summary.lanes["lanes_per_s"]["interactive"] > 0
    # 32 migration calls queued at 40/s would be 0.8 s; the desk waits about a slot.
    assert max(waits) < 0.3


async def test_limiter_and_budget_together_are_refused(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """Both would pace the run: one would be ignored, so the call is refused first."""
    budget = AccountBudget(rate=10.0)
    portfolio = bulk.generate_portfolio(tmp_path / "p.jsonl", 3).path
    async with _client(simulator, budget) as engine:
        with pytest.raises(MigrationOptionsError, match="limiter= or budget="):
            await bulk.run_migration(
                engine, portfolio, store=tmp_path / "s.db", budget=budget,
                limiter=FixedRateLimiter(5.0),
            )  # fmt: skip
    assert simulator.state.counters.as_json()["requests"] == {}


async def test_a_client_pacing_itself_through_the_budget_is_refused(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """SchlageClient(budget=b) with a lane would wait twice per call: refused, nothing sent."""
    budget = AccountBudget(rate=10.0)
    portfolio = bulk.generate_portfolio(tmp_path / "p.jsonl", 3).path
    async with _client(simulator, budget, lane="interactive") as desk:
        with pytest.raises(MigrationOptionsError, match="lane=None"):
            await bulk.run_migration(desk, portfolio, store=tmp_path / "s.db", budget=budget)
    assert simulator.state.counters.as_json()["requests"] == {}


async def test_a_client_of_another_budget_is_refused(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """The client shares one budget and the run is given another: refused."""
    portfolio = bulk.generate_portfolio(tmp_path / "p.jsonl", 3).path
    async with _client(simulator, AccountBudget(rate=10.0)) as engine:
        with pytest.raises(MigrationOptionsError, match="another AccountBudget"):
            await bulk.run_migration(
                engine, portfolio, store=tmp_path / "s.db", budget=AccountBudget(rate=10.0)
            )


@pytest.mark.parametrize("weight", [0, -2.0, float("nan"), float("inf"), 1001.0], ids=str)
async def test_a_bad_weight_is_refused_by_every_entry(
    weight: float, simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """The same limits for run_migration and the sync entries, before anything is sent."""
    budget = AccountBudget(rate=10.0)
    portfolio = bulk.generate_portfolio(tmp_path / "p.jsonl", 3).path
    async with _client(simulator, budget) as engine:
        with pytest.raises(MigrationOptionsError, match="weight must be"):
            await bulk.run_migration(
                engine, portfolio, store=tmp_path / "s.db", budget=budget, weight=weight
            )
        store = bulk.SQLiteCheckpointStore(tmp_path / "c.db")
        async with store:
            with pytest.raises(MigrationOptionsError, match="weight must be"):
                await bulk.chase_invites(engine, store, budget=budget, weight=weight)
            with pytest.raises(MigrationOptionsError, match="weight must be"):
                await bulk.decommission_locks(engine, ["SN1"], store, budget=budget, weight=weight)
    assert simulator.state.counters.as_json()["requests"] == {}


async def test_a_weight_without_a_budget_is_refused(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """weight= shares a lane of a budget; without one it would mean nothing."""
    portfolio = bulk.generate_portfolio(tmp_path / "p.jsonl", 3).path
    async with _client(simulator, None) as engine:
        with pytest.raises(MigrationOptionsError, match="give budget="):
            await bulk.run_migration(engine, portfolio, store=tmp_path / "s.db", weight=2)


async def test_the_shares_reach_the_summary_the_printed_lines_and_bulk_report(
    simulator: SimulatorHandle, tmp_path: Path
) -> None:
    """A run on a budget records its lane shares; ``bulk report`` shows them again later."""
    budget = AccountBudget(rate=200.0)
    portfolio = bulk.generate_portfolio(tmp_path / "site.jsonl", 30, seed=5).path
    async with _client(simulator, budget) as engine:
        summary = await bulk.run_migration(
            engine, portfolio, store=tmp_path / "s.db", budget=budget, weight=2,
            reports_dir=tmp_path / "r",
        )  # fmt: skip
    assert summary.lanes is not None
    assert summary.lanes["job"] == "site.jsonl"
    assert summary.to_dict()["lanes"]["weight"] == 2.0
    again = await bulk.report_run(tmp_path / "s.db", tmp_path / "r2")
    assert again.lanes == summary.lanes
    printed = format_summary(again, report_paths(tmp_path / "r2"))
    assert "bulk lane, job 'site.jsonl' (weight 2)" in printed
