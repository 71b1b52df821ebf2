"""A fleet on one run: four ``python -m bulk`` workers sharing PostgreSQL and Redis.

* ``measure_fleet_rate``: the simulator limited to R per second; ``migrate`` loads the
  portfolio into PostgreSQL and works it, three ``work`` processes join, all with
  ``--shared redis://... --rate R``. The combined rate is the simulator's credential
  requests between the moments 10 % and 90 % of the residents were final (PostgreSQL
  polled every 50 ms), divided by R: the workers' start-up and the last stragglers are
  left out; the 429s and the logins are the simulator's counts over the whole run.
* ``measure_pg_checkpoint``: one engine (Python API) on the same portfolio against an
  unlimited simulator with the SQLite store and with the PostgreSQL store, alternating
  over rounds; the figure is the median ratio of the engine's calls per second.
* ``measure_worker_rss``: the peak RSS of a ``migrate`` worker (loading the work list,
  then provisioning a fixed number of residents before it is stopped with SIGTERM) for a
  small and a large input; flat memory means the ratio stays near 1.

PostgreSQL and Redis come from ``SCHLAGE_TEST_POSTGRES_URL`` / ``SCHLAGE_TEST_REDIS_URL``
(the local servers by default); each measurement uses a schema and a key prefix of its own.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import statistics
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from bulk import (
    MigrationOptions,
    MigrationStatus,
    SQLiteCheckpointStore,
    generate_portfolio,
    migrate,
    read_input,
    verify_against_state,
)
from bulk._limiter import UnlimitedLimiter
from bulk.store.postgres import PostgresCheckpointStore

from ._engine_client import engine_client
from ._log_config import structlog_configured
from ._process_usage import vm_hwm_kib
from ._simproc import ADMIN_PASSWORD, ADMIN_USERNAME, SUBSCRIPTION_KEY, SimProcess

__all__ = [
    "measure_fleet_rate",
    "measure_pg_checkpoint",
    "measure_worker_rss",
    "postgres_url",
    "redis_url",
]

ENV = {
    "SCHLAGE_USERNAME": ADMIN_USERNAME,
    "SCHLAGE_PASSWORD": ADMIN_PASSWORD,
    "SCHLAGE_SUBSCRIPTION_KEY": SUBSCRIPTION_KEY,
}


def postgres_url() -> str:
    """The PostgreSQL server the fleet benchmarks use."""
    return os.environ.get("SCHLAGE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def redis_url() -> str:
    """The Redis server the fleet benchmarks use."""
    return os.environ.get("SCHLAGE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


@contextmanager
def _schema() -> Iterator[tuple[str, str]]:
    """A state URL with a schema of its own (dropped after), and the schema's name."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    base = postgres_url()
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}schema={name}", name
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(
                psycopg.sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(
                    psycopg.sql.Identifier(name)
                )
            )


def _counts(schema: str) -> tuple[int | None, int]:
    """(rows loaded or None, rows final) of a run."""
    with psycopg.connect(postgres_url(), autocommit=True) as conn:
        found = conn.execute("SELECT to_regclass(%s)", (f"{schema}.meta",)).fetchone()
        if not found or found[0] is None:
            return None, 0
        ident = psycopg.sql.Identifier(schema)
        loaded = conn.execute(
            psycopg.sql.SQL("SELECT value FROM {}.meta WHERE key = 'loaded_rows'").format(ident)
        ).fetchone()
        final = conn.execute(
            psycopg.sql.SQL(
                "SELECT count(*) FROM {}.residents WHERE state IN ('done', 'failed')"
            ).format(ident)
        ).fetchone()
    return (int(loaded[0]) if loaded else None), int(final[0]) if final else 0


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:
        return subprocess.Popen(
            [sys.executable, "-m", "bulk", *args],
            env={**os.environ, **ENV},
            stdout=handle,
            stderr=handle,
        )


