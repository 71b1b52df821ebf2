"""Peak memory of ``python -m bulk migrate --dry-run`` as the input grows.

For each size (100,000 and 1,000,000 rows in the full run) a synthetic portfolio is
generated, then the dry run parses and validates every row (phone numbers, card
formats, payloads), deduplicates user ids and mobile numbers, records each row in its
checkpoint store and writes the reports, sending nothing. The figure is the engine
process's peak RSS (``VmHWM``, polled) per size, with the rows per second. A dry run
checkpoints to a scratch ``SQLiteCheckpointStore`` (``dry-run.sqlite`` in a temporary
directory, deleted at the end: the CLI never leaves a state file for it) and the
deduplication keeps its keys in SQLite's temporary database, so "flat" means that
nothing held in memory grows with the input.

Run: ``python -m benchmarks.dry_run [--rows 100000 1000000]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bulk import generate_portfolio

from ._process_usage import run_watched

__all__ = ["measure_dry_run"]

ROOT = Path(__file__).resolve().parents[1]


def _dry_run(rows: int, workdir: Path) -> dict[str, Any]:
    portfolio = generate_portfolio(workdir / f"dry-{rows}.jsonl", rows, seed=7)
    reports = workdir / f"dry-{rows}-reports"
    command = [
        sys.executable, "-m", "bulk", "migrate", str(portfolio.path), "--dry-run",
        "--report-dir", str(reports), "--progress", "none", "--log-format", "json",
    ]  # fmt: skip
    log_path = workdir / f"dry-{rows}.log"
    with log_path.open("w") as log:
        watched = run_watched(command, cwd=ROOT, stderr=log)
    if watched.returncode != 0:
        raise RuntimeError(
            f"the dry run of {rows:,} rows exited {watched.returncode}: "
            f"{log_path.read_text()[-1000:]}"
        )
    summary = json.loads((reports / "summary.json").read_text())
    if summary["counts"]["unprocessed"] != rows:
        raise RuntimeError(f"the dry run of {rows:,} rows did not check them all: {summary}")
    input_mib = portfolio.path.stat().st_size / 2**20
    portfolio.path.unlink()  # up to ~430 MB at 1,000,000 rows
    return {
        "rows": rows,
        "input_mib": round(input_mib, 1),
        "wall_s": round(watched.wall_s, 2),
        "rows_per_s": round(rows / watched.wall_s),
        "peak_rss_mib": round(watched.peak_rss_mib, 1),
    }


def measure_dry_run(sizes: Sequence[int], workdir: Path) -> dict[str, Any]:
    """Dry-run a portfolio of each size; return each one's peak RSS and the growth."""
    runs = [_dry_run(rows, workdir) for rows in sizes]
    smallest, largest = runs[0], runs[-1]
    return {
        "runs": runs,
        "peak_rss_mib": largest["peak_rss_mib"],
        "growth": largest["peak_rss_mib"] / smallest["peak_rss_mib"],
        "params": {"rows": list(sizes)},
    }


def main() -> int:
    """Run the dry runs and print one line per size."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="dry-run-") as tmp:
        figures = measure_dry_run(args.rows, Path(tmp))
    for run in figures["runs"]:
        print(
            f"{run['rows']:>10,} rows: peak RSS {run['peak_rss_mib']} MiB, "
            f"{run['wall_s']} s ({run['rows_per_s']:,} rows/s)"
        )
    print(f"growth {figures['growth']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
