"""What earlier runs know and the service's answers do not carry (``--history STATE``).

The service lists each credential with its creation time, whether it was downloaded and
whether it holds no-tour payloads, but not *which* payloads, nor when an invite was last
resent. The state files of earlier runs know some of it:

* a ``migrate`` state: the credentials it created (line by line); the payloads it saved
  are the doors of those lines of its input, read again when that input is still there
  unchanged (its fingerprint is in the state);
* an ``apply`` state: the credentials it created or saved payloads on (the doors are in
  its plan, read again), and the invites it resent, with their time;
* a ``chase`` state: the invites it resent, with their time;
* a ``decommission`` state: the locks whose payloads it deleted, with their time.

:func:`iter_history` yields what one file knows, streamed; what it cannot tell is yielded
as a :class:`HistoryNote`, never guessed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import msgspec

from schlage_async import NoTourPayload

from .._errors import InputError, StoreError
from .._input import (
    DEFAULT_ENCODING,
    InputFormat,
    ParseOptions,
    input_fingerprint,
    iter_lines,
    read_input,
    row_digest,
)

# The JSON Lines reader's own pieces, so a history row reads exactly as migrate read it.
from .._input import _door as door_of
from .._input import _json_decoder as JSON_DECODER
from .._input import _lower_keys as lower_keys
from .._resident import Resident
from .._user_ids import user_id_for
from ..store import open_store
from ..store.protocol import CheckpointStore, ResidentState
from .plan_file import PlanError, PlanStep, SyncAction, iter_plan_steps

__all__ = [
    "KIND_KEY",
    "PREVIOUS_KEY",
    "Decommissioned",
    "HistoryEntry",
    "HistoryNote",
    "doors_digest",
    "iter_history",
    "parse_sent_at",
    "sent_reason",
]

KIND_KEY: Final = "sync_kind"
"""Meta key naming which command wrote a state (``apply``, ``chase``, ``decommission``)."""
PLAN_KEY: Final = "sync_plan"
"""Meta key of an ``apply`` state: the plan's path and fingerprint."""
STARTED_KEY: Final = "sync_started_at"
PREVIOUS_KEY: Final = "sync_previous"
"""An apply state's predecessor (the finished run archived when the next plan was applied):
the history of a state file includes its predecessors'."""
"""Meta key: when the command first started on this state (ISO 8601 UTC)."""
SERIALS_KEY: Final = "decommissioned_serials"
"""Meta key of a ``decommission`` state: JSON object serial -> {state, at, detail}."""
_SENT: Final = re.compile(r"invite (?:re)?sent at (\S+)")


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    """What a state file knows of one credential."""

    credential_id: str
    doors_digest: str | None = None
    """SHA-256 of the doors saved on it (None: not known)."""
    serials: tuple[str, ...] = ()
    saved_at: float = 0.0
    """When those payloads were saved, at the latest (epoch seconds; 0: not known)."""
    invite_at: float | None = None
    """When an invite was last resent (epoch seconds), if this file resent one."""


@dataclass(frozen=True, slots=True)
class Decommissioned:
    """A lock whose payloads a ``decommission`` run deleted."""

    serial: str
    at: float


@dataclass(frozen=True, slots=True)
class HistoryNote:
    """Something a state file cannot tell (said in the plan rather than guessed)."""

    path: str
    text: str


HistoryItem = HistoryEntry | Decommissioned | HistoryNote


def doors_digest(doors: Iterable[NoTourPayload]) -> str:
    """A stable digest of a resident's doors (order does not matter)."""
    parts = sorted(
        f"{d.serial_number}\x1f{d.lock_id}\x1f{d.no_tour_payload.lower()}" for d in doors
    )
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()[:32]


def sent_reason(at: dt.datetime) -> str:
    """The reason text a resend's record keeps (its time, read back by the history)."""
    return f"invite resent at {at.astimezone(dt.UTC).isoformat(timespec='seconds')}"


def parse_sent_at(reason: str | None) -> float | None:
    """The time in a :func:`sent_reason` text, or None."""
    if not reason:
        return None
    found = _SENT.search(reason)
    if found is None:
        return None
    try:
        return dt.datetime.fromisoformat(found.group(1)).timestamp()
    except ValueError:
        return None


