"""The input readers: JSON Lines and CSV, streamed, with line numbers and clear reasons."""

from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest

from bulk import InputError, ParseOptions, RejectedRow, Resident, read_input
from bulk._input import (
    Deduplicator,
    check_input,
    iter_csv,
    iter_jsonl,
    parse_jsonl_line,
    row_digest,
)
from bulk._resident import ParsedRow
from bulk._user_ids import user_id_for
from schlage_async import ErrorCode, Operation
from schlage_async._seed_errors import message_for

UID = "3f1c6d3e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"
PAYLOAD = "0123456789ABCDEF" * 6
CREATE = Operation.CREATE_CREDENTIAL
SAVE = Operation.SAVE_NO_TOUR_PAYLOADS


def _row(**changes: object) -> dict[str, object]:
    row: dict[str, object] = {
        "userId": UID,
        "mobileNumber": "+15551234567",
        "cardFormat": "26A",
        "facilityCode": 12,
        "issueCode": 0,
        "attributes": {"siteId": "S1", "siteName": "Elm Court"},
        "doors": [{"lockId": 1, "serialNumber": "SN1", "noTourPayload": PAYLOAD}],
    }
    for key, value in changes.items():
        if value is None:
            row.pop(key, None)
        else:
            row[key] = value
    return row


def _one(line: str) -> Resident | RejectedRow:
    rows = list(iter_jsonl([line]))
    assert len(rows) == 1
    return rows[0]


def test_a_good_jsonl_row_becomes_a_resident() -> None:
    """Every field of the API's own shape is carried through."""
    row = _one(json.dumps(_row()))
    assert isinstance(row, Resident)
    assert row.line == 1
    assert row.user_id == UID
    assert row.mobile_number == "+15551234567"
    assert (row.card_format, row.facility_code, row.issue_code) == ("26A", 12, 0)
    assert row.attributes == {"siteId": "S1", "siteName": "Elm Court"}
    assert [(d.lock_id, d.serial_number) for d in row.doors] == [(1, "SN1")]


def test_field_names_bind_in_any_letter_case_like_the_service() -> None:
    """``UserID`` and ``MOBILENUMBER`` work as the service binds them."""
    row = _one(
        json.dumps(
            {"UserID": UID, "MOBILENUMBER": "5551234567", "CardFormat": "37x", "facilitycode": "9"}
        )
    )
    assert isinstance(row, Resident)
    assert (row.mobile_number, row.card_format, row.facility_code) == ("+15551234567", "37X", 9)


def test_an_external_id_maps_to_a_stable_user_id_under_the_namespace() -> None:
    """``externalId`` rows get the uuid5-as-v4 user id; userId wins when both are given."""
    options = ParseOptions()
    row = _one(json.dumps(_row(userId=None, externalId="PACS-7")))
    assert isinstance(row, Resident)
    assert row.user_id == user_id_for("PACS-7", options.namespace)
    assert row.external_id == "PACS-7"
    both = _one(json.dumps(_row(externalId="PACS-7")))
    assert isinstance(both, Resident)
    assert both.user_id == UID


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"userId": "x",', "invalid JSON"),
        ("[1, 2]", "not a JSON object"),
        (json.dumps(_row(userId=None)), "neither a userId nor an externalId"),
        (json.dumps(_row(userId=42)), "userId must be a UUID string"),
        (json.dumps(_row(userId="not-a-uuid")), message_for(CREATE, ErrorCode.USER_ID_INVALID)),
        (json.dumps(_row(mobileNumber=None)), "no mobileNumber"),
        (json.dumps(_row(mobileNumber="12345")), "mobile number"),
        (
            json.dumps(_row(mobileNumber="+44 20 7946 0018")),
            message_for(CREATE, ErrorCode.MOBILE_NUMBER_INVALID),
        ),
        (json.dumps(_row(cardFormat="99Z")), message_for(CREATE, ErrorCode.CARD_FORMAT_INVALID)),
        (
            json.dumps(_row(facilityCode=256)),
            message_for(CREATE, ErrorCode.FACILITY_CODE_RANGE, minimum=0, maximum=255),
        ),
        (
            json.dumps(_row(issueCode=3)),
            message_for(CREATE, ErrorCode.ISSUE_CODE_INVALID_FOR_FORMAT, card_format="26A"),
        ),
        (
            json.dumps(_row(attributes={"colour": "red"})),
            message_for(CREATE, ErrorCode.ATTRIBUTE_UNSUPPORTED, key="colour"),
        ),
        (
            json.dumps(_row(doors=[{"lockId": 1, "serialNumber": "SN1", "noTourPayload": "AB"}])),
            message_for(SAVE, ErrorCode.PAYLOAD_LENGTH),
        ),
        (
            json.dumps(
                _row(doors=[{"lockId": 0, "serialNumber": "SN1", "noTourPayload": PAYLOAD}])
            ),
            message_for(SAVE, ErrorCode.LOCK_ID_RANGE),
        ),
        (
            json.dumps(
                _row(doors=[{"lockId": 1, "serialNumber": "SN1", "noTourPayload": "Z" * 96}])
            ),
            message_for(SAVE, ErrorCode.PAYLOAD_NOT_HEX),
        ),
    ],
    ids=[
        "bad-json",
        "not-object",
        "no-id",
        "id-not-string",
        "id-not-uuid",
        "no-mobile",
        "impossible-mobile",
        "non-us-mobile",
        "bad-card-format",
        "facility-out-of-range",
        "issue-code-open-format",
        "unsupported-attribute",
        "short-payload",
        "lock-id-zero",
        "payload-not-hex",
    ],
)
def test_a_malformed_row_is_rejected_with_the_reason(line: str, reason: str) -> None:
    """The reason names the problem, in the service's own words where it has a rule."""
    row = _one(line)
    assert isinstance(row, RejectedRow)
    assert row.line == 1
    assert reason in row.reason


