"""What a checkpoint is bound to: the service it talks to, and each input row by content.

A checkpoint records what *one* service holds for the rows of *one* input. Resuming it
against another service, or after the rows it recorded changed, would report residents
as succeeded that the service in front of the run never saw. :func:`bind_input` ties a
store to a run before anything is sent, and refuses when they do not match:

* **The service** (:class:`ServiceIdentity`): the base URL and the account's user name
  (never a secret). Another service or account is refused, and the default state file
  (:func:`default_state_path`) depends on both, so a test run and a production run of the
  same input never share a checkpoint by accident.
* **The settings** that change what a row becomes: the input format, the phone region,
  the external-id namespace, and a CSV file's header line.
* **Each row, by content**: every record keeps the digest of the line it was made from
  (:func:`bulk.row_digest`). Before a resume the input is read again and each recorded
  line compared with its digest:

  - unchanged rows resume (final ones are skipped, open ones finished);
  - lines the checkpoint has never seen (rows appended, or not reached before a stop)
    are new work;
  - a changed line whose record never reached the service (still pending, or a
    rejected row that was fixed: no create of it was ever sent) is forgotten and read
    as new work;
  - any other changed, moved, blanked or removed line is **refused** with its line
    numbers (:class:`InputMismatchError`): its record may stand for a credential on the
    service, and only the person who edited the file knows which resident is which.

The path of the input is not part of the binding: moving the file, or the folder with
its state file, changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import json
import re
import urllib.parse
from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from ._errors import InputMismatchError
from ._input import (
    InputFormat,
    ParseOptions,
    check_input,
    detect_format,
    input_fingerprint,
    iter_lines,
    line_is_blank,
    row_digest,
)
from .store.protocol import CheckpointStore, ResidentRecord, ResidentState

__all__ = [
    "BINDING_KEY",
    "InputScan",
    "LastInput",
    "ServiceIdentity",
    "bind_input",
    "bind_source",
    "check_service",
    "default_state_path",
    "last_input",
]

BINDING_KEY: Final = "binding"
"""The ``meta`` key of the binding (JSON)."""
_LEGACY_KEY: Final = "input_binding"
"""Before rows had digests, the binding (path, size, head hash); now where the input was
last read, written beside :data:`BINDING_KEY` for readers of the state, never compared."""
_BINDING_VERSION: Final = 2
_SHOWN_LINES: Final = 20  # line numbers an error lists before "and N more"
_CHUNK: Final = 8192  # lines digested per hop to a thread


@dataclass(frozen=True, slots=True)
class ServiceIdentity:
    """The service a run talks to: its base URL (normalized) and the account's user name."""

    base_url: str
    username: str

    @classmethod
    def of(cls, base_url: str, username: str) -> ServiceIdentity:
        """Return the identity of ``base_url`` (scheme and host lowercased, no final ``/``)
        and ``username`` (surrounding whitespace dropped: a stray CR is the same account)."""
        parts = urllib.parse.urlsplit(base_url.strip())
        normalized = urllib.parse.urlunsplit(
            (parts.scheme.lower(), parts.netloc.lower(), parts.path.rstrip("/"), parts.query, "")
        )
        return cls(base_url=normalized, username=username.strip())

    def describe(self) -> str:
        """``<base URL> as <user name>``, for messages."""
        return f"{self.base_url} as {self.username}"

    def label(self) -> str:
        """A short, file-name-safe tag: the host and a digest of the URL and the user name."""
        host = urllib.parse.urlsplit(self.base_url).netloc or "service"
        safe = re.sub(r"[^A-Za-z0-9.-]+", "_", host).strip("_.") or "service"
        digest = hashlib.blake2b(
            f"{self.base_url}\n{self.username}".encode(), digest_size=5
        ).hexdigest()
        return f"{safe[:40]}-{digest}"


