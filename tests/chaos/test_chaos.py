"""Chaos: a whole migration through every fault the simulator injects, ending exact.

The simulator runs in its own process (``python -m schlage_async.simulator``, so the
engine and the service each have a core) with 5 % 5xx answers, 2 % connection resets
(half before, half after the write commits) and 1 % answers slower than the client's
timeout, all through the run. On top, at set points of the migration, driven through the
``/_sim/`` endpoints: the token is revoked (twice), a 429 storm blows, and the account is
blocked (the run stops resumably; the test moves the simulator's clock past the block and
resumes, as an operator would). The engine runs in this process with the real client and
the SQLite checkpoint; its backoffs and 429 pauses go through a fake clock, so nothing
sleeps for real except the simulator's slow answers.

Sizes: ``--chaos-size`` residents (CI 2,000; full 20,000), seeded by ``--chaos-seed``.
"""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import time
from collections import Counter
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Final

import pytest

from bulk import (
    MigrationOptions,
    MigrationStatus,
    MigrationSummary,
    ProgressSnapshot,
    Resident,
    ResidentState,
    SQLiteCheckpointStore,
    StopReason,
    generate_portfolio,
    migrate,
    read_input,
    verify_against_state,
    write_reports,
)
from bulk._calls import ENGINE_RETRY_POLICY
from bulk._pause import PauseGate
from schlage_async import Operation, SchlageClient
from schlage_async.simulator import DEFAULT_ACCOUNTS

ADMIN = DEFAULT_ACCOUNTS.admin
CLIENT_TIMEOUT: Final = 0.5
"""The client's per-request budget (s); the simulator's slow answers take twice that."""
BASE_FAULTS: Final = (
    "500=0.02,502=0.01,503=0.02,"  # 5 % 5xx
    "reset_before=0.01,reset_after=0.01,"  # 2 % resets, half after the commit
    f"slow=0.01,slow_seconds={2 * CLIENT_TIMEOUT}"  # 1 % slower than the client's timeout
)
STORM_FAULTS: Final = BASE_FAULTS + ",storm=0.6"
BLOCK_FAULTS: Final = BASE_FAULTS + ",block_after=1,block_seconds=900"
LOGIN: Final = Operation.LOGIN.value
MAX_RUNS: Final = 12
"""Runs at most: the first, and resumes after the block, a storm or deferrals."""


@dataclass
class ChaosScript:
    """A progress sink that fires the mid-run events once the migration gets far enough.

    ``update`` (called by the engine a few times a second) only records the snapshot;
    :meth:`drive` (a task beside the run) acts on it through the ``/_sim/`` endpoints.
    """

    sim: Any
    good: int
    done_before: int = 0
    snapshot: ProgressSnapshot | None = None
    fired: list[str] = field(default_factory=list)
    storm_started: float | None = None
    storm_rate_limited: int = 0
    _tick: asyncio.Event = field(default_factory=asyncio.Event)

    # The events, in order: (name, share of the good residents done before it fires).
    EVENTS: ClassVar[tuple[tuple[str, float], ...]] = (
        ("revoke", 0.15),
        ("storm", 0.30),
        ("storm_end", 0.30),
        ("block", 0.55),
        ("revoke_again", 0.80),
    )

    def start(self, total: int | None) -> None:
        """A run begins (the progress sink protocol)."""

    def update(self, snapshot: ProgressSnapshot) -> None:
        """Keep the latest snapshot and wake :meth:`drive`."""
        self.snapshot = snapshot
        self._tick.set()

    def finish(self, snapshot: ProgressSnapshot) -> None:
        """A run ended."""
        self.snapshot = snapshot

    async def _post(self, path: str, body: Mapping[str, object]) -> None:
        await asyncio.to_thread(self.sim.post, path, body)

    async def drive(self) -> None:
        """Fire each event once its point is reached; runs until cancelled."""
        while len(self.fired) < len(self.EVENTS):
            await self._tick.wait()
            self._tick.clear()
            snap = self.snapshot
            if snap is None:
                continue
            name, share = self.EVENTS[len(self.fired)]
            if self.done_before + snap.succeeded < share * self.good:
                continue
            if name.startswith("revoke"):
                await asyncio.to_thread(self.sim.post, "/_sim/tokens/revoke", {})
            elif name == "storm":
                await self._post("/_sim/faults", {"spec": STORM_FAULTS})
                self.storm_started = time.monotonic()
                self.storm_rate_limited = snap.rate_limited
            elif name == "storm_end":
                assert self.storm_started is not None
                blown = snap.rate_limited - self.storm_rate_limited
                if blown < 100 and time.monotonic() - self.storm_started < 1.0:
                    continue
                await self._post("/_sim/faults", {"spec": BASE_FAULTS})
            elif name == "block":
                await self._post("/_sim/faults", {"spec": BLOCK_FAULTS})
            self.fired.append(name)


