"""Client-side validation: a request the service would refuse costs no request at all."""

from __future__ import annotations

from typing import Any

import pytest

from schlage_async import (
    APIError,
    ErrorCode,
    NotFoundError,
    Operation,
    ValidationError,
)
from schlage_async._seed_errors import lookup, message_for

USER_ID = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
ZERO = "00000000-0000-0000-0000-000000000000"
MOBILE = "+15551237890"
HEX = "ab" * 48
C = ErrorCode
OP = Operation


def _create(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "user_id": USER_ID,
        "mobile_number": MOBILE,
        "card_format": "26A",
        "facility_code": 10,
    }
    base.update(changes)
    return base


def _item(lock: Any = 1, serial: Any = "SN1", payload: Any = HEX) -> dict[str, Any]:
    return {"lockId": lock, "serialNumber": serial, "noTourPayload": payload}


# (method, kwargs, operation, [(code, message fields)...])
CASES = [
    pytest.param(
        "create_credential",
        _create(mobile_number="5551237890"),
        OP.CREATE_CREDENTIAL,
        [(C.MOBILE_NUMBER_INVALID, {})],
        id="create-mobile-not-e164",
    ),
    pytest.param(
        "create_credential",
        _create(user_id=ZERO),
        OP.CREATE_CREDENTIAL,
        [(C.USER_ID_EMPTY, {})],
        id="create-zero-user-id",
    ),
    pytest.param(
        "create_credential",
        _create(user_id="not-a-uuid"),
        OP.CREATE_CREDENTIAL,
        [(C.USER_ID_INVALID, {})],
        id="create-malformed-user-id",
    ),
    pytest.param(
        "create_credential",
        _create(card_format="99Z"),
        OP.CREATE_CREDENTIAL,
        [(C.CARD_FORMAT_INVALID, {})],
        id="create-unknown-card-format",
    ),
    pytest.param(
        "create_credential",
        _create(facility_code=256),
        OP.CREATE_CREDENTIAL,
        [(C.FACILITY_CODE_RANGE, {"minimum": 0, "maximum": 255})],
        id="create-facility-code-out-of-range",
    ),
    pytest.param(
        "create_credential",
        _create(facility_code=-1),
        OP.CREATE_CREDENTIAL,
        [(C.FACILITY_CODE_NOT_UINT, {})],
        id="create-facility-code-negative",
    ),
    pytest.param(
        "create_credential",
        _create(issue_code=3),
        OP.CREATE_CREDENTIAL,
        [(C.ISSUE_CODE_INVALID_FOR_FORMAT, {"card_format": "26A"})],
        id="create-issue-code-on-open-format",
    ),
    pytest.param(
        "create_credential",
        _create(card_format="48X", issue_code=64),
        OP.CREATE_CREDENTIAL,
        [(C.ISSUE_CODE_RANGE, {})],
        id="create-restricted-issue-code-range",
    ),
    pytest.param(
        "create_credential",
        _create(attributes={"Floor": "3"}),
        OP.CREATE_CREDENTIAL,
        [(C.ATTRIBUTE_UNSUPPORTED, {"key": "Floor"})],
        id="create-unsupported-attribute",
    ),
    pytest.param(
        "create_credential",
        _create(attributes={"siteId": None}),
        OP.CREATE_CREDENTIAL,
        [(C.ATTRIBUTE_NULL, {"key": "siteId"})],
        id="create-null-attribute",
    ),
    pytest.param(
        "create_credential",
        _create(attributes={"SiteName": "x" * 2001}),
        OP.CREATE_CREDENTIAL,
        [(C.ATTRIBUTE_TOO_LONG, {"key": "siteName"})],
        id="create-attribute-too-long",
    ),
    pytest.param(
        "create_credential",
        {"user_id": "", "mobile_number": "", "card_format": ""},
        OP.CREATE_CREDENTIAL,
        [(C.MOBILE_NUMBER_INVALID, {}), (C.USER_ID_INVALID, {}), (C.CARD_FORMAT_MISSING, {})],
        id="create-everything-missing-three-messages",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": ZERO, "payloads": [_item()]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.CREDENTIAL_ID_EMPTY, {})],
        id="save-zero-credential-id",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": []},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.PAYLOAD_DETAILS_INVALID, {})],
        id="save-no-payloads",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": [_item(payload="zz" * 48)]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.PAYLOAD_NOT_HEX, {})],
        id="save-payload-not-hex",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": [_item(payload=HEX[:-1])]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.PAYLOAD_LENGTH, {})],
        id="save-payload-95-chars",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": [_item(lock=65536)]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.LOCK_ID_RANGE, {})],
        id="save-lock-id-range",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": [_item(serial="")]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.SERIAL_NUMBER_MISSING, {})],
        id="save-serial-missing",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": [_item(), _item()]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.DUPLICATE_DEVICE, {})],
        id="save-duplicate-device",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID, "payloads": [_item(lock=1), _item(lock=2)]},
        OP.SAVE_NO_TOUR_PAYLOADS,
        [(C.MULTIPLE_LOCK_IDS, {})],
        id="save-two-lock-ids-one-device",
    ),
    pytest.param(
        "get_credential",
        {"credential_id": ZERO},
        OP.GET_CREDENTIAL,
        [(C.CREDENTIAL_ID_EMPTY, {})],
        id="get-zero-credential-id",
    ),
    pytest.param(
        "get_credential",
        {"credential_id": "abc"},
        OP.GET_CREDENTIAL,
        [(C.MALFORMED_ID, {})],
        id="get-malformed-id-is-404",
    ),
    pytest.param(
        "get_credential_by_user",
        {"user_id": ZERO},
        OP.GET_CREDENTIAL_BY_USER,
        [(C.USER_ID_EMPTY, {})],
        id="get-by-user-zero-id",
    ),
    pytest.param(
        "resend_invite",
        {"user_id": ZERO},
        OP.RESEND_INVITE,
        [(C.USER_ID_EMPTY, {})],
        id="resend-zero-user-id",
    ),
    pytest.param(
        "list_credentials",
        {"page_number": 0, "page_size": 0},
        OP.LIST_CREDENTIALS,
        [(C.PAGE_NUMBER_INVALID, {}), (C.PAGE_SIZE_INVALID, {})],
        id="list-page-zero",
    ),
    pytest.param(
        "list_credentials",
        {"start_date": "2024/01/02", "end_date": "2024-13-01"},
        OP.LIST_CREDENTIALS,
        [(C.START_DATE_INVALID, {}), (C.END_DATE_INVALID, {})],
        id="list-bad-dates",
    ),
    pytest.param(
        "delete_no_tour_payloads",
        {"credential_id": ZERO},
        OP.DELETE_NO_TOUR_PAYLOADS,
        [(C.CREDENTIAL_ID_EMPTY, {})],
        id="delete-payloads-zero-id",
    ),
    pytest.param(
        "delete_no_tour_payloads_by_device",
        {"serial_number": "   "},
        OP.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE,
        [(C.SERIAL_NUMBER_INVALID, {})],
        id="delete-by-device-blank-serial",
    ),
    pytest.param(
        "delete_credential",
        {"credential_id": ZERO},
        OP.DELETE_CREDENTIAL,
        [(C.CREDENTIAL_ID_EMPTY, {})],
        id="delete-zero-credential-id",
    ),
    pytest.param(
        "delete_credential_by_user",
        {"user_id": ZERO},
        OP.DELETE_CREDENTIAL_BY_USER,
        [(C.USER_ID_EMPTY, {})],
        id="delete-by-user-zero-id",
    ),
]


