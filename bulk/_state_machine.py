"""One resident's state machine: every transition a resident's checkpoint record makes.

A resident moves through these states (the store keeps the latest per input line)::

    pending ──► creating ──► created ──► done
       │           │  ▲         │
       │           ▼  │         ▼
       └──────► failed / deferred (deferred goes back to work on the next try or run)

``creating`` is the intent: it is durable *before* the create request leaves, so after a
crash the engine knows a credential may exist and reconciles (looks the user up) before
creating again. A row read for provisioning is first recorded as ``creating`` already
(the intent written ahead, in an ordinary batch, so no create waits for an fsync of its
own); a run that stops before sending it writes it back to ``pending``. ``done`` means
created and, when the resident has doors, its no-tour payloads saved. ``failed`` is
final with a reason; ``deferred`` is a retryable failure left for the next run.

The transitions, each one method of :class:`ResidentMachine`:

========================  ===========================================================
``reject``                a bad row: ``failed`` with the parser's reason
``admit``                 a row read: ``creating`` written ahead (or ``pending`` in a
                          dry run or after a stop)
``take_back``             stopped before its create left: ``creating`` back to ``pending``
``provision``             the tries of one run: ``advance``, backoff, ``deferred``
``advance``               the path of one try: reconcile, create, save, ``done``
``reconcile``             a create may have left: look the user up, adopt or create
``create``                intent durable, then the call: ``created``, or 409 reconciled
``save``                  the no-tour payloads (replaced per device: safe to repeat)
========================  ===========================================================

Exactly-once, whatever the crash point:

* a resident whose record shows a create may have left (``create_attempts > 0``, no
  credential id) is looked up with ``get_credential_by_user`` before any new create:
  found with its mobile number means created (adopted), not found means create;
* any 409 on a create, whatever its words, is reconciled the same way first; only when
  the lookup finds no credential of ours is a 409 on the mobile number (another user
  holds it) a permanent failure, never retried;
* an unknown outcome (no answer to a create), a 5xx or an unreadable answer is never
  replayed blindly: the retry starts with the lookup;
* saving no-tour payloads replaces per device, so it is simply done again.

Every call leaves through :class:`~bulk._calls.CallPath` (pause gate, limiter, 429s,
stopping); this module decides what each answer means for the resident.
"""

from __future__ import annotations

import random

import structlog

from schlage_async import (
    APIError,
    ConflictError,
    InvalidResponseError,
    MobileNumberConflictError,
    NotFoundError,
    ServerError,
    TransportError,
    UserIdConflictError,
    exponential_backoff,
    mask_mobile,
)

from ._calls import ENGINE_RETRY_POLICY, CallPath, ProvisioningClient, Stopped, describe
from ._options import MigrationOptions
from ._resident import RejectedRow, Resident
from .store.protocol import CheckpointStore, ResidentRecord, ResidentState

__all__ = ["ResidentMachine", "Transient"]

_log = structlog.get_logger("bulk")


class Transient(Exception):
    """A retryable failure of one resident; ``record`` is what to keep meanwhile."""

    def __init__(self, record: ResidentRecord, reason: str) -> None:
        super().__init__(reason)
        self.record = record
        self.reason = reason


