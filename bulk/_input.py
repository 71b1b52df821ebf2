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

Every physical line is one record in both formats: a quoted CSV field may hold commas and
doubled quotes but never a line break, so a stray quote (``"Oak Terrace`` never closed)
costs its own line, refused, and never swallows the rows after it. Each row carries a
digest of its line's bytes (:func:`row_digest`): the checkpoint keeps it, and a resume
compares it with the line read again (see :mod:`bulk._binding`).
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import os
import re
import sqlite3
import stat
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Final, Literal

import msgspec

from schlage_async import (
    NoTourPayload,
    check_create_credential,
    check_save_no_tour_payloads,
    mask_mobile,
)

from ._errors import InputError
from ._masking import mask_numbers
from ._phones import DEFAULT_REGION, PhoneNumberError, normalize_mobile
from ._resident import ParsedRow, RejectedRow, Resident
from ._sqlite_batch import encode_rows, has_json, json_rows_select
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
    "is_blank",
    "iter_csv",
    "iter_jsonl",
    "iter_lines",
    "iter_row_numbers",
    "line_is_blank",
    "parse_jsonl_line",
    "parse_resident",
    "read_input",
    "row_digest",
]

InputFormat = Literal["jsonl", "csv"]
HEAD_BYTES: Final = 64 * 1024
"""How much of the input the readability check reads."""
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


def detect_format(path: str | os.PathLike[str], given: InputFormat | None = None) -> InputFormat:
    """Return ``given``, or ``"csv"`` for a ``.csv`` file and ``"jsonl"`` for anything else."""
    path = Path(path)
    if given is not None:
        return given
    return "csv" if path.suffix.lower() == ".csv" else "jsonl"


def check_input(path: str | os.PathLike[str]) -> bytes:
    """Check that ``path`` is a readable text file; return its first 64 KiB.

    Raises :class:`InputError` with one line a person can act on otherwise. Bytes that are
    not text in the input's encoding are not refused here, wherever they are: each row
    holding some is rejected on its own (one rule for the whole file).
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"input {str(path)!r} does not exist")
    if path.is_dir():
        raise InputError(f"input {str(path)!r} is a directory, not a file")
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        raise InputError(f"input {str(path)!r} cannot be read: {exc.strerror or exc}") from None
    if not stat.S_ISREG(mode):
        # A pipe or a device is consumed by one read: the engine reads the input more than
        # once (the resume check, the run, the reports) and resumes by line number.
        raise InputError(
            f"input {str(path)!r} is not a regular file (a pipe or a device?): save it to a "
            "file first (e.g. `cat > residents.jsonl`) and migrate that file, so a stop can "
            "resume"
        )
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


@dataclass(frozen=True, slots=True)
class InputFingerprint:
    """A file's path, size and the SHA-256 of its first 64 KiB (``plan`` files use it).

    A migration's checkpoint does not: it keeps a digest per row (see
    :mod:`bulk._binding`), so an edit anywhere is seen and a moved file is the same file.
    """

    path: str
    size: int
    head_sha256: str

    def as_dict(self) -> dict[str, str | int]:
        """Return the fingerprint as JSON-ready data."""
        return {"path": self.path, "size": self.size, "head_sha256": self.head_sha256}


def input_fingerprint(path: str | os.PathLike[str]) -> InputFingerprint:
    """Return ``path``'s fingerprint: absolute path, size and SHA-256 of its first 64 KiB."""
    path = Path(path)
    head = check_input(path)
    return InputFingerprint(
        path=str(path.resolve()),
        size=path.stat().st_size,
        head_sha256=hashlib.sha256(head).hexdigest(),
    )


def count_lines(path: str | os.PathLike[str]) -> int:
    """Return how many lines ``path`` has, reading it in 1 MiB chunks (for a progress total)."""
    path = Path(path)
    total = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            total += chunk.count(b"\n")
            last = chunk[-1:]
    return total + (last != b"\n")


def iter_lines(path: str | os.PathLike[str]) -> Iterator[tuple[int, bytes]]:
    """Yield ``(number, bytes)`` per physical line of ``path``, numbered from 1.

    The bytes are the line without its ``\\n`` or ``\\r\\n`` (and without a UTF-8 byte
    order mark on line 1): what :func:`row_digest` hashes and the readers parse.
    """
    path = Path(path)
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            line = raw.rstrip(b"\n")
            if line.endswith(b"\r"):
                line = line[:-1]
            if number == 1 and line.startswith(codecs.BOM_UTF8):
                line = line[len(codecs.BOM_UTF8) :]
            yield number, line