def default_state_path(input_path: Path, service: ServiceIdentity) -> Path:
    """The state file a run uses without ``--state``: beside the input, per service.

    ``residents.jsonl`` against ``https://api.example.com`` as ``ops@example.com`` keeps
    its checkpoint in ``residents.jsonl.api.example.com-<digest>.state.sqlite``.
    """
    return input_path.with_name(f"{input_path.name}.{service.label()}.state.sqlite")


@dataclass(frozen=True, slots=True)
class InputScan:
    """What :func:`bind_input` found in the input: how its physical lines divide."""

    lines: int
    """Physical lines."""
    rows: int
    """Lines that hold a row (every one ends in exactly one report)."""
    blank_lines: int
    """Lines holding nothing (no row, in no report)."""
    header_lines: int
    """1 for a CSV file's header, else 0 (in no report)."""
    resumed: bool = False
    """Whether the store held an earlier run of this binding."""
    forgotten: int = 0
    """Changed rows whose records never reached the service, read as new work."""
    size: int = 0
    """The input's size in bytes."""

    def as_dict(self) -> dict[str, int]:
        """JSON-ready counts (``summary.json``)."""
        return {
            "size": self.size,
            "lines": self.lines,
            "rows": self.rows,
            "blank_lines": self.blank_lines,
            "header_lines": self.header_lines,
        }


_ROW, _BLANK, _HEADER = "row", "blank", "header"


def _digests(
    path: Path, input_format: InputFormat, encoding: str
) -> Iterator[tuple[int, str, str | None]]:
    """Yield ``(line, kind, digest)`` per physical line: a row (with its digest), a blank
    line or the CSV header (without)."""
    header_seen = input_format != "csv"
    for number, raw in iter_lines(path):
        if line_is_blank(raw, encoding):
            yield number, _BLANK, None
        elif not header_seen:
            header_seen = True
            yield number, _HEADER, None
        else:
            yield number, _ROW, row_digest(raw)


def _csv_header_digest(path: Path, encoding: str) -> str | None:
    for _, raw in iter_lines(path):
        if not line_is_blank(raw, encoding):
            return row_digest(raw)
    return None


def _replaceable(record: ResidentRecord) -> bool:
    """Whether a record never reached the service: no create of it was ever sent.

    A rejected row (failed before any call) or a row recorded but never sent (pending)
    stands for nothing on the service; anything else might stand for a credential.
    """
    return (
        record.credential_id is None
        and record.create_attempts == 0
        and record.state in (ResidentState.PENDING, ResidentState.FAILED)
    )


def _describe_lines(lines: list[int], total: int) -> str:
    shown = ", ".join(str(n) for n in lines[:_SHOWN_LINES])
    more = total - min(total, _SHOWN_LINES)
    return shown + (f" and {more:,} more" if more else "")


class _LineCursor:
    """The input's line digests, read a chunk at a time in a thread."""

    def __init__(self, path: Path, input_format: InputFormat, encoding: str) -> None:
        self._lines = _digests(path, input_format, encoding)
        self._buffer: deque[tuple[int, str, str | None]] = deque()
        self._done = False
        self.counts = {_ROW: 0, _BLANK: 0, _HEADER: 0}
        self.position = 0  # the last line handed out

    async def next(self) -> tuple[int, str, str | None] | None:
        if not self._buffer and not self._done:
            chunk = await asyncio.to_thread(lambda: list(itertools.islice(self._lines, _CHUNK)))
            self._done = len(chunk) < _CHUNK
            self._buffer.extend(chunk)
        if not self._buffer:
            return None
        item = self._buffer.popleft()
        self.counts[item[1]] += 1
        self.position = item[0]
        return item


class _Changed(Exception):
    def __init__(self, lines: list[int], total: int) -> None:
        super().__init__()
        self.lines = lines
        self.total = total


