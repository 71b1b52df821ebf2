"""Apply a sync plan exactly once, with ``migrate``'s engine, checkpoint and reports.

The checkpoint is a :class:`CheckpointStore` keyed by the plan's line (a step): every
action line is recorded ``pending`` on the first run, so the reports cover every one.
Three phases, each skipping what an earlier run finished:

1. **deletes and clears** (through the engine's call path, ``_calls.CallPath``): an
   orphan's credential is deleted (``done``); a replaced resident's old credential is
   deleted, leaving its step ``pending`` without a credential, ready to create; a save
   whose export dropped a device clears the payloads first. A delete answered 410 or
   404 was already done.
2. **creates and saves**: :func:`migrate` itself, fed the export's residents of the
   ``create``, ``replace`` and ``save_payloads`` steps renumbered to their plan lines.
   A save's step is handed over ``created`` with its credential id, so the engine only
   saves. Every guarantee of ``migrate`` holds: intent before create, lookup before any
   second create, payload saves safely repeated.
3. **resends**: at most once. The ``creating`` intent is durable before the resend
   leaves; an intent found on a rerun (the process died mid-call) is never resent: it is
   reported as possibly sent. A resend refused because the resident downloaded since is
   done with nothing sent.

Safety rails, checked before the first call: deletes only with ``allow_delete``; no
plan deleting more than ``max_delete_fraction`` of the active credentials; the export
must be the plan's; the service's mark must still be the plan's (count, oldest and
newest credential: two calls), else the plan is stale.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Final, Protocol

from schlage_async import (
    AccountBudget,
    APIError,
    GoneError,
    InvalidResponseError,
    Lane,
    NotFoundError,
    ServerError,
    TransportError,
    lane_context,
)

from .._binding import BINDING_KEY, ServiceIdentity, bind_source
from .._calls import ProvisioningClient
from .._engine import migrate
from .._errors import InputError
from .._guards import check_fraction, check_options, guarded_store, service_identity
from .._input import (
    DEFAULT_ENCODING,
    InputFormat,
    ParseOptions,
    input_fingerprint,
    iter_lines,
    parse_jsonl_line,
    read_input,
)
from .._lanes import lane_limiter, lane_record
from .._limiter import RateLimiter
from .._options import MigrationOptions
from .._progress import ProgressSink
from .._resident import ParsedRow, Resident
from .._summary import MigrationStatus, MigrationSummary, StopReason
from .._telemetry import EngineTelemetry, summary_attributes
from ..store import open_store
from ..store.protocol import FINAL_STATES, CheckpointStore, ResidentRecord, ResidentState
from .calls import SyncCallPath
from .history import KIND_KEY, PLAN_KEY, STARTED_KEY
from .ledger import ResendLedger
from .plan import ListingClient, read_service_mark
from .plan_file import (
    ACTIONS_THAT_CALL,
    PlanError,
    PlanHeader,
    PlanStep,
    SyncAction,
    count_steps,
    iter_plan_steps,
    plan_fingerprint,
    read_plan_header,
)
from .resend import resend_once

__all__ = [
    "DEFAULT_MAX_DELETE_FRACTION",
    "ApplyOptions",
    "SyncClient",
    "apply_plan",
    "archive_finished_apply",
    "check_plan_rails",
]

DEFAULT_MAX_DELETE_FRACTION: Final = 0.05
_BATCH: Final = 512
if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

_DEFAULT_MIGRATION: Final = MigrationOptions()


class SyncClient(ProvisioningClient, ListingClient, Protocol):
    """Every call ``apply`` makes (``SchlageClient`` has them)."""

    async def delete_credential(self, *, credential_id: str) -> None:
        """Delete a credential (410 when already deleted)."""
        ...

    async def delete_no_tour_payloads(self, *, credential_id: str) -> None:
        """Delete a credential's payloads (410 when it has none)."""
        ...

    async def resend_invite(self, *, user_id: str) -> None:
        """Resend a user's invite (400 once downloaded)."""
        ...


