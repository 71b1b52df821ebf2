"""What a benchmarked process used: its peak RSS (polled) and its CPU seconds."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra

__all__ = ["Watched", "cpu_seconds", "run_watched", "vm_hwm_kib"]

_POLL = 0.02  # seconds between two VmHWM reads of a watched process


def vm_hwm_kib(pid: int) -> int:
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


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds the (live) process has used so far."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


@dataclass(frozen=True, slots=True)
class Watched:
    """How a watched command ended: exit code, wall seconds and peak RSS."""

    returncode: int
    wall_s: float
    peak_rss_kib: int

    @property
    def peak_rss_mib(self) -> float:
        """Peak RSS in MiB."""
        return self.peak_rss_kib / 1024


def run_watched(
    command: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    stdout: IO[str] | int | None = subprocess.DEVNULL,
    stderr: IO[str] | int | None = subprocess.DEVNULL,
) -> Watched:
    """Run ``command`` to its end, reading its ``VmHWM`` every 20 ms.

    ``VmHWM`` is the kernel's own high-water mark, so polling misses nothing but a rise
    in the last poll interval before the process exits.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(command), env=dict(env) if env is not None else None, cwd=cwd,
        stdout=stdout, stderr=stderr,
    )  # fmt: skip
    peak = 0
    while proc.poll() is None:
        peak = max(peak, vm_hwm_kib(proc.pid))
        time.sleep(_POLL)
    return Watched(proc.returncode, time.perf_counter() - started, peak)