def _credential_requests(state: dict[str, Any]) -> int:
    requests: dict[str, dict[str, int]] = state["counters"]["requests"]
    return sum(
        n for op, by_status in requests.items() if op != "authentication_token"
        for n in by_status.values()
    )  # fmt: skip


def measure_fleet_rate(
    sim: SimProcess, *, count: int, workers: int, rate: float, concurrency: int, workdir: Path
) -> dict[str, Any]:
    """Run ``workers`` processes on one run against a simulator limited to ``rate``."""
    portfolio = generate_portfolio(workdir / "fleet.jsonl", count, seed=23).path
    prefix = f"bench-{uuid.uuid4().hex[:8]}:"
    log = workdir / "fleet.log"
    with _schema() as (state, schema):
        common = [
            "--base-url", sim.api_base_url, "--state", state,
            "--shared", f"{redis_url()}?prefix={prefix}", "--rate", f"{rate:g}",
            "--concurrency", str(concurrency), "--lease", "4",
            "--progress", "none", "--log-format", "json",
        ]  # fmt: skip
        first = _start(
            ["migrate", str(portfolio), *common, "--report-dir", str(workdir / "r")], log
        )
        procs = [first]
        while _counts(schema)[0] is None:
            if first.poll() is not None:
                raise RuntimeError(f"the fleet's load failed: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        procs += [_start(["work", *common], log) for _ in range(workers - 1)]
        # The window from 10 % to 90 % of the residents final: every worker has started
        # (process start-up on a busy machine is not the fleet's pace) and none is idle
        # for lack of work yet.
        marks: list[tuple[float, int]] = []
        with psycopg.connect(postgres_url(), autocommit=True) as conn:
            query = psycopg.sql.SQL(
                "SELECT count(*) FROM {}.residents WHERE state IN ('done', 'failed')"
            ).format(psycopg.sql.Identifier(schema))
            for fraction in (0.1, 0.9):
                while True:
                    row = conn.execute(query).fetchone()
                    if (row[0] if row else 0) >= fraction * count:
                        break
                    if all(p.poll() is not None for p in procs):
                        raise RuntimeError(f"the fleet stopped early: {log.read_text()[-2000:]}")
                    time.sleep(0.05)
                marks.append((time.monotonic(), _credential_requests(sim_state(sim))))
        codes = [p.wait(timeout=600) for p in procs]
        after_state = sim_state(sim)
    (t1, n1), (t2, n2) = marks
    sent, elapsed = n2 - n1, t2 - t1
    verification = verify_against_state(read_input(portfolio), after_state)
    result = {
        "combined_rate": sent / elapsed if elapsed > 0 else 0.0,
        "utilization": sent / elapsed / rate if elapsed > 0 else 0.0,
        "rate_limited_429": int(after_state["counters"]["tooManyRequests"]),
        "logins": int(after_state["counters"]["logins"]["succeeded"]),
        "exit_codes": codes,
        "verified": verification.ok,
        "params": {"residents": count, "workers": workers, "rate": rate,
                   "concurrency_per_worker": concurrency},
    }  # fmt: skip
    if not verification.ok or any(codes):
        result["log_tail"] = log.read_text()[-2000:]
    return result


def sim_state(sim: SimProcess) -> dict[str, Any]:
    """The simulator's state snapshot."""
    data: dict[str, Any] = json.loads(sim.get("/_sim/state"))
    return data


async def _pg_once(base_url: str, portfolio: Path, state: str, concurrency: int) -> float:
    async with PostgresCheckpointStore(state) as store:

        async def batches() -> Any:
            rows = list(read_input(portfolio))
            yield rows

        await store.load(batches())
        async with engine_client(base_url, concurrency) as client:
            summary = await migrate(
                client,
                store.claimed_rows(),
                store,
                options=MigrationOptions(concurrency=concurrency),
                limiter=UnlimitedLimiter(),
            )
    if summary.status is not MigrationStatus.COMPLETED:
        raise RuntimeError(f"the PostgreSQL run did not complete: {summary.to_dict()}")
    return summary.calls_per_second


async def _sqlite_once(base_url: str, portfolio: Path, path: Path, concurrency: int) -> float:
    store = SQLiteCheckpointStore(path)
    await store.open()
    try:
        async with engine_client(base_url, concurrency) as client:
            summary = await migrate(
                client,
                read_input(portfolio),
                store,
                options=MigrationOptions(concurrency=concurrency),
                limiter=UnlimitedLimiter(),
            )
    finally:
        await store.aclose()
    if summary.status is not MigrationStatus.COMPLETED:
        raise RuntimeError(f"the SQLite run did not complete: {summary.to_dict()}")
    return summary.calls_per_second


def measure_pg_checkpoint(
    sim: SimProcess, *, count: int, concurrency: int, rounds: int, workdir: Path
) -> dict[str, Any]:
    """Alternate SQLite and PostgreSQL ``rounds`` times; the median ratio of calls/s."""
    portfolio = generate_portfolio(workdir / "pg-checkpoint.jsonl", count, seed=29).path
    pg: list[float] = []
    lite: list[float] = []
    with structlog_configured(logging.WARNING):
        for round_ in range(rounds):
            order = ("sqlite", "postgres") if round_ % 2 == 0 else ("postgres", "sqlite")
            for variant in order:
                sim.reset()
                if variant == "sqlite":
                    path = workdir / f"pg-checkpoint-{round_}.sqlite"
                    lite.append(
                        asyncio.run(_sqlite_once(sim.api_base_url, portfolio, path, concurrency))
                    )
                else:
                    with _schema() as (state, _name):
                        pg.append(
                            asyncio.run(_pg_once(sim.api_base_url, portfolio, state, concurrency))
                        )
    ratios = [p / s for p, s in zip(pg, lite, strict=True)]
    return {
        "ratio": statistics.median(ratios),
        "postgres_calls_per_s": statistics.median(pg),
        "sqlite_calls_per_s": statistics.median(lite),
        "rounds_ratio": [round(r, 3) for r in ratios],
        "params": {"residents": count, "concurrency": concurrency, "rounds": rounds},
    }


def measure_worker_rss(
    sim: SimProcess, *, sizes: tuple[int, ...], provision: int, workdir: Path
) -> dict[str, Any]:
    """Peak RSS of a ``migrate`` worker (load, then ``provision`` residents) per input size."""
    peaks: dict[int, float] = {}
    load_s: dict[int, float] = {}
    for size in sizes:
        portfolio = generate_portfolio(workdir / f"rss-{size}.jsonl", size, seed=31).path
        log = workdir / f"rss-{size}.log"
        sim.reset()
        with _schema() as (state, schema):
            started = time.monotonic()
            proc = _start(
                [
                    "migrate", str(portfolio), "--base-url", sim.api_base_url,
                    "--state", state, "--rate", "0", "--progress", "none",
                    "--log-format", "json", "--report-dir", str(workdir / f"rss-{size}"),
                ],
                log,
            )  # fmt: skip
            peak = 0
            loaded_at: float | None = None
            while proc.poll() is None:
                peak = max(peak, vm_hwm_kib(proc.pid))
                if loaded_at is None and _counts(schema)[0] is not None:
                    loaded_at = time.monotonic()
                if loaded_at is not None and _counts(schema)[1] >= provision:
                    proc.send_signal(signal.SIGTERM)
                    break
                time.sleep(0.1)
            while proc.poll() is None:
                peak = max(peak, vm_hwm_kib(proc.pid))
                time.sleep(0.05)
            proc.wait()
        peaks[size] = peak / 1024
        load_s[size] = (loaded_at or time.monotonic()) - started
    small, large = min(sizes), max(sizes)
    return {
        "peak_rss_mib": {str(k): round(v, 1) for k, v in peaks.items()},
        "ratio": peaks[large] / peaks[small] if peaks[small] else 0.0,
        "load_s": {str(k): round(v, 1) for k, v in load_s.items()},
        "params": {"sizes": list(sizes), "provisioned_before_stop": provision},
    }