@dataclass(frozen=True, slots=True, kw_only=True)
class ApplyOptions:
    """The safety rails and the engine's options of one ``apply``."""

    allow_delete: bool = False
    """Without it, a plan that deletes any credential is refused."""
    max_delete_fraction: float = DEFAULT_MAX_DELETE_FRACTION
    """Refuse a plan deleting more than this share of the active credentials (orphans)."""
    dry_run: bool = False
    """Check the rails and the plan's freshness, say what would be done, send nothing."""
    check_stale: bool = True
    """Compare the service's mark with the plan's before the first call."""
    migration: MigrationOptions = _DEFAULT_MIGRATION
    """Concurrency, patience and retries (the same as ``migrate``'s)."""


def check_plan_rails(
    header: PlanHeader, options: ApplyOptions, counts: Mapping[str, int] | None = None
) -> None:
    """Raise :class:`PlanError` when a rail refuses the plan (no call is made).

    ``counts`` are the steps the plan's lines hold (:func:`count_steps`); the header's
    own counts are only trusted where they agree with them (an edited header is refused).
    """
    check_fraction("max_delete_fraction", options.max_delete_fraction)
    check_options(options.migration)
    if counts is not None:
        said = {k: v for k, v in header.counts.items() if k in counts and v}
        held = {k: v for k, v in counts.items() if v}
        if said != held:
            raise PlanError(
                "the plan's header does not agree with its steps (the file was edited): plan again"
            )
    else:
        counts = header.counts
    orphans = counts.get(SyncAction.DELETE.value, 0)
    replaced = counts.get(SyncAction.REPLACE.value, 0)
    if (orphans or replaced) and not options.allow_delete:
        raise PlanError(
            f"the plan deletes {orphans + replaced:,} credential(s) ({orphans:,} orphans, "
            f"{replaced:,} number changes: delete then create); pass --allow-delete"
        )
    active = header.service.total - header.outside_sites  # the plan's scope (its sites)
    fraction = orphans / active if active else 0.0
    if fraction > options.max_delete_fraction:
        raise PlanError(
            f"the plan deletes {orphans:,} of {active:,} active credentials ({fraction:.1%}), "
            f"more than {options.max_delete_fraction:.1%}: a truncated export must not wipe "
            "a portfolio. Check the export; pass --max-delete-fraction to allow it"
        )


def _check_export(header: PlanHeader) -> tuple[Path, ParseOptions, InputFormat]:
    bound = header.input
    path = Path(str(bound["path"]))
    try:
        now = input_fingerprint(path).as_dict()
    except InputError as exc:
        raise PlanError(f"the plan's export cannot be read ({exc}): plan again") from None
    if any(str(now[key]) != str(bound.get(key)) for key in ("size", "head_sha256")):
        raise PlanError(f"the export {str(path)!r} changed since the plan: plan again")
    options = ParseOptions(
        region=str(bound.get("region", "US")),
        namespace=uuid.UUID(str(bound["namespace"])),
        encoding=str(bound.get("encoding", DEFAULT_ENCODING)),
    )
    fmt: InputFormat = "csv" if bound.get("format") == "csv" else "jsonl"
    return path, options, fmt


def _summary(
    status: MigrationStatus,
    counts: dict[ResidentState, int],
    path: SyncCallPath,
    *,
    total: int,
    started: float,
    engine: MigrationSummary | None,
) -> MigrationSummary:
    done = counts.get(ResidentState.DONE, 0)
    failed = counts.get(ResidentState.FAILED, 0)
    deferred = counts.get(ResidentState.DEFERRED, 0)
    total = max(total, sum(counts.values()))  # the rows are the steps recorded, at least
    return MigrationSummary(
        status=status,
        stop_reason=path.stop_reason or (engine.stop_reason if engine else None),
        stop_detail=path.stop_detail or (engine.stop_detail if engine else None),
        resume_at=path.resume_at or (engine.resume_at if engine else None),
        total_rows=total,
        succeeded=done,
        failed=failed,
        deferred=deferred,
        unprocessed=max(0, total - done - failed - deferred),
        reconciled=engine.reconciled if engine else 0,
        duration=time.monotonic() - started,
        api_calls=path.calls + (engine.api_calls if engine else 0),
        requests=engine.requests if engine else 0,
        rate_limited=path.rate_limited + (engine.rate_limited if engine else 0),
        logins=engine.logins if engine else 0,
        pauses=path.gate.pauses + (engine.pauses if engine else 0),
        paused_seconds=path.gate.paused_seconds + (engine.paused_seconds if engine else 0.0),
        rate=path.limiter.rate,
    )