def test_blank_lines_are_skipped_and_line_numbers_stay_physical() -> None:
    """A report's line number is the line a person opens in an editor."""
    good = json.dumps(_row())
    rows = list(iter_jsonl(["", good, "   ", "\n", "{bad"]))
    assert [(type(r).__name__, r.line) for r in rows] == [("Resident", 2), ("RejectedRow", 5)]


def test_a_byte_order_mark_and_crlf_endings_are_tolerated(tmp_path: Path) -> None:
    """Files saved by Windows tools read the same."""
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(_row()).encode() + b"\r\n")
    rows = list(read_input(path))
    assert len(rows) == 1
    assert isinstance(rows[0], Resident)


def test_an_undecodable_line_in_the_middle_is_one_rejected_row(tmp_path: Path) -> None:
    """One bad line costs that row, not the run."""
    path = tmp_path / "in.jsonl"
    good = json.dumps(_row()).encode()
    path.write_bytes(good + b'\n{"userId": "\xff\xfe"}\n')
    rows = list(read_input(path))
    assert isinstance(rows[0], Resident)
    assert isinstance(rows[1], RejectedRow)
    assert rows[1].line == 2
    assert "UTF-8" in rows[1].reason


CSV_HEADER = (
    "userId,externalId,mobileNumber,cardFormat,facilityCode,issueCode,siteId,siteName,doors"
)


def test_a_csv_row_becomes_a_resident_with_its_doors() -> None:
    """Doors are ``lockId:serialNumber:payload`` joined by ``;``."""
    lines = [
        CSV_HEADER + "\n",
        f",PACS-1,(555) 123-4567,26A,12,0,S1,Elm Court,1:SN1:{PAYLOAD};2:SN:2:{PAYLOAD}\n",
    ]
    (row,) = list(iter_csv(lines))
    assert isinstance(row, Resident)
    assert row.line == 2
    assert row.user_id == user_id_for("PACS-1")
    assert row.mobile_number == "+15551234567"
    assert row.attributes == {"siteId": "S1", "siteName": "Elm Court"}
    assert [(d.lock_id, d.serial_number) for d in row.doors] == [(1, "SN1"), (2, "SN:2")]


def test_csv_headers_ignore_case_spaces_and_underscores() -> None:
    """``user_id`` and ``Mobile Number`` are what PACS exports call them."""
    lines = ["User_ID, Mobile Number ,card-format,FACILITY CODE\n", f"{UID},5551234567,37X,70000\n"]
    (row,) = list(iter_csv(lines))
    assert isinstance(row, RejectedRow)  # 70000 is out of 37X's range: the header worked
    assert row.reason == message_for(
        CREATE, ErrorCode.FACILITY_CODE_RANGE, minimum=0, maximum=65535
    )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (f"{UID},,5551234567,26A,1,0,,,1-SN1-{PAYLOAD}\n", "not lockId:serialNumber:noTourPayload"),
        (
            f"{UID},,5551234567,26A,1,0,,,x:SN1:{PAYLOAD}\n",
            message_for(SAVE, ErrorCode.LOCK_ID_MISSING),
        ),
        (f"{UID},,5551234567,26A,1,0,,,,extra\n", "the row has 10 fields, the header has 9"),
        (",,5551234567,26A,1,0,,,\n", "neither a userId nor an externalId"),
    ],
    ids=["door-without-colons", "door-lock-id-not-number", "too-many-fields", "no-id"],
)
def test_a_malformed_csv_row_is_rejected_with_the_reason(record: str, reason: str) -> None:
    """Each bad record is one failed row with its line number."""
    (row,) = list(iter_csv([CSV_HEADER + "\n", record]))
    assert isinstance(row, RejectedRow)
    assert row.line == 2
    assert reason in row.reason


