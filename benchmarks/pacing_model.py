"""``--adaptive`` in virtual time: the engine's pacing against the simulator's bucket.

A tool for tuning :class:`~schlage_async.AimdController` in seconds instead of minutes of
real cells: the real controller, the simulator's own :class:`CredentialRateLimiter` read
through a virtual clock, and the engine's side as it behaves on the simulator:

* calls leave strictly spaced (no two closer than an interval, as ``bulk``'s spacer keeps
  them below 100/s), and a change of rate applies two calls late (the caller at the head
  of the line holds its moment, the next one's was taken at the old rate);
* every answer comes back after ``latency``, arrivals jitter by up to ``jitter``;
* a 429 pauses every call for its ``Retry-After``, and while it holds, the engine's
  workers each take a slot, find the pause and drop the slot (``on_sent`` counted, no
  call sent), up to ``workers`` of them.

With those, it reproduced the engine's logged cuts in the R 5 / bucket 5 cell (40 -> 20 at
0.65 s, then 25.7, 23.3, 18, 12.5 and 7.9 met by 8.6 s, against 0.654 to 8.773 s on the
simulator). It models no event-loop timers, so above 100/s (where the real spacer keeps
the rate through the timers' grain, and arrival jitter meets a bucket of one) it is not
the engine. ``tests/bulk/test_adaptive_pacing.py`` holds a simpler model of the same, as
tests.

Run: ``python -m benchmarks.pacing_model R BURST SECONDS [--seeds N] [--verbose]``: the
second half's rate over R and the 429s, per jitter seed; ``--verbose`` prints every cut.
"""

from __future__ import annotations

import argparse
import math
import random
from dataclasses import dataclass

from schlage_async import AimdController
from schlage_async.simulator._clock import SimClock
from schlage_async.simulator._gateway import CredentialRateLimiter

__all__ = ["ModelRun", "VirtualClock", "run_model"]


class VirtualClock(SimClock):
    """The simulator's clock, moved only by whoever holds it (the model, a test)."""

    __slots__ = ("t",)

    def __init__(self) -> None:
        super().__init__()
        self.t = 0.0

    def monotonic(self) -> float:
        return self.t


@dataclass(frozen=True, slots=True)
class ModelRun:
    """One modelled cell: calls sent, 429s, and the second half's rate over R."""

    rate: float
    burst: float
    calls: int
    refused: int
    utilization: float
    cuts: list[tuple[float, float, float]]  # (when, rate before, rate after)

    @property
    def share_429(self) -> float:
        """429s over calls."""
        return self.refused / max(self.calls, 1)


def run_model(
    rate: float,
    burst: float,
    seconds: float,
    *,
    seed: int = 1,
    latency: float = 0.003,
    jitter: float = 0.001,
    workers: int = 32,
) -> ModelRun:
    """Pace ``seconds`` of calls with a fresh controller against a bucket of ``burst``."""
    rng = random.Random(seed)
    clock = VirtualClock()
    gateway = CredentialRateLimiter(rate, clock, burst=burst)
    now = 0.0
    aimd = AimdController(clock=lambda: now)
    tat = pause_end = 0.0
    previous_interval = 1.0 / aimd.rate
    calls = refused = late_ok = 0
    cuts: list[tuple[float, float, float]] = []
    while True:
        leave = max(tat, pause_end)
        if leave >= seconds:
            break
        interval = 1.0 / aimd.rate
        tat = leave + max(interval, previous_interval)  # the change applies two calls late
        previous_interval = interval
        now = leave
        aimd.on_sent()
        clock.t = leave + rng.uniform(0.0, jitter)
        retry_after = gateway.acquire("integration")
        calls += 1
        now = leave + latency
        if retry_after is None:
            aimd.on_success()
            late_ok += now > seconds / 2
            continue
        refused += 1
        before = aimd.rate
        aimd.on_throttled()
        if aimd.rate != before:
            cuts.append((now, before, aimd.rate))
        pause_end = max(pause_end, now + retry_after)
        slot, dropped = now, 0
        while dropped < workers and slot < pause_end:  # slots taken and dropped
            now = slot
            aimd.on_sent()
            dropped += 1
            slot += 1.0 / aimd.rate
    return ModelRun(rate, burst, calls, refused, late_ok / (rate * seconds / 2), cuts)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pacing_model")
    parser.add_argument("rate", type=float, help="the gateway's rate R (req/s)")
    parser.add_argument("burst", type=float, help="the gateway bucket's size (requests)")
    parser.add_argument("seconds", type=float, help="how long the cell runs")
    parser.add_argument("--seeds", type=int, default=4, help="jitter seeds (default 4)")
    parser.add_argument("--verbose", action="store_true", help="print every cut")
    args = parser.parse_args()
    if not (math.isfinite(args.rate) and args.rate > 0 and args.burst >= 1 and args.seconds > 0):
        parser.error("rate and seconds must be positive, burst at least 1")
    for seed in range(args.seeds):
        run = run_model(args.rate, args.burst, args.seconds, seed=seed)
        print(
            f"seed {seed}: {run.utilization:.3f} R in the second half, "
            f"{run.refused} x 429 of {run.calls} calls ({run.share_429:.2%})"
        )
        if args.verbose:
            for when, before, after in run.cuts:
                print(f"  {when:8.3f} s  {before:7.2f} -> {after:7.2f}")


if __name__ == "__main__":
    main()