async def _aiter(items: Iterator[PlanStep]) -> AsyncIterator[PlanStep]:
    """The plan's steps, read in a thread a batch at a time."""

    def take() -> list[PlanStep]:
        out: list[PlanStep] = []
        for step in items:
            out.append(step)
            if len(out) >= _BATCH:
                break
        return out

    while batch := await asyncio.to_thread(take):
        for step in batch:
            yield step


class _Apply:
    """One ``apply`` run: the phases over the plan's steps."""

    def __init__(
        self,
        client: SyncClient,
        plan: Path,
        store: CheckpointStore,
        calls: SyncCallPath,
        now: Callable[[], dt.datetime],
        ledger: ResendLedger | None,
    ) -> None:
        self.client = client
        self.plan = plan
        self.store = store
        self.calls = calls
        self.now = now
        self.ledger = ledger  # every resend of this account, whatever the state file

    async def steps(
        self, wanted: frozenset[SyncAction]
    ) -> AsyncIterator[tuple[PlanStep, ResidentRecord | None]]:
        """The plan's steps of ``wanted`` actions with their records (both in line order)."""
        plan = _aiter(iter_plan_steps(self.plan))
        current = await anext(plan, None)
        async for record in self.store.iter_records():
            while current is not None and current.step <= record.line:
                if current.action in wanted:
                    yield current, record if current.step == record.line else None
                current = await anext(plan, None)
        while current is not None:
            if current.action in wanted:
                yield current, None
            current = await anext(plan, None)

    async def record_all(self) -> None:
        """First run: every action line ``pending``, so the reports cover each one."""
        async for step in _aiter(iter_plan_steps(self.plan)):
            if step.action in ACTIONS_THAT_CALL:
                cid = None if step.action is SyncAction.CREATE else step.credential_id
                await self.store.write(
                    ResidentRecord(
                        line=step.step,
                        state=ResidentState.PENDING,
                        user_id=step.user_id,
                        credential_id=cid,
                    )
                )
        await self.store.flush()

    async def tries(
        self, record: ResidentRecord, what: str, attempt: Callable[[], Awaitable[None]]
    ) -> ResidentRecord | None:
        """Run ``attempt`` (an awaitable factory) with retries; None when done.

        Returns the record to keep when it fails: ``failed`` for good, or ``deferred``.
        """
        tries = 0
        while True:
            tries += 1
            try:
                await self.calls.send(attempt)
            except (GoneError, NotFoundError):
                return None  # already done by an earlier run
            except (ServerError, TransportError, InvalidResponseError) as exc:
                if tries >= self.calls.options.retry_attempts or self.calls.stopped.is_set():
                    return record.evolve(
                        state=ResidentState.DEFERRED,
                        reason=f"{what}: {type(exc).__name__}: {exc}",
                        retryable=True,
                    )
                await self.calls.backoff(tries)
                continue
            except APIError as exc:
                return record.evolve(
                    state=ResidentState.FAILED,
                    reason=f"{what} refused: {type(exc).__name__}: {exc}",
                    retryable=False,
                )
            return None

    async def phase_deletes(self) -> None:
        client = self.client

        async def work(job: tuple[PlanStep, ResidentRecord | None]) -> None:
            step, record = job
            if record is None or record.final or record.credential_id != step.credential_id:
                return  # final, or its delete/clear already done
            cid = step.credential_id
            assert cid is not None
            if step.action is SyncAction.SAVE_PAYLOADS:
                if not _needs_phase_one(record):
                    return  # handed to the engine already
                if step.clear_first:
                    kept = await self.tries(
                        record,
                        "clear payloads",
                        lambda: client.delete_no_tour_payloads(credential_id=cid),
                    )
                    if kept is not None:
                        await self.store.write(kept)
                        return
                await self.store.write(record.evolve(state=ResidentState.CREATED, reason=None))
                return
            kept = await self.tries(
                record, "delete", lambda: client.delete_credential(credential_id=cid)
            )
            if kept is not None:
                await self.store.write(kept)
            elif step.action is SyncAction.DELETE:
                await self.store.write(record.evolve(state=ResidentState.DONE, reason=None))
            else:  # replace: the old one is gone; the engine creates the new one
                await self.store.write(
                    record.evolve(state=ResidentState.PENDING, credential_id=None, reason=None)
                )

        wanted = frozenset({SyncAction.DELETE, SyncAction.REPLACE, SyncAction.SAVE_PAYLOADS})
        await self.calls.run_pool(self.steps(wanted), work)
        await self.store.flush()

    async def engine_ready(self) -> dict[int, int]:
        """Export line -> plan step of the steps the engine should take now."""
        ready: dict[int, int] = {}
        wanted = frozenset({SyncAction.CREATE, SyncAction.REPLACE, SyncAction.SAVE_PAYLOADS})
        async for step, record in self.steps(wanted):
            if step.line is None or record is None or record.final:
                continue
            if (
                step.action is SyncAction.CREATE
                or (
                    step.action is SyncAction.REPLACE and record.credential_id != step.credential_id
                )
                or (
                    step.action is SyncAction.SAVE_PAYLOADS
                    and not _needs_phase_one(record)
                    and record.credential_id == step.credential_id
                )
            ):
                ready[step.line] = step.step
        return ready

    @staticmethod
    def engine_rows(
        ready: dict[int, int], export: Path, parse: ParseOptions, fmt: InputFormat
    ) -> Iterator[Resident]:
        """The export's residents of the ``ready`` steps, renumbered to their steps.

        JSON Lines are parsed only on the lines wanted (a line is a row); CSV is read
        through its reader (a quoted field may span lines).
        """
        rows: Iterator[ParsedRow | None]
        if fmt == "csv":
            rows = read_input(export, input_format=fmt, options=parse)
        else:
            rows = (
                parse_jsonl_line(text, number, parse) if number in ready else None
                for number, text in iter_lines(export)
            )
        for row in rows:
            if row is None:
                continue
            step_line = ready.get(row.line)
            if step_line is not None and isinstance(row, Resident):
                yield dataclasses.replace(row, line=step_line, user_id=row.user_id.lower())

    async def phase_resends(self) -> None:
        client = self.client

        async def work(job: tuple[PlanStep, ResidentRecord | None]) -> None:
            _step, record = job
            if record is not None and not record.final:
                await resend_once(client, self.calls, self.store, record, self.now, self.ledger)

        await self.calls.run_pool(self.steps(frozenset({SyncAction.RESEND})), work)
        await self.store.flush()


