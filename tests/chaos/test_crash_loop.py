"""Crash loop: ``kill -9`` the engine at seeded random points of one migration, rerun each time.

``python -m bulk migrate --verbose --log-format json`` logs one line per HTTP request; a
reader thread counts them and sends SIGKILL once the run has made the drawn number of
requests, so kills land anywhere: between an intent's commit and its create, between a
create's answer and its checkpoint, mid-save, mid-commit. The simulator (a subprocess
too) also drops answers after committing and answers 5xx and truncated bodies. After the
last kill the same command runs to the end, and the simulator must hold exactly the input.

Sizes: ``--chaos-kills`` kills (CI 3, full 10) over ``400 * (kills + 1)`` residents; the
kill points follow from ``--chaos-seed``, so a failure replays with the same seed.
"""

from __future__ import annotations

import csv
import json
import random
import signal
import subprocess
import threading
from pathlib import Path
from typing import IO, Any, Final

import pytest

from bulk import generate_portfolio, read_input, verify_against_state

FAULTS: Final = "reset_after=0.02,500=0.01,503=0.01,truncate=0.01"
FINAL_RERUNS: Final = 3
"""Runs after the last kill: the first finishes the migration, a rerun retries deferrals."""
REQUESTS_PER_RESIDENT: Final = 1.6
"""A cautious floor of HTTP requests per resident (a create, most have a save)."""


def _count_requests_then_kill(
    proc: subprocess.Popen[str], stream: IO[str], kill_after: int, seen: list[int]
) -> None:
    """Read the run's log lines; SIGKILL it at the ``kill_after``-th request line."""
    count = 0
    for line in stream:
        if '"schlage.request"' in line:
            count += 1
            if count == kill_after:
                proc.send_signal(signal.SIGKILL)
    seen.append(count)


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.chaos_sized
@pytest.mark.parametrize("vary", [False, True], ids=["fixed", "vary"])
def test_sigkill_at_random_points_then_rerun_leaves_the_service_exact(
    simulator_process: Any,
    migrate_command: Any,
    admin_env: dict[str, str],
    tmp_path: Path,
    chaos_kills: int,
    chaos_seed: int,
    vary: bool,
) -> None:
    """However many kills, wherever they land, whatever form answers take: every resident once."""
    rng = random.Random(chaos_seed)
    residents = 400 * (chaos_kills + 1)
    bad = residents // 200
    varied = ("--vary", str(chaos_seed)) if vary else ()
    sim = simulator_process("--faults", FAULTS, "--seed", str(chaos_seed), *varied)
    path = generate_portfolio(tmp_path / "p.jsonl", residents, seed=chaos_seed, bad_rows=bad).path
    reports = tmp_path / "reports"
    command = migrate_command(
        path, sim.api_base_url, reports, "--rate", "0", "--concurrency", "32", "--verbose"
    )
    # Kill points as cumulative request counts, spread over the migration's requests.
    points = sorted(rng.sample(range(1, int(REQUESTS_PER_RESIDENT * residents)), chaos_kills))
    runs = [b - a for a, b in zip([0, *points], points, strict=False)]
    replay = (
        f"(replay: pytest {__file__} --chaos-kills {chaos_kills} --chaos-seed {chaos_seed}"
        f"{' -k vary' if vary else ''}; "
        f"kills after {runs} requests)"
    )

    for kill_after in runs:
        proc = subprocess.Popen(  # noqa: S603  # our interpreter, our module
            command,
            env=admin_env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stderr is not None
        seen: list[int] = []
        reader = threading.Thread(
            target=_count_requests_then_kill, args=(proc, proc.stderr, kill_after, seen)
        )
        reader.start()
        code = proc.wait(timeout=120)
        reader.join(timeout=30)
        proc.stderr.close()
        assert code == -signal.SIGKILL, f"the run ended ({code}) before its kill point {replay}"

    # The faults stay on in the final run too, so a resident can meet three faults in a
    # row and be left deferred (exit 75, "rerun to retry them"): rerun as a user would,
    # a bounded number of times.
    for _ in range(FINAL_RERUNS):
        final = subprocess.run(  # noqa: S603  # our interpreter, our module
            command, env=admin_env, capture_output=True, text=True, timeout=300, check=False
        )
        if final.returncode != 75 or "deferred after retryable errors" not in final.stderr:
            break
    assert final.returncode == 0, f"{final.stderr[-3000:]} {replay}"

    state = sim.get("/_sim/state")
    verification = verify_against_state(read_input(path), state)
    assert verification.ok, f"{verification} {replay}"
    assert len(state["credentials"]) == residents - bad, replay  # one each, ever
    creates = state["counters"]["requests"]["create_credential"]
    assert "409" not in creates, f"a create was replayed blindly {replay}"
    summary = json.loads((reports / "summary.json").read_text())
    assert summary["counts"] == {
        "total_rows": residents,
        "succeeded": residents - bad,
        "failed": bad,
        "deferred": 0,
        "unprocessed": 0,
    }, replay
    lines = [int(r["line"]) for r in _csv(reports / "succeeded.csv") + _csv(reports / "failed.csv")]
    assert sorted(lines) == list(range(1, residents + 1)), replay
    assert _csv(reports / "unprocessed.csv") == []
    print(
        f"\ncrash loop{' (variance mode)' if vary else ''}: {residents:,} residents, "
        f"kills after {runs} requests of each run"
    )
