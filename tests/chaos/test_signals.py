"""Signals: SIGINT/SIGTERM stop a run resumably with everything kept; a second SIGINT at once.

``tests/bulk/test_crash.py`` checks the exit code, the messages and that a rerun finishes.
Here the promises behind them are checked against the simulator and the checkpoint file:
after one signal the calls in flight finish, every credential the service holds is in the
checkpoint with its id, and the reports account for every row; a second SIGINT while the
calls in flight are slow (the simulator holds each answer 10 s) ends the process at once,
and still every credential the service holds has at least its durable ``creating`` intent,
so the rerun reconciles instead of creating again.
"""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any, Final

import pytest

from bulk import generate_portfolio, read_input, verify_against_state

RESIDENTS: Final = 1000


def _records(state: Path) -> dict[str, tuple[str, str | None]]:
    """The checkpoint as the process left it: user id -> (state, credential id)."""
    connection = sqlite3.connect(state)
    try:
        rows = connection.execute("SELECT user_id, state, credential_id FROM residents")
        return {str(user).lower(): (s, cred) for user, s, cred in rows if user}
    finally:
        connection.close()


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen[Any], what: str) -> None:
    """Poll ``condition`` while the run goes on (it must not end first)."""
    deadline = time.monotonic() + 60
    while not condition():
        assert proc.poll() is None, f"the run ended before {what}"
        assert time.monotonic() < deadline, f"no {what} within 60 s"
        time.sleep(0.02)


class Lines:
    """The run's stderr, read by a thread: every line, and whether one has appeared yet."""

    def __init__(self, stream: IO[str]) -> None:
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self.lines.append(line)

    def seen(self, text: str) -> bool:
        """Whether a line holding ``text`` has been written yet."""
        return any(text in line for line in self.lines)

    def text(self) -> str:
        """Everything the run wrote (once it has ended)."""
        self._thread.join(timeout=30)
        return "".join(self.lines)


def _rerun_to_the_end(command: list[str], env: Mapping[str, str], path: Path, sim: Any) -> None:
    """Rerun the stopped command (unthrottled) and check the service holds the input exactly."""
    again = subprocess.run(  # noqa: S603  # our interpreter, our module
        [*command, "--rate", "0"], env=env, capture_output=True, text=True, timeout=180, check=False
    )
    assert again.returncode == 0, again.stderr[-3000:]
    state = sim.get("/_sim/state")
    verification = verify_against_state(read_input(path), state)
    assert verification.ok, str(verification)
    assert len(state["credentials"]) == RESIDENTS  # nobody created twice
    assert "409" not in state["counters"]["requests"]["create_credential"]


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
def test_one_signal_flushes_the_checkpoint_writes_the_reports_and_exits_75(
    sig: signal.Signals,
    simulator_process: Any,
    migrate_command: Any,
    admin_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Every credential the service holds is checkpointed with its id; reports cover all."""
    sim = simulator_process()
    path = generate_portfolio(tmp_path / "p.jsonl", RESIDENTS, seed=12).path
    reports = tmp_path / "reports"
    command = migrate_command(path, sim.api_base_url, reports, "--rate", "300")
    proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
        command, env=admin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _wait_for(lambda: len(sim.get("/_sim/state")["credentials"]) >= 150, proc, "150 credentials")
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err[-3000:]
    assert "Stopped resumably (stopped on request (signal))" in err

    held = sim.get("/_sim/state")["credentials"]
    assert 150 <= len(held) < RESIDENTS
    records = _records(next(path.parent.glob(f"{path.name}.*.state.sqlite")))
    for credential in held:  # answered before the stop, so recorded before the exit
        state, credential_id = records[credential["userId"].lower()]
        assert state in ("created", "done"), (credential["userId"], state)
        assert credential_id == credential["credentialId"]

    summary = json.loads((reports / "summary.json").read_text())
    assert summary["status"] == "stopped"
    assert summary["stop_reason"] == "signal"
    assert summary["counts"]["succeeded"] == sum(1 for s, _ in records.values() if s == "done")
    rows = [
        int(r["line"])
        for name in ("succeeded.csv", "failed.csv", "unprocessed.csv")
        for r in _csv(reports / name)
    ]
    assert sorted(rows) == list(range(1, RESIDENTS + 1))  # every row, exactly once
    assert "Migration stopped" in out

    _rerun_to_the_end(command, admin_env, path, sim)


@pytest.mark.slow
def test_a_second_sigint_stops_at_once_and_still_loses_nothing(
    simulator_process: Any,
    migrate_command: Any,
    admin_env: dict[str, str],
    tmp_path: Path,
) -> None:
    """Calls in flight held 10 s by the service: the second SIGINT ends the run well before."""
    sim = simulator_process("--seed", "5")
    path = generate_portfolio(tmp_path / "p.jsonl", RESIDENTS, seed=13).path
    command = migrate_command(
        path, sim.api_base_url, tmp_path / "reports", "--rate", "300", "--concurrency", "8"
    )
    proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
        command, env=admin_env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    assert proc.stderr is not None
    stderr = Lines(proc.stderr)
    _wait_for(lambda: len(sim.get("/_sim/state")["credentials"]) >= 100, proc, "100 credentials")
    sim.post("/_sim/faults", {"spec": "slow=1,slow_seconds=10"})  # every answer now waits 10 s
    _wait_for(
        lambda: sim.get("/_sim/state")["faults"]["injected"].get("slow", 0) >= 8,
        proc,
        "every worker in a slow call",
    )
    proc.send_signal(signal.SIGINT)
    _wait_for(lambda: stderr.seen("stopping after the calls in flight"), proc, "the first stop")
    second = time.monotonic()
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=30)
    took = time.monotonic() - second
    err = stderr.text()
    proc.stderr.close()
    assert code == 75, err[-3000:]
    assert took < 5, f"the second SIGINT took {took:.1f} s (the slow answers hold 10 s)"
    assert "aborted; the checkpoint keeps every resident" in err

    # Nothing lost: each credential the service holds has at least its durable intent.
    records = _records(next(path.parent.glob(f"{path.name}.*.state.sqlite")))
    for credential in sim.get("/_sim/state")["credentials"]:
        state, credential_id = records[credential["userId"].lower()]
        assert state in ("creating", "created", "done", "deferred"), state
        if credential_id is not None:
            assert credential_id == credential["credentialId"]

    sim.post("/_sim/faults", {"spec": "none"})
    _rerun_to_the_end(command, admin_env, path, sim)