async def _compare(
    store: CheckpointStore,
    path: Path,
    input_format: InputFormat,
    encoding: str,
    *,
    forget_changed: bool = True,
) -> tuple[InputScan, list[int]]:
    """Merge the store's records (in line order) with the input's lines.

    Returns the scan and the lines to forget; raises :class:`_Changed` for lines that
    changed irrecoverably.
    """
    cursor = _LineCursor(path, input_format, encoding)
    forget: list[int] = []
    changed: list[int] = []
    changed_total = 0
    async for record in store.iter_records():
        digest: str | None = None  # a blank line, the header, or a line that is gone
        while cursor.position < record.line:
            item = await cursor.next()
            if item is None:
                break
            if item[0] == record.line:
                digest = item[2]
        if digest is not None and record.row_hash in (None, digest):
            continue  # the same row (or a record made without a digest: nothing to compare)
        if forget_changed and _replaceable(record):
            forget.append(record.line)
        else:
            changed_total += 1
            if len(changed) < _SHOWN_LINES:
                changed.append(record.line)
    while await cursor.next() is not None:
        pass
    if changed_total:
        raise _Changed(changed, changed_total)
    counts = cursor.counts
    scan = InputScan(
        lines=cursor.position,
        rows=counts[_ROW],
        blank_lines=counts[_BLANK],
        header_lines=counts[_HEADER],
    )
    return scan, forget


def _binding(
    service: ServiceIdentity | None,
    input_format: InputFormat,
    parse_options: ParseOptions,
    csv_header: str | None,
) -> dict[str, str | int | None]:
    return {
        "version": _BINDING_VERSION,
        "base_url": service.base_url if service is not None else None,
        "username": service.username if service is not None else None,
        "format": input_format,
        "region": parse_options.region.upper(),
        "namespace": str(parse_options.namespace),
        "encoding": parse_options.encoding,
        "csv_header": csv_header,
    }


def _mismatch(old: Mapping[str, object], new: Mapping[str, object]) -> InputMismatchError:
    if (old.get("base_url"), old.get("username")) != (new.get("base_url"), new.get("username")):
        return InputMismatchError(
            f"the state file records a migration to {old.get('base_url')} as "
            f"{old.get('username')}, but this run talks to {new.get('base_url')} as "
            f"{new.get('username')}: a checkpoint only says what its own service holds "
            "(the default state file is one per service and account)"
        )
    differs = sorted(key for key in set(old) | set(new) if old.get(key) != new.get(key))
    names = {"csv_header": "the CSV header line"}
    return InputMismatchError(
        "the state file belongs to other input settings (differs in: "
        f"{', '.join(names.get(k, k) for k in differs)})"
    )


@dataclass(frozen=True, slots=True)
class LastInput:
    """The input a store's run last read (recorded by :func:`bind_input`)."""

    path: Path
    input_format: InputFormat
    encoding: str


async def last_input(store: CheckpointStore) -> LastInput | None:
    """Where the input of ``store``'s run was last read, or None (rows that were no file)."""
    text = await store.get_meta(_LEGACY_KEY)
    if not text:
        return None
    try:
        seen = json.loads(text)
        fmt = seen.get("format") or "jsonl"
        return LastInput(
            path=Path(seen["path"]),
            input_format="csv" if fmt == "csv" else "jsonl",
            encoding=str(seen.get("encoding") or "utf-8"),
        )
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


async def check_service(store: CheckpointStore, service: ServiceIdentity) -> bool:
    """Whether ``store`` holds a run, refusing one bound to another service or account.

    For a worker joining a run (no input of its own): :class:`InputMismatchError` when the
    run talks to another service; False when the store holds no run yet.
    """
    text = await store.get_meta(BINDING_KEY)
    if text is None:
        return False
    try:
        bound = json.loads(text)
    except ValueError:
        bound = {}
    if (bound.get("base_url"), bound.get("username")) != (service.base_url, service.username):
        raise _mismatch(bound, {"base_url": service.base_url, "username": service.username})
    return True