async def apply_plan(
    client: SyncClient | None,
    plan: str | Path,
    store: CheckpointStore,
    *,
    options: ApplyOptions = ApplyOptions(),
    limiter: RateLimiter | None = None,
    progress: ProgressSink | None = None,
    stop: asyncio.Event | None = None,
    now: Callable[[], dt.datetime] | None = None,
    service: ServiceIdentity | None = None,
    force: bool = False,
    tracer_provider: TracerProvider | None = None,
    meter_provider: MeterProvider | None = None,
    budget: AccountBudget | None = None,
    weight: float = 1.0,
) -> MigrationSummary:
    """Apply the plan at ``plan`` through ``client``, checkpointing to ``store`` (open).

    Rerun with the same store to resume: nothing is done twice. Raises
    :class:`PlanError` when a rail refuses the plan or it is stale (before any change).
    ``client`` may be None only for a dry run (then freshness is not checked). The guarded
    path of every entry (:mod:`bulk._guards`): the options' limits, the store bound to the
    client's service and account (``service`` for a client that cannot say), one run per
    store, and a known account block honoured (:class:`AccountBlockedError`) unless ``force``.
    The run is a ``bulk.apply`` span, with ``tracer_provider`` and ``meter_provider``
    as :func:`~bulk.run_migration` takes them.
    ``budget`` paces the run in the ``sync`` lane of the account's
    :class:`~schlage_async.AccountBudget` (after interactive calls, before migrations),
    as one job of the lane with ``weight`` (see :func:`~bulk.run_migration`).
    Without ``limiter`` or ``budget`` the calls are paced adaptively, as
    :func:`~bulk.run_migration`'s.
    """
    telemetry = EngineTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    attributes = {"bulk.input.name": Path(plan).name, "bulk.dry_run": options.dry_run}
    with telemetry.run("bulk.apply", attributes) as span:
        check_options(options.migration)
        limiter = lane_limiter(
            budget, client, lane=Lane.SYNC, job=Path(plan).name, weight=weight, limiter=limiter,
            sends=client is not None and not options.dry_run,
        )  # fmt: skip
        if client is None or options.dry_run:
            summary = await _apply_plan(
                client, plan, store, options=options, limiter=limiter, progress=progress,
                stop=stop, now=now, service=None, telemetry=telemetry,
            )  # fmt: skip
        else:
            identity = service_identity(client, service)
            async with guarded_store(store, force=force) as claimed:
                with lane_context(Lane.SYNC):
                    summary = await _apply_plan(
                        client, plan, claimed, options=options, limiter=limiter,
                        progress=progress, stop=stop, now=now, service=identity,
                        telemetry=telemetry,
                    )  # fmt: skip
            lanes = await lane_record(limiter)
            if lanes is not None:
                summary = replace(summary, lanes=lanes)
        span.finish(summary_attributes(summary))
    return summary


