"""``run_migration``: the one call a service makes, and ``dry_run``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from bulk import (
    AdaptiveRateLimiter,
    FixedRateLimiter,
    InputMismatchError,
    MemoryCheckpointStore,
    MigrationOptions,
    MigrationStatus,
    ProgressSnapshot,
    StopReason,
    dry_run,
    generate_portfolio,
    migrate,
    run_migration,
)
from bulk._calls import ENGINE_RETRY_POLICY
from bulk._limiter import AimdController, RateReport, UnlimitedLimiter
from schlage_async import AccountBlockedError, Operation

OPTIONS = MigrationOptions(concurrency=4, seed=1)


async def test_a_store_of_another_input_is_refused_before_anything_is_sent(
    service: Any, tmp_path: Path
) -> None:
    """Two inputs, one store: the second call raises InputMismatchError, sends nothing."""
    first = generate_portfolio(tmp_path / "a.jsonl", 3, seed=1).path
    second = generate_portfolio(tmp_path / "b.jsonl", 3, seed=2).path
    state = tmp_path / "state.sqlite"
    summary = await run_migration(service, first, store=state, options=OPTIONS)
    assert summary.status is MigrationStatus.COMPLETED
    assert summary.succeeded == 3
    calls = sum(service.calls.values())
    with pytest.raises(InputMismatchError, match=r"line\(s\) 1, 2, 3 now hold") as caught:
        await run_migration(service, second, store=state, options=OPTIONS)
    assert caught.value.lines == (1, 2, 3)  # each row is bound by its content
    assert sum(service.calls.values()) == calls  # refused before any call
    again = await run_migration(service, first, store=state, options=OPTIONS)
    assert (again.skipped, again.succeeded_this_run) == (3, 0)  # the same input resumes


async def test_parsed_rows_bind_to_their_input_id(service: Any, make_resident: Any) -> None:
    """An iterable of rows binds the store to ``input_id``; another id is refused."""
    store = MemoryCheckpointStore()
    rows = [make_resident(n) for n in range(1, 4)]
    summary = await run_migration(service, rows, store=store, input_id="export-1", options=OPTIONS)
    assert summary.succeeded == 3
    with pytest.raises(InputMismatchError, match="input_id"):
        await run_migration(service, rows, store=store, input_id="export-2", options=OPTIONS)


async def test_an_async_iterable_of_rows_is_read_too(service: Any, make_resident: Any) -> None:
    """Rows may come from an async generator (a database cursor, a queue)."""

    async def rows() -> AsyncIterator[Any]:
        for n in range(1, 6):
            yield make_resident(n)

    summary = await run_migration(
        service, rows(), store=MemoryCheckpointStore(), input_id="stream", options=OPTIONS
    )
    assert (summary.status, summary.succeeded) == (MigrationStatus.COMPLETED, 5)


async def test_progress_reaches_a_callback_and_reports_are_written(
    service: Any, tmp_path: Path
) -> None:
    """A plain function gets snapshots (the last one final); the four reports are written."""
    path = generate_portfolio(tmp_path / "p.jsonl", 20, seed=3, bad_rows=2).path
    seen: list[ProgressSnapshot] = []
    summary = await run_migration(
        service,
        path,
        store=tmp_path / "state.sqlite",
        reports_dir=tmp_path / "reports",
        options=OPTIONS,
        progress=seen.append,
        report_extra={"job": "nightly"},
    )
    assert seen, "the callback was never called"
    assert seen[-1].rows_read == 20
    assert seen[-1].total == 20
    assert (summary.succeeded, summary.failed) == (18, 2)
    data = json.loads((tmp_path / "reports" / "summary.json").read_text())
    assert data["job"] == "nightly"
    assert data["input"]["size"] == path.stat().st_size
    assert (tmp_path / "reports" / "failed.csv").read_text().count("\n") == 3  # header + 2


async def test_the_engine_passes_its_retry_policy_on_every_call(
    service: Any, make_resident: Any
) -> None:
    """Whatever policy the client was built with, each call carries the engine's own."""
    seen: list[object] = []

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        seen.append(kwargs.get("retry"))
        return None

    service.before = before
    rows = [make_resident(1, doors=1), make_resident(2, doors=0)]
    await migrate(service, rows, MemoryCheckpointStore(), options=OPTIONS)
    assert len(seen) == 3  # two creates and one save
    assert all(policy is ENGINE_RETRY_POLICY for policy in seen)


async def test_a_dry_run_is_its_own_call_and_keeps_nothing(tmp_path: Path) -> None:
    """No client, no store: bad rows are failed, the rest would be provisioned."""
    path = generate_portfolio(tmp_path / "p.jsonl", 30, seed=4, bad_rows=3).path
    summary = await dry_run(path, reports_dir=tmp_path / "reports")
    assert summary.status is MigrationStatus.DRY_RUN
    assert (summary.unprocessed, summary.failed) == (27, 3)
    assert (tmp_path / "reports" / "unprocessed.csv").exists()
    assert not list(tmp_path.glob("*.sqlite*"))  # noqa: ASYNC240  # the scratch store is gone


def test_every_limiter_reports_its_pace_through_the_protocol() -> None:
    """The summary's rate figures come from ``report()``, not from probing attributes."""
    assert UnlimitedLimiter().report() == RateReport()
    assert FixedRateLimiter(50).report() == RateReport(rate=50)
    now = [0.0]
    adaptive = AdaptiveRateLimiter(AimdController(initial=10, clock=lambda: now[0]))
    now[0] = 2.0
    report = adaptive.report()
    assert report.rate is None
    assert report.adaptive_rate is not None
    assert report.adaptive_ceiling == 10


async def test_resume_at_is_dated_by_the_injected_clock(service: Any, make_resident: Any) -> None:
    """A block's resume time comes from the engine's clock, like the client's."""

    def before(op: str, kwargs: Mapping[str, object]) -> BaseException | None:
        return AccountBlockedError(Operation.CREATE_CREDENTIAL, 429, ["blocked"], retry_after=600.0)

    service.before = before
    summary = await migrate(
        service,
        [make_resident(1)],
        MemoryCheckpointStore(),
        options=OPTIONS,
        clock=lambda: 2_000_000_000.0,
    )
    assert summary.stop_reason is StopReason.ACCOUNT_BLOCKED
    assert summary.resume_at is not None
    assert summary.resume_at.timestamp() == 2_000_000_600.0