async def bind_source(
    store: CheckpointStore,
    *,
    input_id: str,
    service: ServiceIdentity | None,
    parse_options: ParseOptions | None = None,
    restart: bool = False,
) -> bool:
    """Bind ``store`` to rows that are not a file, named by ``input_id``, and the service.

    Returns whether it resumes an earlier run. Rows without a file cannot be compared by
    content; the caller's ``input_id`` (an export's name and date) stands for them.
    """
    parse_options = parse_options or ParseOptions()
    if restart:
        await store.reset()
    wanted: dict[str, str | int | None] = {
        **_binding(service, "jsonl", parse_options, None),
        "format": None,
        "input_id": input_id,
    }
    existing = await store.get_meta(BINDING_KEY)
    if existing is None:
        await store.set_meta(BINDING_KEY, json.dumps(wanted, sort_keys=True))
        return False
    try:
        old = json.loads(existing)
    except ValueError:
        old = {}
    if old != wanted:
        raise _mismatch(old, wanted)
    return True


async def bind_input(
    store: CheckpointStore,
    input_path: Path,
    *,
    service: ServiceIdentity | None,
    input_format: InputFormat | None = None,
    parse_options: ParseOptions | None = None,
    restart: bool = False,
    forget_changed: bool = True,
) -> InputScan:
    """Bind ``store`` (open) to ``service`` and to ``input_path``'s rows; check a resume.

    ``service`` is None only for a dry run. With ``restart`` the store is emptied first
    (in place: :meth:`CheckpointStore.reset`). Raises :class:`InputError` for an input
    that cannot be read (or a pipe) and :class:`InputMismatchError` for a store bound to
    another service, account or settings, or whose recorded rows changed (with their
    line numbers); returns how the input's lines divide. Reads the input once; nothing
    is sent and, unless it returns, nothing is written. Without ``forget_changed`` (a run
    that many workers share) every changed line is refused, even one never sent: another
    input must never take over a run whose rows other workers hold.
    """
    parse_options = parse_options or ParseOptions()
    await asyncio.to_thread(check_input, input_path)
    fmt = detect_format(input_path, input_format)
    encoding = parse_options.encoding
    csv_header = (
        await asyncio.to_thread(_csv_header_digest, input_path, encoding) if fmt == "csv" else None
    )
    wanted = _binding(service, fmt, parse_options, csv_header)
    if restart:
        await store.reset()
    existing = await store.get_meta(BINDING_KEY)
    legacy = await store.get_meta(_LEGACY_KEY)
    if existing is None and legacy is not None:
        raise InputMismatchError(
            "the state file was written by an earlier version that did not record the "
            "service nor each row's content, so it cannot be checked against this run "
            "(discarded, the residents it created are found by a lookup, never created "
            "twice)"
        )
    if existing is not None:
        try:
            old = json.loads(existing)
        except ValueError:
            old = {}
        if old != wanted:
            raise _mismatch(old, wanted)
    try:
        scan, forget = await _compare(
            store, input_path, fmt, encoding, forget_changed=forget_changed
        )
    except _Changed as changed:
        raise InputMismatchError(
            f"the input changed since the state file recorded it: line(s) "
            f"{_describe_lines(changed.lines, changed.total)} now hold another row (or "
            "none) than the one the checkpoint migrated. Put those lines back as they were "
            "(add new residents as new lines, at the end or on blank lines)",
            lines=tuple(changed.lines),
        ) from None
    if forget:
        await store.forget(forget)
    if existing is None:
        await store.set_meta(BINDING_KEY, json.dumps(wanted, sort_keys=True))
    # Where the input was last read, for readers of the state (``plan --history`` reads
    # the doors from it); informational only, never compared.
    fingerprint = await asyncio.to_thread(input_fingerprint, input_path)
    settings = ("format", "region", "namespace", "encoding")
    seen = {**fingerprint.as_dict(), **{k: wanted[k] for k in settings}}
    await store.set_meta(_LEGACY_KEY, json.dumps(seen, sort_keys=True))
    size = (await asyncio.to_thread(input_path.stat)).st_size
    return InputScan(
        lines=scan.lines,
        rows=scan.rows,
        blank_lines=scan.blank_lines,
        header_lines=scan.header_lines,
        resumed=existing is not None,
        forgotten=len(forget),
        size=size,
    )
