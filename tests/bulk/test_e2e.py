"""End to end through the real client against the simulator over loopback."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    FixedRateLimiter,
    MigrationOptions,
    MigrationStatus,
    SQLiteCheckpointStore,
    generate_portfolio,
    migrate,
    read_input,
    verify_against_state,
    write_reports,
)
from bulk._calls import ENGINE_RETRY_POLICY
from schlage_async import SchlageClient
from schlage_async.simulator import FaultSpec, SimulatorHandle


def _client(sim: SimulatorHandle) -> SchlageClient:
    return SchlageClient(
        base_url=sim.api_base_url,
        username=sim.admin.username,
        password=sim.admin.password,
        subscription_key=sim.admin.subscription_key,
        retry=ENGINE_RETRY_POLICY,
    )


def _requests(sim: SimulatorHandle, operation: str) -> dict[str, int]:
    counters: Any = sim.state.snapshot()["counters"]
    return dict(counters["requests"].get(operation, {}))


@pytest.mark.slow
async def test_two_thousand_residents_end_exactly_as_the_input(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Every good resident: one active credential, its mobile number, exactly its payloads."""
    sim = await simulator_factory()
    portfolio = generate_portfolio(tmp_path / "p.jsonl", 2000, seed=7, bad_rows=12)
    async with _client(sim) as client, SQLiteCheckpointStore(tmp_path / "s.sqlite") as store:
        summary = await migrate(
            client,
            read_input(portfolio.path),
            store,
            options=MigrationOptions(concurrency=16),
        )
        reports = await write_reports(store, tmp_path / "reports", summary)
    assert summary.status is MigrationStatus.COMPLETED
    assert (summary.succeeded, summary.failed, summary.unprocessed) == (1988, 12, 0)
    verification = verify_against_state(read_input(portfolio.path), sim.state.snapshot())
    assert verification.ok, str(verification)
    assert _requests(sim, "create_credential") == {"201": 1988}
    assert summary.logins == 1
    with reports.failed.open() as handle:
        failed = list(csv.DictReader(handle))
    assert [int(row["line"]) for row in failed] == [
        int((k + 0.5) * 2000 / 12) + 1 for k in range(12)
    ]
    assert all(row["reason"] and row["retryable"] == "false" for row in failed)
    with reports.succeeded.open() as handle:
        assert sum(1 for _ in csv.DictReader(handle)) == 1988
    data = json.loads(reports.summary.read_text())
    assert data["counts"] == {
        "total_rows": 2000, "succeeded": 1988, "failed": 12, "deferred": 0, "unprocessed": 0,
    }  # fmt: skip


async def test_a_409_on_the_mobile_number_is_reported_not_retried(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Another user holds the number: one create (409), one lookup, a clear reason, no retry.

    The lookup by user id is what tells "someone else's credential" from "ours, created
    by an earlier attempt whose answer was lost" when a service checks the number first.
    """
    sim = await simulator_factory()
    path = tmp_path / "p.jsonl"
    generate_portfolio(path, 5, seed=3, id_kind="user")
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    taken = rows[2]["mobileNumber"]
    async with _client(sim) as client:
        await client.create_credential(
            user_id="0b0b0b0b-0000-4000-8000-000000000001",
            mobile_number=taken,
            card_format="26A",
            facility_code=1,
        )
        store = SQLiteCheckpointStore(tmp_path / "s.sqlite")
        async with store:
            summary = await migrate(client, read_input(path), store)
            reports = await write_reports(store, tmp_path / "reports", summary)
    assert summary.status is MigrationStatus.COMPLETED
    assert (summary.succeeded, summary.failed) == (4, 1)
    assert _requests(sim, "create_credential") == {"201": 5, "409": 1}
    assert _requests(sim, "get_credential_by_user") == {"404": 1}
    with reports.failed.open() as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["line"] == "3"
    assert "already belongs to another user's credential (409" in row["reason"]
    assert taken not in row["reason"]  # masked


@pytest.mark.slow
async def test_lost_answers_and_server_errors_never_duplicate_a_resident(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Commits with the answer dropped, truncated bodies, 5xx: reconciled, exactly once."""
    sim = await simulator_factory(
        faults=FaultSpec.parse("reset_after=0.03,truncate=0.02,500=0.02,503=0.02"), seed=5
    )
    portfolio = generate_portfolio(tmp_path / "p.jsonl", 400, seed=11)
    async with _client(sim) as client, SQLiteCheckpointStore(tmp_path / "s.sqlite") as store:
        options = MigrationOptions(concurrency=8, retry_base_delay=0.01, retry_attempts=6)
        summary = await migrate(client, read_input(portfolio.path), store, options=options)
        reconciled = summary.reconciled
        if summary.status is not MigrationStatus.COMPLETED:  # a resident out of tries: resume
            summary = await migrate(client, read_input(portfolio.path), store, options=options)
            reconciled += summary.reconciled
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.succeeded == 400
    verification = verify_against_state(read_input(portfolio.path), sim.state.snapshot())
    assert verification.ok, str(verification)
    assert len(sim.state.snapshot()["credentials"]) == 400  # type: ignore[arg-type]  # one each, ever
    assert "409" not in _requests(sim, "create_credential")  # no blind replay of a create
    assert reconciled >= 1  # some answers were lost after the commit, and looked up


async def test_a_rate_limited_simulator_gets_no_429_at_the_engines_rate(
    simulator_factory: Any, tmp_path: Path
) -> None:
    """Told the server's rate, the engine's bucket never trips the server's."""
    sim = await simulator_factory(rate_limit=100.0)
    portfolio = generate_portfolio(tmp_path / "p.jsonl", 150, seed=2)
    async with _client(sim) as client, SQLiteCheckpointStore(tmp_path / "s.sqlite") as store:
        summary = await migrate(
            client, read_input(portfolio.path), store, limiter=FixedRateLimiter(100.0)
        )
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.rate_limited == 0
    assert summary.calls_per_second <= 105.0
