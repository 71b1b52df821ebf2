"""Property: the input parser takes any line, cell or file and answers with a clear verdict.

Whatever hypothesis writes (arbitrary text and bytes, JSON of any shape, rows built from
the right field names with wrong values, CSV records of any cells, whole files of any
bytes), the parser yields a :class:`Resident` the service would accept or a
:class:`RejectedRow` with a reason, and the only exception it ever raises is its own
:class:`InputError` (for a file it cannot read at all, or a CSV header without the needed
columns). A rejection never shows a resident's full mobile number.
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bulk import InputError, PhoneNumberError, RejectedRow, Resident, read_input
from bulk._input import CSV_COLUMNS, check_input, parse_jsonl_line
from bulk._phones import normalize_mobile
from bulk._resident import ParsedRow
from schlage_async import Operation
from schlage_async._validation import (
    check_create_credential,
    check_path_id,
    check_save_no_tour_payloads,
)

E164: Final = re.compile(r"\+1\d{10,14}")
FIELDS: Final = (
    "userId",
    "externalId",
    "mobileNumber",
    "cardFormat",
    "facilityCode",
    "issueCode",
    "attributes",
    "doors",
)
SETTINGS: Final = settings(max_examples=300, deadline=None)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=8,
)
hex96 = st.text("0123456789abcdefABCDEF", min_size=90, max_size=100)
doors = st.lists(
    st.fixed_dictionaries(
        {},
        optional={
            "lockId": st.integers(-5, 70_000) | st.text(max_size=6) | json_values,
            "serialNumber": st.text(max_size=12) | json_values,
            "noTourPayload": hex96 | st.text(max_size=10) | json_values,
        },
    )
    | json_values,
    max_size=3,
)
plausible = {
    "userId": st.uuids().map(str) | st.text(max_size=40),
    "externalId": st.text(max_size=20),
    "mobileNumber": st.from_regex(r"\+?1?[ (]?[2-9]\d{2}[) .-]?\d{3}[ .-]?\d{4}", fullmatch=True)
    | st.text("+0123456789 ()-.", max_size=20),
    "cardFormat": st.sampled_from(["26A", "34S", "35X", "37H", "37X", "48X", "26a", "99Z", ""]),
    "facilityCode": st.integers(-10, 70_000) | st.text("0123456789 ", max_size=6),
    "issueCode": st.integers(-3, 70) | st.text("0123456789", max_size=3),
    "attributes": st.dictionaries(
        st.sampled_from(["siteId", "SiteName", "SITEID", "other"]),
        st.none() | st.text(max_size=30),
        max_size=3,
    ),
    "doors": doors,
}


@st.composite
def resident_shaped(draw: st.DrawFn) -> dict[str, Any]:
    """A JSON object with the API's field names (any letter case), values right or wrong."""
    row: dict[str, Any] = {}
    for name in draw(st.lists(st.sampled_from(FIELDS), unique=True)):
        key = draw(st.sampled_from([name, name.lower(), name.upper()]))
        row[key] = draw(plausible[name] | json_values)
    return row


def _assert_verdict(row: ParsedRow | None, line: int) -> None:
    """A resident the service would take, or a rejection with a reason, on ``line``."""
    if row is None:
        return
    assert row.line == line
    if isinstance(row, RejectedRow):
        assert isinstance(row.reason, str)
        assert row.reason.strip()
        return
    assert isinstance(row, Resident)
    assert check_path_id(Operation.CREATE_CREDENTIAL, row.user_id, kind="user") is None
    assert E164.fullmatch(row.mobile_number), row
    body: dict[str, object] = {
        "userId": row.user_id,
        "mobileNumber": row.mobile_number,
        "cardFormat": row.card_format,
        "facilityCode": row.facility_code,
        "issueCode": row.issue_code,
        "attributes": row.attributes,
    }
    assert check_create_credential(body) == [], row
    if row.doors:
        details = [
            {
                "lockId": d.lock_id,
                "serialNumber": d.serial_number,
                "noTourPayload": d.no_tour_payload,
            }
            for d in row.doors
        ]
        assert check_save_no_tour_payloads({"noTourPayloadDetails": details}) == [], row


def _full_mobile(fields: dict[str, Any]) -> str | None:
    """The E.164 number the row's mobile number reads as, if it reads as one."""
    for key, value in fields.items():
        if key.lower() == "mobilenumber" and isinstance(value, str):
            try:
                return normalize_mobile(value)
            except PhoneNumberError:
                return None
    return None


@pytest.mark.slow
@SETTINGS
@given(text=st.text())
def test_any_text_line_is_a_verdict(text: str) -> None:
    """Arbitrary text: None for a blank line, else a resident or a rejection, never a raise."""
    row = parse_jsonl_line(text, 7)
    if not text.strip().lstrip("\ufeff").strip():
        assert row is None
    _assert_verdict(row, 7)


@pytest.mark.slow
@SETTINGS
@given(data=st.binary())
def test_any_bytes_line_is_a_verdict(data: bytes) -> None:
    """Arbitrary bytes (not UTF-8, NULs, half characters): a verdict, never a raise."""
    _assert_verdict(parse_jsonl_line(data, 3), 3)


@pytest.mark.slow
@SETTINGS
@given(value=json_values)
def test_any_json_value_is_a_verdict(value: object) -> None:
    """JSON that is not an object, or an object of anything: a verdict, never a raise."""
    row = parse_jsonl_line(json.dumps(value), 1)
    assert row is not None
    _assert_verdict(row, 1)
    if not isinstance(value, dict):
        assert isinstance(row, RejectedRow)