def test_a_line_break_inside_quotes_never_joins_two_lines() -> None:
    """Each physical line is one record: an unclosed quote costs its own line, nothing after."""
    lines = [
        CSV_HEADER + "\n",
        f'{UID},,5551234567,26A,1,0,S1,"Elm\n',
        'Court",\n',
        ",,5551234568,26A,1,0,,,\n",
    ]
    rows = list(iter_csv(lines))
    assert [r.line for r in rows] == [2, 3, 4]
    assert isinstance(rows[0], RejectedRow)
    assert "a quote opened and never closed on this line" in rows[0].reason
    assert isinstance(rows[1], RejectedRow)
    assert isinstance(rows[2], RejectedRow)
    assert "neither a userId nor an externalId" in rows[2].reason


def test_a_csv_header_without_the_needed_columns_is_an_input_error() -> None:
    """A file that cannot hold residents stops the run with one clear line."""
    with pytest.raises(InputError, match="mobileNumber"):
        list(iter_csv(["name,phone\n", "a,b\n"]))


_UID_A = "11111111-1111-4111-8111-111111111111"
_UID_B = "22222222-2222-4222-8222-222222222222"


def test_duplicates_inside_the_input_fail_the_second_occurrence() -> None:
    """Same user id or same mobile number: the later row fails, naming the first line."""
    dedup = Deduplicator()
    rows = list(
        iter_jsonl(
            [
                json.dumps(_row()),
                json.dumps(_row(mobileNumber="+15550000001")),
                json.dumps(_row(userId=None, externalId="E1")),
                json.dumps(_row(userId=None, externalId="E2", mobileNumber="(555) 123-4567")),
            ]
        )
    )
    checked = [dedup.check(r) for r in rows]
    assert isinstance(checked[0], Resident)
    assert isinstance(checked[1], RejectedRow)
    assert checked[1].reason == "duplicate user id: line 1 already has it"
    assert isinstance(checked[2], RejectedRow)
    assert "duplicate mobile number +1******4567: line 1" in checked[2].reason
    assert isinstance(checked[3], RejectedRow)


def test_a_row_rejected_as_a_duplicate_claims_neither_of_its_ids() -> None:
    """A row failed for a taken number leaves its user id free for a later row."""
    with Deduplicator() as dedup:
        rows = list(
            iter_jsonl(
                [
                    json.dumps(_row(userId=_UID_A, mobileNumber="+15550000001")),
                    json.dumps(_row(userId=_UID_B, mobileNumber="+15550000001")),
                    json.dumps(_row(userId=_UID_B, mobileNumber="+15550000002")),
                ]
            )
        )
        checked = [dedup.check(r) for r in rows]
    assert isinstance(checked[0], Resident)
    assert isinstance(checked[1], RejectedRow)
    assert isinstance(checked[2], Resident)


def _door(lock: object = 1, serial: object = "SN1", payload: object = PAYLOAD) -> dict[str, object]:
    return {"lockId": lock, "serialNumber": serial, "noTourPayload": payload}


_DOORS = {
    "plain": [_door(), _door(2, "SN2", PAYLOAD.lower())],
    "none": None,
    "empty": [],
    "not-a-list": {"lockId": 1},
    "lock-as-text": [_door("12")],
    "lock-true": [_door(True)],
    "lock-0": [_door(0)],
    "lock-65536": [_door(65536)],
    "serial-blank": [_door(serial=" ")],
    "same-device-twice": [_door(), _door()],
    "one-serial-two-locks": [_door(), _door(2)],
    "payload-newline": [_door(payload=PAYLOAD[:-1] + "\n")],
    "payload-short": [_door(payload=PAYLOAD[:-2])],
    "payload-not-hex": [_door(payload="G" + PAYLOAD[1:])],
    "key-case": [{"LockId": 1, "serialNumber": "SN1", "noTourPayload": PAYLOAD}],
    "extra-key": [{**_door(), "note": "x"}],
    "item-not-object": ["SN1"],
}


