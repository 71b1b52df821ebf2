"""The harness's sections: each runs one benchmark module and turns it into figures.

Every section that needs a simulator starts its own subprocess (a fresh one, so no
section inherits another's credentials); the sizes come from :data:`QUICK` or :data:`FULL`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bulk import generate_portfolio

from . import (
    checkpoint_cost,
    client_overhead,
    dry_run,
    engine_ceiling,
    engine_e2e,
    resume,
    simulator_rps,
    sync_plan,
)
from ._figures import Figure, Target
from ._rate_series import peak_sent_after_slow_start, steady_rate
from ._simproc import simulator_process
from ._standin import standin_process

__all__ = ["FULL", "QUICK", "SECTIONS", "Outcome", "SectionSkipped", "Sizes"]


class SectionSkipped(Exception):
    """A section that cannot run here (an extra not installed): one line, then the next."""


def _fleet_module() -> Any:
    """``benchmarks.fleet``, which needs the scale extra (psycopg, redis) and its servers."""
    try:
        import psycopg  # noqa: F401  # only to say which extra is missing
        import redis  # noqa: F401
    except ImportError as exc:
        raise SectionSkipped(
            f"needs the scale extra (missing module {exc.name!r}): pip install -e '.[scale]'"
        ) from None
    from . import fleet

    return fleet


@dataclass(frozen=True, slots=True)
class Sizes:
    """How big each benchmark runs (``--quick`` or the full run)."""

    sim_requests: int
    sim_concurrency: int
    sim_rounds: int
    client_n: int
    client_concurrency: int
    client_rounds: int
    engine_residents: int
    engine_concurrency: int
    dry_run_rows: tuple[int, ...]
    rate: float
    burst: float
    limited_residents: int
    adaptive_residents: int
    checkpoint_residents: int
    checkpoint_rounds: int
    resume_rows: int
    fleet_residents: int
    fleet_workers: int
    fleet_rate: float
    pg_residents: int
    pg_rounds: int
    rss_sizes: tuple[int, ...]
    rss_provision: int
    sync_rows: int
    grid_seconds: tuple[float, float, float]
    floor_residents: int
    lanes_seconds: float
    lanes_residents: int


QUICK = Sizes(
    sim_requests=4_000, sim_concurrency=64, sim_rounds=1,
    client_n=300, client_concurrency=32, client_rounds=2,
    engine_residents=3_000, engine_concurrency=32,
    dry_run_rows=(10_000, 50_000),
    rate=200.0, burst=5.0, limited_residents=600, adaptive_residents=1_200,
    checkpoint_residents=1_000, checkpoint_rounds=1,
    resume_rows=6_000,
    fleet_residents=1_000, fleet_workers=4, fleet_rate=150.0,
    pg_residents=800, pg_rounds=1,
    rss_sizes=(2_000, 20_000), rss_provision=500,
    sync_rows=2_000,
    grid_seconds=(24.0, 10.0, 8.0),
    floor_residents=3_000,
    lanes_seconds=30.0,
    lanes_residents=3_000,
)  # fmt: skip
"""Small sizes: the whole harness in a minute or two (CI runs this so it never rots)."""

FULL = Sizes(
    sim_requests=20_000, sim_concurrency=64, sim_rounds=1,
    client_n=10_000, client_concurrency=32, client_rounds=5,
    engine_residents=20_000, engine_concurrency=32,
    dry_run_rows=(100_000, 1_000_000),
    rate=500.0, burst=5.0, limited_residents=5_000, adaptive_residents=5_000,
    checkpoint_residents=5_000, checkpoint_rounds=3,
    resume_rows=20_000,
    fleet_residents=10_000, fleet_workers=4, fleet_rate=400.0,
    pg_residents=5_000, pg_rounds=3,
    rss_sizes=(100_000, 1_000_000), rss_provision=5_000,
    sync_rows=50_000,
    grid_seconds=(120.0, 60.0, 40.0),
    floor_residents=20_000,
    lanes_seconds=60.0,
    lanes_residents=6_000,
)  # fmt: skip
"""The full sizes: 20,000 client calls per variant per round over 5 rounds (issue 14),
the engine sections sized to end within the hour on a loaded 2-core machine."""


@dataclass(slots=True)
class Outcome:
    """What the sections produced: figures, rate series for the plot, raw results."""

    figures: list[Figure] = field(default_factory=list)
    series: dict[str, tuple[float, list[dict[str, float]]]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)


def _simulator(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    with simulator_process() as sim:
        r = simulator_rps.measure_simulator_rps(
            sim, requests=sizes.sim_requests, concurrency=sizes.sim_concurrency,
            rounds=sizes.sim_rounds,
        )  # fmt: skip
    out.raw["simulator_rps"] = r
    share = r["simulator_cpu_share"]
    details = {
        "simulator_cpu_share": share,
        "load_generator_cpu_share": r["load_generator_cpu_share"],
        "rps_rounds": r["rps_rounds"],
    }
    out.figures += [
        Figure(
            "simulator_rps",
            f"simulator, create + get, aiohttp load loop (simulator {share:.0%} of a core busy)",
            r["rps"],
            "req/s",
            params=r["params"],
            details=details,
        ),
        Figure(
            "simulator_rps_per_core",
            "simulator capacity: requests per simulator CPU-second",
            r["rps"] / share if share > 0 else 0.0,
            "req/s",
            params=r["params"],
        ),
    ]


def _ratio_details(r: dict[str, Any]) -> dict[str, Any]:
    return {"rounds": r["rounds"], "spread": r["spread"]}


def _client(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    with standin_process() as server:
        r = client_overhead.measure_client_overhead(
            server, n=sizes.client_n, concurrency=sizes.client_concurrency,
            rounds=sizes.client_rounds,
        )  # fmt: skip
    out.raw["client_overhead"] = r
    variants = r["variants"]
    versions = r["versions"]
    server_share = r["server_cpu_share_max"]
    params = {**r["params"], "server_cpu_share_max": round(server_share, 3)}
    ours = variants["schlage_async"]
    floor = variants["aiohttp_json"]
    on_server = f"stand-in server <= {server_share:.0%} of a core"
    httpx_libs = {k: versions[k] for k in ("httpx", "httpcore", "anyio", "sniffio")}
    httpx_label = (
        f"client throughput / httpx {versions['httpx']} + pydantic + tenacity (httpcore "
        f"{versions['httpcore']}, anyio {versions['anyio']}, sniffio "
        f"{'installed' if versions['sniffio'] else 'absent'})"
    )
    out.figures += [
        Figure(
            "client_cpu_vs_aiohttp",
            f"client CPU per request / raw aiohttp + json's ({ours['cpu_us_per_request']:.0f} "
            f"vs {floor['cpu_us_per_request']:.0f} us; {on_server})",
            r["client_cpu_vs_aiohttp"]["value"],
            "x",
            Target("<=", 1.05),
            {**params, "logging": "default (nothing configured)"},
            {**_ratio_details(r["client_cpu_vs_aiohttp"]), "variants": variants},
        ),
        Figure(
            "client_cpu_vs_aiohttp_structlog",
            "client CPU per request with structlog configured as the CLI does / raw aiohttp's",
            r["client_cpu_vs_aiohttp_structlog"]["value"],
            "x",
            Target("<=", 1.05),
            {**params, "structlog": "configured, INFO filter, no logger cache (as the bulk CLI)"},
            _ratio_details(r["client_cpu_vs_aiohttp_structlog"]),
        ),
        Figure(
            "client_vs_aiohttp_pydantic",
            "client throughput / aiohttp + pydantic v2 + tenacity written well",
            r["client_vs_aiohttp_pydantic"]["value"],
            "x",
            Target(">=", 1.3),
            params,
            {
                **_ratio_details(r["client_vs_aiohttp_pydantic"]),
                "cpu_ratio": r["client_cpu_vs_aiohttp_pydantic"]["value"],
            },
        ),
        Figure(
            "client_cpu_otel_sdk_vs_off",
            "client CPU per request with the OpenTelemetry SDK recording every span and "
            "metric / with no provider (the API installed, nothing configured)",
            r["client_cpu_otel_sdk_vs_off"]["value"],
            "x",
            params={**params, "telemetry": "SDK TracerProvider + MeterProvider passed in"},
            details=_ratio_details(r["client_cpu_otel_sdk_vs_off"]),
        ),
        Figure(
            "client_vs_aiohttp",
            "client throughput / raw aiohttp + json",
            r["client_vs_aiohttp"]["value"],
            "x",
            params=params,
            details=_ratio_details(r["client_vs_aiohttp"]),
        ),
        Figure(
            "client_structlog_vs_aiohttp",
            "client throughput with structlog configured / raw aiohttp",
            r["client_structlog_vs_aiohttp"]["value"],
            "x",
            params={**params, "structlog": "configured, INFO filter (as the bulk CLI)"},
            details=_ratio_details(r["client_structlog_vs_aiohttp"]),
        ),
        Figure(
            "client_vs_httpx_pydantic",
            httpx_label,
            r["client_vs_httpx_pydantic"]["value"],
            "x",
            params={**params, **httpx_libs},
            details=_ratio_details(r["client_vs_httpx_pydantic"]),
        ),
    ]


def _engine(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    portfolio = generate_portfolio(workdir / "engine.jsonl", sizes.engine_residents, seed=42)
    with simulator_process() as sim:
        before = engine_ceiling.measure_ceiling(
            sim, portfolio.path, concurrency=sizes.engine_concurrency
        )
        r = engine_e2e.run_mode(
            "unlimited", count=sizes.engine_residents, rate=0.0,
            concurrency=sizes.engine_concurrency, workdir=workdir, sim=sim,
            portfolio_path=portfolio.path,
        )  # fmt: skip
        after = engine_ceiling.measure_ceiling(
            sim, portfolio.path, concurrency=sizes.engine_concurrency
        )
    out.raw["engine_unlimited"] = r
    out.raw["engine_ceiling"] = {"before": before, "after": after}
    _check_engine_run(r)
    ceiling = (before["calls_per_s"] + after["calls_per_s"]) / 2
    params = {
        "residents": r["residents"],
        "api_calls": r["api_calls"],
        "concurrency": r["concurrency"],
        "checkpoint": "SQLite (CLI default)",
        "simulator": "unlimited, own process",
    }
    details = {k: r[k] for k in ("wall_s", "duration_s", "simulator_cpu_share", "verified")}
    out.figures += [
        Figure(
            "engine_vs_ceiling",
            f"engine calls/s / raw aiohttp's for the same calls, same simulator "
            f"({r['calls_per_s']:,.0f} vs {ceiling:,.0f})",
            r["calls_per_s"] / ceiling,
            "x",
            Target(">=", 0.85),
            {**params, "ceiling": "raw aiohttp, same calls, before and after the engine run"},
            {
                "engine_calls_per_s": r["calls_per_s"],
                "ceiling_calls_per_s": ceiling,
                "ceiling_runs": [before, after],
            },
        ),
        Figure(
            "engine_calls_per_s",
            f"engine end to end, {r['residents']:,} residents, unlimited simulator "
            f"({r['simulator_cpu_share']:.0%} of a core busy)",
            r["calls_per_s"],
            "calls/s",
            params=params,
            details=details,
        ),
        Figure(
            "engine_peak_rss_mb",
            f"engine peak RSS, {r['residents']:,} residents",
            r["peak_rss_mib"],
            "MiB",
            params=params,
        ),
    ]


def _dry_run(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    r = dry_run.measure_dry_run(sizes.dry_run_rows, workdir)
    out.raw["dry_run"] = r
    runs = r["runs"]
    small, large = runs[0], runs[-1]
    out.figures += [
        Figure(
            "dry_run_peak_rss_mb",
            f"dry run peak RSS, {large['rows']:,} rows ({small['rows']:,}: "
            f"{small['peak_rss_mib']} MiB)",
            large["peak_rss_mib"],
            "MiB",
            params=r["params"],
            details={"runs": runs},
        ),
        Figure(
            "dry_run_rss_growth",
            f"dry run peak RSS growth, {small['rows']:,} -> {large['rows']:,} rows (flat = 1)",
            r["growth"],
            "x",
            Target("<=", 1.25),
            params=r["params"],
        ),
    ]


def _rate_limited(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    r = engine_e2e.run_mode(
        "limited", count=sizes.limited_residents, rate=sizes.rate,
        concurrency=sizes.engine_concurrency, workdir=workdir, trace=True,
    )  # fmt: skip
    out.series[f"engine told R (--rate {sizes.rate:g})"] = (sizes.rate, r.pop("series"))
    out.raw["engine_limited"] = r
    _check_engine_run(r)
    params = {
        "R": sizes.rate,
        "residents": r["residents"],
        "api_calls": r["api_calls"],
        "concurrency": r["concurrency"],
        "engine": "--rate R --verbose",
    }
    out.figures += [
        Figure(
            "rate_utilization",
            f"rate limit R = {sizes.rate:g}/s, engine told R: achieved / R",
            r["achieved_over_rate"],
            "x",
            Target(">=", 0.97),
            params,
            {"calls_per_s": r["calls_per_s"], "duration_s": r["duration_s"]},
        ),
        Figure(
            "rate_limited_429",
            "rate limit, engine told R: 429 answers",
            r["rate_limited_429"],
            "",
            Target("==", 0),
            params,
        ),
    ]


def _adaptive(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    r = engine_e2e.run_mode(
        "adaptive", count=sizes.adaptive_residents, rate=sizes.rate,
        concurrency=sizes.engine_concurrency, workdir=workdir, trace=True,
    )  # fmt: skip
    series = r.pop("series")
    out.series[f"engine not told R (--adaptive), R = {sizes.rate:g}"] = (sizes.rate, series)
    out.raw["engine_adaptive"] = r
    _check_engine_run(r)
    params = {
        "R": sizes.rate,
        "residents": r["residents"],
        "api_calls": r["api_calls"],
        "concurrency": r["concurrency"],
        "engine": "--adaptive --verbose",
    }
    settled = steady_rate(series) / sizes.rate
    reported = (r["adaptive_rate"] or 0.0) / sizes.rate
    out.figures += [
        Figure(
            "adaptive_rate_utilization",
            f"rate limit R = {sizes.rate:g}/s, adaptive: settled rate / R (2nd half)",
            settled,
            "x",
            Target(">=", 0.85),
            params,
            {
                "definition": "answered req/s over the second half of the run, from the "
                "engine's per-request log, divided by R",
                "engine_reported_rate": r["adaptive_rate"],
                "achieved_over_rate_whole_run": r["achieved_over_rate"],
                "rate_limited_429": r["rate_limited_429"],
            },
        ),
        Figure(
            "adaptive_reported_rate_over_r",
            "rate limit, adaptive: the rate the engine reports it sustained / R",
            reported,
            "x",
            params=params,
        ),
        Figure(
            "adaptive_429_share",
            "rate limit, adaptive: 429 share of calls",
            r["share_429"],
            "%",
            Target("<=", 0.01),
            params,
        ),
    ]


def _rate_small_burst(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    r = engine_e2e.run_mode(
        "limited", count=sizes.limited_residents, rate=sizes.rate,
        concurrency=sizes.engine_concurrency, workdir=workdir, trace=True, burst=sizes.burst,
    )  # fmt: skip
    series = r.pop("series")
    out.series[f"engine told R, small burst (--rate {sizes.rate:g}, --burst {sizes.burst:g})"] = (
        sizes.rate,
        series,
    )
    out.raw["engine_limited_small_burst"] = r
    _check_engine_run(r)
    params = {
        "R": sizes.rate,
        "burst": sizes.burst,
        "residents": r["residents"],
        "api_calls": r["api_calls"],
        "concurrency": r["concurrency"],
        "engine": "--rate R --verbose",
    }
    out.figures.append(
        Figure(
            "rate_utilization_small_burst",
            f"R = {sizes.rate:g}/s, gateway burst {sizes.burst:g}, engine told R: "
            f"achieved / R ({r['rate_limited_429']} x 429)",
            r["achieved_over_rate"],
            "x",
            Target(">=", 0.97),
            params,
            {
                "calls_per_s": r["calls_per_s"],
                "duration_s": r["duration_s"],
                "rate_limited_429": r["rate_limited_429"],
                "target_429": "== 0",
                "met_429": r["rate_limited_429"] == 0,
            },
        )
    )
    out.figures.append(
        Figure(
            "rate_limited_429_small_burst",
            "small burst, engine told R: 429 answers",
            r["rate_limited_429"],
            "",
            Target("==", 0),
            params,
        )
    )


def _adaptive_small_burst(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    r = engine_e2e.run_mode(
        "adaptive", count=sizes.adaptive_residents, rate=sizes.rate,
        concurrency=sizes.engine_concurrency, workdir=workdir, trace=True, burst=sizes.burst,
    )  # fmt: skip
    series = r.pop("series")
    out.series[f"engine --adaptive, small burst (R = {sizes.rate:g}, --burst {sizes.burst:g})"] = (
        sizes.rate,
        series,
    )
    out.raw["engine_adaptive_small_burst"] = r
    _check_engine_run(r)
    params = {
        "R": sizes.rate,
        "burst": sizes.burst,
        "residents": r["residents"],
        "api_calls": r["api_calls"],
        "concurrency": r["concurrency"],
        "engine": "--adaptive --verbose",
    }
    peak, after = peak_sent_after_slow_start(series)
    out.figures += [
        Figure(
            "adaptive_small_burst_utilization",
            f"R = {sizes.rate:g}/s, gateway burst {sizes.burst:g}, adaptive: settled rate / R "
            "(2nd half)",
            steady_rate(series) / sizes.rate,
            "x",
            Target(">=", 0.9),
            params,
            {
                "engine_reported_rate": r["adaptive_rate"],
                "achieved_over_rate_whole_run": r["achieved_over_rate"],
            },
        ),
        Figure(
            "adaptive_small_burst_429_share",
            "small burst, adaptive: 429 share of calls",
            r["share_429"],
            "%",
            Target("<=", 0.01),
            params,
            {"rate_limited_429": r["rate_limited_429"]},
        ),
        Figure(
            "adaptive_small_burst_peak_bin",
            "small burst, adaptive: highest half-second of requests sent after slow start / R",
            peak / sizes.rate,
            "x",
            Target("<=", 1.2),
            params,
            {
                "definition": "answered plus 429-refused requests per second in each "
                "half-second bin from the engine's per-request log, after the bin of the "
                "first 429 (the end of slow start), divided by R",
                "slow_start_ended_at_s": after,
            },
        ),
    ]


GRID_RATES = (5.0, 50.0, 500.0)
"""The gateway rates of the adaptive grid; each meets buckets of 1, 5 and R requests."""

CALLS_PER_RESIDENT = 1.75
"""A generated resident's calls: a create, and a save for the three in four with doors."""


