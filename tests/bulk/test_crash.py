"""Killing ``python -m bulk migrate`` mid-run (SIGKILL, SIGTERM) and rerunning it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bulk import generate_portfolio, read_input, verify_against_state

ENV = {
    "SCHLAGE_USERNAME": "admin@sim.example",
    "SCHLAGE_PASSWORD": "sim-admin-password",
    "SCHLAGE_SUBSCRIPTION_KEY": "sim-subscription-key",
}


def _command(path: Path, base_url: str, reports: Path, rate: str) -> list[str]:
    return [
        sys.executable, "-m", "bulk", "migrate", str(path), "--base-url", base_url,
        "--rate", rate, "--progress", "log", "--report-dir", str(reports), "--log-format", "json",
    ]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, **ENV}


@pytest.mark.slow
def test_sigkill_at_several_points_then_rerun_creates_everyone_exactly_once(
    simulator_process: Any, tmp_path: Path
) -> None:
    """Whatever the crash point: no resident created twice, none missing, no blind replay."""
    sim = simulator_process("--faults", "reset_after=0.02", "--seed", "3")
    path = generate_portfolio(tmp_path / "p.jsonl", 1200, seed=21, bad_rows=4).path
    command = _command(path, sim.api_base_url, tmp_path / "reports", "400")
    for target in (250, 600, 950):  # kill once the service holds this many credentials
        proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
            command, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 60
        while len(sim.get("/_sim/state")["credentials"]) < target:
            assert proc.poll() is None, "the run ended before the kill point"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    final = subprocess.run(  # noqa: S603  # our interpreter, our module
        command, env=_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert final.returncode == 0, final.stderr[-2000:]
    state = sim.get("/_sim/state")
    verification = verify_against_state(read_input(path), state)
    assert verification.ok, str(verification)
    assert len(state["credentials"]) == 1196  # one credential per good resident, ever
    assert "409" not in state["counters"]["requests"]["create_credential"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_stops_resumably_with_exit_75_and_the_rerun_command(
    sig: signal.Signals, simulator_process: Any, tmp_path: Path
) -> None:
    """The calls in flight finish, the checkpoint is flushed, exit 75; the rerun finishes."""
    sim = simulator_process()
    path = generate_portfolio(tmp_path / "p.jsonl", 600, seed=5).path
    command = _command(path, sim.api_base_url, tmp_path / "reports", "200")
    proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
        command, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        proc.wait(1.5)
    except subprocess.TimeoutExpired:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err[-2000:]
    assert "stopping after the calls in flight" in err
    assert "Stopped resumably" in err
    assert f"python -m bulk migrate {path}" in err
    assert "Migration stopped" in out
    again = subprocess.run(  # noqa: S603  # our interpreter, our module
        command, env=_env(), capture_output=True, text=True, timeout=120, check=False
    )
    assert again.returncode == 0, again.stderr[-2000:]
    verification = verify_against_state(read_input(path), sim.get("/_sim/state"))
    assert verification.ok, str(verification)
