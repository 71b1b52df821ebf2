"""Every invite resent from this machine, per service and account: at most one a day.

A resend texts a resident. ``apply`` and ``chase`` record each one in their own state,
but a plan applied again with another ``--state``, after ``--restart`` or from a copy of
the plan has no such record, and the service says nothing of when it last texted anyone.
So every resend is also written here, in one SQLite file per user of this machine that
no state file owns (``$SCHLAGE_BULK_LEDGER``, else ``$XDG_STATE_HOME/schlage-bulk/`` or
``~/.local/state/schlage-bulk/``, file ``resends.sqlite``), keyed by a digest of the
service and account and by the user id, and read before any resend: an invite sent in the
last 24 hours (the deep link's life) is not sent again, whatever state file asks.

The file holds user ids (UUIDs) and times only: no number, no secret, no account name in
clear.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import hashlib
import os
import sqlite3
from pathlib import Path
from typing import Final

from .._binding import ServiceIdentity
from .._errors import StoreError

__all__ = ["INVITE_LIFETIME", "ResendLedger", "default_ledger_path"]

INVITE_LIFETIME: Final = dt.timedelta(hours=24)
"""How long an invite's deep link lives: at most one resend within it."""


def default_ledger_path() -> Path:
    """Where the ledger is: ``$SCHLAGE_BULK_LEDGER``, else the user's state folder."""
    given = os.environ.get("SCHLAGE_BULK_LEDGER")
    if given:
        return Path(given)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "schlage-bulk" / "resends.sqlite"


class ResendLedger:
    """The resends of one service and account, in the machine's ledger file."""

    __slots__ = ("_account", "_path")

    def __init__(self, service: ServiceIdentity, path: Path | None = None) -> None:
        self._path = path or default_ledger_path()  # the SQLite file
        # The account as the ledger knows it: a digest, never the URL or the user name.
        self._account = hashlib.blake2b(
            f"{service.base_url}\n{service.username}".encode(), digest_size=16
        ).hexdigest()

    def _failed(self, what: str, exc: BaseException) -> str:
        return f"the resend ledger {str(self._path)!r} cannot be {what}: {exc}"

    def _connect(self) -> sqlite3.Connection:
        self._path.parent.mkdir(parents=True, exist_ok=True)
        conn = sqlite3.connect(self._path, timeout=30.0)
        conn.execute(
            "CREATE TABLE IF NOT EXISTS resends (account TEXT NOT NULL, user_id TEXT NOT NULL, "
            "sent_at TEXT NOT NULL, PRIMARY KEY (account, user_id)) WITHOUT ROWID"
        )
        return conn

    def _last(self, user_id: str) -> dt.datetime | None:
        with contextlib.closing(self._connect()) as conn:
            row = conn.execute(
                "SELECT sent_at FROM resends WHERE account = ? AND user_id = ?",
                (self._account, user_id.lower()),
            ).fetchone()
        return None if row is None else dt.datetime.fromisoformat(str(row[0]))

    def _record(self, user_id: str, at: dt.datetime) -> None:
        with contextlib.closing(self._connect()) as conn, conn:
            conn.execute(
                "INSERT INTO resends VALUES (?, ?, ?) ON CONFLICT (account, user_id) "
                "DO UPDATE SET sent_at = max(sent_at, excluded.sent_at)",
                (self._account, user_id.lower(), at.astimezone(dt.UTC).isoformat()),
            )

    async def sent_within(self, user_id: str, now: dt.datetime) -> dt.datetime | None:
        """When ``user_id`` was last invited, if within :data:`INVITE_LIFETIME` of ``now``."""
        try:
            last = await asyncio.to_thread(self._last, user_id)
        except (sqlite3.Error, OSError, ValueError) as exc:
            raise StoreError(
                f"the resend ledger {str(self._path)!r} cannot be read: {exc}"
            ) from exc
        if last is None or now - last >= INVITE_LIFETIME:
            return None
        return last

    def _forget(self, user_id: str, at: dt.datetime) -> None:
        with contextlib.closing(self._connect()) as conn, conn:
            conn.execute(
                "DELETE FROM resends WHERE account = ? AND user_id = ? AND sent_at = ?",
                (self._account, user_id.lower(), at.astimezone(dt.UTC).isoformat()),
            )

    async def forget(self, user_id: str, at: dt.datetime) -> None:
        """Take back the entry written at ``at`` (the call never left: nothing was sent)."""
        try:
            await asyncio.to_thread(self._forget, user_id, at)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"the resend ledger {str(self._path)!r} cannot be written: {exc}"
            ) from exc

    async def record(self, user_id: str, at: dt.datetime) -> None:
        """Write down that ``user_id`` was (or may have been) invited at ``at``."""
        try:
            await asyncio.to_thread(self._record, user_id, at)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(
                f"the resend ledger {str(self._path)!r} cannot be written: {exc}"
            ) from exc
