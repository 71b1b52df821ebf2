"""How fast a resume skips the rows an earlier run finished.

A synthetic portfolio of N rows (50,000 in the full run) is half migrated: the engine's
Python API provisions its first N/2 rows into a SQLite checkpoint against a simulator in
its own process, exactly as a run stopped halfway leaves it. The resume then runs on the
whole input with that checkpoint, as ``python -m bulk migrate`` does after a stop: open
the state, load the resume view (the final lines), and read, parse and deduplicate
every row, skipping the N/2 final ones. The clock runs from opening the state until the
reader asks for the first row that is not final; the input ends there, so the figure is
the skipping phase alone: rows skipped per second.

Run: ``python -m benchmarks.resume [--rows 50000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import tempfile
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import Any

from bulk import MigrationOptions, SQLiteCheckpointStore, generate_portfolio, migrate, read_input
from bulk._limiter import UnlimitedLimiter
from bulk._resident import ParsedRow

from ._engine_client import engine_client
from ._log_config import structlog_configured
from ._simproc import SimProcess, simulator_process

__all__ = ["measure_resume"]


async def _half_migrate(base_url: str, portfolio: Path, state: Path, half: int) -> None:
    """Leave ``state`` as a run stopped after the first ``half`` rows leaves it."""
    async with SQLiteCheckpointStore(state) as store, engine_client(base_url, 32) as client:
        summary = await migrate(
            client,
            islice(read_input(portfolio), half),
            store,
            options=MigrationOptions(concurrency=32),
            limiter=UnlimitedLimiter(),
        )
    if summary.succeeded != half:
        raise RuntimeError(f"building the half-done state failed: {summary.to_dict()}")


async def _time_skipping(base_url: str, portfolio: Path, state: Path, half: int) -> float:
    """Resume on the whole input; return the seconds until the first row not final."""
    reached: list[float] = []

    def rows() -> Iterator[ParsedRow]:
        for row in read_input(portfolio):
            if row.line > half:  # the first row the earlier run did not finish
                reached.append(time.perf_counter())
                return
            yield row

    started = time.perf_counter()
    async with SQLiteCheckpointStore(state) as store, engine_client(base_url, 32) as client:
        summary = await migrate(
            client,
            rows(),
            store,
            options=MigrationOptions(concurrency=32),
            limiter=UnlimitedLimiter(),
        )
    if summary.skipped != half or summary.api_calls != 0 or not reached:
        raise RuntimeError(f"the resume did not skip the finished half: {summary.to_dict()}")
    return reached[0] - started


def measure_resume(sim: SimProcess, *, rows: int, workdir: Path) -> dict[str, Any]:
    """Half-migrate a ``rows``-row portfolio, then time the resume's skipping phase."""
    portfolio = generate_portfolio(workdir / "resume.jsonl", rows, seed=5).path
    state = workdir / "resume.state.sqlite"
    half = rows // 2
    sim.reset()
    with structlog_configured(logging.WARNING):  # the engine's INFO lines stay quiet
        asyncio.run(_half_migrate(sim.api_base_url, portfolio, state, half))
        seconds = asyncio.run(_time_skipping(sim.api_base_url, portfolio, state, half))
    return {
        "rows_per_s": half / seconds,
        "skipped": half,
        "seconds": seconds,
        "params": {"input_rows": rows, "final_in_state": half},
    }


def main() -> int:
    """Run the measurement and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="resume-") as tmp, simulator_process() as sim:
        figures = measure_resume(sim, rows=args.rows, workdir=Path(tmp))
    print(
        f"resume skipped {figures['skipped']:,} finished rows in {figures['seconds']:.2f} s "
        f"= {figures['rows_per_s']:,.0f} rows/s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
