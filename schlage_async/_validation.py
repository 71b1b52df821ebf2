"""The service's input rules, as seed 000 states them, written once.

The client checks a request with these before sending it (a bad row costs no request),
and the simulator answers with them, so both give the same codes and messages. Each
check takes the JSON value as it would arrive on the wire (``object``) and returns the
problems found, in the order the service lists them; an empty list means valid.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, NamedTuple

from ._models import CARD_FORMATS, FACILITY_CODE_RANGES, RESTRICTED_CARD_FORMAT
from ._routes import Operation
from ._seed_errors import ErrorCode, message_for

__all__ = [
    "ATTRIBUTE_KEYS",
    "MAX_ATTRIBUTE_LENGTH",
    "ZERO_UUID",
    "Problem",
    "RestrictedFormat",
    "as_uint",
    "check_create_credential",
    "check_list_query",
    "check_login",
    "check_path_id",
    "check_save_no_tour_payloads",
    "check_serial_number_path",
    "decode_serial_number",
    "is_uuid",
]

ZERO_UUID: Final = "00000000-0000-0000-0000-000000000000"
MAX_ATTRIBUTE_LENGTH: Final = 2000
ATTRIBUTE_KEYS: Final[dict[str, str]] = {"siteid": "siteId", "sitename": "siteName"}
"""Supported attribute keys, lower-cased, to the name the service answers with."""

_UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
_E164_US = re.compile(r"^\+1[0-9]{10,14}$")  # the guide: "+1 <10 to 14 digits>"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HEX = re.compile(r"^[0-9a-fA-F]+$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_PAYLOAD_LENGTH: Final = 96
_LOCK_ID_RANGE: Final = (1, 65535)
_ISSUE_CODE_RANGE: Final = (1, 63)


class Problem(NamedTuple):
    """One reason the service would refuse a request: its code and its message."""

    code: ErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class RestrictedFormat:
    """The integration's own facility and issue code for the restricted format 48X."""

    facility_code: int
    issue_code: int


def _problem(operation: Operation, code: ErrorCode, **fields: object) -> Problem:
    return Problem(code, message_for(operation, code, **fields))


def _lower_keys(body: Mapping[str, object]) -> dict[str, object]:
    # The service binds JSON property names case-insensitively (the QA suite sends
    # "Attributes"); the first spelling wins, as in ASP.NET's binder.
    out: dict[str, object] = {}
    for key, value in body.items():
        out.setdefault(key.lower(), value)
    return out


_DIGITS = re.compile(r"[0-9]+", re.ASCII)
_TOO_BIG: Final = 1 << 64  # what a digit string too long for any range reads as


