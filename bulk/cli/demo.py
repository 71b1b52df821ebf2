"""``python -m bulk demo``: an in-process simulator, a synthetic portfolio, a migration.

The README's main-job command on a fresh machine: no environment variables, no
arguments. When the run stops resumably (a ``--faults`` block, deferred residents) the
demo shows the resume too: it moves the simulator's clock past the block and reruns
the same migration against the same checkpoint.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import replace
from pathlib import Path
from typing import Final

from schlage_async import SchlageClient
from schlage_async.simulator import FaultSpec, SimulatorConfig, SimulatorHandle, run_simulator

from .._binding import ServiceIdentity, bind_input
from .._engine import MigrationOptions
from .._generate import generate_portfolio
from .._input import read_input
from .._limiter import FixedRateLimiter, RateLimiter, UnlimitedLimiter
from .._progress import ProgressSink
from .._reports import format_summary, report_paths
from .._service import run_migration
from .._summary import MigrationStatus, MigrationSummary, StopReason
from .._verify import verify_against_state
from ..store import open_store
from ..store.protocol import CheckpointStore
from .exits import EXIT_OK, exit_code_for

__all__ = ["all_runs_line", "run_demo"]

_ROUNDS: Final = 5  # runs at most: the first, and resumes after a block or deferrals


async def _rounds(
    sim: SimulatorHandle,
    client: SchlageClient,
    store: CheckpointStore,
    input_path: Path,
    report_dir: Path,
    rate: float,
    concurrency: int,
    rows: int,
    progress: ProgressSink | None,
) -> tuple[MigrationSummary, list[MigrationSummary]]:
    """Migrate; after a resumable stop, move the simulator's clock on and resume.

    Returns the last run's summary and every run's (the last one included).
    """
    round_number = 0
    runs: list[MigrationSummary] = []
    while True:
        round_number += 1
        limiter: RateLimiter = FixedRateLimiter(rate) if rate else UnlimitedLimiter()
        summary = await run_migration(
            client,
            input_path,
            store=store,
            reports_dir=report_dir,
            options=MigrationOptions(concurrency=concurrency, total_rows=rows),
            limiter=limiter,
            progress=progress,
        )
        runs.append(summary)
        if (
            exit_code_for(summary) == EXIT_OK
            or round_number == _ROUNDS
            or summary.stop_reason is StopReason.ACCESS_REFUSED
        ):
            return summary, runs
        wait = 1.0
        if summary.resume_at is not None:
            wait = max(0.0, (summary.resume_at - dt.datetime.now(dt.UTC)).total_seconds() + 1)
        print(
            f"Run {round_number} {summary.status.value} "
            f"({summary.stop_detail or f'{summary.deferred} deferred'}); the demo moves "
            f"the simulator's clock {wait:.0f} s on and resumes from the checkpoint"
        )
        sim.clock.advance(wait)
        if summary.stop_reason is StopReason.ACCOUNT_BLOCKED:
            sim.set_faults(replace(sim.faults, block_after=0))  # the demo blocks once


def all_runs_line(runs: list[MigrationSummary]) -> str:
    """The traffic of every run of the demo (the summary above shows the last run's)."""
    return (
        f"All {len(runs)} runs: {sum(r.api_calls for r in runs):,} API calls, "
        f"429s: {sum(r.rate_limited for r in runs):,}, logins: {sum(r.logins for r in runs):,}, "
        f"client retries: {sum(r.retries for r in runs):,} "
        "(the 'this run' lines above are the last run's only)"
    )


async def run_demo(
    workdir: Path,
    *,
    count: int,
    rate: float,
    faults: FaultSpec,
    seed: int,
    bad_rows: int,
    concurrency: int,
    progress: ProgressSink | None,
) -> int:
    """Run the demo in ``workdir``; return the exit code (0 when the state verifies)."""
    spec = faults
    input_path = workdir / "portfolio.jsonl"
    state_path = workdir / "portfolio.jsonl.state.sqlite"
    report_dir = workdir / "reports"
    portfolio = await asyncio.to_thread(
        generate_portfolio, input_path, count, seed=seed, bad_rows=min(bad_rows, count)
    )
    print(
        f"Generated {portfolio.rows:,} residents ({portfolio.bad_rows:,} malformed, "
        f"{portfolio.doors:,} doors) in {input_path}"
    )
    config = SimulatorConfig(rate_limit=rate, seed=seed, faults=spec)
    async with run_simulator(config, host="127.0.0.1", port=0) as sim:
        print(
            f"Simulator at {sim.api_base_url} (rate limit "
            f"{f'{rate:g} req/s' if rate else 'none'}, faults {spec})"
        )
        admin = sim.admin
        async with (
            SchlageClient(
                base_url=sim.api_base_url,
                username=admin.username,
                password=admin.password,
                subscription_key=admin.subscription_key,
            ) as client,
            open_store(state_path) as store,
        ):
            # A fresh simulator: the checkpoint starts fresh too (emptied in place).
            service = ServiceIdentity.of(sim.api_base_url, admin.username)
            await bind_input(store, input_path, service=service, restart=True)
            summary, runs = await _rounds(
                sim,
                client,
                store,
                input_path,
                report_dir,
                rate,
                concurrency,
                portfolio.rows,
                progress,
            )
        verification = await asyncio.to_thread(
            verify_against_state, read_input(input_path), sim.state.snapshot()
        )
    print(format_summary(summary, report_paths(report_dir)), flush=True)
    if len(runs) > 1:
        print(all_runs_line(runs), flush=True)
    print(f"Simulator state {verification}", flush=True)
    print(f"Portfolio, checkpoint and reports are in {workdir}", flush=True)
    if summary.status is MigrationStatus.COMPLETED and not verification.ok:
        return 1
    return exit_code_for(summary)
