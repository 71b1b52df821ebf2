"""A fleet's workers serve their metrics: ``--metrics-port`` scraped over HTTP mid-run.

Two ``python -m bulk`` processes (``migrate`` loading the input into PostgreSQL, then a
``work`` beside it) share one run through Redis, each serving Prometheus text on its own
loopback port; the test scrapes both over HTTP while they provision, until each shows
residents done.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from bulk import generate_portfolio, read_input, verify_against_state

pytest.importorskip("opentelemetry.exporter.prometheus", reason="needs the metrics extra")

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

ENV = {
    "SCHLAGE_USERNAME": "admin@sim.example",
    "SCHLAGE_PASSWORD": "sim-admin-password",
    "SCHLAGE_SUBSCRIPTION_KEY": "sim-subscription-key",
}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _scrape(port: int) -> str | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            return str(answer.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return None  # not listening yet, or already gone


def _total(text: str, metric: str, **labels: str) -> float:
    """The sum of ``metric``'s samples whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(metric + "{"):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_each_fleet_worker_serves_its_metrics_while_it_works(
    simulator_process: Any, postgres_url: str, state_url: str, redis_url: str,
    key_prefix: str, tmp_path: Path,
) -> None:  # fmt: skip
    """Both workers answer ``/metrics`` mid-run with their requests, rows and limiter waits."""
    sim = simulator_process()
    path = generate_portfolio(tmp_path / "p.jsonl", 400, seed=3, bad_rows=2).path
    common = [
        "--base-url", sim.api_base_url, "--state", state_url,
        "--shared", f"{redis_url}?prefix={key_prefix}", "--rate", "100",
        "--progress", "none", "--log-format", "json",
    ]  # fmt: skip
    ports = [_free_port(), _free_port()]
    log = tmp_path / "fleet.log"
    env = {**os.environ, **ENV}
    procs: list[subprocess.Popen[bytes]] = []
    first = ["migrate", str(path), *common, "--report-dir", str(tmp_path / "r")]
    with log.open("ab") as handle:
        for n, args in enumerate((first, ["work", *common])):
            if n:
                time.sleep(1.0)  # the first worker loads the input; the second joins it
            procs.append(
                subprocess.Popen(  # noqa: S603  # our interpreter, our module
                    [sys.executable, "-m", "bulk", *args, "--metrics-port", str(ports[n])],
                    env=env,
                    stdout=handle,
                    stderr=handle,
                )
            )
    seen: dict[int, str] = {}
    deadline = time.monotonic() + 120
    while len(seen) < len(ports) and time.monotonic() < deadline:
        for port in ports:
            text = _scrape(port)
            if text and _total(text, "bulk_rows_total", bulk_state="done") > 0:
                seen[port] = text
        if any(p.poll() is not None for p in procs) and len(seen) < len(ports):
            break  # a worker ended before it was seen working
        time.sleep(0.2)
    codes = [p.wait(timeout=240) for p in procs]
    assert codes == [0, 0], log.read_text()[-3000:]
    assert set(seen) == set(ports), log.read_text()[-3000:]
    for text in seen.values():
        assert _total(text, "schlage_client_requests_total", schlage_status_class="2xx") > 0
        assert _total(text, "bulk_limiter_wait_seconds_count") > 0
        assert re.search(r"^schlage_client_duration_seconds_bucket\{", text, re.MULTILINE)
        assert "bulk_queue_depth" in text
        assert "+1555" not in text  # no number, no id: names and counts only
    state = sim.get("/_sim/state")
    assert verify_against_state(read_input(path), state).ok
