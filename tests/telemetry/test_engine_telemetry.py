"""The engine's spans and metrics: a run's span, its pauses, and counts equal to the summary."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulk import (
    FixedRateLimiter,
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    ProgressSnapshot,
    decommission_locks,
    generate_portfolio,
    run_migration,
)
from bulk._calls import ENGINE_RETRY_POLICY
from schlage_async import NoTourPayload
from schlage_async.simulator import FaultSpec, SimulatorHandle

from .conftest import Recorded, client_for


async def test_a_500_resident_run_counts_exactly_what_its_summary_says(
    simulator_factory: Any, recorded: Recorded, tmp_path: Path
) -> None:
    """bulk.rows by state, requests, 429s, pauses: the metrics equal the run's summary."""
    sim = await simulator_factory(faults=FaultSpec.parse("500=0.02,503=0.02"), seed=3)
    path = generate_portfolio(tmp_path / "p.jsonl", 500, seed=5, bad_rows=7).path
    depths: list[float] = []

    def progress(_snapshot: ProgressSnapshot) -> None:
        depths.extend(point.value for point in recorded.points("bulk.queue.depth"))

    async with client_for(sim, recorded, retry=ENGINE_RETRY_POLICY) as client:
        summary = await run_migration(
            client,
            path,
            store=tmp_path / "s.sqlite",
            options=MigrationOptions(concurrency=8, retry_base_delay=0.01),
            progress=progress,
            **recorded.providers(),
        )
    assert summary.failed_this_run >= 7  # the bad rows at least
    rows = {
        state: recorded.total("bulk.rows", **{"bulk.state": state})
        for state in ("done", "failed", "deferred")
    }
    assert rows == {
        "done": summary.succeeded_this_run,
        "failed": summary.failed_this_run,
        "deferred": summary.deferred,
    }
    assert summary.succeeded_this_run + summary.failed_this_run + summary.deferred == 500
    assert recorded.total("schlage.client.requests") == summary.requests
    assert recorded.total("schlage.client.duration") == summary.requests
    assert recorded.total("schlage.client.rate_limited") == summary.rate_limited
    assert recorded.total("bulk.pause.duration") == summary.pauses
    assert recorded.total("bulk.limiter.wait") == summary.api_calls  # no pause: one slot each
    assert recorded.total("schlage.client.requests", **{"schlage.status_class": "5xx"}) > 0
    assert max(depths) > 0  # residents waited for a worker at some point
    assert recorded.points("bulk.queue.depth")[0].value == 0  # the run's queue is gone

    (run,) = recorded.spans("bulk.migration")
    attributes = dict(run.attributes or {})
    assert attributes["bulk.input.name"] == "p.jsonl"  # the name, never the folder
    assert attributes["bulk.rows"] == 500
    assert attributes["bulk.outcome"] == summary.status.value
    assert attributes["bulk.exit_status"] == (
        "ok" if summary.status is MigrationStatus.COMPLETED else "resumable"
    )
    assert attributes["bulk.rows.succeeded"] == summary.succeeded_this_run
    calls = [s for s in recorded.spans() if s.name.startswith("schlage.")]
    assert len(calls) >= summary.api_calls
    assert all(s.context.trace_id == run.context.trace_id for s in calls)  # under the run


async def test_a_429_pause_during_a_migration_is_one_span_under_the_run(
    simulator_factory: Any, recorded: Recorded, tmp_path: Path
) -> None:
    """The gateway's 429s: one ``bulk.pause`` span per pause, timed in the histogram."""
    sim = await simulator_factory(rate_limit=40.0)
    path = generate_portfolio(tmp_path / "p.jsonl", 60, seed=2).path
    async with client_for(sim, recorded, retry=ENGINE_RETRY_POLICY) as client:
        summary = await run_migration(
            client,
            path,
            store=tmp_path / "s.sqlite",
            options=MigrationOptions(concurrency=8),
            limiter=FixedRateLimiter(400.0),  # ten times the gateway's: 429s
            **recorded.providers(),
        )
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.pauses >= 1
    (run,) = recorded.spans("bulk.migration")
    pauses = recorded.spans("bulk.pause")
    assert len(pauses) == summary.pauses
    for pause in pauses:
        attributes = dict(pause.attributes or {})
        assert attributes["bulk.pause.source"] == "local"
        assert float(attributes["bulk.pause.requested"]) >= 1.0  # type: ignore[arg-type]
        assert float(attributes["bulk.pause.seconds"]) > 0  # type: ignore[arg-type]
        assert pause.parent is not None
        assert pause.parent.span_id == run.context.span_id
    assert recorded.total("bulk.pause.duration") == summary.pauses
    assert recorded.total("schlage.client.rate_limited") == summary.rate_limited > 0
    assert (run.attributes or {})["bulk.pauses"] == summary.pauses


async def test_a_decommission_run_is_one_span_counting_its_locks(
    simulator: SimulatorHandle, recorded: Recorded
) -> None:
    """``bulk.decommission``: how many locks ended how, never a serial number."""
    payload = NoTourPayload(lock_id=1, serial_number="LOCK-9", no_tour_payload="ab" * 48)
    async with client_for(simulator, recorded) as client:
        created = await client.create_credential(
            user_id="0c0c0c0c-0000-4000-8000-0000000000c3",
            mobile_number="+15550003333",
            card_format="26A",
            facility_code=1,
        )
        await client.save_no_tour_payloads(created.credential_id, payloads=[payload])
        async with MemoryCheckpointStore() as store:
            result = await decommission_locks(
                client, ["LOCK-9", "NO-SUCH-LOCK"], store, **recorded.providers()
            )
    assert result.complete
    (span,) = recorded.spans("bulk.decommission")
    assert dict(span.attributes or {}) == {
        "bulk.locks": 2,
        "bulk.outcome": "completed",
        "bulk.api_calls": 2,
        "bulk.locks.deleted": 1,
        "bulk.locks.none_held": 1,
    }
    deletes = recorded.spans("schlage.delete_no_tour_payloads_by_device")
    assert len(deletes) == 2
    assert all(d.parent is not None and d.parent.span_id == span.context.span_id for d in deletes)


async def test_a_run_that_raises_is_a_failed_span(
    simulator: SimulatorHandle, recorded: Recorded, tmp_path: Path
) -> None:
    """An input that cannot be read: ``error.type``, outcome ``error``, status ERROR."""
    from opentelemetry.trace import StatusCode

    from bulk import InputError

    missing = tmp_path / "missing.jsonl"
    async with client_for(simulator, recorded) as client:
        with pytest.raises(InputError):
            await run_migration(
                client, missing, store=tmp_path / "s.sqlite", **recorded.providers()
            )
    (run,) = recorded.spans("bulk.migration")
    assert run.status.status_code is StatusCode.ERROR
    assert (run.attributes or {})["error.type"] == "InputError"
    assert (run.attributes or {})["bulk.outcome"] == "error"
