"""``python -m benchmarks run [--quick | --full] [--json OUT] [--plot FILE] [--only ...]``.

Prints the figures as a Markdown table on stdout (progress goes to stderr). The exit
code is 1 only when a benchmark broke (crashed, or an engine run did not finish or left
the simulator wrong); a missed target never fails the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shlex
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._figures import grid_cells_table, markdown_table
from ._harness import FULL, QUICK, SECTIONS, Outcome, SectionSkipped, sizes_as_params
from ._machine import machine
from ._plot import plot_available, plot_rate_series
from .client_overhead import library_versions

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Throughput, rate-limit use, overhead and memory, beside baselines.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    run = commands.add_parser("run", help="run the benchmarks and print the table")
    size = run.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes (a minute or two)")
    size.add_argument("--full", action="store_true", help="the full sizes (the default)")
    run.add_argument("--json", type=Path, metavar="OUT", help="write every figure here")
    run.add_argument("--plot", type=Path, metavar="FILE", help="PNG of the achieved rate over time")
    run.add_argument(
        "--only",
        metavar="NAMES",
        help=f"comma-separated sections to run (of: {', '.join(SECTIONS)})",
    )
    return parser


def _load(load: tuple[float, float, float]) -> str:
    return " / ".join(f"{x:.2f}" for x in load) + " (1/5/15 min)"


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the harness; return 0, or 1 when a benchmark broke."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(args_list)
    names = list(SECTIONS) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in SECTIONS]
    if unknown:
        _say(f"unknown section(s): {', '.join(unknown)} (of: {', '.join(SECTIONS)})")
        return 2
    sizes = QUICK if args.quick else FULL
    mode = "quick" if args.quick else "full"
    out = Outcome()
    errors: dict[str, str] = {}
    skips: dict[str, str] = {}  # sections that cannot run here, and why
    timings: dict[str, float] = {}
    started = time.perf_counter()
    load_before = os.getloadavg()
    _say(f"benchmarks ({mode}): {', '.join(names)}; load average {_load(load_before)}")
    with tempfile.TemporaryDirectory(prefix="schlage-bench-") as tmp:
        for name in names:
            what, section = SECTIONS[name]
            workdir = Path(tmp) / name
            workdir.mkdir()
            _say(f"- {name}: {what} ...")
            t0 = time.perf_counter()
            try:
                section(sizes, workdir, out)
            except SectionSkipped as skipped:
                skips[name] = str(skipped)
                _say(f"  {name} skipped: {skipped}")
                continue
            except Exception as exc:
                errors[name] = f"{type(exc).__name__}: {exc}"
                _say(traceback.format_exc())
            timings[name] = round(time.perf_counter() - t0, 1)
            _say(f"  {name} took {timings[name]} s" + (" (FAILED)" if name in errors else ""))
    total = time.perf_counter() - started
    load_after = os.getloadavg()

    info = machine()
    print(
        f"## Benchmarks ({mode}), {info['cores']} cores, Python {info['python']}, {total:.0f} s, "
        f"load average {_load(load_before)} at the start, {_load(load_after)} at the end\n"
    )
    print(markdown_table(out.figures))
    grid = out.raw.get("adaptive_grid")
    if grid:
        print("\n" + grid_cells_table(grid))
    client = out.raw.get("client_overhead")
    if client is not None:
        print(
            "\n| client (against the stand-in server) | CPU us per request | req/s "
            "| server CPU share |\n| --- | ---: | ---: | ---: |"
        )
        for variant, v in client["variants"].items():
            print(
                f"| {variant} | {v['cpu_us_per_request']:.1f} | {v['rps']:,.0f} "
                f"| {v['server_cpu_share']:.0%} |"
            )
    versions = library_versions()
    print("\nLibraries: " + ", ".join(f"{k} {v or 'absent'}" for k, v in versions.items()))
    for name, why in skips.items():
        print(f"\nSKIPPED {name}: {why}")
    for name, error in errors.items():
        print(f"\nFAILED {name}: {error}")

    if args.json is not None:
        document: dict[str, Any] = {figure.key: figure.as_json() for figure in out.figures}
        document["machine"] = {
            **info,
            "load_average": {"start": list(load_before), "end": list(load_after)},
        }
        document["libraries"] = versions
        document["run"] = {
            "command": shlex.join(["python", "-m", "benchmarks", *args_list]),
            "mode": mode,
            "sections": names,
            "sizes": sizes_as_params(sizes),
            "seconds": round(total, 1),
            "seconds_by_section": timings,
            "finished_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "errors": errors,
        }
        document["rate_series"] = {
            title: {"limit": limit, "points": points}
            for title, (limit, points) in out.series.items()
        }
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(document, indent=2) + "\n")
        _say(f"figures written to {args.json}")

    if args.plot is not None:
        if not plot_available():
            print("no plot: matplotlib is not installed (pip install -e .[plot])")
        elif not out.series:
            print("no plot: no rate-limited section ran")
        else:
            plot_rate_series(out.series, args.plot)
            _say(f"plot written to {args.plot}")
    return 1 if errors else 0
