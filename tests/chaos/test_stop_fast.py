"""A stop is quick and clean whatever the input's size and however early it comes (issue 9).

A SIGTERM on a long input leaves the rows not yet read unread (the reports still list
each one as unprocessed) instead of recording every one before exiting; a signal while
the command is still importing its modules ends it with exit 75 and no traceback.
"""

from __future__ import annotations

import csv
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from bulk import generate_portfolio


def _csv_rows(path: Path) -> int:
    with path.open(newline="", encoding="utf-8") as handle:
        return sum(1 for _ in csv.DictReader(handle))


def _catches(pid: int, sig: signal.Signals) -> bool:
    """Whether process ``pid`` has a handler for ``sig`` (Linux: SigCgt in its status)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    mask = next(line for line in status.splitlines() if line.startswith("SigCgt:"))
    return bool(int(mask.split()[1], 16) & (1 << (sig - 1)))


@pytest.mark.slow
def test_sigterm_on_a_long_input_leaves_the_rest_unread_and_reported(
    simulator_process: Any, admin_env: dict[str, str], tmp_path: Path
) -> None:
    """100,000 rows, SIGTERM after a few: exit 75, few records, every line in a report."""
    sim = simulator_process()
    rows = 100_000
    path = generate_portfolio(tmp_path / "p.jsonl", rows, seed=8).path
    reports = tmp_path / "reports"
    command = [
        sys.executable, "-m", "bulk", "migrate", str(path), "--base-url", sim.api_base_url,
        "--state", str(tmp_path / "s.sqlite"), "--report-dir", str(reports), "--rate", "100",
        "--progress", "none",
    ]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
        command, env=admin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 120
    while len(sim.get("/_sim/state")["credentials"]) < 20:
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        assert time.monotonic() < deadline
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode == 75, err[-2000:]
    with sqlite3.connect(tmp_path / "s.sqlite") as conn:
        recorded = conn.execute("SELECT COUNT(*) FROM residents").fetchone()[0]
    assert recorded < rows // 10  # the rest was left unread, not written row by row
    total = sum(_csv_rows(reports / f"{n}.csv") for n in ("succeeded", "failed", "unprocessed"))
    assert total == rows


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "sigint"])
def test_a_signal_while_starting_exits_75_without_a_traceback(
    sig: signal.Signals, tmp_path: Path, admin_env: dict[str, str]
) -> None:
    """Sent while the command still imports: exit 75, the stop message, no traceback."""
    path = generate_portfolio(tmp_path / "p.jsonl", 20, seed=1).path
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = [
        sys.executable, "-m", "bulk", "migrate", str(path), "--base-url",
        f"http://127.0.0.1:{port}/api", "--progress", "none", "--state", str(tmp_path / "s"),
    ]  # fmt: skip
    proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
        command, env=admin_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while not _catches(proc.pid, signal.SIGTERM):  # the first thing `bulk` does
        assert proc.poll() is None
        assert time.monotonic() < deadline
        time.sleep(0.001)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 75, err[-2000:]
    assert "Traceback" not in err
    assert f"{sig.name}: stopping" in err
    assert "Migration stopped" in out