def _iso_seconds(text: str | None) -> float:
    if not text:
        return 0.0
    try:
        return dt.datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


async def iter_history(
    path: Path, _seen: frozenset[Path] = frozenset()
) -> AsyncIterator[HistoryItem]:
    """Yield what the state file at ``path`` knows (see the module docstring), then what
    its predecessors know (:data:`PREVIOUS_KEY`: the earlier days of a daily cycle)."""
    previous: str | None = None
    async for item in _one_history(path):
        if isinstance(item, _Previous):
            previous = item.path
        else:
            yield item
    if previous is not None:
        earlier = path.with_name(previous)  # a name beside this state file
        seen = _seen | {path}
        if earlier not in seen and await asyncio.to_thread(earlier.is_file):
            async for item in iter_history(earlier, seen):
                yield item


@dataclass(frozen=True, slots=True)
class _Previous:
    """The predecessor a state names (internal to :func:`iter_history`)."""

    path: str


async def _one_history(path: Path) -> AsyncIterator[HistoryItem | _Previous]:
    """What the state file at ``path`` itself knows."""
    if not await asyncio.to_thread(path.is_file):
        raise PlanError(f"history state {str(path)!r} does not exist")
    store = open_store(path)
    try:
        await store.open()
    except StoreError as exc:
        raise PlanError(f"cannot read the history state {str(path)!r}: {exc}") from None
    try:
        kind = await store.get_meta(KIND_KEY)
        if kind == "decommission":
            raw = await store.get_meta(SERIALS_KEY)
            for serial, done in (json.loads(raw) if raw else {}).items():
                if done.get("state") in ("deleted", "sending"):
                    yield Decommissioned(serial, _iso_seconds(done.get("at")))
        elif kind in ("chase", "apply"):
            async for item in _sync_history(store, path, kind):
                yield item
            previous = await store.get_meta(PREVIOUS_KEY)
            if previous:
                yield _Previous(previous)
        elif await store.get_meta("input_binding") is not None:
            async for item in _migrate_history(store, path):
                yield item
        else:
            raise PlanError(f"{str(path)!r} is not the state of a migrate, apply or chase run")
    finally:
        await store.aclose()


async def _sync_history(
    store: CheckpointStore, path: Path, kind: str
) -> AsyncIterator[HistoryItem]:
    """An ``apply`` or ``chase`` state: resends with their time; an apply's saved doors."""
    started = _iso_seconds(await store.get_meta(STARTED_KEY))
    steps: Iterator[PlanStep] | None = None
    if kind == "apply":
        found = _bound_file(await store.get_meta(PLAN_KEY))
        plan = found[0] if found is not None and found[1] else None  # a plan is one file
        if plan is None:
            yield HistoryNote(
                str(path), "its plan is gone or changed: the payloads it saved are unknown"
            )
        else:
            steps = iter_plan_steps(plan)
    current: PlanStep | None = None
    async for record in store.iter_records():
        sent = parse_sent_at(record.reason)
        if sent is not None and record.credential_id is not None:
            yield HistoryEntry(record.credential_id, invite_at=sent)
            continue
        if steps is None or record.state is not ResidentState.DONE:
            continue
        while current is None or current.step < record.line:
            current = next(steps, None)
            if current is None:
                break
        if current is None:
            steps = None
            continue
        if (
            current.step == record.line
            and record.credential_id is not None
            and current.action in (SyncAction.CREATE, SyncAction.REPLACE, SyncAction.SAVE_PAYLOADS)
        ):
            yield HistoryEntry(
                record.credential_id,
                doors_digest=current.doors_digest,
                serials=current.serials,
                saved_at=started,
            )


def _bound_file(raw: str | None) -> tuple[Path, bool] | None:
    """The file a state is bound to, if it is still there, and whether it looks unchanged
    (size and head: only trusted for records made before rows had digests)."""
    if raw is None:
        return None
    try:
        bound = json.loads(raw)
        path = Path(str(bound["path"]))
        now = input_fingerprint(path).as_dict()
    except (ValueError, KeyError, TypeError, InputError):
        return None
    same = all(str(now.get(key)) == str(bound.get(key)) for key in ("size", "head_sha256"))
    return path, same