def iter_row_numbers(
    path: Path, input_format: InputFormat | None = None, encoding: str = DEFAULT_ENCODING
) -> Iterator[int]:
    """Yield the number of every line of ``path`` that holds a row (not blank, not the
    CSV header): the lines the reports must account for."""
    header_seen = detect_format(path, input_format) != "csv"
    for number, raw in iter_lines(path):
        if line_is_blank(raw, encoding):
            continue
        if not header_seen:
            header_seen = True
            continue
        yield number


def row_digest(raw: bytes | str) -> str:
    """Return the digest that identifies a row by its content (BLAKE2b, 128 bits, hex).

    ``raw`` is the line as :func:`iter_lines` yields it; text is hashed as UTF-8.
    """
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogateescape")
    return hashlib.blake2b(data, digest_size=16).hexdigest()


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


_MAX_INT_DIGITS: Final = 18  # more than any code the service takes; int() stays cheap


def _maybe_int(value: object) -> object:
    """Turn a numeric string (PACS exports quote numbers) into an int; keep anything else.

    Only ASCII digits count (``"²"`` and ``"١٢"`` are digits to ``str.isdigit``, not to
    ``int``), and a string too long to be a code stays a string: the service's rule then
    refuses the row with its own message instead of ``int()`` stopping the run.
    """
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if text.isascii() and text.isdigit() and len(text) <= _MAX_INT_DIGITS:
            return int(text)
    return value


_ASCII_SPACE: Final = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.isspace() says of ASCII


def line_is_blank(raw: bytes, encoding: str = DEFAULT_ENCODING) -> bool:
    """:func:`is_blank` for a line's bytes, without decoding the (usual) ASCII line."""
    if raw.isascii():
        return not raw.strip(_ASCII_SPACE)
    return is_blank(raw.decode(encoding, "surrogateescape"))


def is_blank(text: str) -> bool:
    """Whether a line holds no row: only whitespace (and byte order marks)."""
    return not text.replace("\ufeff", "").strip()


def _has_surrogates(text: str) -> bool:
    """Whether ``text`` holds bytes that were not UTF-8 (decoded with surrogateescape)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


_MAX_ECHOED_ID: Final = 80  # characters of a malformed user id a report repeats


def _rejected_id(user_id: str | None) -> str | None:
    """A rejected row's user id as reports may show it: a UUID as it is, else masked, cut."""
    if user_id is None:
        return None
    try:
        uuid.UUID(user_id)
    except ValueError:
        text = mask_numbers(user_id)
        return text if len(text) <= _MAX_ECHOED_ID else text[: _MAX_ECHOED_ID - 1] + "…"
    return user_id


def _safe(row: ParsedRow, row_hash: str | None) -> ParsedRow:
    """``row`` with its digest, and a rejected row's text masked (it may echo anything)."""
    if isinstance(row, RejectedRow):
        return RejectedRow(
            line=row.line,
            reason=mask_numbers(row.reason),
            user_id=_rejected_id(row.user_id),
            row_hash=row_hash,
        )
    if row_hash is not None and row.row_hash != row_hash:
        return replace(row, row_hash=row_hash)
    return row


def parse_resident(
    fields: Mapping[str, object],
    line: int,
    options: ParseOptions = ParseOptions(),
    *,
    row_hash: str | None = None,
) -> ParsedRow:
    """Turn one row's fields (API names, any case) into a resident, or say why not.

    Everything the service would refuse is refused here with the service's own message,
    so a bad row costs no API call. No text makes it raise: whatever a cell holds, the
    answer is a :class:`Resident` or a :class:`RejectedRow` (whose reason and user id
    are masked, see :func:`bulk._masking.mask_numbers`).
    """
    try:
        row = _parse_resident(fields, line, options, row_hash)
    except Exception as exc:  # noqa: BLE001  # a bad row never stops a run, whatever it holds
        row = RejectedRow(line=line, reason=f"the row cannot be read ({type(exc).__name__})")
    return _safe(row, row_hash)


