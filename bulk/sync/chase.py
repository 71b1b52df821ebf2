"""Chase invites nobody opened: resend those older than N hours, within a daily cap.

The rules are the plan's (:func:`bulk.sync.plan.invite_decision`): never after a
download; the last invite (the creation, or the latest resend any history records) older
than ``older_than_hours``; where no history records a credential's invites, nothing is
sent and it is counted as unknown. The chase's own state file is history too: each
resend is kept with its time (one record per credential, keyed by its id), so a second
chase the same day sends nothing twice and the daily cap counts every run of the day.
Each resend is at most once (:func:`bulk.sync.resend.resend_once`).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from schlage_async import AccountBudget, Credential, Lane, lane_context

from .._binding import ServiceIdentity, bind_source
from .._errors import MigrationOptionsError
from .._guards import check_options, guarded_store, service_identity
from .._lanes import lane_limiter
from .._limiter import RateLimiter
from .._options import MigrationOptions
from .._summary import MigrationStatus, MigrationSummary, StopReason
from .._telemetry import EngineTelemetry, summary_attributes
from ..store.protocol import CheckpointStore, ResidentRecord, ResidentState
from .calls import SyncCallPath
from .history import (
    KIND_KEY,
    STARTED_KEY,
    Decommissioned,
    HistoryEntry,
    iter_history,
    parse_sent_at,
)
from .ledger import ResendLedger
from .plan import DEFAULT_RESEND_AFTER_HOURS, ListingClient, SyncIndex, invite_decision
from .plan_file import PlanError, SyncAction
from .resend import ResendClient, resend_once

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["ChaseClient", "ChaseResult", "chase_invites"]

_PAGE: Final = 100
_SAMPLES: Final = 5


class ChaseClient(ListingClient, ResendClient, Protocol):
    """The calls a chase makes (``SchlageClient`` has them)."""


@dataclass(frozen=True, slots=True)
class ChaseResult:
    """What a chase did; ``summary`` is what the reports hold (every chase of the state)."""

    summary: MigrationSummary
    listed: int = 0
    """Credentials listed."""
    due: int = 0
    """Invites due (never downloaded, older than the threshold, known to history)."""
    resent: int = 0
    """Resent by this run."""
    capped: int = 0
    """Due but over the daily cap: left for tomorrow."""
    unknown: int = 0
    """Never downloaded and old, but no history records their invites: not sent."""
    sent_today_before: int = 0
    """Resends earlier chases of this state made on this UTC day."""
    unknown_sample: tuple[str, ...] = field(default=())


def credential_line(credential_id: str) -> int:
    """The checkpoint key of a credential in a chase state (from its UUID)."""
    try:
        value = uuid.UUID(credential_id).int
    except ValueError:
        value = int.from_bytes(credential_id.lower().encode()[:16].ljust(16, b"\0"), "big")
    return value % (2**63 - 1) + 1


async def chase_invites(
    client: ChaseClient,
    store: CheckpointStore,
    *,
    older_than_hours: float = DEFAULT_RESEND_AFTER_HOURS,
    daily_cap: int | None = None,
    history: Sequence[str | Path] = (),
    options: MigrationOptions = MigrationOptions(),  # noqa: B008  # frozen, never mutated
    limiter: RateLimiter | None = None,
    stop: asyncio.Event | None = None,
    now: Callable[[], dt.datetime] | None = None,
    service: ServiceIdentity | None = None,
    force: bool = False,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    budget: AccountBudget | None = None,
    weight: float = 1.0,
) -> ChaseResult:
    """Resend every due invite once, at most ``daily_cap`` a UTC day (``store`` open).

    The store is bound to the client's service and account (``service`` for a client that
    cannot say); one run per store; a known account block is honoured unless ``force``.
    The run is a ``bulk.chase`` span, with ``tracer_provider`` and ``meter_provider`` as
    :func:`~bulk.run_migration` takes them.
    ``budget`` paces the run in the ``sync`` lane of the account's
    :class:`~schlage_async.AccountBudget` (after interactive calls, before migrations),
    as one job of the lane with ``weight`` (see :func:`~bulk.run_migration`).
    Without ``limiter`` or ``budget`` the calls are paced adaptively, as
    :func:`~bulk.run_migration`'s.
    """
    telemetry = EngineTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    with telemetry.run("bulk.chase", {"bulk.chase.older_than_hours": older_than_hours}) as span:
        check_options(options)
        if daily_cap is not None and daily_cap < 0:
            raise MigrationOptionsError(f"daily_cap must be >= 0, not {daily_cap}")
        limiter = lane_limiter(
            budget, client, lane=Lane.SYNC, job="chase", weight=weight, limiter=limiter
        )
        identity = service_identity(client, service)
        async with guarded_store(store, force=force) as claimed:
            await bind_source(claimed, input_id="chase", service=identity)
            with lane_context(Lane.SYNC):
                result = await _chase(
                client, claimed, older_than_hours=older_than_hours, daily_cap=daily_cap,
                    history=history, options=options, limiter=limiter, stop=stop, now=now,
                    ledger=ResendLedger(identity), telemetry=telemetry,
                )  # fmt: skip
        span.finish(
            {
                **summary_attributes(result.summary),
                "bulk.chase.listed": result.listed,
                "bulk.chase.due": result.due,
                "bulk.chase.resent": result.resent,
                "bulk.chase.capped": result.capped,
                "bulk.chase.unknown": result.unknown,
            }
        )
    return result


async def _chase(
    client: ChaseClient,
    store: CheckpointStore,
    *,
    older_than_hours: float,
    daily_cap: int | None,
    history: Sequence[str | Path],
    options: MigrationOptions,
    limiter: RateLimiter,
    stop: asyncio.Event | None,
    now: Callable[[], dt.datetime] | None,
    ledger: ResendLedger,
    telemetry: EngineTelemetry,
) -> ChaseResult:
    started = time.monotonic()
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    kind = await store.get_meta(KIND_KEY)
    if kind not in (None, "chase"):
        raise PlanError(f"this state file belongs to a {kind} run, not a chase")
    await store.set_meta(KIND_KEY, "chase")
    if await store.get_meta(STARTED_KEY) is None:
        await store.set_meta(STARTED_KEY, clock().isoformat(timespec="seconds"))
    moment = clock()
    today = moment.astimezone(dt.UTC).date()
    index = SyncIndex()
    sent_today = 0
    try:
        async for record in store.iter_records():
            if record.state is ResidentState.CREATING:  # an earlier run died mid-resend
                record = await resend_once(
                    client, SyncCallPath(options, limiter), store, record, clock, ledger
                )
            sent = parse_sent_at(record.reason)
            if sent is not None and record.credential_id is not None:
                index.add_history(HistoryEntry(record.credential_id, invite_at=sent))
                if dt.datetime.fromtimestamp(sent, dt.UTC).date() == today:
                    sent_today += 1
        for path in history:
            async for item in iter_history(Path(path)):
                if isinstance(item, HistoryEntry):
                    index.add_history(item)
                elif isinstance(item, Decommissioned):
                    index.add_decommissioned(item)
        rules = index.rules(moment, older_than_hours)
        calls = SyncCallPath(options, limiter, telemetry=telemetry)
        counts = {"listed": 0, "due": 0, "capped": 0, "unknown": 0, "queued": 0}
        unknown_sample: list[str] = []

        async def jobs() -> AsyncIterator[ResidentRecord]:
            page: list[Credential] = []
            async for cred in client.iter_credentials(page_size=_PAGE):
                counts["listed"] += 1
                page.append(cred)
                if len(page) >= _PAGE:
                    for job in decide(page):
                        yield job
                    page = []
            for job in decide(page):
                yield job

        def decide(page: list[Credential]) -> list[ResidentRecord]:
            out: list[ResidentRecord] = []
            creds = [c for c in page if not c.is_downloaded]
            if not creds:
                return out
            _export, known = index.page(creds)
            for cred in creds:
                cid = cred.credential_id
                decision = invite_decision(cred, known.get(cid.lower()), rules)
                if decision is None:
                    continue
                action, _reason = decision
                if action is SyncAction.UNKNOWN:
                    counts["unknown"] += 1
                    if len(unknown_sample) < _SAMPLES:
                        unknown_sample.append(cred.user_id)
                    continue
                counts["due"] += 1
                if daily_cap is not None and sent_today + counts["queued"] >= daily_cap:
                    counts["capped"] += 1
                    continue
                counts["queued"] += 1
                out.append(
                    ResidentRecord(
                        line=credential_line(cid),
                        state=ResidentState.PENDING,
                        user_id=cred.user_id.lower(),
                        credential_id=cid,
                    )
                )
            return out

        resent = 0

        async def work(record: ResidentRecord) -> None:
            nonlocal resent
            final = await resend_once(client, calls, store, record, clock, ledger)
            if final.state is ResidentState.DONE and parse_sent_at(final.reason) is not None:
                resent += 1

        watcher: asyncio.Task[None] | None = None
        if stop is not None:

            async def watch() -> None:
                await stop.wait()
                calls.stop(StopReason.SIGNAL, "stopped on request (signal)")

            watcher = asyncio.create_task(watch())
        try:
            await calls.run_pool(jobs(), work)
        finally:
            if watcher is not None:
                watcher.cancel()
            await calls.aclose()
            await store.flush()
    finally:
        index.close()
    state_counts = await store.counts()
    done = state_counts.get(ResidentState.DONE, 0)
    failed = state_counts.get(ResidentState.FAILED, 0)
    deferred = state_counts.get(ResidentState.DEFERRED, 0)
    total = sum(state_counts.values())
    if calls.stop_reason is not None:
        status = MigrationStatus.STOPPED
    elif deferred or total - done - failed - deferred:
        status = MigrationStatus.INCOMPLETE
    else:
        status = MigrationStatus.COMPLETED
    summary = MigrationSummary(
        status=status,
        stop_reason=calls.stop_reason,
        stop_detail=calls.stop_detail,
        resume_at=calls.resume_at,
        total_rows=total,
        succeeded=done,
        failed=failed,
        deferred=deferred,
        unprocessed=total - done - failed - deferred,
        succeeded_this_run=resent,
        duration=time.monotonic() - started,
        api_calls=calls.calls,
        rate_limited=calls.rate_limited,
        pauses=calls.gate.pauses,
        paused_seconds=calls.gate.paused_seconds,
        rate=calls.limiter.rate,
    )
    return ChaseResult(
        summary=summary,
        listed=counts["listed"],
        due=counts["due"],
        resent=resent,
        capped=counts["capped"],
        unknown=counts["unknown"],
        sent_today_before=sent_today,
        unknown_sample=tuple(unknown_sample),
    )
