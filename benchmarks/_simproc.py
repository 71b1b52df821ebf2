"""Run the simulator in its own process, so a benchmark never measures it with the client.

Both sides then have a core each on a two-core machine, and the simulator's CPU is not
charged to the client's CPU-seconds.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = ["SimProcess", "listening_process", "simulator_process"]

_LISTENING = re.compile(r"listening on (http://\S+)")

ADMIN_USERNAME = "admin@sim.example"
ADMIN_PASSWORD = "sim-admin-password"  # the simulator's documented default, not a secret
SUBSCRIPTION_KEY = "sim-subscription-key"


@dataclass(frozen=True, slots=True)
class SimProcess:
    """A running simulator subprocess and how to reach it."""

    url: str
    pid: int

    @property
    def api_base_url(self) -> str:
        """Surface A's base URL on this simulator."""
        return self.url + "/test/smc-api"

    def post(self, path: str, body: bytes = b"{}") -> bytes:
        """POST to a ``/_sim/`` endpoint (blocking; used between measured phases)."""
        req = urllib.request.Request(  # noqa: S310  # loopback URL we started ourselves
            self.url + path, data=body, method="POST", headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310  # same
            return bytes(resp.read())

    def get(self, path: str) -> bytes:
        """GET a ``/_sim/`` endpoint (blocking)."""
        with urllib.request.urlopen(self.url + path, timeout=60) as resp:  # noqa: S310  # same
            return bytes(resp.read())

    def reset(self) -> None:
        """Forget every credential and counter (issued tokens stay valid)."""
        self.post("/_sim/reset")


@contextlib.contextmanager
def simulator_process(args: Sequence[str] = (), *, timeout: float = 30.0) -> Iterator[SimProcess]:
    """Start ``python -m schlage_async.simulator --port 0 ARGS``; stop it on exit."""
    command = [sys.executable, "-m", "schlage_async.simulator", "--host", "127.0.0.1"]
    with listening_process([*command, "--port", "0", *args], "simulator", timeout) as sim:
        yield sim


@contextlib.contextmanager
def listening_process(
    command: Sequence[str], what: str, timeout: float = 30.0
) -> Iterator[SimProcess]:
    """Start a server that prints ``listening on URL``; stop it on exit.

    Its stderr goes to a temporary file, not a pipe nobody reads: a server that warns
    a lot must never block on a full pipe in the middle of a measurement.
    """
    errors = tempfile.TemporaryFile("w+")  # noqa: SIM115  # closed in the finally below
    proc = subprocess.Popen(
        list(command),
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + timeout
        url = None
        assert proc.stdout is not None
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            match = _LISTENING.search(line)
            if match:
                url = match.group(1)
                break
        if url is None:
            proc.kill()
            proc.wait()
            errors.seek(0)
            raise RuntimeError(f"{what} did not start: {errors.read().strip()[:500]}")
        yield SimProcess(url=url, pid=proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        errors.close()