def _parse_resident(
    fields: Mapping[str, object], line: int, options: ParseOptions, row_hash: str | None = None
) -> ParsedRow:
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
    doors = _plain_doors(doors_value)
    if doors is None and doors_value is not None and doors_value != []:
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
        doors=doors or (),
        row_hash=row_hash,  # here, not by dataclasses.replace after: a row costs less
    )


_PLAIN_DOOR_KEYS: Final = frozenset({"lockId", "serialNumber", "noTourPayload"})
_PLAIN_PAYLOAD: Final = re.compile(r"[0-9a-fA-F]{96}")


def _plain_doors(value: object) -> tuple[NoTourPayload, ...] | None:
    """The doors, when every one is written as ``generate`` and our own files write them
    (exactly the API's three keys, a lock id in range, a serial number, 96 hex digits,
    no device twice); else None, and the service's rule decides, with its messages.

    Only rows that rule accepts pass here, and they come out as :func:`_door` makes
    them: a shortcut for the usual row, not a second rule.
    """
    if type(value) is not list or not value:
        return None
    doors: list[NoTourPayload] = []
    serials: set[str] = set()
    for item in value:
        if type(item) is not dict or item.keys() != _PLAIN_DOOR_KEYS:
            return None
        lock_id = item["lockId"]
        serial = item["serialNumber"]
        payload = item["noTourPayload"]
        if (
            type(lock_id) is not int
            or not 1 <= lock_id <= 65535  # the service's lock id range
            or type(serial) is not str
            or not serial.strip()
            or serial in serials
            or type(payload) is not str
            or _PLAIN_PAYLOAD.fullmatch(payload) is None
        ):
            return None
        serials.add(serial)
        doors.append(NoTourPayload(lock_id=lock_id, serial_number=serial, no_tour_payload=payload))
    return tuple(doors)


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
    text: str | bytes,
    line: int,
    options: ParseOptions = ParseOptions(),
    *,
    row_hash: str | None = None,
) -> ParsedRow | None:
    """Parse one JSON Lines row; None for a blank line. Never raises for any text."""
    if isinstance(text, bytes):
        text = text.decode(options.encoding, "surrogateescape")
    if is_blank(text):
        return None
    stripped = text.strip().lstrip("\ufeff")
    if _has_surrogates(stripped):
        reason = _not_text(stripped, options, "the line")
        return _safe(RejectedRow(line=line, reason=reason), row_hash)
    try:
        value = _json_decoder.decode(stripped)
    except (msgspec.DecodeError, ValueError, RecursionError) as exc:
        return _safe(RejectedRow(line=line, reason=f"invalid JSON: {exc}"), row_hash)
    if not isinstance(value, dict):
        return _safe(RejectedRow(line=line, reason="the line is not a JSON object"), row_hash)
    return parse_resident(value, line, options, row_hash=row_hash)


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


def _csv_record(text: str, delimiter: str = ",") -> list[str] | str:
    """Split one physical line into CSV cells, or return why it is not valid CSV."""
    try:
        return next(csv.reader((text,), delimiter=delimiter, strict=True))
    except StopIteration:
        return []
    except csv.Error as exc:
        why = str(exc).split(" - ")[0]  # not csv's advice about universal-newline mode
        if why == "unexpected end of data":
            why = "a quote opened and never closed on this line"
        return why


def _sniff_delimiter(header: str) -> str:
    """The CSV delimiter the header line uses (``,``, ``;``, tab or ``|``).

    Spreadsheets in many locales export ``;``-delimited CSV; the csv module's Sniffer
    reads the header line (the first non-blank one) and the rows follow it.
    """
    try:
        return csv.Sniffer().sniff(header, delimiters=",;\t|").delimiter
    except csv.Error:
        return ","  # one column, or nothing to tell: the default