async def _migrate_history(store: CheckpointStore, path: Path) -> AsyncIterator[HistoryItem]:
    """A ``migrate`` state: the credentials it created, with its input's doors if still there."""
    raw = await store.get_meta("input_binding")
    found = _bound_file(raw)
    input_path, looks_same = found if found is not None else (None, False)
    rows: Iterator[tuple[int, str, str, tuple[str, ...], str]] | None = None
    if input_path is None:
        yield HistoryNote(
            str(path),
            "its input is gone or changed: the credentials it created are known, "
            "the payloads it saved are not",
        )
    else:
        binding = json.loads(raw or "{}")
        options = ParseOptions(
            region=str(binding.get("region", "US")),
            encoding=str(binding.get("encoding", DEFAULT_ENCODING)),
        )
        if binding.get("namespace"):
            options = ParseOptions(
                region=options.region,
                namespace=uuid.UUID(str(binding["namespace"])),
                encoding=options.encoding,
            )
        fmt: InputFormat = "csv" if binding.get("format") == "csv" else "jsonl"
        rows = _doors_by_line(input_path, fmt, options)
    current: tuple[int, str, str, tuple[str, ...], str] | None = None
    async for record in store.iter_records():
        if record.state is not ResidentState.DONE or record.credential_id is None:
            continue
        if rows is not None:
            while current is None or current[0] < record.line:
                current = next(rows, None)
                if current is None:
                    rows = None
                    break
        # Each row by its digest: a line edited since (past the first 64 KiB too) no longer
        # says which payloads were saved; a record without a digest trusts the fingerprint.
        same_row = (
            current is not None
            and current[0] == record.line
            and current[1] == record.user_id
            and (current[4] == record.row_hash if record.row_hash is not None else looks_same)
        )
        if same_row and current is not None:
            yield HistoryEntry(record.credential_id, doors_digest=current[2], serials=current[3])
        else:
            yield HistoryEntry(record.credential_id)


def _doors_by_line(
    path: Path, fmt: InputFormat, options: ParseOptions
) -> Iterator[tuple[int, str, str, tuple[str, ...], str]]:
    """(line, user id, doors digest, serials, row digest) of each row ``migrate`` could
    have done.

    Only rows the state says are done are used, and those passed ``migrate``'s checks, so
    JSON Lines are read lightly (ids and doors, no phone parsing); CSV goes through the
    full reader.
    """
    if fmt == "csv":
        for row in read_input(path, input_format=fmt, options=options):
            if isinstance(row, Resident):
                digest = row.row_hash or ""
                yield row.line, row.user_id, doors_digest(row.doors), _serials(row.doors), digest
        return
    for number, raw in iter_lines(path):
        text = raw.decode(options.encoding, "surrogateescape")
        try:
            value = JSON_DECODER.decode(text)
        except msgspec.DecodeError:
            continue
        if not isinstance(value, dict):
            continue
        fields = lower_keys(value)
        given = fields.get("userid")
        external = fields.get("externalid")
        if isinstance(given, str) and given.strip():
            user_id = given.strip()
        elif isinstance(external, (str, int)) and str(external).strip():
            user_id = user_id_for(str(external).strip(), options.namespace)
        else:
            continue
        raw_doors = fields.get("doors") or []
        if not isinstance(raw_doors, list):
            continue
        try:
            doors = tuple(door_of(item) for item in raw_doors)
        except (KeyError, AssertionError, TypeError, ValueError, AttributeError):
            continue
        yield number, user_id, doors_digest(doors), _serials(doors), row_digest(raw)


def _serials(doors: Iterable[NoTourPayload]) -> tuple[str, ...]:
    return tuple(d.serial_number for d in doors)


def _line(row: object) -> int:
    line = getattr(row, "line", 0)
    return int(line) if isinstance(line, int) else 0
