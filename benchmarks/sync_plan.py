"""Keeping the service in sync: ``plan`` and ``apply`` on a migrated portfolio.

A portfolio of N residents (50,000 in the full run) is migrated into a simulator in its
own process (the engine's Python API, its state bound as ``migrate`` binds it). A PACS
export that moved on is written: 3 % moved out, 2 % new, 1 % changed numbers, 5 %
changed doors. Then ``python -m bulk plan EXPORT --history STATE`` runs as a subprocess
(N service credentials against an export of about N rows): ``plan_rows_per_s`` is
export rows per second of the plan itself (what the command prints as "planned in"),
with the command's wall time, its CPU seconds (the figure to read on a loaded machine)
and its peak RSS (``VmHWM``) beside it. Then
``python -m bulk apply PLAN --allow-delete --rate 0`` runs the plan (time, calls/s,
peak RSS) and the simulator's state is checked against the export: every resident's
credential with its number and exactly its payloads, no other credential. No invite is
old enough to resend here (the simulator's clock is not moved).

Run: ``python -m benchmarks.sync_plan [--rows 50000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import re
import resource
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from bulk import (
    MigrationOptions,
    MigrationStatus,
    ServiceIdentity,
    SQLiteCheckpointStore,
    bind_input,
    generate_portfolio,
    migrate,
    read_input,
    verify_against_state,
)
from bulk._limiter import UnlimitedLimiter
from bulk.sync.plan_file import read_plan_header

from ._engine_client import engine_client
from ._log_config import structlog_configured
from ._process_usage import run_watched
from ._simproc import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SUBSCRIPTION_KEY,
    SimProcess,
    simulator_process,
)

__all__ = ["measure_sync"]

ROOT = Path(__file__).resolve().parents[1]
_PLANNED = re.compile(r"planned in ([0-9.]+) s")


async def _migrate(base_url: str, portfolio: Path, state: Path) -> None:
    async with SQLiteCheckpointStore(state) as store, engine_client(base_url, 32) as client:
        await bind_input(store, portfolio, service=ServiceIdentity.of(base_url, ADMIN_USERNAME))
        summary = await migrate(
            client,
            read_input(portfolio),
            store,
            options=MigrationOptions(concurrency=32),
            limiter=UnlimitedLimiter(),
        )
    if summary.status is not MigrationStatus.COMPLETED:
        raise RuntimeError(f"migrating the portfolio failed: {summary.to_dict()}")


def _export(portfolio: Path, spare: Path, out: Path, rows: int) -> dict[str, int]:
    """Write the moved-on export; return how many of each change it holds."""
    lines = [json.loads(x) for x in portfolio.read_text().splitlines() if x.strip()]
    taken = {row["mobileNumber"] for row in lines}
    fresh = [
        row
        for row in (json.loads(x) for x in spare.read_text().splitlines() if x.strip())
        if row["mobileNumber"] not in taken
    ]
    rng = random.Random(11)
    order = list(range(len(lines)))
    rng.shuffle(order)
    cut = 0

    def take(share: float) -> list[int]:
        nonlocal cut
        got = order[cut : cut + round(rows * share)]
        cut += len(got)
        return got

    moved, numbers, doors = set(take(0.03)), take(0.01), take(0.05)
    for i in numbers:
        lines[i]["mobileNumber"] = fresh.pop()["mobileNumber"]
    for i in doors:
        payload = "".join(rng.choice("0123456789ABCDEF") for _ in range(96))
        lines[i]["doors"] = [{"lockId": 9, "serialNumber": f"BENCH-{i}", "noTourPayload": payload}]
    new = [fresh.pop() for _ in range(round(rows * 0.02))]
    for row in new:
        row.pop("externalId", None)
        row["userId"] = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    with out.open("w") as handle:
        for i, row in enumerate(lines):
            if i not in moved:
                handle.write(json.dumps(row) + "\n")
        for row in new:
            handle.write(json.dumps(row) + "\n")
    return {"moved_out": len(moved), "numbers": len(numbers), "doors": len(doors), "new": len(new)}


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "SCHLAGE_USERNAME": ADMIN_USERNAME,
        "SCHLAGE_PASSWORD": ADMIN_PASSWORD,
        "SCHLAGE_SUBSCRIPTION_KEY": SUBSCRIPTION_KEY,
    }


def measure_sync(sim: SimProcess, *, rows: int, workdir: Path) -> dict[str, Any]:
    """Migrate ``rows`` residents, plan a moved-on export, apply it; time and RSS of each."""
    sim.reset()
    portfolio = generate_portfolio(workdir / "sync.jsonl", rows, seed=21).path
    spare = generate_portfolio(workdir / "spare.jsonl", max(rows // 10, 100), seed=22).path
    state = workdir / "sync.jsonl.state.sqlite"
    with structlog_configured(logging.WARNING):
        asyncio.run(_migrate(sim.api_base_url, portfolio, state))
    export = workdir / "export.jsonl"
    changes = _export(portfolio, spare, export, rows)
    plan = workdir / "export.plan.jsonl"
    plan_log = workdir / "plan.out"
    command = [
        sys.executable, "-m", "bulk", "plan", str(export), "--history", str(state),
        "--out", str(plan), "--base-url", sim.api_base_url, "--log-format", "json",
    ]  # fmt: skip
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with plan_log.open("w") as out:
        planned = run_watched(command, cwd=ROOT, env=_env(), stdout=out, stderr=out)
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    plan_cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (
        cpu_after.ru_stime - cpu_before.ru_stime
    )
    printed = plan_log.read_text()
    found = _PLANNED.search(printed)
    if planned.returncode != 0 or found is None:
        raise RuntimeError(f"plan exited {planned.returncode}: {printed[-1500:]}")
    header = read_plan_header(plan)
    export_rows = rows - changes["moved_out"] + changes["new"]
    reports = workdir / "apply-reports"
    command = [
        sys.executable, "-m", "bulk", "apply", str(plan), "--allow-delete", "--rate", "0",
        "--concurrency", "32", "--progress", "none", "--log-format", "json",
        "--report-dir", str(reports), "--base-url", sim.api_base_url,
    ]  # fmt: skip
    apply_log = workdir / "apply.out"
    with apply_log.open("w") as out:
        applied = run_watched(command, cwd=ROOT, env=_env(), stdout=out, stderr=out)
    if applied.returncode != 0:
        raise RuntimeError(f"apply exited {applied.returncode}: {apply_log.read_text()[-1500:]}")
    summary = json.loads((reports / "summary.json").read_text())
    check = verify_against_state(read_input(export), json.loads(sim.get("/_sim/state")))
    return {
        "plan_rows_per_s": export_rows / float(found.group(1)),
        "plan_seconds": float(found.group(1)),
        "plan_wall_s": round(planned.wall_s, 2),
        "plan_cpu_s": round(plan_cpu, 2),
        "plan_rows_per_cpu_s": round(export_rows / plan_cpu) if plan_cpu > 0 else None,
        "load_average": os.getloadavg(),
        "plan_peak_rss_mib": round(planned.peak_rss_mib, 1),
        "plan_counts": header.counts,
        "apply_wall_s": round(applied.wall_s, 2),
        "apply_peak_rss_mib": round(applied.peak_rss_mib, 1),
        "apply_calls_per_s": summary["this_run"]["calls_per_s"],
        "apply_counts": summary["counts"],
        "verified": check.matched == check.expected and check.unexpected == 0,
        "params": {"service_credentials": rows, "export_rows": export_rows, **changes},
    }


def main() -> int:
    """Run the measurement and print it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sync-") as tmp, simulator_process() as sim:
        r = measure_sync(sim, rows=args.rows, workdir=Path(tmp))
    print(json.dumps(r, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
