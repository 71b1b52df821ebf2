"""What the SQLite checkpoint costs: the same migration with SQLite and with memory.

The engine's Python API (``bulk.migrate``) provisions the same synthetic portfolio
against an unlimited simulator in its own process, once with ``SQLiteCheckpointStore``
(the CLI's store: WAL, ``synchronous=NORMAL``, a durable ``creating`` intent before every
create, group-committed) and once with ``MemoryCheckpointStore`` (nothing written). The
variants alternate over several rounds (each round starting with another), the
simulator reset before each run; the figure is the median of the per-round ratios of
SQLite's calls per second to memory's (1.0: free). A third variant, SQLite with
``synchronous=FULL`` (``--sync full``: an fsync per commit), shows what the fsyncs cost.

Run: ``python -m benchmarks.checkpoint_cost [--count 10000] [--rounds 3]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from bulk import (
    CheckpointStore,
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    SQLiteCheckpointStore,
    generate_portfolio,
    migrate,
    read_input,
)
from bulk._limiter import UnlimitedLimiter

from ._engine_client import engine_client
from ._log_config import structlog_configured
from ._simproc import SimProcess, simulator_process

__all__ = ["VARIANTS", "measure_checkpoint_cost"]

VARIANTS = {
    "sqlite": "SQLiteCheckpointStore, synchronous=NORMAL (the CLI's default store)",
    "memory": "MemoryCheckpointStore (nothing written)",
    "sqlite_full": "SQLiteCheckpointStore, synchronous=FULL (--sync full, for comparison)",
}


async def _migrate_once(
    base_url: str, portfolio: Path, store: CheckpointStore, count: int, concurrency: int
) -> float:
    """Migrate ``portfolio`` into ``store``; return the engine's calls per second."""
    await store.open()
    try:
        async with engine_client(base_url, concurrency) as client:
            summary = await migrate(
                client,
                read_input(portfolio),
                store,
                options=MigrationOptions(concurrency=concurrency, total_rows=count),
                limiter=UnlimitedLimiter(),
            )
    finally:
        await store.aclose()
    if summary.status is not MigrationStatus.COMPLETED or summary.succeeded != count:
        raise RuntimeError(f"the checkpoint-cost run did not complete: {summary.to_dict()}")
    return summary.calls_per_second


def _store(variant: str, path: Path) -> CheckpointStore:
    if variant == "memory":
        return MemoryCheckpointStore()
    return SQLiteCheckpointStore(path, synchronous="FULL" if variant == "sqlite_full" else "NORMAL")


def measure_checkpoint_cost(
    sim: SimProcess, *, count: int, concurrency: int, rounds: int, workdir: Path
) -> dict[str, Any]:
    """Alternate the stores ``rounds`` times; return medians and the per-round ratios."""
    portfolio = generate_portfolio(workdir / "checkpoint-cost.jsonl", count, seed=11).path
    variants = list(VARIANTS)
    rates: dict[str, list[float]] = {variant: [] for variant in variants}
    with structlog_configured(logging.WARNING):  # the engine's INFO lines stay quiet
        for round_ in range(rounds):
            shift = round_ % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                sim.reset()
                store = _store(variant, workdir / f"checkpoint-{variant}-{round_}.sqlite")
                rates[variant].append(
                    asyncio.run(
                        _migrate_once(sim.api_base_url, portfolio, store, count, concurrency)
                    )
                )

    def ratio(variant: str) -> float:
        pairs = zip(rates[variant], rates["memory"], strict=True)
        return statistics.median(mine / theirs for mine, theirs in pairs)

    return {
        **{f"{v}_calls_per_s": statistics.median(rs) for v, rs in rates.items()},
        "ratio": ratio("sqlite"),
        "ratio_sync_full": ratio("sqlite_full"),
        "rounds_calls_per_s": {v: [round(r, 1) for r in rs] for v, rs in rates.items()},
        "params": {"residents": count, "concurrency": concurrency, "rounds": rounds},
    }


def main() -> int:
    """Run the comparison and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="checkpoint-cost-") as tmp, simulator_process() as sim:
        figures = measure_checkpoint_cost(
            sim, count=args.count, concurrency=args.concurrency, rounds=args.rounds,
            workdir=Path(tmp),
        )  # fmt: skip
    print(
        f"SQLite {figures['sqlite_calls_per_s']:.0f} calls/s, memory "
        f"{figures['memory_calls_per_s']:.0f} calls/s: ratio {figures['ratio']:.3f} "
        f"(synchronous=FULL: {figures['ratio_sync_full']:.3f})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
