"""Decommission locks: delete every no-tour payload for given device serials, once each.

One call per lock (Delete No-Tour Payloads by Device Serial Number), through the same
call path as ``migrate`` (gate, limiter, 429 policy). The state file keeps, per serial,
``sending`` before the call leaves and the outcome after, so a rerun skips finished
locks and reports a lock whose call was under way at a crash as deleted when the
service no longer holds it. A later ``plan --history STATE`` knows these locks were
emptied (a resident whose export still lists one has its doors saved again).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

from schlage_async import (
    AccountBudget,
    APIError,
    InvalidResponseError,
    Lane,
    NotFoundError,
    ServerError,
    TransportError,
    lane_context,
)

from .._binding import ServiceIdentity, bind_source
from .._guards import check_options, guarded_store, service_identity
from .._lanes import lane_limiter
from .._limiter import RateLimiter
from .._options import MigrationOptions
from .._summary import StopReason
from .._telemetry import EngineTelemetry
from ..store.protocol import CheckpointStore
from .calls import Stopped, SyncCallPath
from .history import KIND_KEY, SERIALS_KEY
from .plan_file import PlanError

if TYPE_CHECKING:
    from opentelemetry.metrics import MeterProvider
    from opentelemetry.trace import TracerProvider

__all__ = ["DecommissionClient", "DecommissionResult", "LockOutcome", "decommission_locks"]

_DONE: Final = frozenset({"deleted", "none_held"})


class DecommissionClient(Protocol):
    """The call a decommission makes (``SchlageClient`` has it)."""

    async def delete_no_tour_payloads_by_device(self, *, serial_number: str) -> None:
        """Delete every payload for a lock (404 when no credential holds one)."""
        ...


@dataclass(frozen=True, slots=True)
class LockOutcome:
    """What became of one lock."""

    serial: str
    outcome: str
    """``deleted``, ``none_held`` (no credential had a payload for it), ``failed`` or
    ``deferred`` (retryable: rerun)."""
    detail: str = ""
    at: str | None = None
    """When it was done (ISO 8601 UTC)."""
    this_run: bool = True
    """False when an earlier run finished it."""


@dataclass(frozen=True, slots=True)
class DecommissionResult:
    """Every lock's outcome, and whether the run stopped early."""

    locks: tuple[LockOutcome, ...]
    stop_reason: StopReason | None = None
    stop_detail: str | None = None
    calls: int = 0

    @property
    def complete(self) -> bool:
        """Whether every lock is final (none deferred, the run not stopped)."""
        return self.stop_reason is None and all(x.outcome != "deferred" for x in self.locks)


async def _delete_by_device(client: DecommissionClient, serial: str) -> None:
    await client.delete_no_tour_payloads_by_device(serial_number=serial)


async def decommission_locks(
    client: DecommissionClient,
    serials: Sequence[str],
    store: CheckpointStore,
    *,
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
) -> DecommissionResult:
    """Delete the payloads of every lock in ``serials`` exactly once (``store`` open).

    The store is bound to the client's service and account (``service`` for a client that
    cannot say): reused against another service it is refused
    (:class:`InputMismatchError`), never read as "deleted by an earlier run". One run per
    store; a known account block is honoured unless ``force``. The run is a
    ``bulk.decommission`` span (the locks' outcomes counted, never a serial number), with
    ``tracer_provider`` and ``meter_provider`` as :func:`~bulk.run_migration` takes them.
    ``budget`` paces the run in the ``sync`` lane of the account's
    :class:`~schlage_async.AccountBudget` (after interactive calls, before migrations),
    as one job of the lane with ``weight`` (see :func:`~bulk.run_migration`).
    Without ``limiter`` or ``budget`` the calls are paced adaptively, as
    :func:`~bulk.run_migration`'s.
    """
    telemetry = EngineTelemetry(tracer_provider=tracer_provider, meter_provider=meter_provider)
    with telemetry.run("bulk.decommission", {"bulk.locks": len(serials)}) as span:
        check_options(options)
        limiter = lane_limiter(
            budget, client, lane=Lane.SYNC, job="decommission", weight=weight, limiter=limiter,
            sends=not options.dry_run,
        )  # fmt: skip
        identity = service_identity(client, service)
        async with guarded_store(store, force=force) as claimed:
            await bind_source(claimed, input_id="decommission", service=identity)
            with lane_context(Lane.SYNC):
                result = await _decommission(
                    client, serials, claimed, options=options, limiter=limiter, stop=stop,
                    now=now, telemetry=telemetry,
                )  # fmt: skip
        outcomes: dict[str, Any] = {}
        for lock in result.locks:
            key = f"bulk.locks.{lock.outcome}"
            outcomes[key] = outcomes.get(key, 0) + 1
        span.finish(
            {
                "bulk.outcome": "completed" if result.complete else "incomplete",
                "bulk.api_calls": result.calls,
                **({"bulk.stop_reason": result.stop_reason.value} if result.stop_reason else {}),
                **outcomes,
            }
        )
    return result


