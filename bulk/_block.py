"""A known account block: remembered in the checkpoint, honoured before any call.

When the service blocks the account (a 429 that says so, with a ``Retry-After``), the run
stops resumably and the checkpoint keeps when the block ends. A rerun before then sends
nothing: every request during a block risks a longer one. ``--force`` overrides.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._summary import MigrationSummary, StopReason
from .store.protocol import CheckpointStore
from .store.sqlite import peek_meta

__all__ = [
    "BLOCK_KEY",
    "SUPPORT_ADVICE",
    "KnownBlock",
    "block_message",
    "current_block",
    "known_block",
    "remember_block",
]

BLOCK_KEY: Final = "account_block"
"""The checkpoint setting that holds the last known block (JSON), or "" when none."""

SUPPORT_ADVICE: Final = (
    "If the account is still blocked then, its holder must contact their assigned "
    "Allegion support engineer to unblock it (the API guide's advice)."
)


@dataclass(frozen=True, slots=True)
class KnownBlock:
    """The service said the account is blocked until ``resume_at`` (UTC)."""

    resume_at: dt.datetime
    detail: str


def _parse(text: str | None) -> KnownBlock | None:
    if not text:
        return None
    try:
        data = json.loads(text)
        resume_at = dt.datetime.fromisoformat(data["resume_at"])
    except (ValueError, KeyError, TypeError):
        return None
    if resume_at.tzinfo is None:
        resume_at = resume_at.replace(tzinfo=dt.UTC)
    return KnownBlock(resume_at=resume_at, detail=str(data.get("detail") or ""))


async def current_block(store: CheckpointStore, now: dt.datetime) -> KnownBlock | None:
    """The block ``store`` (open) remembers, if it has not ended by ``now``."""
    block = _parse(await store.get_meta(BLOCK_KEY))
    if block is None or block.resume_at <= now:
        return None
    return block


def known_block(state_path: Path, now: dt.datetime) -> KnownBlock | None:
    """The block the state file remembers, if it has not ended by ``now``."""
    block = _parse(peek_meta(state_path, BLOCK_KEY))
    if block is None or block.resume_at <= now:
        return None
    return block


async def remember_block(store: CheckpointStore, summary: MigrationSummary) -> None:
    """Keep the block a run ended on in ``store``; forget an older one otherwise."""
    if summary.stop_reason is StopReason.ACCOUNT_BLOCKED and summary.resume_at is not None:
        value = json.dumps(
            {
                "resume_at": summary.resume_at.isoformat(timespec="seconds"),
                "detail": summary.stop_detail or "",
            }
        )
        await store.set_meta(BLOCK_KEY, value)
    elif await store.get_meta(BLOCK_KEY):
        await store.set_meta(BLOCK_KEY, "")


def block_message(block: KnownBlock, now: dt.datetime, rerun: str) -> str:
    """Say that nothing was sent, when to come back, and who can lift the block."""
    minutes = max(1, round((block.resume_at - now).total_seconds() / 60))
    return (
        f"The service blocked this account until {block.resume_at:%Y-%m-%d %H:%M:%S} UTC "
        f"(in about {minutes} min), as the last run of this checkpoint was told"
        + (f" ({block.detail})" if block.detail else "")
        + ".\nNothing was sent: a request during a block risks a longer one. "
        f"Come back after that time and rerun:\n  {rerun}\n{SUPPORT_ADVICE}\n"
        "(--force sends anyway.)"
    )