async def _apply_plan(
    client: SyncClient | None,
    plan: str | Path,
    store: CheckpointStore,
    *,
    options: ApplyOptions,
    limiter: RateLimiter,
    progress: ProgressSink | None,
    stop: asyncio.Event | None,
    now: Callable[[], dt.datetime] | None,
    service: ServiceIdentity | None,
    telemetry: EngineTelemetry,
) -> MigrationSummary:
    started = time.monotonic()
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    plan_path = Path(plan)
    header = read_plan_header(plan_path)
    steps = await asyncio.to_thread(count_steps, plan_path)
    check_plan_rails(header, options, steps)
    export, parse, fmt = _check_export(header)
    calls = SyncCallPath(options.migration, limiter, telemetry=telemetry)
    total = sum(steps.get(a.value, 0) for a in ACTIONS_THAT_CALL)
    resuming = await store.get_meta(STARTED_KEY) is not None
    if client is None and not options.dry_run:
        raise ValueError("a client is needed unless options.dry_run")
    if not resuming and options.check_stale and client is not None:
        mark = await read_service_mark(client)
        if mark != header.service:
            raise PlanError(
                f"the plan is stale: the service had {header.service.total:,} active "
                f"credentials (newest {header.service.newest_id}), it has {mark.total:,} "
                f"now (newest {mark.newest_id}); plan again"
            )
    if options.dry_run or client is None:
        return _summary(
            MigrationStatus.DRY_RUN, {}, calls, total=total, started=started, engine=None
        )
    fingerprint = plan_fingerprint(plan_path)
    await bind_source(
        store,
        input_id="sync plan " + json.dumps(fingerprint, sort_keys=True),
        service=service,
        parse_options=parse,
    )
    ledger = ResendLedger(service) if service is not None else None
    run = _Apply(client, plan_path, store, calls, clock, ledger)
    engine: MigrationSummary | None = None
    watcher: asyncio.Task[None] | None = None
    if stop is not None:

        async def watch() -> None:
            await stop.wait()
            calls.stop(StopReason.SIGNAL, "stopped on request (signal)")

        watcher = asyncio.create_task(watch())
    try:
        if not resuming:
            await store.set_meta(KIND_KEY, "apply")
            # The plan as applied, kept beside a state file: the plan's own path is
            # planned over the next day, and the history must still read this one.
            kept = await asyncio.to_thread(_keep_plan, plan_path, store.location)
            await store.set_meta(PLAN_KEY, json.dumps(plan_fingerprint(kept or plan_path)))
            await run.record_all()
            await store.set_meta(STARTED_KEY, clock().isoformat(timespec="seconds"))
        await run.phase_deletes()
        if not calls.stopped.is_set():
            ready = await run.engine_ready()
            engine_stop = asyncio.Event()
            if stop is not None and stop.is_set():
                engine_stop.set()
            relay = asyncio.create_task(_relay(calls.stopped, engine_stop))
            try:
                engine = await migrate(
                    client,
                    run.engine_rows(ready, export, parse, fmt),
                    store,
                    options=options.migration,
                    parse_options=parse,
                    limiter=limiter,
                    progress=progress,
                    stop=engine_stop,
                    tracer_provider=telemetry.tracer_provider,
                    meter_provider=telemetry.meter_provider,
                )
            finally:
                relay.cancel()
            if engine.stop_reason is not None:
                calls.stop(engine.stop_reason, engine.stop_detail or engine.stop_reason.value)
        if not calls.stopped.is_set():
            await run.phase_resends()
    finally:
        if watcher is not None:
            watcher.cancel()
        await calls.aclose()
        await store.flush()
    counts = dict(await store.counts())
    summary_probe = _summary(
        MigrationStatus.COMPLETED, counts, calls, total=total, started=started, engine=engine
    )
    if calls.stop_reason is not None:
        status = MigrationStatus.STOPPED
    elif summary_probe.deferred or summary_probe.unprocessed:
        status = MigrationStatus.INCOMPLETE
    else:
        status = MigrationStatus.COMPLETED
    return dataclasses.replace(summary_probe, status=status, stop_reason=calls.stop_reason)