def as_uint(value: object) -> int | None:
    """Return ``value`` as a whole number >= 0, or None when it is not one.

    A JSON number or a string of digits: the live service reads ``"facilityCode": "0"``
    as 0 ([V], ASP.NET's number handling), so the simulator does too. Our client still
    sends numbers (it converts such strings before sending).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        return int(value) if len(value) <= 20 else _TOO_BIG
    return None


def is_uuid(value: object) -> bool:
    """Return whether ``value`` is a GUID in its canonical 8-4-4-4-12 form.

    Any version: the guide says UUIDv4, but refusing another version the service would
    accept loses a resident, while sending it costs at most one 400 ([I], the reading
    that loses nothing).
    """
    return isinstance(value, str) and _UUID.match(value) is not None


def check_login(body: object) -> list[Problem]:
    """Check an Authentication Token request body."""
    op = Operation.LOGIN
    if not isinstance(body, Mapping):
        return [_problem(op, ErrorCode.USERNAME_MISSING), _problem(op, ErrorCode.PASSWORD_MISSING)]
    fields = _lower_keys(body)
    problems: list[Problem] = []
    username = fields.get("username")
    if not isinstance(username, str) or not username.strip():
        problems.append(_problem(op, ErrorCode.USERNAME_MISSING))
    elif _EMAIL.match(username) is None:
        problems.append(_problem(op, ErrorCode.USERNAME_FORMAT))
    password = fields.get("password")
    if not isinstance(password, str) or not password:
        problems.append(_problem(op, ErrorCode.PASSWORD_MISSING))
    return problems


def check_create_credential(
    body: object, *, restricted: RestrictedFormat | None = None
) -> list[Problem]:
    """Check a Create Credential body.

    ``restricted`` is the integration's 48X configuration; without it (the client's case,
    which does not know it) the two checks that need it are left to the service.
    """
    op = Operation.CREATE_CREDENTIAL
    if not isinstance(body, Mapping):
        return [_problem(op, ErrorCode.BODY_NOT_OBJECT)]
    fields = _lower_keys(body)
    problems: list[Problem] = []

    mobile = fields.get("mobilenumber")
    if not isinstance(mobile, str) or _E164_US.match(mobile) is None:
        problems.append(_problem(op, ErrorCode.MOBILE_NUMBER_INVALID))

    user_id = fields.get("userid")
    if not is_uuid(user_id):
        problems.append(_problem(op, ErrorCode.USER_ID_INVALID))
    elif user_id == ZERO_UUID:
        problems.append(_problem(op, ErrorCode.USER_ID_EMPTY))

    card_format = fields.get("cardformat")
    if not isinstance(card_format, str) or not card_format.strip():
        problems.append(_problem(op, ErrorCode.CARD_FORMAT_MISSING))
    elif card_format not in CARD_FORMATS:
        problems.append(_problem(op, ErrorCode.CARD_FORMAT_INVALID))
    else:
        problems.extend(_check_codes(op, card_format, fields, restricted))

    problems.extend(_check_attributes(op, fields.get("attributes")))
    return problems


def _check_codes(
    op: Operation,
    card_format: str,
    fields: Mapping[str, object],
    restricted: RestrictedFormat | None,
) -> list[Problem]:
    problems: list[Problem] = []
    facility = fields.get("facilitycode")
    facility_code = as_uint(facility)
    bounds = FACILITY_CODE_RANGES[card_format]
    if bounds is None:  # 37H: facility codes do not apply; only a wrong type is refused
        if facility is not None and facility_code is None:
            problems.append(_problem(op, ErrorCode.FACILITY_CODE_NOT_UINT))
    elif facility_code is None:
        problems.append(_problem(op, ErrorCode.FACILITY_CODE_NOT_UINT))
    elif not bounds[0] <= facility_code <= bounds[1]:
        problems.append(
            _problem(op, ErrorCode.FACILITY_CODE_RANGE, minimum=bounds[0], maximum=bounds[1])
        )
    elif (
        card_format == RESTRICTED_CARD_FORMAT
        and restricted is not None
        and facility_code != restricted.facility_code
    ):
        problems.append(_problem(op, ErrorCode.FACILITY_CODE_NOT_MAPPED))

    issue = fields.get("issuecode")
    issue_code = as_uint(issue)
    if card_format == RESTRICTED_CARD_FORMAT:
        if issue is None:
            problems.append(_problem(op, ErrorCode.ISSUE_CODE_RANGE))
        elif issue_code is None:
            problems.append(_problem(op, ErrorCode.ISSUE_CODE_NOT_UINT))
        elif not _ISSUE_CODE_RANGE[0] <= issue_code <= _ISSUE_CODE_RANGE[1]:
            problems.append(_problem(op, ErrorCode.ISSUE_CODE_RANGE))
        elif restricted is not None and issue_code != restricted.issue_code:
            problems.append(_problem(op, ErrorCode.RESTRICTED_FORMAT_FORBIDDEN))
    elif issue is not None:  # open formats: absent means 0 ([I])
        if issue_code is None:
            problems.append(_problem(op, ErrorCode.ISSUE_CODE_NOT_UINT))
        elif issue_code != 0:
            problems.append(
                _problem(op, ErrorCode.ISSUE_CODE_INVALID_FOR_FORMAT, card_format=card_format)
            )
    return problems


def _check_attributes(op: Operation, attributes: object) -> list[Problem]:
    if attributes is None:
        return []
    if not isinstance(attributes, Mapping):
        return [_problem(op, ErrorCode.ATTRIBUTES_INVALID)]
    problems: list[Problem] = []
    for key, value in attributes.items():
        if key.lower() not in ATTRIBUTE_KEYS:
            problems.append(_problem(op, ErrorCode.ATTRIBUTE_UNSUPPORTED, key=key))
        elif value is None:
            problems.append(_problem(op, ErrorCode.ATTRIBUTE_NULL, key=key))
        elif not isinstance(value, str):
            problems.append(_problem(op, ErrorCode.ATTRIBUTES_INVALID))
        elif len(value) > MAX_ATTRIBUTE_LENGTH:
            problems.append(_problem(op, ErrorCode.ATTRIBUTE_TOO_LONG, key=key))
    return problems


def _lock_id(value: object) -> int | str | None:
    """Return the lock id as an int, None when missing, or "" when not a number."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        try:
            return int(text)
        except ValueError:
            return ""
    return None if value is None else ""


