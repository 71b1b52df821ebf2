"""Every entry point paces as the command line does when its caller names no limiter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bulk import (
    AdaptiveRateLimiter,
    FixedRateLimiter,
    MigrationOptions,
    MigrationStatus,
    UnlimitedLimiter,
    generate_portfolio,
    run_migration,
)
from bulk._lanes import lane_limiter
from schlage_async import AccountBudget, Lane, SchlageClient


def _client(sim: Any) -> SchlageClient:
    return SchlageClient(
        base_url=sim.api_base_url,
        username=sim.admin.username,
        password=sim.admin.password,
        subscription_key=sim.admin.subscription_key,
    )


async def test_a_library_migration_without_a_limiter_finds_the_gateway_rate(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """``run_migration`` with no ``limiter=`` paces adaptively, as ``python -m bulk migrate``.

    Unpaced, eight workers against 20/s with a bucket of 5 met a 429 on most calls (each
    pausing the run for its second): 300 residents, 1,664 x 429 in 2,197 calls.
    """
    sim = await simulator_factory(rate_limit=20.0, burst=5)
    path = generate_portfolio(tmp_path / "p.jsonl", 20, seed=3).path
    async with _client(sim) as client:
        summary = await run_migration(
            client, path, store=tmp_path / "s.sqlite", options=MigrationOptions(concurrency=8)
        )
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.succeeded == 20
    assert summary.adaptive_rate is not None  # the summary reports the rate it found
    assert summary.rate_limited <= 4  # slow start's and the search's, not one per pause


def test_the_guard_gives_adaptive_pacing_unless_told_otherwise() -> None:
    """The one guard every entry point picks its limiter through (``lane_limiter``)."""
    pick = lane_limiter
    assert isinstance(
        pick(None, object(), lane=Lane.SYNC, job="j", weight=1.0, limiter=None),
        AdaptiveRateLimiter,
    )
    fixed = FixedRateLimiter(5.0)
    assert pick(None, object(), lane=Lane.SYNC, job="j", weight=1.0, limiter=fixed) is fixed
    dry = pick(None, object(), lane=Lane.BULK, job="j", weight=1.0, limiter=None, sends=False)
    assert isinstance(dry, UnlimitedLimiter)  # a dry run sends nothing to pace


async def test_a_client_that_waits_in_its_own_budget_is_not_paced_twice() -> None:
    """A client built with ``budget=`` already waits for a slot before each call."""
    budget = AccountBudget(rate=10.0)

    class Client:
        pass

    client = Client()
    client.budget = budget  # type: ignore[attr-defined]
    picked = lane_limiter(None, client, lane=Lane.BULK, job="j", weight=1.0, limiter=None)
    assert isinstance(picked, UnlimitedLimiter)