def _keep_plan(plan: Path, location: str) -> Path | None:
    """Copy ``plan`` beside the state file at ``location`` (``STATE.plan.jsonl``), if a file."""
    state = Path(location)
    if not state.is_file():
        return None  # a store in memory or elsewhere: the plan stays where it is
    kept = state.with_name(f"{state.name}.plan.jsonl")
    shutil.copyfile(plan, kept)
    return kept


async def archive_finished_apply(state: Path, plan: Path) -> Path | None:
    """Move a finished apply of another plan out of ``state``'s way; return where to.

    The daily cycle plans again to the same path and applies it with the same state file:
    the state's finished run (every step final) is renamed
    ``STATE.<started>.sqlite``, with the plan it applied, and the new run links to it
    (:data:`PREVIOUS_KEY`), so ``plan --history STATE`` still reads every day's history.
    A state holding an unfinished apply, or this plan's own, is left as it is.
    """
    if not await asyncio.to_thread(state.is_file):
        return None
    wanted = "sync plan " + json.dumps(plan_fingerprint(plan), sort_keys=True)
    async with open_store(state) as store:
        if await store.get_meta(KIND_KEY) != "apply":
            return None
        bound = json.loads(await store.get_meta(BINDING_KEY) or "{}")
        if bound.get("input_id") in (None, wanted):
            return None
        counts = await store.counts()
        if any(s not in FINAL_STATES for s, n in counts.items() if n):
            return None  # unfinished: the binding refuses, saying so
        started = (await store.get_meta(STARTED_KEY) or "unknown").replace(":", "")
    stamp = "".join(ch for ch in started if ch.isalnum() or ch in "-T")[:17] or "earlier"
    target = state.with_name(f"{state.name}.{stamp}.sqlite")
    n = 1
    while await asyncio.to_thread(target.exists):
        n += 1
        target = state.with_name(f"{state.name}.{stamp}-{n}.sqlite")
    await asyncio.to_thread(state.rename, target)
    kept = state.with_name(f"{state.name}.plan.jsonl")
    if await asyncio.to_thread(kept.is_file):
        moved = target.with_name(f"{target.name}.plan.jsonl")
        await asyncio.to_thread(kept.rename, moved)
        async with open_store(target) as archived:
            await archived.set_meta(PLAN_KEY, json.dumps(plan_fingerprint(moved)))
    return target


def _needs_phase_one(record: ResidentRecord) -> bool:
    """Whether a save's step still waits for phase 1 (not yet handed to the engine)."""
    if record.state is ResidentState.PENDING:
        return True
    return record.state is ResidentState.DEFERRED and (record.reason or "").startswith(
        "clear payloads"
    )


async def _relay(source: asyncio.Event, target: asyncio.Event) -> None:
    await source.wait()
    target.set()
