"""The PostgreSQL checkpoint store against a real server: loading, leases, takeover."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from bulk import RejectedRow, Resident, ResidentRecord, ResidentState
from bulk._resident import ParsedRow
from bulk.store.postgres import LeaseLostError, PostgresCheckpointStore


def _resident(line: int) -> Resident:
    return Resident(
        line=line,
        user_id=f"00000000-0000-4000-8000-{line:012d}",
        mobile_number=f"+1555555{line:04d}",
        card_format="x",
    )


async def _rows(count: int) -> AsyncIterator[list[ParsedRow]]:
    batch: list[ParsedRow] = [_resident(line) for line in range(1, count + 1)]
    batch.append(RejectedRow(line=count + 1, reason="bad row"))
    yield batch


async def test_load_once_then_claims_never_overlap(state_url: str) -> None:
    """The input loads once; concurrent claims of three workers are disjoint and complete."""
    stores = [PostgresCheckpointStore(state_url, claim_size=7) for _ in range(3)]
    for store in stores:
        await store.open()
    try:
        first = await stores[0].load(_rows(100))
        second = await stores[1].load(_rows(100))
        assert first == (101, 101)
        assert second == (101, 0)  # found loaded: joined, nothing added twice
        counts = await stores[0].counts()
        assert counts == {ResidentState.PENDING: 100, ResidentState.FAILED: 1}

        async def drain(store: PostgresCheckpointStore) -> list[int]:
            got: list[int] = []
            while batch := await store.claim():
                got.extend(r.line for r in batch)
                await asyncio.sleep(0)
            return got

        claimed = await asyncio.gather(*(drain(s) for s in stores))
        lines = [line for got in claimed for line in got]
        assert sorted(lines) == list(range(1, 101))  # each resident exactly once
        assert all(claimed)  # every worker got a share
    finally:
        for store in stores:
            await store.aclose()


async def test_an_expired_lease_in_creating_is_taken_over_for_reconciliation(
    state_url: str,
) -> None:
    """A dead worker's `creating` row goes to another worker with its record (lookup first)."""
    dead = PostgresCheckpointStore(state_url, lease_seconds=0.5)
    alive = PostgresCheckpointStore(state_url, lease_seconds=30)
    await dead.open()
    await alive.open()
    try:
        await dead.load(_rows(3))
        taken = await dead.claim()
        assert [r.line for r in taken] == [1, 2, 3]
        intent = ResidentRecord(
            line=2, state=ResidentState.CREATING, user_id=taken[1].user_id, create_attempts=1
        )
        await dead.write_durable(intent)
        assert await alive.claim() == []  # leased: nobody else may touch them
        assert await alive.others_working()
        dead_heart = dead._heart  # stop its heartbeat, as kill -9 would
        assert dead_heart is not None
        dead_heart.cancel()
        await asyncio.sleep(1.0)
        again = await alive.claim()
        assert [r.line for r in again] == [1, 2, 3]
        view = await alive.resume_view()
        assert view.open_records[2] == intent  # create_attempts=1: the engine looks up first
        with pytest.raises(LeaseLostError):  # the dead worker can no longer write them
            await dead.write_durable(intent.evolve(state=ResidentState.DONE))
    finally:
        await alive.aclose()
        await dead.aclose()


async def test_final_writes_release_the_lease_and_reports_read_every_row(state_url: str) -> None:
    """Done rows lose their lease; iter_records yields every line in order."""
    async with PostgresCheckpointStore(state_url) as store:
        await store.load(_rows(5))
        for resident in await store.claim():
            await store.write(
                ResidentRecord(
                    line=resident.line,
                    state=ResidentState.DONE,
                    user_id=resident.user_id,
                    credential_id=f"c{resident.line}",
                )
            )
        await store.flush()
        records = [r async for r in store.iter_records()]
        assert [r.line for r in records] == [1, 2, 3, 4, 5, 6]
        assert {r.state for r in records[:5]} == {ResidentState.DONE}
        assert not await store.others_working()
        assert await store.claim() == []