class _CsvRows:
    """Parses CSV one physical line at a time: the first non-blank line is the header."""

    __slots__ = ("_delimiter", "_header", "_options")

    def __init__(self, options: ParseOptions) -> None:
        self._options = options
        self._header: list[str] | None = None
        self._delimiter = ","

    def parse(self, text: str, line: int, row_hash: str | None = None) -> ParsedRow | None:
        if is_blank(text):
            return None
        if self._header is None:
            self._delimiter = _sniff_delimiter(text)
        record = _csv_record(text, self._delimiter)
        if self._header is None:
            if isinstance(record, str):
                raise InputError(f"the CSV header (line {line}) is not valid CSV ({record})")
            if _has_surrogates(text):
                raise InputError(_not_text(text, self._options, f"the CSV header (line {line})"))
            header = [_CSV_KEYS.get(_column_key(name), "") for name in record]
            if "mobileNumber" not in header or not {"userId", "externalId"} & set(header):
                # The first line may be a data row (no header at all): echo it masked.
                shown = mask_numbers(", ".join(record))
                if len(shown) > 200:
                    shown = shown[:199] + "…"
                raise InputError(
                    "the CSV header must name a mobileNumber column and a userId or "
                    f"externalId column (line {line}, read with the delimiter "
                    f"{self._delimiter!r}, has: {shown})"
                )
            self._header = header
            return None
        header = self._header
        if isinstance(record, str):
            reason = f"the row is not valid CSV ({record})"
            return _safe(RejectedRow(line=line, reason=reason), row_hash)
        if not any(cell.strip() for cell in record):
            return _safe(RejectedRow(line=line, reason="the row has only empty cells"), row_hash)
        if _has_surrogates(text):
            reason = _not_text(text, self._options, "the row")
            return _safe(RejectedRow(line=line, reason=reason), row_hash)
        if len(record) > len(header):
            reason = f"the row has {len(record)} fields, the header has {len(header)}"
            return _safe(RejectedRow(line=line, reason=reason), row_hash)
        cells = {name: value for name, value in zip(header, record, strict=False) if name}
        fields: dict[str, object] = {
            key: value for key, value in cells.items() if key not in ("siteId", "siteName", "doors")
        }
        site = {k: v for k in ("siteId", "siteName") if (v := cells.get(k, "").strip())}
        if site:
            fields["attributes"] = site
        door_cell = cells.get("doors", "")
        if door_cell.strip():
            doors = _csv_doors(door_cell, line, None)
            if isinstance(doors, RejectedRow):
                return _safe(doors, row_hash)
            fields["doors"] = doors
        return parse_resident(fields, line, self._options, row_hash=row_hash)


def iter_csv(lines: Iterable[str], options: ParseOptions = ParseOptions()) -> Iterator[ParsedRow]:
    """Yield a parsed row per non-blank CSV line (see the module docstring for the shape).

    ``lines`` are physical lines, numbered from 1; a line ending is ignored. Raises
    :class:`InputError` when the header lacks a column every row needs.
    """
    parser = _CsvRows(options)
    for number, text in enumerate(lines, start=1):
        row = parser.parse(text.rstrip("\r\n"), number)
        if row is not None:
            yield row


def read_input(
    path: str | os.PathLike[str],
    *,
    input_format: InputFormat | None = None,
    options: ParseOptions = ParseOptions(),
) -> Iterator[ParsedRow]:
    """Stream ``path`` (JSON Lines, or CSV by suffix or ``input_format``) as parsed rows.

    One row per non-blank physical line (the CSV header aside), each with the digest of
    its line (:func:`row_digest`). Call :func:`check_input` first for a clear error on an
    unreadable file.
    """
    path = Path(path)
    fmt = detect_format(path, input_format)
    csv_rows = _CsvRows(options) if fmt == "csv" else None
    for number, raw in iter_lines(path):
        text = raw.decode(options.encoding, "surrogateescape")
        if is_blank(text):
            continue
        digest = row_digest(raw)
        if csv_rows is not None:
            row = csv_rows.parse(text, number, digest)
        else:
            row = parse_jsonl_line(text, number, options, row_hash=digest)
        if row is not None:
            yield row