@pytest.mark.parametrize("doors", list(_DOORS.values()), ids=list(_DOORS))
def test_the_plain_doors_shortcut_reads_rows_as_the_service_rule_does(
    doors: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A row's doors read through the shortcut for the usual shape come out exactly as
    the service's rule reads them (accepted alike, refused alike, with its messages)."""
    import bulk._input as reader

    row = _row(doors=doors) if doors is not None else _row(doors=None)
    fast = parse_jsonl_line(json.dumps(row), 1, row_hash="h")
    assert (reader._plain_doors(doors) is not None) == (doors is _DOORS["plain"])
    monkeypatch.setattr(reader, "_plain_doors", lambda value: None)
    assert parse_jsonl_line(json.dumps(row), 1, row_hash="h") == fast


@pytest.mark.parametrize("batch", [2, 7, 256], ids=["pairs", "sevens", "engine"])
def test_checking_a_batch_answers_as_checking_each_row_in_turn(batch: int) -> None:
    """``check_all`` gives exactly ``check``'s answers, whatever the batch boundaries:
    duplicates inside a batch and across batches, a user id given back by a row refused
    for its number and claimed again, letter case, rejected rows, a line seen twice."""
    rng = random.Random(22)
    users = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in range(150)]
    rows: list[ParsedRow] = []
    for line in range(1, 601):
        if rng.random() < 0.05:
            rows.append(RejectedRow(line=line, reason="bad row"))
            continue
        user = rng.choice(users)
        rows.append(
            Resident(
                line=rng.choice([line, line, line, max(1, line - 1)]),  # now and then again
                user_id=user.upper() if rng.random() < 0.3 else user,
                mobile_number=f"+1555000{rng.randrange(120):04d}",
                card_format="37X",
            )
        )
    with Deduplicator() as one_by_one, Deduplicator() as batched:
        expected = [one_by_one.check(row) for row in rows]
        got = [
            row
            for start in range(0, len(rows), batch)
            for row in batched.check_all(rows[start : start + batch])
        ]
    assert got == expected
    reasons = [row.reason for row in got if isinstance(row, RejectedRow)]
    assert sum(isinstance(row, Resident) for row in got) > 50  # every outcome exercised
    assert sum("duplicate user id" in reason for reason in reasons) > 100
    assert sum("duplicate mobile number" in reason for reason in reasons) > 100


@pytest.mark.parametrize("split", [False, True], ids=["same-batch", "next-batch"])
def test_a_user_id_given_back_in_a_batch_is_free_again(split: bool) -> None:
    """A line read again whose number is taken gives back the user id it recorded in an
    earlier batch: a later row may claim it, in the same batch or the next."""
    uid_c = "33333333-3333-4333-8333-333333333333"
    first = [_resident(1, _UID_A, "+15550000001"), _resident(2, _UID_B, "+15550000002")]
    again = _resident(1, _UID_A, "+15550000002")  # line 1 again, line 2's number
    claim = _resident(3, _UID_A, "+15550000003")
    other = _resident(4, uid_c, "+15550000004")
    with Deduplicator() as dedup:
        assert dedup.check_all(first) == first
        if split:
            got = dedup.check_all([again, other]) + dedup.check_all([claim, other])
            assert got[1] == other
        else:
            got = dedup.check_all([again, claim])
    assert isinstance(got[0], RejectedRow)
    assert "duplicate mobile number" in got[0].reason
    assert claim in got


def _resident(line: int, user_id: str, mobile: str) -> Resident:
    return Resident(line=line, user_id=user_id, mobile_number=mobile, card_format="37X")


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p / "missing.jsonl", "does not exist"),
        (lambda p: p, "is a directory"),
        (lambda p: (p / "bin.jsonl", (p / "bin.jsonl").write_bytes(b"\x00\x01PK"))[0], "binary"),
    ],
    ids=["missing", "directory", "binary"],
)
def test_an_unreadable_input_is_one_clear_error(make: object, message: str, tmp_path: Path) -> None:
    """Missing, a directory, binary: InputError naming the file and the problem.

    Bytes that are not UTF-8 reject their own row (``test_encoding_and_delimiter.py``)."""
    assert callable(make)
    path = make(tmp_path)
    with pytest.raises(InputError, match=message):
        check_input(path)


def test_each_row_carries_the_digest_of_its_own_line(tmp_path: Path) -> None:
    """A row's digest depends on its line's bytes only: not its position, path or line end."""
    one, two = json.dumps(_row()), json.dumps(_row(facilityCode=13, mobileNumber="+15551230000"))
    path = tmp_path / "in.jsonl"
    path.write_bytes(f"{one}\r\n\n{two}\n".encode())
    rows = list(read_input(path))
    assert [r.line for r in rows] == [1, 3]
    assert [r.row_hash for r in rows] == [row_digest(one), row_digest(two)]
    moved = tmp_path / "elsewhere" / "renamed.jsonl"
    moved.parent.mkdir()
    moved.write_text(f"{two}\n{one}\n")
    assert [r.row_hash for r in read_input(moved)] == [row_digest(two), row_digest(one)]