class ResidentMachine:
    """The transitions of every resident of one run, and how many ended where."""

    __slots__ = (
        "calls",
        "client",
        "deferred",
        "failed",
        "options",
        "reconciled",
        "rng",
        "store",
        "succeeded",
    )

    def __init__(
        self,
        *,
        client: ProvisioningClient | None,
        store: CheckpointStore,
        calls: CallPath,
        options: MigrationOptions,
    ) -> None:
        self.client = client  # None only in a dry run (nothing is ever provisioned)
        self.store = store  # where every transition is written
        self.calls = calls  # the way out for every call
        self.options = options  # tries per resident and their backoff
        self.rng = random.Random(options.seed)  # backoff jitter
        self.succeeded = 0  # residents done in this run
        self.failed = 0  # residents (and bad rows) failed in this run
        self.deferred = 0  # residents left for a later run
        self.reconciled = 0  # credentials adopted after a lookup

    # --- the reader's transitions ---------------------------------------------------

    async def reject(self, row: RejectedRow) -> None:
        """A bad row: ``failed`` for good with the parser's reason."""
        await self.store.write(
            ResidentRecord(
                line=row.line,
                state=ResidentState.FAILED,
                user_id=row.user_id,
                reason=row.reason,
                row_hash=row.row_hash,
            )
        )
        self.failed += 1
        self.calls.telemetry.row("failed")
        _log.info("resident.rejected", line=row.line, user_id=row.user_id, reason=row.reason)

    async def admit(self, resident: Resident, *, provisioning: bool) -> int | None:
        """Record a new row; return the write mark of its intent when it is to be sent.

        A row about to be provisioned is recorded with its ``creating`` intent already
        (conservative: a resume looks such a user up before creating); :meth:`create`
        makes sure that write is committed before the create leaves.
        """
        await self.store.write(
            ResidentRecord(
                line=resident.line,
                state=ResidentState.CREATING if provisioning else ResidentState.PENDING,
                user_id=resident.user_id,
                create_attempts=1 if provisioning else 0,
                row_hash=resident.row_hash,
            )
        )
        return self.store.write_mark() if provisioning else None

    async def take_back(self, resident: Resident) -> None:
        """The run stopped before this row's create left: its intent back to ``pending``."""
        await self.store.write(
            ResidentRecord(
                line=resident.line,
                state=ResidentState.PENDING,
                user_id=resident.user_id,
                row_hash=resident.row_hash,
            )
        )

    # --- one resident's tries -------------------------------------------------------

    async def provision(
        self, resident: Resident, record: ResidentRecord | None, intent_mark: int | None = None
    ) -> None:
        """Bring one resident to ``done`` or ``failed``, or leave it ``deferred``/open."""
        if record is None:
            record = ResidentRecord(
                line=resident.line,
                state=ResidentState.PENDING,
                user_id=resident.user_id,
                row_hash=resident.row_hash,
            )
        tries = 0
        while True:
            tries += 1
            try:
                final = await self.advance(resident, record, intent_mark)
            except Transient as exc:
                record = exc.record
                if tries >= self.options.retry_attempts:
                    deferred = record.evolve(
                        state=ResidentState.DEFERRED, reason=exc.reason, retryable=True
                    )
                    await self.store.write(deferred)
                    self.deferred += 1
                    self.calls.telemetry.row("deferred")
                    _log.warning(
                        "resident.deferred",
                        line=resident.line,
                        user_id=resident.user_id,
                        reason=exc.reason,
                        tries=tries,
                    )
                    return
                wait = exponential_backoff(
                    tries,
                    base_delay=self.options.retry_base_delay,
                    max_delay=self.options.retry_max_delay,
                    rng=self.rng,
                )
                await self.calls.nap(wait)
                if self.calls.stopped.is_set():
                    await self.store.write(
                        record.evolve(
                            state=ResidentState.DEFERRED, reason=exc.reason, retryable=True
                        )
                    )
                    return
                continue
            if final.state is ResidentState.DONE:
                self.succeeded += 1
                self.calls.telemetry.row("done")
            else:
                self.failed += 1
                self.calls.telemetry.row("failed")
                _log.info(
                    "resident.failed",
                    line=resident.line,
                    user_id=resident.user_id,
                    reason=final.reason,
                )
            return

    async def advance(
        self, resident: Resident, record: ResidentRecord, intent_mark: int | None = None
    ) -> ResidentRecord:
        """Take one resident as far as it goes; return its final record."""
        if record.credential_id is None:
            if record.create_attempts > 0:
                record = await self.reconcile(resident, record)
            if record.credential_id is None and record.state is not ResidentState.FAILED:
                record = await self.create(resident, record, intent_mark)
        if record.state is ResidentState.FAILED:
            await self.store.write(record)
            return record
        if resident.doors:
            record = await self.save(resident, record)
            if record.state is ResidentState.FAILED:
                await self.store.write(record)
                return record
        done = record.evolve(state=ResidentState.DONE, reason=None, retryable=False)
        await self.store.write(done)
        return done

    @staticmethod
    def fail(record: ResidentRecord, reason: str) -> ResidentRecord:
        """Return ``record`` failed for good with ``reason``."""
        return record.evolve(state=ResidentState.FAILED, reason=reason, retryable=False)

    async def reconcile(self, resident: Resident, record: ResidentRecord) -> ResidentRecord:
        """Look the user up: adopt the credential a create may have made, or say none."""
        assert self.client is not None
        client = self.client
        try:
            found = await self.calls.send(
                lambda: client.get_credential_by_user(
                    user_id=resident.user_id, retry=ENGINE_RETRY_POLICY
                )
            )
        except NotFoundError:
            return record  # nothing was created: the caller creates
        except (ServerError, TransportError, InvalidResponseError) as exc:
            raise Transient(record, f"lookup failed: {describe(exc)}") from exc
        except APIError as exc:
            return self.fail(record, f"lookup refused: {describe(exc)}")
        if found.mobile_number != resident.mobile_number:
            return self.fail(
                record.evolve(credential_id=found.credential_id, card_number=found.card_number),
                f"user id {resident.user_id} already has credential {found.credential_id} "
                f"for mobile number {mask_mobile(found.mobile_number)}, "
                f"not {mask_mobile(resident.mobile_number)}",
            )
        created = record.evolve(
            state=ResidentState.CREATED,
            credential_id=found.credential_id,
            card_number=found.card_number,
            reason=None,
        )
        await self.store.write(created)
        self.reconciled += 1
        _log.info(
            "resident.reconciled",
            line=resident.line,
            user_id=resident.user_id,
            credential_id=found.credential_id,
        )
        return created

    async def create(
        self, resident: Resident, record: ResidentRecord, intent_mark: int | None = None
    ) -> ResidentRecord:
        """Create the credential: durable intent first, then the call.

        For a new row the reader already wrote this very intent in an ordinary batch
        (``intent_mark``): the create waits only if that batch is not committed yet, so
        the durable intent costs no fsync of its own on the hot path.
        """
        assert self.client is not None
        client = self.client
        intent = record.evolve(
            state=ResidentState.CREATING,
            create_attempts=record.create_attempts + 1,
            reason=None,
        )
        if intent_mark is not None and record.create_attempts == 0:
            await self.store.ensure_committed(intent_mark)
        else:
            await self.store.write_durable(intent)
        try:
            created = await self.calls.send(
                lambda: client.create_credential(
                    user_id=resident.user_id,
                    mobile_number=resident.mobile_number,
                    card_format=resident.card_format,
                    facility_code=resident.facility_code,
                    issue_code=resident.issue_code,
                    attributes=resident.attributes,  # a new dict (or None) on every read
                    retry=ENGINE_RETRY_POLICY,
                )
            )
        except Stopped:
            # Refused (429, block, access) or never sent: nothing was created.
            await self.store.write(record)
            raise
        except ConflictError as exc:
            # Any 409 on a create, whatever its words (the outcome table's RECONCILE in
            # schlage_async._outcomes): after a lost answer our own credential may be the
            # one in the way, and whether the service checks the user id or the number
            # first is not documented. Look the user up before calling it someone else's.
            found = await self.reconcile(resident, intent)
            if found.credential_id is not None or found.state is ResidentState.FAILED:
                return found
            if isinstance(exc, UserIdConflictError):
                raise Transient(
                    intent, "409 on the user id, but the lookup found no credential"
                ) from None
            if isinstance(exc, MobileNumberConflictError):
                return self.fail(
                    intent,
                    f"mobile number {mask_mobile(resident.mobile_number)} already belongs to "
                    f"another user's credential (409: {exc.message})",
                )
            return self.fail(
                intent,
                f"create refused with 409 ({exc.message or 'no message'}) and the user has "
                f"no credential to adopt: mobile number {mask_mobile(resident.mobile_number)} "
                "is most likely another user's",
            )
        except (ServerError, TransportError, InvalidResponseError) as exc:
            # It may exist: the next try looks the user up first (create_attempts > 0).
            raise Transient(intent, f"create: {describe(exc)}") from exc
        except APIError as exc:
            return self.fail(intent, f"create refused: {describe(exc)}")
        done = intent.evolve(
            state=ResidentState.CREATED,
            credential_id=created.credential_id,
            card_number=created.card_number,
        )
        await self.store.write(done)
        return done

    async def save(self, resident: Resident, record: ResidentRecord) -> ResidentRecord:
        """Save the resident's no-tour payloads (safe to repeat: it replaces per device)."""
        assert self.client is not None
        assert record.credential_id is not None
        client = self.client
        credential_id = record.credential_id
        try:
            await self.calls.send(
                lambda: client.save_no_tour_payloads(
                    credential_id=credential_id, payloads=resident.doors, retry=ENGINE_RETRY_POLICY
                )
            )
        except (ServerError, TransportError, InvalidResponseError) as exc:
            raise Transient(record, f"save payloads: {describe(exc)}") from exc
        except APIError as exc:
            return self.fail(
                record,
                f"credential {credential_id} created, but its no-tour payloads were "
                f"refused: {describe(exc)}",
            )
        return record
