"""Fleets of ``python -m bulk`` processes on one run, against real PostgreSQL and Redis.

Each test ends by comparing the simulator's state with the input: every good resident has
exactly one credential (none created twice, ever), and nothing else exists.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psycopg
import pytest

from bulk import generate_portfolio, read_input, verify_against_state

from .conftest import PrivateRedis

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

ENV = {
    "SCHLAGE_USERNAME": "admin@sim.example",
    "SCHLAGE_PASSWORD": "sim-admin-password",
    "SCHLAGE_SUBSCRIPTION_KEY": "sim-subscription-key",
}


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


def _common(base_url: str, state: str, shared: str, rate: str, lease: str) -> list[str]:
    return [
        "--base-url", base_url, "--state", state, "--shared", shared, "--rate", rate,
        "--lease", lease, "--progress", "none", "--log-format", "json",
    ]  # fmt: skip


def _start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(  # noqa: S603  # our interpreter, our module
            [sys.executable, "-m", "bulk", *args], env=_env(), stdout=handle, stderr=handle
        )


def _loaded(postgres_url: str, state_url: str) -> bool:
    schema = state_url.rsplit("schema=", 1)[1]
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{schema}.meta",)).fetchone()
        if not row or not row[0]:
            return False
        found = conn.execute(
            psycopg.sql.SQL("SELECT 1 FROM {}.meta WHERE key = 'loaded_rows'").format(
                psycopg.sql.Identifier(schema)
            )
        ).fetchone()
        return found is not None


def _wait(predicate: Any, what: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def _fleet(
    tmp_path: Path, sim: Any, postgres_url: str, state_url: str, shared: str, *,
    count: int, workers: int, rate: str = "400", lease: str = "3", seed: int = 7,
) -> tuple[Path, list[str], list[subprocess.Popen[bytes]], Path]:  # fmt: skip
    path = generate_portfolio(tmp_path / "p.jsonl", count, seed=seed, bad_rows=3).path
    common = _common(sim.api_base_url, state_url, shared, rate, lease)
    log = tmp_path / "fleet.log"
    first = _start(["migrate", str(path), *common, "--report-dir", str(tmp_path / "r")], log)
    _wait(lambda: _loaded(postgres_url, state_url) or first.poll() is not None, "the load")
    procs = [first] + [_start(["work", *common], log) for _ in range(workers - 1)]
    return path, common, procs, log


def _finish(procs: list[subprocess.Popen[bytes]], log: Path) -> list[int]:
    codes = []
    for proc in procs:
        try:
            codes.append(proc.wait(timeout=240))
        except subprocess.TimeoutExpired:
            proc.kill()
            raise AssertionError(log.read_text()[-3000:]) from None
    return codes


def _verified(path: Path, sim: Any) -> dict[str, Any]:
    state: dict[str, Any] = sim.get("/_sim/state")
    verification = verify_against_state(read_input(path), state)
    assert verification.ok, str(verification)
    return state


def test_four_workers_provision_one_input_exactly_once(
    simulator_process: Any, postgres_url: str, state_url: str, redis_url: str,
    key_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    """4 worker processes share one run: every resident once, one login for all of them."""
    sim = simulator_process()
    shared = f"{redis_url}?prefix={key_prefix}"
    path, _common_args, procs, log = _fleet(
        tmp_path, sim, postgres_url, state_url, shared, count=800, workers=4
    )
    assert _finish(procs, log) == [0, 0, 0, 0], log.read_text()[-3000:]
    state = _verified(path, sim)
    assert len(state["credentials"]) == 797
    assert state["counters"]["logins"]["succeeded"] == 1
    assert (tmp_path / "r" / "succeeded.csv").read_text().count("\n") == 798


def test_kill_9_of_random_workers_with_faults_on_still_creates_each_resident_once(
    simulator_process: Any, postgres_url: str, state_url: str, redis_url: str,
    key_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    """SIGKILL a random worker 3 times (restarted each time), faults on: state equals input."""
    sim = simulator_process("--faults", "500=0.02,503=0.02,reset_after=0.02", "--seed", "5")
    shared = f"{redis_url}?prefix={key_prefix}"
    path, common, procs, log = _fleet(
        tmp_path, sim, postgres_url, state_url, shared, count=1000, workers=4, lease="2"
    )
    rng = random.Random(12)
    for target in (200, 450, 700):
        _wait(lambda t=target: len(sim.get("/_sim/state")["credentials"]) >= t, f"{target}")
        alive = [p for p in procs if p.poll() is None]
        if not alive:
            break
        victim = rng.choice(alive)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait() == -signal.SIGKILL
        procs[procs.index(victim)] = _start(["work", *common], log)
    codes = _finish(procs, log)
    assert set(codes) <= {0, 75}, log.read_text()[-3000:]  # 75: deferred rows remain
    for _ in range(5):  # a later worker retries the deferred rows, as a rerun would
        again = _finish([_start(["work", *common], log)], log)
        if again == [0]:
            break
    assert again == [0], log.read_text()[-3000:]
    state = _verified(path, sim)
    assert len(state["credentials"]) == 997  # one credential per good resident, ever


def test_redis_restarted_mid_run_costs_at_most_one_login_and_no_duplicate(
    simulator_process: Any, postgres_url: str, state_url: str, private_redis: PrivateRedis,
    tmp_path: Path,
) -> None:  # fmt: skip
    """Redis killed (all keys lost) and restarted mid-run: at most one extra login."""
    sim = simulator_process()
    path, _common_args, procs, log = _fleet(
        tmp_path, sim, postgres_url, state_url, private_redis.url, count=800, workers=2,
        rate="200",
    )  # fmt: skip
    _wait(lambda: len(sim.get("/_sim/state")["credentials"]) >= 150, "150 credentials")
    private_redis.stop()
    time.sleep(1.0)
    private_redis.start()
    assert _finish(procs, log) == [0, 0], log.read_text()[-3000:]
    state = _verified(path, sim)
    assert len(state["credentials"]) == 797
    assert state["counters"]["logins"]["succeeded"] <= 2


def test_a_dropped_postgres_connection_reconnects_or_stops_resumably(
    simulator_process: Any, postgres_url: str, state_url: str, redis_url: str,
    key_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    """pg_terminate_backend mid-run: the worker goes on or exits 75; the rerun completes."""
    sim = simulator_process()
    shared = f"{redis_url}?prefix={key_prefix}"
    path, common, procs, log = _fleet(
        tmp_path, sim, postgres_url, state_url, shared, count=800, workers=1, rate="200"
    )
    worker = procs[0]
    _wait(lambda: len(sim.get("/_sim/state")["credentials"]) >= 150, "150 credentials")
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        killed = conn.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name LIKE %s",
            (f"schlage-bulk %:{worker.pid}:%",),
        ).fetchone()
    assert killed is not None
    assert killed[0] >= 1
    code = _finish([worker], log)[0]
    assert code in (0, 75), log.read_text()[-3000:]
    if code == 75:
        assert _finish([_start(["work", *common], log)], log) == [0], log.read_text()[-3000:]
    state = _verified(path, sim)
    assert len(state["credentials"]) == 797