def _adaptive_grid(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    cells: list[dict[str, Any]] = []
    for rate, seconds in zip(GRID_RATES, sizes.grid_seconds, strict=True):
        for burst in sorted({1.0, 5.0, rate}):
            count = math.ceil(rate * seconds / CALLS_PER_RESIDENT)
            r = engine_e2e.run_mode(
                "adaptive", count=count, rate=rate, concurrency=sizes.engine_concurrency,
                workdir=workdir / f"grid-{rate:g}-{burst:g}", trace=True, burst=burst,
            )  # fmt: skip
            series = r.pop("series")
            _check_engine_run(r)
            cells.append(
                {
                    "R": rate,
                    "burst": burst,
                    "residents": count,
                    "api_calls": r["api_calls"],
                    "utilization": round(steady_rate(series) / rate, 4),
                    "share_429": r["share_429"],
                    "rate_limited_429": r["rate_limited_429"],
                    "wall_s": r["wall_s"],
                    "advised_rate": r["advised_rate"],
                }
            )
            if rate == GRID_RATES[1] and burst == 5.0:
                out.series[f"adaptive grid cell R = {rate:g}, burst {burst:g}"] = (rate, series)
    out.raw["adaptive_grid"] = cells
    worst_use = min(cells, key=lambda c: c["utilization"])
    worst_429 = max(cells, key=lambda c: c["share_429"])
    params = {
        "rates": list(GRID_RATES),
        "bursts": "1, 5, R",
        "seconds_per_cell": list(sizes.grid_seconds),
        "concurrency": sizes.engine_concurrency,
        "engine": "--adaptive --verbose",
    }
    out.figures += [
        Figure(
            "adaptive_grid_worst_utilization",
            f"adaptive grid (R in 5, 50, 500 x burst 1, 5, R): worst cell's settled rate / R "
            f"(R = {worst_use['R']:g}, burst {worst_use['burst']:g})",
            worst_use["utilization"],
            "x",
            Target(">=", 0.9),
            params,
            {"cells": cells},
        ),
        Figure(
            "adaptive_grid_worst_429_share",
            f"adaptive grid: worst cell's 429 share of calls (R = {worst_429['R']:g}, "
            f"burst {worst_429['burst']:g})",
            worst_429["share_429"],
            "%",
            Target("<=", 0.01),
            params,
        ),
    ]


def _migration_floor(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    rate, burst = 200.0, 5.0
    r = engine_e2e.run_mode(
        "adaptive", count=sizes.floor_residents, rate=rate,
        concurrency=sizes.engine_concurrency, workdir=workdir, trace=True, burst=burst,
    )  # fmt: skip
    series = r.pop("series")
    _check_engine_run(r)
    out.series[f"migration against the floor (R = {rate:g}, burst {burst:g}, --adaptive)"] = (
        rate,
        series,
    )
    out.raw["migration_floor"] = r
    needed = r["api_calls"] - r["rate_limited_429"]
    floor_s = needed / rate
    out.figures.append(
        Figure(
            "migration_vs_floor",
            f"{sizes.floor_residents:,} residents at R = {rate:g}/s, burst {burst:g}, "
            f"--adaptive: wall time / (calls / R) ({r['wall_s']:.1f} s vs {floor_s:.1f} s)",
            r["wall_s"] / floor_s,
            "x",
            Target("<=", 1.1),
            {
                "R": rate,
                "burst": burst,
                "residents": sizes.floor_residents,
                "calls_needed": needed,
                "engine": "--adaptive (the default), process start-up and discovery included",
            },
            {
                "wall_s": r["wall_s"],
                "floor_s": round(floor_s, 2),
                "rate_limited_429": r["rate_limited_429"],
                "advised_rate": r["advised_rate"],
            },
        )
    )


def _lanes_module() -> Any:
    """``benchmarks.lanes``, which needs the scale extra (redis) and a Redis server."""
    try:
        import psycopg  # noqa: F401  # benchmarks.fleet (its Redis URL) imports it
        import redis  # noqa: F401
    except ImportError as exc:
        raise SectionSkipped(
            f"needs the scale extra (missing module {exc.name!r}): pip install -e '.[scale]'"
        ) from None
    from . import lanes

    return lanes


def _lanes(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    lanes = _lanes_module()
    rate = 50.0
    with simulator_process(["--rate-limit", f"{rate:g}", "--burst", "5"]) as sim:
        r = lanes.measure_lanes(
            sim, seconds=sizes.lanes_seconds, rate=rate, residents=sizes.lanes_residents,
            workdir=workdir,
        )  # fmt: skip
    out.raw["lanes"] = r
    params = r["params"]
    scene = (
        f"R = {rate:g}/s, burst 5: migrations A (weight 1) and B (weight 3, after "
        f"{params['join_after_s']:g} s), a front desk at {params['desk_rate']:g} calls/s"
    )
    out.figures += [
        Figure("lanes_interactive_429s", f"{scene}: 429s the front desk met",
               r["interactive_429s"], "", Target("==", 0), params,
               {"interactive_calls": r["interactive_calls"], "bulk_429s": r["bulk_429s"]}),
        Figure("lanes_interactive_added_wait_p99_ms",
               "the front desk's wait in the budget beyond an idle account's, p99",
               r["interactive_added_wait_p99_ms"], "ms", Target("<=", 100), params,
               {"max_ms": r["interactive_added_wait_max_ms"],
                "idle_latency_ms": r["idle_latency_ms"],
                "slow_calls_s_ms": r["interactive_slow_calls"]}),
        Figure("lanes_bulk_utilization",
               "bulk answers/s while both migrations run / (R - the front desk's rate)",
               r["bulk_utilization"], "x", Target(">=", 0.95), params,
               {"bulk_rate": r["bulk_rate"]}),
        Figure("lanes_fair_share_error", "|B's share of the bulk lane - 3/4|, same window",
               r["fair_share_error"], "", Target("<=", 0.05), params,
               {"share_b": r["share_b"], "shares": r["shares"]}),
        Figure("lanes_logins", "logins over the whole run, every process",
               r["logins"], "", Target("==", 1), params),
    ]  # fmt: skip


def _checkpoint(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    with simulator_process() as sim:
        r = checkpoint_cost.measure_checkpoint_cost(
            sim, count=sizes.checkpoint_residents, concurrency=sizes.engine_concurrency,
            rounds=sizes.checkpoint_rounds, workdir=workdir,
        )  # fmt: skip
    out.raw["checkpoint_cost"] = r
    out.figures.append(
        Figure(
            "checkpoint_ratio",
            "SQLite checkpoint (CLI default) / in-memory checkpoint, calls/s",
            r["ratio"],
            "x",
            Target(">=", 0.95),
            r["params"],
            {k: r[k] for k in ("sqlite_calls_per_s", "memory_calls_per_s", "rounds_calls_per_s")},
        )
    )
    out.figures.append(
        Figure(
            "checkpoint_ratio_sync_full",
            "same, SQLite with synchronous=FULL (--sync full: an fsync per commit)",
            r["ratio_sync_full"],
            "x",
            params=r["params"],
            details={"sqlite_full_calls_per_s": r["sqlite_full_calls_per_s"]},
        )
    )


def _resume(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    with simulator_process() as sim:
        r = resume.measure_resume(sim, rows=sizes.resume_rows, workdir=workdir)
    out.raw["resume"] = r
    out.figures.append(
        Figure(
            "resume_rows_per_s",
            f"resume: finished rows skipped ({r['skipped']:,} of {sizes.resume_rows:,})",
            r["rows_per_s"],
            "rows/s",
            params=r["params"],
            details={"seconds": r["seconds"]},
        )
    )


def _fleet(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    fleet = _fleet_module()
    with simulator_process(["--rate-limit", f"{sizes.fleet_rate:g}"]) as sim:
        r = fleet.measure_fleet_rate(
            sim, count=sizes.fleet_residents, workers=sizes.fleet_workers,
            rate=sizes.fleet_rate, concurrency=16, workdir=workdir,
        )  # fmt: skip
    out.raw["fleet"] = r
    if not r["verified"] or any(r["exit_codes"]):
        raise RuntimeError(f"the fleet run went wrong: {r}")
    params = r["params"]
    out.figures += [
        Figure(
            "multiworker_rate_utilization",
            f"{params['workers']} workers sharing R = {sizes.fleet_rate:g}/s through Redis: "
            "combined rate / R",
            r["utilization"],
            "x",
            Target(">=", 0.97),
            params,
            {"combined_rate": r["combined_rate"], "rate_limited_429": r["rate_limited_429"]},
        ),
        Figure(
            "multiworker_rate_limited_429",
            f"{params['workers']} workers sharing R: 429 answers",
            r["rate_limited_429"],
            "",
            Target("==", 0),
            params,
        ),
        Figure(
            "multiworker_logins",
            f"{params['workers']} workers on one run: logins in all",
            r["logins"],
            "",
            Target("==", 1),
            params,
        ),
    ]


def _sync(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    with simulator_process() as sim:
        r = sync_plan.measure_sync(sim, rows=sizes.sync_rows, workdir=workdir)
    out.raw["sync"] = r
    if not r["verified"]:
        raise RuntimeError(f"apply left the simulator unlike the export: {r}")
    params = r["params"]
    out.figures += [
        Figure(
            "plan_rows_per_s",
            f"plan: {params['service_credentials']:,} service credentials against a "
            f"{params['export_rows']:,}-row export",
            r["plan_rows_per_s"],
            "rows/s",
            params=params,
            details={
                k: r[k]
                for k in (
                    "plan_seconds",
                    "plan_wall_s",
                    "plan_cpu_s",
                    "plan_rows_per_cpu_s",
                    "load_average",
                    "plan_counts",
                )
            },
        ),
        Figure(
            "plan_peak_rss_mb",
            f"plan peak RSS, {params['service_credentials']:,} credentials",
            r["plan_peak_rss_mib"],
            "MiB",
            params=params,
        ),
        Figure(
            "apply_calls_per_s",
            "apply of that plan (--rate 0, 32 workers), state verified",
            r["apply_calls_per_s"],
            "calls/s",
            params=params,
            details={k: r[k] for k in ("apply_wall_s", "apply_counts", "apply_peak_rss_mib")},
        ),
    ]


def _pg_checkpoint(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    fleet = _fleet_module()
    with simulator_process() as sim:
        r = fleet.measure_pg_checkpoint(
            sim, count=sizes.pg_residents, concurrency=sizes.engine_concurrency,
            rounds=sizes.pg_rounds, workdir=workdir,
        )  # fmt: skip
    out.raw["pg_checkpoint"] = r
    out.figures.append(
        Figure(
            "pg_checkpoint_ratio",
            "PostgreSQL checkpoint (leases) / SQLite checkpoint, calls/s, one engine",
            r["ratio"],
            "x",
            Target(">=", 0.9),
            r["params"],
            {k: r[k] for k in ("postgres_calls_per_s", "sqlite_calls_per_s", "rounds_ratio")},
        )
    )


def _fleet_rss(sizes: Sizes, workdir: Path, out: Outcome) -> None:
    fleet = _fleet_module()
    with simulator_process() as sim:
        r = fleet.measure_worker_rss(
            sim, sizes=sizes.rss_sizes, provision=sizes.rss_provision, workdir=workdir
        )
    out.raw["fleet_worker_rss"] = r
    small, large = min(sizes.rss_sizes), max(sizes.rss_sizes)
    out.figures.append(
        Figure(
            "pg_worker_peak_rss_ratio",
            f"worker peak RSS (load + work), {large:,} / {small:,}-resident work list",
            r["ratio"],
            "x",
            Target("<=", 1.1),
            r["params"],
            {"peak_rss_mib": r["peak_rss_mib"], "load_s": r["load_s"]},
        )
    )
    out.figures.append(
        Figure(
            "pg_worker_peak_rss_mib",
            f"worker peak RSS, {large:,}-resident work list",
            float(r["peak_rss_mib"][str(large)]),
            "MiB",
            params=r["params"],
        )
    )


def _check_engine_run(r: dict[str, Any]) -> None:
    """A run that did not finish or left the simulator wrong is a broken benchmark."""
    if r["exit_code"] != 0 or not r["verified"]:
        raise RuntimeError(
            f"the engine's {r['mode']} run exited {r['exit_code']}, state "
            f"{'verified' if r['verified'] else 'NOT verified'}: {r.get('log_tail', '')}"
        )


Section = Callable[[Sizes, Path, Outcome], None]

SECTIONS: dict[str, tuple[str, Section]] = {
    "simulator": ("the simulator's own requests per second", _simulator),
    "client": ("client CPU and throughput against four baselines", _client),
    "engine": ("engine end to end, unlimited, beside a raw-aiohttp ceiling", _engine),
    "dry-run": ("dry-run memory as the input grows", _dry_run),
    "rate": ("rate-limit use, engine told R", _rate_limited),
    "adaptive": ("rate-limit use, adaptive", _adaptive),
    "rate-small-burst": ("rate-limit use, told R, small gateway burst", _rate_small_burst),
    "adaptive-small-burst": (
        "rate-limit use, adaptive, small gateway burst",
        _adaptive_small_burst,
    ),
    "adaptive-grid": (
        "adaptive pacing over gateway rates 5, 50, 500 x buckets 1, 5, R",
        _adaptive_grid,
    ),
    "migration-floor": ("time to migrate against calls / R, adaptive", _migration_floor),
    "lanes": (
        "one account shared by a front desk and two migrations through Redis, by lane "
        "(scale extra; a Redis server)",
        _lanes,
    ),
    "checkpoint": ("checkpoint cost, SQLite against memory", _checkpoint),
    "resume": ("resume: skipping finished rows", _resume),
    "fleet": (
        "four workers sharing PostgreSQL and Redis, simulator limited "
        "(scale extra; PostgreSQL and Redis servers)",
        _fleet,
    ),
    "pg-checkpoint": (
        "checkpoint cost, PostgreSQL against SQLite (scale extra; a PostgreSQL server)",
        _pg_checkpoint,
    ),
    "fleet-rss": (
        "worker memory as the work list grows (scale extra; a PostgreSQL server)",
        _fleet_rss,
    ),
    "sync": ("sync: plan and apply a moved-on export", _sync),
}
"""Name, what it measures, and the function, in the order the harness runs them."""


def sizes_as_params(sizes: Sizes) -> dict[str, Any]:
    """The sizes, for the JSON's record of the run."""
    return asdict(sizes)
