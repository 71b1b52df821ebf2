"""The sync plan on disk: one JSON Lines file, a header line then one line per action.

Line 1 is the :class:`PlanHeader`: when and from what the plan was computed (the export's
fingerprint and parse settings, the service's mark, the history files read), the counts
per action and the safety figures ``apply`` checks. Every other line is a
:class:`PlanStep`; its ``step`` is its physical line in the file, the key of ``apply``'s
checkpoint and reports. A plan never holds a full mobile number (only masked ones) or a
payload: ``apply`` reads those from the export again, refusing an export that changed.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import msgspec

from .._errors import InputError, PlanError
from .._input import input_fingerprint

__all__ = [
    "PLAN_VERSION",
    "PlanError",
    "PlanHeader",
    "PlanStep",
    "ServiceMark",
    "SyncAction",
    "count_steps",
    "iter_plan_steps",
    "plan_fingerprint",
    "read_plan_header",
    "write_plan",
]

PLAN_VERSION: Final = 1


class SyncAction(enum.StrEnum):
    """What one line of a plan does (or says it cannot know)."""

    CREATE = "create"
    """In the export, not on the service: create (sends an invite) and save its doors."""
    DELETE = "delete"
    """On the service, no longer in the export: an orphan, still billed and still opening."""
    REPLACE = "replace"
    """The mobile number changed: delete, then create (the API has no update; a new invite)."""
    SAVE_PAYLOADS = "save_payloads"
    """Doors added or changed: save (replaces per device); ``clear_first`` when one went."""
    RESEND = "resend"
    """Not downloaded, the last invite older than the threshold: resend it once."""
    UNKNOWN = "unknown"
    """Something the plan cannot know without history; nothing is done about it."""
    REJECTED = "rejected"
    """An export row that cannot be used (the same reasons as ``migrate``)."""


ACTIONS_THAT_CALL: Final = (
    SyncAction.CREATE,
    SyncAction.DELETE,
    SyncAction.REPLACE,
    SyncAction.SAVE_PAYLOADS,
    SyncAction.RESEND,
)
"""The actions that make calls, in the order a plan lists them (always the same order)."""


class ServiceMark(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """The service's state a plan was computed from, cheap to check again (two calls)."""

    total: int
    """Active credentials listed."""
    oldest_id: str | None = None
    """The first credential listed (oldest first)."""
    newest_id: str | None = None
    """The last credential listed: any create since the plan changes it."""
    newest_created_at: str | None = None


class PlanStep(msgspec.Struct, frozen=True, kw_only=True, rename="camel", omit_defaults=True):
    """One action of a plan (see :class:`SyncAction`)."""

    step: int
    """Its physical line in the plan file (the checkpoint's and the reports' key)."""
    action: SyncAction
    user_id: str | None = None
    credential_id: str | None = None
    """The service's credential the action is about (delete, replace, save, resend)."""
    line: int | None = None
    """The export's line (create, replace, save, rejected)."""
    mobile: str | None = None
    """The mobile number, masked."""
    doors: int = 0
    doors_digest: str | None = None
    """SHA-256 of the export's doors (what is saved once the action is done)."""
    serials: tuple[str, ...] = ()
    """The devices of those doors."""
    clear_first: bool = False
    """Delete the credential's payloads before saving (a device was dropped)."""
    reason: str = ""


class PlanHeader(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Line 1 of a plan: what it was computed from and what it holds."""

    version: int
    computed_at: str
    """The plan's "now" (ISO 8601 UTC): invite ages are measured from it."""
    input: dict[str, str | int]
    """The export's fingerprint plus the settings that decide user ids and numbers."""
    service: ServiceMark
    history: tuple[str, ...]
    """The state files read for what the service does not say."""
    resend_after_hours: float
    counts: dict[str, int]
    """Lines per action, plus ``equal`` (residents needing nothing)."""
    deletes_orphans: int
    """Credentials the plan deletes for good (``delete``; ``replace`` recreates)."""
    samples: dict[str, list[str]] = msgspec.field(default_factory=dict)
    """A few user ids per action (``equal`` included), for the table."""
    sites: tuple[str, ...] = ()
    """The sites (``attributes.siteId``) the plan was scoped to; empty: every credential."""
    outside_sites: int = 0
    """Credentials of other sites the scope left alone (never deleted by this plan)."""
    sites_missing: tuple[str, ...] = ()
    """Without a scope: sites the service holds that no export row names (their residents
    are this plan's orphans; a per-property export wants ``--site``)."""


_HEADER_DECODER: Final = msgspec.json.Decoder(PlanHeader)
_STEP_DECODER: Final = msgspec.json.Decoder(PlanStep)
_ENCODER: Final = msgspec.json.Encoder()


def encode_step(step: PlanStep) -> bytes:
    """One plan line, newline included."""
    return _ENCODER.encode(step) + b"\n"


def write_plan(path: Path, header: PlanHeader, body: Path) -> None:
    """Write ``header`` then the lines of ``body`` to ``path`` (atomically, by rename)."""
    temp = path.with_name(f".{path.name}.tmp")
    with temp.open("wb") as out:
        out.write(_ENCODER.encode(header) + b"\n")
        with body.open("rb") as lines:
            while chunk := lines.read(1 << 20):
                out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    temp.replace(path)


def read_plan_header(path: Path) -> PlanHeader:
    """Read and check a plan's header line."""
    try:
        with path.open("rb") as handle:
            first = handle.readline()
    except OSError as exc:
        raise PlanError(f"cannot read the plan {str(path)!r}: {exc.strerror or exc}") from None
    try:
        header = _HEADER_DECODER.decode(first)
    except msgspec.DecodeError as exc:
        raise PlanError(f"{str(path)!r} is not a sync plan (line 1: {exc})") from None
    if header.version != PLAN_VERSION:
        raise PlanError(f"plan version {header.version} is not {PLAN_VERSION}: re-plan")
    return header


def iter_plan_steps(path: Path) -> Iterator[PlanStep]:
    """Yield the plan's steps in line order, streamed."""
    with path.open("rb") as handle:
        handle.readline()
        for number, raw in enumerate(handle, start=2):
            try:
                step = _STEP_DECODER.decode(raw)
            except msgspec.DecodeError as exc:
                raise PlanError(f"plan line {number} is damaged ({exc}): re-plan") from None
            if step.step != number:
                raise PlanError(f"plan line {number} says step {step.step}: the plan was edited")
            yield step


def count_steps(path: Path) -> dict[str, int]:
    """How many steps of each action the plan's lines hold (what the rails count: a header
    edited by hand changes nothing)."""
    counts = {action.value: 0 for action in SyncAction}
    for step in iter_plan_steps(path):
        counts[step.action.value] += 1
    return counts


def plan_fingerprint(path: Path) -> dict[str, str | int]:
    """The plan's identity for ``apply``'s state binding (path, size, head hash)."""
    try:
        return input_fingerprint(path).as_dict()
    except InputError as exc:
        raise PlanError(str(exc)) from None
