"""Streaming readers for the two input formats, JSON Lines and CSV, one row at a time.

Neither reader holds the input in memory: each yields a :class:`Resident` or a
:class:`RejectedRow` per non-blank row, numbered by the physical line the row starts on
(1-based, blank lines counted), so the reports can point a person at the line to fix.

JSON Lines, one resident per line, with the API's own field names (any letter case, as
the service binds them)::

    {"userId": "<uuid4>" | "externalId": "<PACS id>", "mobileNumber": "(555) 123-4567",
     "cardFormat": "26A", "facilityCode": 12, "issueCode": 0,
     "attributes": {"siteId": "S1", "siteName": "Elm Court"},
     "doors": [{"lockId": 1, "serialNumber": "SN1", "noTourPayload": "<96 hex>"}]}

CSV (PACS exports): one row per resident, a header row naming the columns (letter case,
spaces, ``_`` and ``-`` are ignored, so ``user_id`` and ``Mobile Number`` work)::

    userId,externalId,mobileNumber,cardFormat,facilityCode,issueCode,siteId,siteName,doors

``doors`` holds every door of the resident as ``lockId:serialNumber:noTourPayload``,
the doors joined by ``;`` (a serial number may itself hold ``:``; the lock id is what
comes before the first one, the payload what comes after the last one). Only
``mobileNumber`` and one of ``userId``/``externalId`` must be columns.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import itertools
import sqlite3
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

import msgspec

from schlage_async import NoTourPayload, mask_mobile
from schlage_async._validation import check_create_credential, check_save_no_tour_payloads

from ._errors import InputError
from ._phones import DEFAULT_REGION, PhoneNumberError, normalize_mobile
from ._resident import ParsedRow, RejectedRow, Resident
from ._user_ids import DEFAULT_NAMESPACE, user_id_for

__all__ = [
    "CSV_COLUMNS",
    "DEFAULT_ENCODING",
    "HEAD_BYTES",
    "Deduplicator",
    "InputFingerprint",
    "InputFormat",
    "ParseOptions",
    "check_encoding",
    "check_input",
    "count_lines",
    "detect_format",
    "input_fingerprint",
    "iter_csv",
    "iter_jsonl",
    "parse_jsonl_line",
    "parse_resident",
    "read_input",
]

InputFormat = Literal["jsonl", "csv"]
HEAD_BYTES: Final = 64 * 1024
"""How much of the input the fingerprint hashes and the readability check reads."""
CSV_COLUMNS: Final[tuple[str, ...]] = (
    "userId",
    "externalId",
    "mobileNumber",
    "cardFormat",
    "facilityCode",
    "issueCode",
    "siteId",
    "siteName",
    "doors",
)
"""The CSV columns this reader knows, in the order ``generate --format csv`` writes them."""

_json_decoder: Final = msgspec.json.Decoder()


DEFAULT_ENCODING: Final = "utf-8"
"""The input's text encoding unless ``--encoding`` says otherwise."""


@dataclass(frozen=True, slots=True)
class ParseOptions:
    """How rows become residents: the phone region, the external-id namespace, the encoding."""

    region: str = DEFAULT_REGION
    namespace: uuid.UUID = DEFAULT_NAMESPACE
    encoding: str = DEFAULT_ENCODING
    """The input's text encoding (ASCII-compatible: UTF-8, cp1252, latin-1, ...)."""


def check_encoding(name: str) -> str:
    """Return the codec's canonical name, or raise ``ValueError`` saying why it will not do.

    Rows are split on the byte ``\\n`` and the CSV punctuation read as ASCII, so only
    encodings that write ASCII as ASCII are accepted (not UTF-16 or UTF-32).
    """
    try:
        codec = codecs.lookup(name)
    except LookupError:
        raise ValueError(f"{name!r} is not a text encoding Python knows") from None
    probe = ',;"\n{}:0aZ'
    if probe.encode(codec.name, "strict") != probe.encode("ascii"):
        raise ValueError(
            f"{codec.name} does not write ASCII as ASCII; convert the file to UTF-8 first"
        )
    return codec.name


