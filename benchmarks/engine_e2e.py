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

Run: ``python benchmarks/engine_e2e.py [--mode unlimited|limited|adaptive|all]
[--count N] [--limited-count N] [--rate R] [--concurrency N]``. It prints one line per
mode and, with ``--json FILE``, writes the figures for the benchmark harness.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from bulk import generate_portfolio, read_input  # noqa: E402  # after the path fix above
from bulk._verify import verify_against_state  # noqa: E402

ENV = {
    "SCHLAGE_USERNAME": "admin@sim.example",
    "SCHLAGE_PASSWORD": "sim-admin-password",
    "SCHLAGE_SUBSCRIPTION_KEY": "sim-subscription-key",
}


def _start_simulator(rate_limit: float) -> tuple[subprocess.Popen[str], str]:
    args = [sys.executable, "-m", "schlage_async.simulator", "--port", "0"]
    if rate_limit:
        args += ["--rate-limit", str(rate_limit)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line.startswith("listening on "):
        proc.kill()
        raise RuntimeError(f"the simulator did not start: {line!r}")
    return proc, line.removeprefix("listening on ").strip()


def _state(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + "/_sim/state", timeout=120) as answer:  # noqa: S310  # loopback
        data: dict[str, Any] = json.loads(answer.read())
        return data


def _vm_hwm_kib(pid: int) -> int:
    """The process's peak resident set (``VmHWM``, Linux), in KiB; 0 once it has exited.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's high-water mark into a
    forked child across ``exec``, so a big benchmark process would inflate the figure.
    """
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in text.splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def run_mode(
    mode: str, *, count: int, rate: float, concurrency: int, workdir: Path
) -> dict[str, Any]:
    """Run one mode and return its figures."""
    portfolio = generate_portfolio(workdir / f"{mode}.jsonl", count, seed=42)
    sim, url = _start_simulator(0.0 if mode == "unlimited" else rate)
    try:
        pace = {"unlimited": ["--rate", "0"], "limited": ["--rate", str(rate)]}.get(
            mode, ["--adaptive"]
        )
        reports = workdir / f"{mode}-reports"
        command = [
            sys.executable, "-m", "bulk", "migrate", str(portfolio.path),
            "--base-url", url + "/test/smc-api", "--report-dir", str(reports),
            "--concurrency", str(concurrency), "--progress", "none", "--log-format", "json",
            *pace,
        ]  # fmt: skip
        started = time.perf_counter()
        engine = subprocess.Popen(
            command,
            env={**os.environ, **ENV},
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak_kib = 0
        while engine.poll() is None:  # VmHWM: the engine's own high-water mark so far
            peak_kib = max(peak_kib, _vm_hwm_kib(engine.pid))
            time.sleep(0.05)
        wall = time.perf_counter() - started
        summary = json.loads((reports / "summary.json").read_text())
        state = _state(url)
    finally:
        sim.terminate()
        sim.wait(30)
        if sim.stdout is not None:
            sim.stdout.close()
    verification = verify_against_state(read_input(portfolio.path), state)
    this_run = summary["this_run"]
    figures: dict[str, Any] = {
        "mode": mode,
        "residents": count,
        "exit_code": engine.returncode,
        "api_calls": this_run["api_calls"],
        "duration_s": this_run["duration_s"],
        "calls_per_s": this_run["calls_per_s"],
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "rate_limited_429": this_run["rate_limited_429"],
        "logins": this_run["logins"],
        "verified": verification.ok,
    }
    if mode != "unlimited":
        figures["rate"] = rate
        figures["achieved_over_rate"] = round(this_run["calls_per_s"] / rate, 4)
    if mode == "adaptive":
        figures["adaptive_rate"] = this_run["adaptive_rate"]
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
        text += f", AIMD converged to {f['adaptive_rate']:.1f} req/s"
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