async def _decommission(
    client: DecommissionClient,
    serials: Sequence[str],
    store: CheckpointStore,
    *,
    options: MigrationOptions,
    limiter: RateLimiter,
    stop: asyncio.Event | None,
    now: Callable[[], dt.datetime] | None,
    telemetry: EngineTelemetry,
) -> DecommissionResult:
    clock = now or (lambda: dt.datetime.now(dt.UTC))
    kind = await store.get_meta(KIND_KEY)
    if kind not in (None, "decommission"):
        raise PlanError(f"this state file belongs to a {kind} run, not a decommission")
    await store.set_meta(KIND_KEY, "decommission")
    raw = await store.get_meta(SERIALS_KEY)
    known: dict[str, dict[str, str]] = json.loads(raw) if raw else {}
    calls = SyncCallPath(options, limiter, telemetry=telemetry)
    outcomes: list[LockOutcome] = []

    async def keep(serial: str, state: str, detail: str = "") -> str:
        at = clock().isoformat(timespec="seconds")
        known[serial] = {"state": state, "at": at, "detail": detail}
        await store.set_meta(SERIALS_KEY, json.dumps(known, sort_keys=True))
        return at

    try:
        for serial in dict.fromkeys(s.strip() for s in serials if s.strip()):
            if stop is not None and stop.is_set():
                calls.stop(StopReason.SIGNAL, "stopped on request (signal)")
            earlier = known.get(serial)
            if earlier is not None and earlier["state"] in _DONE:
                outcomes.append(
                    LockOutcome(
                        serial, earlier["state"], earlier.get("detail", ""), earlier["at"], False
                    )
                )
                continue
            was_sending = earlier is not None and earlier["state"] == "sending"
            if calls.stopped.is_set():
                outcomes.append(LockOutcome(serial, "deferred", calls.stop_detail or "stopped"))
                continue
            await keep(serial, "sending")
            tries = 0
            while True:
                tries += 1
                try:
                    await calls.send(functools.partial(_delete_by_device, client, serial))
                except Stopped:
                    outcomes.append(LockOutcome(serial, "deferred", calls.stop_detail or ""))
                    break
                except NotFoundError:
                    detail = (
                        "deleted by the interrupted run (the service holds none now)"
                        if was_sending
                        else "no credential held a payload for this lock"
                    )
                    state = "deleted" if was_sending else "none_held"
                    at = await keep(serial, state, detail)
                    outcomes.append(LockOutcome(serial, state, detail, at))
                    break
                except (ServerError, TransportError, InvalidResponseError) as exc:
                    if tries < options.retry_attempts and not calls.stopped.is_set():
                        await calls.backoff(tries)
                        continue
                    outcomes.append(LockOutcome(serial, "deferred", f"{type(exc).__name__}: {exc}"))
                    break
                except APIError as exc:
                    detail = f"refused: {type(exc).__name__}: {exc}"
                    await keep(serial, "failed", detail)
                    outcomes.append(LockOutcome(serial, "failed", detail))
                    break
                at = await keep(serial, "deleted", "every payload for this lock deleted")
                outcomes.append(LockOutcome(serial, "deleted", "", at))
                break
    finally:
        await calls.aclose()
        await store.flush()
    return DecommissionResult(tuple(outcomes), calls.stop_reason, calls.stop_detail, calls.calls)