def check_save_no_tour_payloads(body: object) -> list[Problem]:
    """Check a Save No-Tour Payloads body (``{"noTourPayloadDetails": [...]}``)."""
    op = Operation.SAVE_NO_TOUR_PAYLOADS
    if not isinstance(body, Mapping):
        return [_problem(op, ErrorCode.BODY_NOT_OBJECT)]
    details = _lower_keys(body).get("notourpayloaddetails")
    if (
        not isinstance(details, list)
        or not details
        or not all(isinstance(item, Mapping) for item in details)
    ):
        return [_problem(op, ErrorCode.PAYLOAD_DETAILS_INVALID)]

    problems: list[Problem] = []
    devices: dict[str, int] = {}
    for item in details:
        fields = _lower_keys(item)
        lock_id = _lock_id(fields.get("lockid"))
        if lock_id is None or lock_id == "":
            problems.append(_problem(op, ErrorCode.LOCK_ID_MISSING))
            lock_id = None
        elif not _LOCK_ID_RANGE[0] <= int(lock_id) <= _LOCK_ID_RANGE[1]:
            problems.append(_problem(op, ErrorCode.LOCK_ID_RANGE))
        serial = fields.get("serialnumber")
        if not isinstance(serial, str) or not serial.strip():
            problems.append(_problem(op, ErrorCode.SERIAL_NUMBER_MISSING))
            serial = None
        payload = fields.get("notourpayload")
        if not isinstance(payload, str) or not payload.strip():
            problems.append(_problem(op, ErrorCode.PAYLOAD_MISSING))
        elif _HEX.match(payload) is None:
            problems.append(_problem(op, ErrorCode.PAYLOAD_NOT_HEX))
        elif len(payload) != _PAYLOAD_LENGTH:
            problems.append(_problem(op, ErrorCode.PAYLOAD_LENGTH))
        if serial is not None and isinstance(lock_id, int):
            seen = devices.get(serial)
            if seen is None:
                devices[serial] = lock_id
            elif seen != lock_id:
                problems.append(_problem(op, ErrorCode.MULTIPLE_LOCK_IDS))
            else:
                problems.append(_problem(op, ErrorCode.DUPLICATE_DEVICE))
    return list(dict.fromkeys(problems))  # one message per case, in first-seen order


def check_path_id(operation: Operation, value: str, *, kind: str) -> Problem | None:
    """Check an id taken from a path: the zero UUID is a 400, a malformed one a 404.

    ``kind`` is ``"user"`` or ``"credential"`` and picks the empty-id message.
    """
    if not is_uuid(value):
        return _problem(operation, ErrorCode.MALFORMED_ID)
    if value == ZERO_UUID:
        code = ErrorCode.USER_ID_EMPTY if kind == "user" else ErrorCode.CREDENTIAL_ID_EMPTY
        return _problem(operation, code)
    return None


def decode_serial_number(value: str) -> str | None:
    """Return the serial number a by-device path carries (base64), or None if invalid."""
    if not value:
        return None
    try:
        raw = base64.b64decode(value.encode("ascii"), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, UnicodeError, ValueError):
        return None
    return text if text.strip() else None


def check_serial_number_path(value: str) -> Problem | None:
    """Check the base64 serial number of Delete No-Tour Payloads by Device."""
    if decode_serial_number(value) is None:
        return _problem(
            Operation.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, ErrorCode.SERIAL_NUMBER_INVALID
        )
    return None


def _parse_positive(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return 0


def _valid_date(value: str) -> bool:
    if _DATE.match(value) is None:
        return False
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return False
    return True


def check_list_query(
    *,
    page_number: str | None,
    page_size: str | None,
    start_date: str | None,
    end_date: str | None,
    max_page_size: int | None,
) -> list[Problem]:
    """Check Get All Credentials' query values as they arrive (strings, or None if absent)."""
    op = Operation.LIST_CREDENTIALS
    problems: list[Problem] = []
    number = _parse_positive(page_number)
    if number is not None and number < 1:
        problems.append(_problem(op, ErrorCode.PAGE_NUMBER_INVALID))
    size = _parse_positive(page_size)
    if size is not None and size < 1:
        problems.append(_problem(op, ErrorCode.PAGE_SIZE_INVALID))
    elif size is not None and max_page_size is not None and size > max_page_size:
        problems.append(_problem(op, ErrorCode.PAGE_SIZE_TOO_LARGE, maximum=max_page_size))
    if start_date is not None and not _valid_date(start_date):
        problems.append(_problem(op, ErrorCode.START_DATE_INVALID))
    if end_date is not None and not _valid_date(end_date):
        problems.append(_problem(op, ErrorCode.END_DATE_INVALID))
    return problems