@pytest.mark.slow
@SETTINGS
@given(fields=resident_shaped(), cut=st.integers(0, 400))
def test_rows_with_the_right_names_and_wrong_values_are_verdicts(
    fields: dict[str, Any], cut: int
) -> None:
    """The API's field names with values right or wrong, whole or cut short: a verdict."""
    line = json.dumps(fields)
    for text in (line, line[:cut]):
        row = parse_jsonl_line(text, 12)
        _assert_verdict(row, 12)
        mobile = _full_mobile(fields)
        others = json.dumps({k: v for k, v in fields.items() if k.lower() != "mobilenumber"})
        if isinstance(row, RejectedRow) and mobile is not None and mobile not in others:
            assert mobile not in row.reason, row.reason  # masked, e.g. +1******4567


def _lines(data: bytes) -> Iterator[str]:
    # How read_input hands lines to the parser: binary lines, undecodable bytes escaped.
    for raw in io.BytesIO(data):
        yield raw.decode("utf-8", "surrogateescape")


def _read(data: bytes, suffix: str) -> list[ParsedRow] | InputError:
    """Check and read ``data`` as a file, as ``python -m bulk migrate`` does.

    Returns the rows, or the InputError the parser raised (any other exception escapes).
    """
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / f"input{suffix}"
        path.write_bytes(data)
        try:
            check_input(path)
            return list(read_input(path))
        except InputError as exc:
            return exc


def _csv_text(records: Iterable[list[str]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(records)
    return out.getvalue()


cells = st.text(max_size=12) | st.sampled_from(
    ["", ";", ":", "1:SN:", "1:SN1:" + "A" * 96, "1:a:b:" + "0" * 96 + ";2", '"', "\n", "\r\n"]
)


@pytest.mark.slow
@SETTINGS
@given(records=st.lists(st.lists(cells, max_size=len(CSV_COLUMNS) + 2), max_size=6))
def test_any_csv_cells_under_a_good_header_are_verdicts(records: list[list[str]]) -> None:
    """Any cells (quotes, separators, newlines inside) under the header: verdicts, in order."""
    text = _csv_text(records)
    rows = _read(text.encode(), ".csv")
    if isinstance(rows, InputError):
        assert "\x00" in text, rows  # only a NUL makes it a binary file
        return
    physical = text.count("\n") + 1
    lines = [row.line for row in rows]
    assert lines == sorted(set(lines))
    for row in rows:
        assert 2 <= row.line <= physical
        _assert_verdict(row, row.line)


@pytest.mark.slow
@SETTINGS
@given(header=st.lists(st.text(max_size=14), max_size=6), record=st.lists(cells, max_size=6))
def test_any_csv_header_reads_or_is_an_input_error(header: list[str], record: list[str]) -> None:
    """A header of anything: rows when it names the needed columns, else one InputError."""
    out = io.StringIO()
    csv.writer(out).writerows([header, record])
    rows = _read(out.getvalue().encode(), ".csv")
    if isinstance(rows, InputError):
        assert str(rows).strip()
        return
    for row in rows:
        _assert_verdict(row, row.line)


@pytest.mark.slow
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=300), suffix=st.sampled_from([".jsonl", ".csv"]))
@example(data=b"\r\x01", suffix=".csv")  # csv.Error escaped the reader (fixed)
def test_any_file_is_read_or_refused_with_one_input_error(data: bytes, suffix: str) -> None:
    """A file of any bytes: rows, or InputError (binary, not UTF-8, bad header); nothing else."""
    rows = _read(data, suffix)
    if isinstance(rows, InputError):
        assert str(rows).strip()
        return
    for row in rows:
        _assert_verdict(row, row.line)


def test_a_carriage_return_outside_quotes_rejects_only_its_own_row() -> None:
    """A bare CR in an unquoted CSV field: that row is rejected, the rows after it are read."""
    good = [str(uuid.UUID(int=n, version=4)) for n in (1, 2)]
    data = (
        "userId,mobileNumber,cardFormat,facilityCode\n"
        f"{good[0]},+15551230001,26A,1\n"
        "x\ry,+15551230002,26A,1\n"
        f"{good[1]},+15551230003,26A,1\n"
    ).encode()
    rows = _read(data, ".csv")
    assert not isinstance(rows, InputError)
    assert [type(r).__name__ for r in rows] == ["Resident", "RejectedRow", "Resident"]
    assert [r.line for r in rows] == [2, 3, 4]
    rejected = rows[1]
    assert isinstance(rejected, RejectedRow)
    assert rejected.reason.startswith("the row is not valid CSV (new-line character")
    assert "universal-newline" not in rejected.reason


def test_the_property_strategies_reach_residents() -> None:
    """The strategies are not all rejections: a well-formed row drawn from them parses."""
    row = parse_jsonl_line(
        json.dumps(
            {
                "USERID": str(uuid.uuid4()),
                "mobilenumber": "(555) 123-4567",
                "cardFormat": "26a",
                "facilityCode": "12",
                "doors": [{"lockId": "3", "serialNumber": "SN", "noTourPayload": "ab" * 48}],
            }
        ),
        1,
    )
    assert isinstance(row, Resident)
    _assert_verdict(row, 1)