class Deduplicator:
    """Fails the second occurrence of a user id or a mobile number within one input.

    What it has seen lives in SQLite's private temporary database (``connect("")``): on
    disk past a small page cache, deleted when closed. A dict would cost ~200 bytes per
    row and grow with the input; this keeps a million-row run's memory flat, with exact
    keys (no hash that could call two residents the same).

    :meth:`check_all` checks a batch with a few statements (the engine's reader calls it
    in its thread, off the event loop); :meth:`check` one row with one or two.
    """

    __slots__ = ("_db", "_json")

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
        # Whether a batch's new keys go in with one JSON statement (else executemany).
        self._json = has_json(self._db)

    def __enter__(self) -> Deduplicator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Forget everything (the temporary database is deleted)."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _open(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("the deduplicator is closed")
        return self._db

    def _first(self, table: str, key: str, line: int) -> int:
        """Record ``key`` at ``line`` unless already seen; return the line that has it first."""
        db = self._open()
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
        # The service compares user ids without regard to letter case (they are UUIDs).
        user_key = row.user_id.lower()
        first = self._first("user_ids", user_key, row.line)
        if first != row.line:
            return _duplicate_user(row, first)
        first = self._first("mobiles", row.mobile_number, row.line)
        if first != row.line:
            # A rejected row claims nothing: its user id stays free for a later row.
            self._forget("user_ids", user_key, row.line)
            return _duplicate_mobile(row, first)
        return row

    def check_all(self, rows: Sequence[ParsedRow]) -> list[ParsedRow]:
        """:meth:`check` of each row in turn, with a few statements for the whole batch.

        The batch's keys are looked up at once; the rows are then decided in order
        against those and the keys the batch claimed before them, and what the batch
        changed is written at the end: the answers are exactly :meth:`check`'s, row by
        row.
        """
        if len(rows) == 1:
            return [self.check(rows[0])]
        residents = [row for row in rows if isinstance(row, Resident)]
        if not residents:
            return list(rows)
        users = self._known("user_ids", {row.user_id.lower() for row in residents})
        mobiles = self._known("mobiles", {row.mobile_number for row in residents})
        new_users: dict[str, int] = {}  # claimed by this batch: recorded at the end
        new_mobiles: dict[str, int] = {}
        given_back: list[tuple[str, int]] = []  # recorded before the batch, now forgotten
        out: list[ParsedRow] = []
        for row in rows:
            if isinstance(row, RejectedRow):
                out.append(row)
                continue
            user_key = row.user_id.lower()
            first = users.get(user_key)
            if first is None:
                users[user_key] = new_users[user_key] = row.line
            elif first != row.line:
                out.append(_duplicate_user(row, first))
                continue
            first = mobiles.get(row.mobile_number)
            if first is None:
                mobiles[row.mobile_number] = new_mobiles[row.mobile_number] = row.line
            elif first != row.line:
                # A rejected row claims nothing: its user id stays free for a later row.
                del users[user_key]
                if new_users.pop(user_key, None) is None:
                    given_back.append((user_key, row.line))
                out.append(_duplicate_mobile(row, first))
                continue
            out.append(row)
        if given_back:  # before the inserts: a later row of the batch may claim it again
            self._open().executemany("DELETE FROM user_ids WHERE key = ? AND line = ?", given_back)
        self._record("user_ids", new_users)
        self._record("mobiles", new_mobiles)
        return out

    def _known(self, table: str, keys: Iterable[str]) -> dict[str, int]:
        """Those of ``keys`` already recorded, with their lines (a query per 500 keys)."""
        db = self._open()
        wanted = list(keys)
        found: dict[str, int] = {}
        for start in range(0, len(wanted), _LOOKUP_CHUNK):
            chunk = wanted[start : start + _LOOKUP_CHUNK]
            marks = ", ".join("?" * len(chunk))
            query = f"SELECT key, line FROM {table} WHERE key IN ({marks})"  # noqa: S608  # a constant table and placeholders
            found.update(db.execute(query, chunk))
        return found

    def _record(self, table: str, new: dict[str, int]) -> None:
        """Record ``new`` (keys not recorded yet, with their lines) in one statement."""
        if not new:
            return
        db = self._open()
        if self._json:
            insert = f"INSERT INTO {table} (key, line) {json_rows_select(2)}"  # a constant table
            db.execute(insert, (encode_rows(list(new.items())),))
        else:
            db.executemany(f"INSERT INTO {table} (key, line) VALUES (?, ?)", new.items())  # noqa: S608  # same


_LOOKUP_CHUNK: Final = 500  # keys per lookup query, under any SQLite's 999 parameters


def _duplicate_user(row: Resident, first: int) -> RejectedRow:
    via = f" (externalId {row.external_id!r} maps to it)" if row.external_id else ""
    return RejectedRow(
        line=row.line,
        user_id=row.user_id,
        reason=f"duplicate user id{via}: line {first} already has it",
    )


def _duplicate_mobile(row: Resident, first: int) -> RejectedRow:
    return RejectedRow(
        line=row.line,
        user_id=row.user_id,
        reason=(
            f"duplicate mobile number {mask_mobile(row.mobile_number)}: line {first} already has it"
        ),
    )