@pytest.mark.parametrize(("name", "kwargs", "operation", "problems"), CASES)
async def test_invalid_input_refused_before_sending(
    fake: Any,
    client: Any,
    name: str,
    kwargs: dict[str, Any],
    operation: Operation,
    problems: list[tuple[ErrorCode, dict[str, Any]]],
) -> None:
    """A row the service would refuse raises its error, with its messages, unsent."""
    with pytest.raises(APIError) as caught:
        await getattr(client, name)(**kwargs)
    error = caught.value
    first = problems[0][0]
    assert error.sent is False
    assert error.operation is operation
    assert error.code is first
    assert error.status == lookup(operation, first).status
    seed = tuple(message_for(operation, c, **f) for c, f in problems)
    assert error.messages[: len(seed)] == seed  # the service's words first
    assert len(error.messages) <= len(seed) + 1  # then, at most, the client's note
    assert "refused before sending" in str(error)
    # Refused here, never the service's "not found": a malformed path id (which the
    # service answers with 404 "No content") is a ValidationError saying what is wrong.
    assert isinstance(error, ValidationError)
    assert not isinstance(error, NotFoundError)
    assert fake.requests == []  # not even a login


async def test_validate_false_lets_the_service_decide(fake: Any, make_client: Any) -> None:
    """With validate=False the bad row is sent, and the service's answer is raised."""
    client = make_client(validate=False)
    message = message_for(OP.CREATE_CREDENTIAL, C.MOBILE_NUMBER_INVALID)
    fake.on("POST", "/credentials/mobile/basic", fake.Reply(400, {"message": message}))
    with pytest.raises(ValidationError) as caught:
        await client.create_credential(**_create(mobile_number="5551237890"))
    assert caught.value.sent is True
    assert caught.value.code is C.MOBILE_NUMBER_INVALID
    (sent,) = fake.calls()
    assert sent.json["mobileNumber"] == "5551237890"


async def test_empty_path_id_refused_even_unvalidated(fake: Any, make_client: Any) -> None:
    """An empty id would turn a get into a list; it is refused even with validate=False."""
    client = make_client(validate=False)
    with pytest.raises(ValidationError, match="the credential id is empty") as caught:
        await client.get_credential(credential_id="")
    assert caught.value.sent is False
    assert fake.requests == []


async def test_login_validated_before_spending_budget(fake: Any, make_client: Any) -> None:
    """A user name that is not an email is refused without a login request."""
    client = make_client(username="not-an-email")
    with pytest.raises(ValidationError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.operation is OP.LOGIN
    assert caught.value.code is C.USERNAME_FORMAT
    assert fake.requests == []
