"""The path every API call of a run takes out: pause gate, limiter, 429 policy, stopping.

::

    call ──► pause gate ──► limiter slot ──► pause gate again ──► client ──► answer
               (a 429 closed it:                                     │
                everyone waits once)                                 ▼
                                    429 ─► pause everyone, retry the call (same resident)
                                    429 that blocks the account ─► stop (resume_at)
                                    too many 429s / too long paused ─► stop (patience)
                                    401/403 (login, key, role) ─► stop (access refused)
                                    a login refused for good ─► stop (access refused)
                                    no answer for unreachable_after s ─► stop (unreachable)
                                    any other answer ─► back to the state machine

:class:`CallPath` is the only place a run sends from. It counts the calls and the 429s,
steers the limiter (``on_success``/``on_throttled``), and owns the run's stop: the first
stop reason wins, the gate opens for good so that waiting workers see it, and every later
call raises :class:`Stopped` before it is sent. What a call *means* for a resident (a
409, a 404, a 5xx) is decided by the state machine (``_state_machine.py``), not here.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Final, Protocol, TypeVar

import anyio
import structlog

from schlage_async import (
    AccountBlockedError,
    APIError,
    AuthenticationError,
    ClientStats,
    CreatedCredential,
    Credential,
    NoTourPayload,
    Operation,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    TransportError,
    exponential_backoff,
)

from ._limiter import RateLimiter
from ._options import MigrationOptions
from ._pause import PauseGate
from ._summary import StopReason
from ._telemetry import EngineTelemetry

__all__ = ["ENGINE_RETRY_POLICY", "CallPath", "ProvisioningClient", "Stopped", "describe"]

_T = TypeVar("_T")
_log = structlog.get_logger("bulk")

_SPACING_ONLY_429S: Final = 3
"""429s in a row without Retry-After that pause for one interval of the rate only."""

ENGINE_RETRY_POLICY: Final = RetryPolicy(retry_statuses=frozenset({502, 503, 504}))
"""The client's retries under the engine: 5xx and connection errors, never a 429 (the
engine pauses every worker once for a 429 instead of each call sleeping on its own)."""


class ProvisioningClient(Protocol):
    """The three calls the engine makes (``SchlageClient`` has them).

    The engine passes its own ``retry=`` (:data:`ENGINE_RETRY_POLICY`) on every call, so
    a client works as handed over, whatever retry policy it was built with.
    """

    @property
    def stats(self) -> ClientStats:
        """A snapshot of the client's traffic."""
        ...

    async def create_credential(
        self,
        *,
        user_id: str,
        mobile_number: str,
        card_format: str,
        facility_code: int | None = None,
        issue_code: int | None = None,
        attributes: Mapping[str, str | None] | None = None,
        retry: RetryPolicy | None = None,
    ) -> CreatedCredential:
        """Create a resident's credential."""
        ...

    async def save_no_tour_payloads(
        self,
        *,
        credential_id: str,
        payloads: Sequence[NoTourPayload],
        retry: RetryPolicy | None = None,
    ) -> None:
        """Save (replace) a credential's no-tour payloads."""
        ...

    async def get_credential_by_user(
        self, *, user_id: str, retry: RetryPolicy | None = None
    ) -> Credential:
        """Look a user's credential up (raises a NotFoundError when there is none)."""
        ...


class Stopped(Exception):
    """The run is stopping; the resident is left as its checkpoint says."""


def describe(exc: BaseException) -> str:
    """One line for a report: the error's class and its (redacted) text."""
    return f"{type(exc).__name__}: {exc}"