def _requests(counters: Mapping[str, Any], operation: str | None = None) -> int:
    """Requests the simulator counted (every status, drops as 0), for one operation or all."""
    by_op: Mapping[str, Mapping[str, int]] = counters["requests"]
    ops = [operation] if operation is not None else [op for op in by_op if op != "unknown"]
    return sum(sum(by_op.get(op, {}).values()) for op in ops)


def _drops(counters: Mapping[str, Any], operation: str) -> int:
    return int(counters["requests"].get(operation, {}).get("0", 0))


def _csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.mark.slow
@pytest.mark.chaos_sized
@pytest.mark.parametrize("vary", [False, True], ids=["fixed", "vary"])
async def test_chaos_every_resident_ends_exactly_once_and_the_counts_agree(
    simulator_process: Any,
    clock: Any,
    tmp_path: Path,
    chaos_size: int,
    chaos_seed: int,
    log_events: list[MutableMapping[str, Any]],
    vary: bool,
) -> None:
    """5xx, resets, slow answers, a 429 storm, a revoked token, a block: nothing lost or doubled.

    ``vary``: the simulator also varies every form the guide leaves open (--vary).
    """
    replay = (
        f"(replay: pytest {__file__} --chaos-size {chaos_size} --chaos-seed {chaos_seed}"
        f"{' -k vary' if vary else ''})"
    )
    varied = ("--vary", str(chaos_seed)) if vary else ()
    sim = simulator_process("--faults", BASE_FAULTS, "--seed", str(chaos_seed), *varied)
    bad = max(6, chaos_size // 500)
    portfolio = generate_portfolio(tmp_path / "p.jsonl", chaos_size, seed=chaos_seed, bad_rows=bad)
    good = chaos_size - bad
    script = ChaosScript(sim, good)
    summaries: list[MigrationSummary] = []
    transport_errors = 0  # requests of ours that got no answer (some never reached the sim)
    started = time.monotonic()
    async with SQLiteCheckpointStore(tmp_path / "p.state.sqlite") as store:
        for _ in range(MAX_RUNS):
            script.done_before = (await store.counts()).get(ResidentState.DONE, 0)
            driver = asyncio.create_task(script.drive())
            async with SchlageClient(
                base_url=sim.api_base_url,
                username=ADMIN.username,
                password=ADMIN.password,
                subscription_key=ADMIN.subscription_key,
                retry=ENGINE_RETRY_POLICY,
                timeout=CLIENT_TIMEOUT,
                sleep=clock.sleep,
                random=chaos_seed,
                connector_limit=64,
            ) as client:
                summary = await migrate(
                    client,
                    read_input(portfolio.path),
                    store,
                    options=MigrationOptions(
                        concurrency=32, seed=chaos_seed, total_rows=chaos_size
                    ),
                    progress=script,
                    gate=PauseGate(clock=clock, sleep=clock.sleep),
                    sleep=clock.sleep,
                )
                transport_errors += client.stats.transport_errors
            driver.cancel()
            (outcome,) = await asyncio.gather(driver, return_exceptions=True)
            if not isinstance(outcome, asyncio.CancelledError | type(None)):
                raise outcome  # the script itself failed
            summaries.append(summary)
            assert summary.stop_reason is not StopReason.ACCESS_REFUSED, replay
            if summary.status is MigrationStatus.COMPLETED:
                break
            if summary.stop_reason is StopReason.ACCOUNT_BLOCKED:
                # The engine says when to come back; an operator waits, the test moves time.
                assert summary.resume_at is not None
                ahead = (summary.resume_at - dt.datetime.now(dt.UTC)).total_seconds()
                assert 800 < ahead <= 901, replay
                await asyncio.to_thread(sim.post, "/_sim/clock", {"advanceSeconds": 901})
                await asyncio.to_thread(sim.post, "/_sim/faults", {"spec": BASE_FAULTS})
        reports = await write_reports(store, tmp_path / "reports", summary)
    elapsed = time.monotonic() - started

    final = summaries[-1]
    assert final.status is MigrationStatus.COMPLETED, f"{final} {replay}"
    assert (final.succeeded, final.failed, final.deferred, final.unprocessed) == (
        good,
        bad,
        0,
        0,
    ), replay
    assert script.fired == [name for name, _ in ChaosScript.EVENTS], replay
    stops = Counter(s.stop_reason for s in summaries if s.stop_reason is not None)
    assert stops[StopReason.ACCOUNT_BLOCKED] == 1, replay

    # Every row ends succeeded, or failed with a reason; nothing is left over.
    succeeded, failed = _csv(reports.succeeded), _csv(reports.failed)
    assert len(succeeded) == good, replay
    assert len(failed) == bad, replay
    assert _csv(reports.unprocessed) == []
    assert all(r["reason"] and r["retryable"] == "false" for r in failed), replay
    assert sorted(int(r["line"]) for r in succeeded + failed) == list(range(1, chaos_size + 1))

    # The simulator: one credential per good resident, ever, with its number and payloads.
    client_requests = sum(s.requests for s in summaries)
    client_logins = sum(s.logins for s in summaries)
    deadline = time.monotonic() + 4 * 2 * CLIENT_TIMEOUT + 10
    while True:  # slow answers the client gave up on may still be on their way
        state = await asyncio.to_thread(sim.get, "/_sim/state")
        counters = state["counters"]
        settled = _requests(counters) >= client_requests and (
            _requests(counters, LOGIN) >= client_logins
        )
        if settled or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.2)
    verification = verify_against_state(read_input(portfolio.path), state)
    assert verification.ok, f"{verification} {replay}"
    credentials = state["credentials"]
    assert len(credentials) == good, replay  # none created twice, none deleted
    holders = Counter(c["mobileNumber"] for c in credentials if not c["deleted"])
    residents = [r for r in read_input(portfolio.path) if isinstance(r, Resident)]
    by_user = {c["userId"]: c for c in credentials}
    failed_lines = {int(r["line"]) for r in failed}
    for resident in residents:
        if resident.line in failed_lines:
            continue  # the duplicate-mobile bad row shares a good row's number
        assert holders[resident.mobile_number] == 1, (resident.line, replay)
        assert by_user[resident.user_id]["mobileNumber"] == resident.mobile_number

    # The summaries' counts are the simulator's counts.
    assert final.succeeded == sum(1 for c in credentials if not c["deleted"])
    assert sum(s.rate_limited for s in summaries) == counters["tooManyRequests"], replay
    assert client_logins == _requests(counters, LOGIN), replay
    # aiohttp quietly resends an idempotent GET once when a kept-alive connection drops
    # (RFC 9112 9.3.1); the simulator counts both, the client one. A request that timed
    # out waiting for a connection (the machine loaded) never reached the simulator: the
    # client counts it, the simulator cannot. Nothing else differs.
    silent = _requests(counters) - client_requests
    assert -transport_errors <= silent <= _drops(counters, "get_credential_by_user"), replay

    # Every fault really happened, and the engine had to reconcile lost answers.
    injected = state["faults"]["injected"]
    for kind in ("500", "502", "503", "reset_before", "reset_after", "slow", "storm", "block"):
        assert injected.get(kind, 0) > 0, (kind, injected, replay)
    assert sum(s.reconciled for s in summaries) > 0
    # The revoked tokens were refused (401, or 400 in variance mode) and renewed.
    refused = ("401", "400") if vary else ("401",)
    assert any(
        status in by_status for by_status in counters["requests"].values() for status in refused
    )
    assert not any(c["noTourPayloads"] and c["payloadType"] != "NoTour" for c in credentials)

    # No log line of the run carries a secret.
    for event in log_events:
        text = repr(event)
        assert ADMIN.password not in text
        assert ADMIN.subscription_key not in text
        assert "Bearer" not in text

    runs = ", ".join(
        s.status.value + (f"/{s.stop_reason.value}" if s.stop_reason else "") for s in summaries
    )
    print(
        f"\nchaos{' (variance mode)' if vary else ''}: {chaos_size:,} residents, "
        f"{len(summaries)} runs ({runs}), "
        f"{client_requests:,} requests, {sum(injected.values()):,} faults {dict(injected)}, "
        f"{sum(s.reconciled for s in summaries)} reconciled, {elapsed:.1f} s"
    )
