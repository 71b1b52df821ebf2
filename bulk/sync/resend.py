"""One resend, at most once: the rule ``apply`` and ``chase`` share.

The ``creating`` intent is durable before the resend leaves. An intent found again (the
process died while the call was under way) is never sent a second time: it is final,
reported as possibly sent, and counted as sent by the history (at most one invite a
day). A resident who downloaded meanwhile gets nothing (done, nothing sent). Only a
connection that never opened is retried later; any other failure may have sent it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from typing import Protocol

from schlage_async import (
    APIError,
    ConnectionFailedError,
    CredentialDownloadedError,
    InvalidResponseError,
    TransportError,
)

from ..store.protocol import CheckpointStore, ResidentRecord, ResidentState
from .calls import Stopped, SyncCallPath
from .history import sent_reason
from .ledger import ResendLedger

__all__ = ["ResendClient", "resend_once"]


class ResendClient(Protocol):
    """The resend call (``SchlageClient`` has it)."""

    async def resend_invite(self, *, user_id: str) -> None:
        """Resend a user's invite (400 once downloaded)."""
        ...


async def resend_once(
    client: ResendClient,
    calls: SyncCallPath,
    store: CheckpointStore,
    record: ResidentRecord,
    now: Callable[[], dt.datetime],
    ledger: ResendLedger | None = None,
) -> ResidentRecord:
    """Resend ``record``'s invite unless an earlier run may have; return the final record.

    With ``ledger`` (the machine's record of resends per service and account), an invite
    sent in the last 24 hours by any run, whatever its state file, is not sent again; the
    entry is written before the call leaves (taken back only when it never left).
    """
    if record.state is ResidentState.CREATING:
        final = record.evolve(
            state=ResidentState.FAILED,
            reason="outcome unknown: the run stopped while this resend was under way; not "
            "sent again (at most one invite a day): " + sent_reason(now()),
        )
        await store.write(final)
        return final
    user_id = record.user_id
    assert user_id is not None
    moment = now()
    if ledger is not None and (last := await ledger.sent_within(user_id, moment)) is not None:
        final = record.evolve(
            state=ResidentState.DONE,
            reason=sent_reason(last) + " by another run: not sent again (one invite a day)",
        )
        await store.write(final)
        return final
    intent = record.evolve(state=ResidentState.CREATING, create_attempts=1)
    await store.write_durable(intent)
    if ledger is not None:
        await ledger.record(user_id, moment)
    send: Callable[[], Awaitable[None]] = lambda: client.resend_invite(user_id=user_id)  # noqa: E731  # one call
    try:
        await calls.send(send)
    except Stopped:
        await store.write(record)  # refused (429, block, access) or never sent
        if ledger is not None:
            await ledger.forget(user_id, moment)
        raise
    except CredentialDownloadedError:
        final = intent.evolve(state=ResidentState.DONE, reason="downloaded meanwhile: not resent")
    except ConnectionFailedError as exc:  # nothing left: safe to try on the next run
        final = record.evolve(state=ResidentState.DEFERRED, reason=f"resend: {exc}", retryable=True)
        if ledger is not None:
            await ledger.forget(user_id, moment)
    except (APIError, TransportError, InvalidResponseError) as exc:
        final = intent.evolve(
            state=ResidentState.FAILED,
            reason=f"resend: {type(exc).__name__}: {exc}; not retried (it may have been sent)",
        )
    else:
        final = intent.evolve(state=ResidentState.DONE, reason=sent_reason(now()))
    await store.write(final)
    return final