def _not_text(text: str, options: ParseOptions, what: str) -> str:
    """Why ``text`` (decoded with surrogateescape) is not text in the input's encoding."""
    bad = next(ch for ch in text if "\udc80" <= ch <= "\udcff")
    byte = ord(bad) - 0xDC00
    other = "cp1252" if options.encoding == DEFAULT_ENCODING else "utf-8"
    shown = "UTF-8" if options.encoding == DEFAULT_ENCODING else options.encoding
    return (
        f"{what} is not valid {shown} text (byte 0x{byte:02x}); if the file is "
        f"in another encoding, pass it, e.g. --encoding {other}"
    )


@dataclass(frozen=True, slots=True)
class InputFingerprint:
    """Identifies an input file, so a resume never runs against a different one."""

    path: str
    size: int
    head_sha256: str

    def as_dict(self) -> dict[str, str | int]:
        """Return the fingerprint as JSON-ready data."""
        return {"path": self.path, "size": self.size, "head_sha256": self.head_sha256}


def detect_format(path: Path, given: InputFormat | None = None) -> InputFormat:
    """Return ``given``, or ``"csv"`` for a ``.csv`` file and ``"jsonl"`` for anything else."""
    if given is not None:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def check_input(path: Path) -> bytes:
    """Check that ``path`` is a readable text file; return its first 64 KiB.

    Raises :class:`InputError` with one line a person can act on otherwise. Bytes that are
    not text in the input's encoding are not refused here, wherever they are: each row
    holding some is rejected on its own (one rule for the whole file).
    """
    if not path.exists():
        raise InputError(f"input {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"input {str(path)!r} is a directory, not a file")
    try:
        with path.open("rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError as exc:
        raise InputError(f"input {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if b"\x00" in head:
        raise InputError(
            f"input {str(path)!r} is a binary file (it holds NUL bytes); "
            "expected JSON Lines or CSV text"
        )
    return head


def input_fingerprint(path: Path) -> InputFingerprint:
    """Return ``path``'s fingerprint: absolute path, size and SHA-256 of its first 64 KiB."""
    head = check_input(path)
    return InputFingerprint(
        path=str(path.resolve()),
        size=path.stat().st_size,
        head_sha256=hashlib.sha256(head).hexdigest(),
    )


def count_lines(path: Path) -> int:
    """Return how many lines ``path`` has, reading it in 1 MiB chunks (for a progress total)."""
    total = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
            last = chunk[-1:]
    return total + (last != b"\n")


def _lower_keys(fields: Mapping[str, object]) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in fields.items():
        out.setdefault(key.lower(), value)  # the first spelling wins, as in the service
    return out


def _text(value: object) -> str | None:
    """Return ``value`` as stripped text (numbers too), or None when absent or blank."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        text = str(value).strip()
        return text or None
    return None


def _maybe_int(value: object) -> object:
    """Turn a numeric string (PACS exports quote numbers) into an int; keep anything else."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.isdigit():
            return int(text)
    return value


def _has_surrogates(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (decoded with surrogateescape)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def parse_resident(
    fields: Mapping[str, object], line: int, options: ParseOptions = ParseOptions()
) -> ParsedRow:
    """Turn one row's fields (API names, any case) into a resident, or say why not.

    Everything the service would refuse is refused here with the service's own message,
    so a bad row costs no API call.
    """
    row = _lower_keys(fields)

    external_id = _text(row.get("externalid"))
    given = row.get("userid")
    mapped_from: str | None = None
    if isinstance(given, str) and given.strip():
        user_id = given.strip()  # userId wins when a row has both
    elif given is not None and not isinstance(given, str):
        return RejectedRow(line=line, reason="userId must be a UUID string")
    elif external_id is not None:
        user_id = user_id_for(external_id, options.namespace)
        mapped_from = external_id
    else:
        return RejectedRow(line=line, reason="the row has neither a userId nor an externalId")

    raw_mobile = _text(row.get("mobilenumber"))
    if raw_mobile is None:
        return RejectedRow(line=line, user_id=user_id, reason="the row has no mobileNumber")
    try:
        mobile = normalize_mobile(raw_mobile, options.region)
    except PhoneNumberError as exc:
        return RejectedRow(line=line, user_id=user_id, reason=str(exc))

    card_format_value = row.get("cardformat")
    card_format = (
        card_format_value.strip().upper()
        if isinstance(card_format_value, str)
        else card_format_value
    )
    facility_code = _maybe_int(row.get("facilitycode"))
    issue_code = _maybe_int(row.get("issuecode"))
    attributes = row.get("attributes")
    body = {
        "userId": user_id,
        "mobileNumber": mobile,
        "cardFormat": card_format,
        "facilityCode": facility_code,
        "issueCode": issue_code,
        "attributes": attributes,
    }
    problems = check_create_credential(body)
    if problems:
        reason = " ".join(p.message for p in problems)
        if any(p.code.name == "MOBILE_NUMBER_INVALID" for p in problems):
            reason += f" (got {mask_mobile(mobile)})"
        return RejectedRow(line=line, user_id=user_id, reason=reason)

    doors_value = row.get("doors")
    doors: tuple[NoTourPayload, ...] = ()
    if doors_value is not None and doors_value != []:
        door_problems = check_save_no_tour_payloads({"noTourPayloadDetails": doors_value})
        if door_problems:
            reason = "doors: " + " ".join(p.message for p in door_problems)
            return RejectedRow(line=line, user_id=user_id, reason=reason)
        assert isinstance(doors_value, list)  # the check above proved it
        doors = tuple(_door(item) for item in doors_value)

    site_id = site_name = None
    if isinstance(attributes, Mapping):
        attrs = _lower_keys(attributes)
        site_id = attrs.get("siteid")
        site_name = attrs.get("sitename")
    assert isinstance(card_format, str)  # checked by check_create_credential
    return Resident(
        line=line,
        user_id=user_id,
        external_id=mapped_from,
        mobile_number=mobile,
        card_format=card_format,
        facility_code=facility_code if isinstance(facility_code, int) else None,
        issue_code=issue_code if isinstance(issue_code, int) else None,
        site_id=site_id if isinstance(site_id, str) else None,
        site_name=site_name if isinstance(site_name, str) else None,
        doors=doors,
    )


def _door(item: Mapping[str, object]) -> NoTourPayload:
    fields = _lower_keys(item)
    lock_id = fields["lockid"]
    serial = fields["serialnumber"]
    payload = fields["notourpayload"]
    assert isinstance(serial, str)  # the caller's check proved these
    assert isinstance(payload, str)
    return NoTourPayload(
        lock_id=int(lock_id) if isinstance(lock_id, int | str) else 0,
        serial_number=serial,
        no_tour_payload=payload,
    )


def parse_jsonl_line(
    text: str | bytes, line: int, options: ParseOptions = ParseOptions()
) -> ParsedRow | None:
    """Parse one JSON Lines row; None for a blank line."""
    if isinstance(text, bytes):
        text = text.decode(options.encoding, "surrogateescape")
    stripped = text.strip().lstrip("\ufeff")
    if not stripped:
        return None
    if _has_surrogates(stripped):
        return RejectedRow(line=line, reason=_not_text(stripped, options, "the line"))
    try:
        value = _json_decoder.decode(stripped)
    except msgspec.DecodeError as exc:
        return RejectedRow(line=line, reason=f"invalid JSON: {exc}")
    if not isinstance(value, dict):
        return RejectedRow(line=line, reason="the line is not a JSON object")
    return parse_resident(value, line, options)


def iter_jsonl(
    lines: Iterable[str | bytes], options: ParseOptions = ParseOptions()
) -> Iterator[ParsedRow]:
    """Yield a parsed row per non-blank line of JSON Lines, numbered from 1."""
    for number, text in enumerate(lines, start=1):
        row = parse_jsonl_line(text, number, options)
        if row is not None:
            yield row


def _column_key(name: str) -> str:
    return "".join(ch for ch in name.lower() if ch not in " _-\t\ufeff")


_CSV_KEYS: Final = {_column_key(name): name for name in CSV_COLUMNS}


def _csv_doors(cell: str, line: int, user_id: str | None) -> list[dict[str, object]] | RejectedRow:
    doors: list[dict[str, object]] = []
    for index, entry in enumerate((e.strip() for e in cell.split(";")), start=1):
        if not entry:
            continue
        lock, sep, rest = entry.partition(":")
        serial, sep2, payload = rest.rpartition(":")
        if not sep or not sep2:
            return RejectedRow(
                line=line,
                user_id=user_id,
                reason=f"doors: entry {index} is not lockId:serialNumber:noTourPayload",
            )
        doors.append({"lockId": lock.strip(), "serialNumber": serial, "noTourPayload": payload})
    return doors


def iter_csv(lines: Iterable[str], options: ParseOptions = ParseOptions()) -> Iterator[ParsedRow]:
    """Yield a parsed row per non-blank CSV record (see the module docstring for the shape).

    Raises :class:`InputError` when the header lacks a column every row needs.
    """
    lines, delimiter = _sniff_delimiter(iter(lines))
    reader = csv.reader(lines, delimiter=delimiter)
    header: list[str] | None = None
    consumed = 0
    while True:
        start = consumed + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:  # a bare CR outside quotes, a field over the size limit
            consumed = reader.line_num
            why = str(exc).split(" - ")[0]  # not csv's advice about universal-newline mode
            if header is None:
                raise InputError(f"the CSV header is not valid CSV ({why})") from None
            yield RejectedRow(line=start, reason=f"the row is not valid CSV ({why})")
            continue
        consumed = reader.line_num
        if not any(cell.strip() for cell in record):
            continue
        if _has_surrogates(joined := "".join(record)):
            if header is None:
                raise InputError(_not_text(joined, options, "the CSV header"))
            yield RejectedRow(line=start, reason=_not_text(joined, options, "the row"))
            continue
        if header is None:
            header = [_CSV_KEYS.get(_column_key(name), "") for name in record]
            if "mobileNumber" not in header or not {"userId", "externalId"} & set(header):
                raise InputError(
                    "the CSV header must name a mobileNumber column and a userId or "
                    f"externalId column (read with the delimiter {delimiter!r}, it has: "
                    f"{', '.join(record)})"
                )
            continue
        if len(record) > len(header):
            yield RejectedRow(
                line=start,
                reason=f"the row has {len(record)} fields, the header has {len(header)}",
            )
            continue
        cells = {name: value for name, value in zip(header, record, strict=False) if name}
        fields: dict[str, object] = {
            key: value for key, value in cells.items() if key not in ("siteId", "siteName", "doors")
        }
        site = {k: v for k in ("siteId", "siteName") if (v := cells.get(k, "").strip())}
        if site:
            fields["attributes"] = site
        door_cell = cells.get("doors", "")
        if door_cell.strip():
            doors = _csv_doors(door_cell, start, None)
            if isinstance(doors, RejectedRow):
                yield doors
                continue
            fields["doors"] = doors
        yield parse_resident(fields, start, options)


def _sniff_delimiter(lines: Iterator[str]) -> tuple[Iterator[str], str]:
    """The CSV delimiter the header uses (``,``, ``;``, tab or ``|``), and the lines again.

    Spreadsheets in many locales export ``;``-delimited CSV; the csv module's Sniffer
    reads the header line (the first non-blank one) and the rows follow it.
    """
    seen: list[str] = []
    for text in lines:
        seen.append(text)
        if text.strip():
            try:
                dialect = csv.Sniffer().sniff(text, delimiters=",;\t|")
            except csv.Error:
                break  # one column, or nothing to tell: the default
            return itertools.chain(seen, lines), dialect.delimiter
    return itertools.chain(seen, lines), ","


def _binary_lines(path: Path, encoding: str = DEFAULT_ENCODING) -> Iterator[str]:
    """Yield ``path``'s lines as text; undecodable bytes become surrogates, flagged later."""
    with path.open("rb") as handle:
        first = True
        for raw in handle:
            text = raw.decode(encoding, "surrogateescape")
            if first:
                text = text.removeprefix("\ufeff")
                first = False
            yield text


def read_input(
    path: Path,
    *,
    input_format: InputFormat | None = None,
    options: ParseOptions = ParseOptions(),
) -> Iterator[ParsedRow]:
    """Stream ``path`` (JSON Lines, or CSV by suffix or ``input_format``) as parsed rows.

    Call :func:`check_input` first for a clear error on an unreadable file.
    """
    fmt = detect_format(path, input_format)
    if fmt == "csv":
        # newline="" semantics: csv wants the line endings kept, which binary lines do.
        yield from iter_csv(_binary_lines(path, options.encoding), options)
    else:
        yield from iter_jsonl(_binary_lines(path, options.encoding), options)


class Deduplicator:
    """Fails the second occurrence of a user id or a mobile number within one input.

    What it has seen lives in SQLite's private temporary database (``connect("")``): on
    disk past a small page cache, deleted when closed. A dict would cost ~200 bytes per
    row and grow with the input; this keeps a million-row run's memory flat, with exact
    keys (no hash that could call two residents the same).
    """

    __slots__ = ("_db",)

    def __init__(self) -> None:
        # One connection, used from one thread at a time (the engine's reader).
        self._db: sqlite3.Connection | None = sqlite3.connect("", check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=OFF;
            PRAGMA synchronous=OFF;
            PRAGMA cache_size=-4096;
            CREATE TABLE user_ids (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
            CREATE TABLE mobiles (key TEXT PRIMARY KEY, line INTEGER NOT NULL) WITHOUT ROWID;
            BEGIN;
            """
        )

    def __enter__(self) -> Deduplicator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget everything (the temporary database is deleted)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _first(self, table: str, key: str, line: int) -> int:
        """Record ``key`` at ``line`` unless already seen; return the line that has it first."""
        db = self._db
        if db is None:
            raise RuntimeError("the deduplicator is closed")
        # A new key (the common case) costs one statement; a duplicate, a second.
        inserted = db.execute(
            f"INSERT OR IGNORE INTO {table} (key, line) VALUES (?, ?)",  # noqa: S608  # table is one of two constants
            (key, line),
        ).rowcount
        if inserted:
            return line
        found = db.execute(f"SELECT line FROM {table} WHERE key = ?", (key,)).fetchone()  # noqa: S608  # same
        return int(found[0])

    def _forget(self, table: str, key: str, line: int) -> None:
        """Undo :meth:`_first` for ``key`` if ``line`` recorded it."""
        if self._db is not None:
            self._db.execute(f"DELETE FROM {table} WHERE key = ? AND line = ?", (key, line))  # noqa: S608  # table is one of two constants

    def check(self, row: ParsedRow) -> ParsedRow:
        """Return ``row``, or a :class:`RejectedRow` when an earlier row has its ids."""
        if isinstance(row, RejectedRow):
            return row
        first = self._first("user_ids", row.user_id, row.line)
        if first != row.line:
            via = f" (externalId {row.external_id!r} maps to it)" if row.external_id else ""
            return RejectedRow(
                line=row.line,
                user_id=row.user_id,
                reason=f"duplicate user id{via}: line {first} already has it",
            )
        first = self._first("mobiles", row.mobile_number, row.line)
        if first != row.line:
            # A rejected row claims nothing: its user id stays free for a later row.
            self._forget("user_ids", row.user_id, row.line)
            return RejectedRow(
                line=row.line,
                user_id=row.user_id,
                reason=(
                    f"duplicate mobile number {mask_mobile(row.mobile_number)}: "
                    f"line {first} already has it"
                ),
            )
        return row