class CallPath:
    """The gate, the limiter and the 429 policy every call passes; the run's stop switch."""

    __slots__ = (
        "answered",
        "calls",
        "clock",
        "consecutive_429",
        "gate",
        "limiter",
        "options",
        "rate_limited",
        "resume_at",
        "sleep",
        "stop_detail",
        "stop_reason",
        "stopped",
        "telemetry",
        "unreachable_since",
        "url",
    )

    def __init__(
        self,
        *,
        gate: PauseGate,
        limiter: RateLimiter,
        options: MigrationOptions,
        sleep: Callable[[float], Awaitable[object]],
        clock: Callable[[], float],
        url: str | None = None,
        telemetry: EngineTelemetry | None = None,
    ) -> None:
        self.gate = gate  # one 429 pauses every worker, once
        # The run's spans and metrics; the gate records its pauses through it too.
        self.telemetry = telemetry if telemetry is not None else EngineTelemetry.disabled()
        gate.instrument(self.telemetry)
        self.clock = clock  # monotonic seconds, for how long the service has been silent
        self.url = url  # the service's base URL, for the "unreachable" message
        # Since when no call has had an answer: the start of the earliest call that got
        # none since the last answer; None while the service answers.
        self.unreachable_since: float | None = None
        self.answered = False  # whether the service answered any call of this run
        self.limiter = limiter  # the shared client-side rate
        self.options = options  # patience, 429 limits, the default pause
        self.sleep = sleep  # how a resident's backoff waits (see nap)
        self.clock = clock  # epoch seconds (like the client's): resume_at, pause ends
        self.stopped = asyncio.Event()  # set when the run must wind down
        self.stop_reason: StopReason | None = None  # the first reason to stop wins
        self.stop_detail: str | None = None  # that reason in words
        self.resume_at: dt.datetime | None = None  # the earliest useful rerun (UTC)
        self.calls = 0  # calls sent (429s included)
        self.rate_limited = 0  # 429 answers
        self.consecutive_429 = 0  # 429s since the last other answer

    def stop(self, reason: StopReason, detail: str, *, retry_after: float | None = None) -> None:
        """Wind the run down (the first reason wins); workers finish their current call."""
        if self.stopped.is_set():
            return
        self.stop_reason = reason
        self.stop_detail = detail
        if retry_after is not None:
            self.resume_at = self._utc(retry_after)
        self.stopped.set()
        _log.warning(
            "migration.stopping",
            reason=reason.value,
            detail=detail,
            resume_at=self.resume_at.isoformat(timespec="seconds") if self.resume_at else None,
        )
        self.gate.close()

    async def send(self, make: Callable[[], Awaitable[_T]]) -> _T:
        """Send one API call through the gate and the limiter; handle 429s engine-wide.

        Raises :class:`Stopped` when the run stops before the call leaves (or because of
        its answer); any other answer's error is the caller's to read.
        """
        while True:
            if self.gate.paused:  # open (the usual case): no coroutine to await
                await self.gate.wait()
            if self.stopped.is_set():
                raise Stopped
            if self.telemetry.metering:
                asked = time.monotonic()
                await self.limiter.acquire()
                self.telemetry.limiter_waited(time.monotonic() - asked)
            else:
                await self.limiter.acquire()
            if self.gate.paused:
                # A pause began while this worker waited for a slot: the slot belongs to
                # before the pause. Spending it when the gate opens would send every
                # waiting worker at once, a burst the gateway answers with more 429s;
                # take a fresh, paced slot after the pause instead.
                continue
            if self.stopped.is_set():
                raise Stopped
            self.calls += 1
            sent_at = self.clock()
            try:
                result = await make()
            except TransportError as exc:
                self.silent(exc, sent_at)
                raise
            except AccountBlockedError as exc:
                self.rate_limited += 1
                self.stop(StopReason.ACCOUNT_BLOCKED, describe(exc), retry_after=exc.retry_after)
                raise Stopped from exc
            except RateLimitedError as exc:
                self.rate_limited += 1
                self.consecutive_429 += 1
                self.limiter.on_throttled()
                wait = exc.retry_after
                if wait is None:
                    wait = self._pause_without_retry_after()
                if self.gate.pause_for(wait):
                    _log.info(
                        "migration.paused",
                        seconds=round(wait, 3),
                        paused_until=self._utc(wait).isoformat(timespec="seconds"),
                        operation=str(exc.operation),
                    )
                if (
                    self.consecutive_429 >= self.options.max_consecutive_429
                    or self.gate.committed_seconds > self.options.patience
                ):
                    self.stop(
                        StopReason.PATIENCE_EXHAUSTED,
                        f"{self.consecutive_429} 429s in a row, "
                        f"{self.gate.committed_seconds:.0f}s paused in all: {describe(exc)}",
                        retry_after=max(wait, 60.0),
                    )
                    raise Stopped from exc
                continue
            except (AuthenticationError, PermissionDeniedError) as exc:
                self.stop(StopReason.ACCESS_REFUSED, describe(exc))
                raise Stopped from exc
            except APIError as exc:
                if exc.operation is Operation.LOGIN and not isinstance(exc, ServerError):
                    # The login is the account's, never one resident's: a user name the
                    # client refuses before sending, or any other login refused for good
                    # (a 5xx is the service's trouble, retried), stops the run and
                    # leaves every resident as it was.
                    self.stop(StopReason.ACCESS_REFUSED, describe(exc))
                    raise Stopped from exc
                self.unreachable_since = None
                self.answered = True
                self.consecutive_429 = 0  # an answer that is not a 429 (404, 409, ...)
                self.limiter.on_success()
                raise
            self.unreachable_since = None
            self.answered = True
            self.consecutive_429 = 0
            self.limiter.on_success()
            return result

    def _pause_without_retry_after(self) -> float:
        """How long a 429 that names no wait holds every call.

        The first few of a row are the gateway's rate, met by a paced limiter that has just
        slowed down: one interval of the new rate is enough. From the fourth in a row on
        (or with no paced rate), the pause doubles from ``default_retry_after``, at most
        64 times: 429s that keep coming are a sign of a block, obeyed in full.
        """
        rate = self.limiter.rate
        streak = self.consecutive_429
        if rate and streak <= _SPACING_ONLY_429S:
            return 1.0 / rate
        base = self.options.default_retry_after
        return exponential_backoff(
            max(1, streak - _SPACING_ONLY_429S), base_delay=base, max_delay=base * 64
        )

    def _utc(self, seconds_from_now: float) -> dt.datetime:
        """The UTC time ``seconds_from_now`` by the injected clock."""
        return dt.datetime.fromtimestamp(self.clock() + seconds_from_now, dt.UTC)

    def paused_until(self) -> dt.datetime | None:
        """When the current 429 pause ends (UTC), while paused."""
        return self._utc(self.gate.remaining) if self.gate.paused else None

    def silent(self, exc: TransportError, sent_at: float) -> None:
        """Note a call that got no answer; stop the run once none came for too long.

        The error is the caller's to handle (the resident keeps its intent and is retried
        or deferred); only the run-wide decision is made here.
        """
        since = self.unreachable_since
        since = sent_at if since is None else min(since, sent_at)
        self.unreachable_since = since
        silent = self.clock() - since
        if silent >= self.options.unreachable_after:
            self.stop(
                StopReason.UNREACHABLE,
                f"{self.url or 'the service'} is unreachable: no answer for {silent:.0f} s "
                f"({describe(exc)})",
            )

    def settle_silence(self) -> None:
        """At the end of a run: a service that never answered any call is unreachable,
        however soon its residents ran out of tries (not "incomplete" for no reason)."""
        since = self.unreachable_since
        if self.stop_reason is None and not self.answered and since is not None:
            silent = max(0.0, self.clock() - since)
            self.stop(
                StopReason.UNREACHABLE,
                f"{self.url or 'the service'} is unreachable: no call had an answer in "
                f"{silent:.0f} s",
            )

    async def nap(self, seconds: float) -> None:
        """Sleep ``seconds``, or less when the run stops meanwhile."""
        async with anyio.create_task_group() as race:

            async def napping() -> None:
                await self.sleep(seconds)
                race.cancel_scope.cancel()

            async def stopping() -> None:
                await self.stopped.wait()
                race.cancel_scope.cancel()

            race.start_soon(napping)
            race.start_soon(stopping)
