"""The bulk engine end to end: ``python -m bulk migrate`` against a simulator subprocess.

What it measures, each in a fresh directory with a freshly generated portfolio:

* ``unlimited``: 50,000 residents (default) against a simulator without a rate limit,
  the engine unlimited too (``--rate 0``): API calls per second over the whole run and
  the engine process's peak RSS (its ``VmHWM``, polled), plus whether the
  simulator's final state is exactly the input (every resident once, with its payloads).
* ``limited``: the simulator limited to R req/s (``--rate-limit R``) and the engine told
  R (``--rate R``): achieved calls/s divided by R (the target is >= 0.97) and the 429s the
  engine got (the target is zero).
* ``adaptive``: the simulator limited to R, the engine told nothing (``--adaptive``):
  where AIMD converged, the achieved rate and the 429s it cost.

Every mode also records the share of a core the simulator used (below 100 %: it was not
the bottleneck) and, with ``trace`` (the harness's rate-limited runs), the achieved rate
over time from the engine's per-request log lines (``--verbose``).

Run: ``python benchmarks/engine_e2e.py [--mode unlimited|limited|adaptive|all]
[--count N] [--limited-count N] [--rate R] [--concurrency N]``. It prints one line per
mode and, with ``--json FILE``, writes the figures for the benchmark harness.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``benchmarks`` and ``bulk`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks._process_usage import cpu_seconds, run_watched
from benchmarks._rate_series import rate_series
from benchmarks._simproc import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    SUBSCRIPTION_KEY,
    SimProcess,
    simulator_process,
)
from bulk import generate_portfolio, read_input, verify_against_state

__all__ = ["ENV", "run_mode"]

ROOT = Path(__file__).resolve().parents[1]

ENV = {
    "SCHLAGE_USERNAME": ADMIN_USERNAME,
    "SCHLAGE_PASSWORD": ADMIN_PASSWORD,
    "SCHLAGE_SUBSCRIPTION_KEY": SUBSCRIPTION_KEY,
}


def run_mode(
    mode: str,
    *,
    count: int,
    rate: float,
    concurrency: int,
    workdir: Path,
    trace: bool = False,
    burst: float | None = None,
    sim: SimProcess | None = None,
    portfolio_path: Path | None = None,
) -> dict[str, Any]:
    """Run one mode and return its figures.

    ``trace`` runs the engine with ``--verbose`` (one JSON log line per request) and
    adds ``series``, the achieved rate over time (see ``_rate_series``). ``burst`` sets
    the simulator's bucket size (``--burst``; default one second of R). With ``sim``
    the run uses that (unlimited) simulator, reset first, instead of starting its own.
    """
    if portfolio_path is None:
        portfolio_path = generate_portfolio(workdir / f"{mode}.jsonl", count, seed=42).path
    sim_args = [] if mode == "unlimited" else ["--rate-limit", str(rate)]
    if burst is not None:
        sim_args += ["--burst", str(burst)]
    pace = {"unlimited": ["--rate", "0"], "limited": ["--rate", str(rate)]}.get(
        mode, ["--adaptive"]
    )
    reports = workdir / f"{mode}-reports"
    log_path = workdir / f"{mode}-engine.log"
    with contextlib.ExitStack() as stack:
        if sim is None:
            sim = stack.enter_context(simulator_process(sim_args))
        else:
            sim.reset()
        command = [
            sys.executable, "-m", "bulk", "migrate", str(portfolio_path),
            "--base-url", sim.api_base_url, "--report-dir", str(reports),
            "--state", str(workdir / f"{mode}.state.sqlite"),
            "--concurrency", str(concurrency), "--progress", "none", "--log-format", "json",
            *pace, *(["--verbose"] if trace else []),
        ]  # fmt: skip
        sim_cpu0 = cpu_seconds(sim.pid)
        with log_path.open("w") as log:
            engine = run_watched(command, env={**os.environ, **ENV}, cwd=ROOT, stderr=log)
        sim_cpu = cpu_seconds(sim.pid) - sim_cpu0
        summary = json.loads((reports / "summary.json").read_text())
        state = json.loads(sim.get("/_sim/state"))
    verification = verify_against_state(read_input(portfolio_path), state)
    this_run = summary["this_run"]
    figures: dict[str, Any] = {
        "mode": mode,
        "residents": count,
        "concurrency": concurrency,
        "exit_code": engine.returncode,
        "api_calls": this_run["api_calls"],
        "duration_s": this_run["duration_s"],
        "calls_per_s": this_run["calls_per_s"],
        "wall_s": round(engine.wall_s, 2),
        "peak_rss_mib": round(engine.peak_rss_mib, 1),
        "simulator_cpu_share": round(sim_cpu / engine.wall_s, 3),
        "rate_limited_429": this_run["rate_limited_429"],
        "logins": this_run["logins"],
        "verified": verification.ok,
    }
    if mode != "unlimited":
        figures["rate"] = rate
        figures["achieved_over_rate"] = round(this_run["calls_per_s"] / rate, 4)
        figures["share_429"] = this_run["rate_limited_429"] / max(this_run["api_calls"], 1)
    if mode == "adaptive":
        figures["adaptive_rate"] = this_run["adaptive_rate"]
        figures["advised_rate"] = this_run["advised_rate"]
    if burst is not None:
        figures["burst"] = burst
    if trace:
        with log_path.open() as log:
            figures["series"] = rate_series(log)
    if engine.returncode != 0 or not verification.ok:
        tail = log_path.read_text()[-2000:]
        figures["log_tail"] = tail
    log_path.unlink(missing_ok=True)
    return figures


def _line(f: dict[str, Any]) -> str:
    text = (
        f"{f['mode']:>9}: {f['residents']:,} residents, {f['api_calls']:,} calls in "
        f"{f['duration_s']:.1f} s = {f['calls_per_s']:.1f} calls/s, peak RSS "
        f"{f['peak_rss_mib']} MiB, 429s {f['rate_limited_429']}, exit {f['exit_code']}, "
        f"state {'verified' if f['verified'] else 'NOT VERIFIED'}"
    )
    if "achieved_over_rate" in f:
        text += f", achieved/R = {f['achieved_over_rate']:.3f} (R = {f['rate']:g})"
    if f.get("adaptive_rate") is not None:
        text += f", adaptive sustained {f['adaptive_rate']:.1f} req/s"
    return text


def main() -> int:
    """Run the chosen modes and print their figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--mode", choices=("unlimited", "limited", "adaptive", "all"), default="all"
    )
    parser.add_argument("--count", type=int, default=50_000, help="residents, unlimited mode")
    parser.add_argument(
        "--limited-count", type=int, default=10_000, help="residents, limited/adaptive modes"
    )
    parser.add_argument("--rate", type=float, default=500.0, help="R for limited/adaptive")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    modes = ["unlimited", "limited", "adaptive"] if args.mode == "all" else [args.mode]
    results = []
    with tempfile.TemporaryDirectory(prefix="engine-e2e-") as tmp:
        for mode in modes:
            count = args.count if mode == "unlimited" else args.limited_count
            figures = run_mode(
                mode, count=count, rate=args.rate, concurrency=args.concurrency, workdir=Path(tmp)
            )
            print(_line(figures), flush=True)
            results.append(figures)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["exit_code"] == 0 and r["verified"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
