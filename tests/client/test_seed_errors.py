"""Every error row of seed 000, answered by the service, becomes its own exception."""

from __future__ import annotations

from typing import Any

import pytest

from schlage_async import (
    AccountBlockedError,
    AccountInactiveError,
    AccountNotFoundError,
    AccountNotVerifiedError,
    APIError,
    CardNumbersExhaustedError,
    CredentialDownloadedError,
    CredentialNotFoundError,
    CredentialNotOwnedError,
    ErrorCode,
    GoneError,
    InvalidTokenError,
    MobileNumberConflictError,
    NotFoundError,
    NotOnboardedError,
    Operation,
    RateLimitedError,
    RestrictedFormatError,
    RetryPolicy,
    RoleForbiddenError,
    ServerError,
    ServiceUnavailableError,
    SubscriptionKeyError,
    UserIdConflictError,
    UserNotFoundError,
    ValidationError,
    WrongCredentialsError,
)
from schlage_async._outcomes import match_code
from schlage_async._routes import ROUTES
from schlage_async._seed_errors import SEED_ERROR_ROWS, SeedErrorRow

USER_ID = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
FILL = {"card_format": "26A", "key": "SiteX", "minimum": 0, "maximum": 255, "seconds": 30}
HEX = "ab" * 48

# The class a user catches for each case of the guide (the library's promise).
EXPECTED_BY_CODE: dict[ErrorCode, type[APIError]] = {
    ErrorCode.TOKEN_MALFORMED: InvalidTokenError,
    ErrorCode.TOKEN_INVALID: InvalidTokenError,
    ErrorCode.SUBSCRIPTION_KEY_INVALID: SubscriptionKeyError,
    ErrorCode.ROLE_FORBIDDEN: RoleForbiddenError,
    ErrorCode.NOT_ONBOARDED: NotOnboardedError,
    ErrorCode.WRONG_CREDENTIALS: WrongCredentialsError,
    ErrorCode.ACCOUNT_NOT_FOUND: AccountNotFoundError,
    ErrorCode.ACCOUNT_INACTIVE: AccountInactiveError,
    ErrorCode.ACCOUNT_NOT_VERIFIED: AccountNotVerifiedError,
    ErrorCode.RESTRICTED_FORMAT_FORBIDDEN: RestrictedFormatError,
    ErrorCode.CREDENTIAL_NOT_OWNED: CredentialNotOwnedError,
    ErrorCode.CREDENTIAL_DOWNLOADED: CredentialDownloadedError,
    ErrorCode.CREDENTIAL_NOT_FOUND: CredentialNotFoundError,
    ErrorCode.USER_NOT_FOUND: UserNotFoundError,
    ErrorCode.USER_ID_CONFLICT: UserIdConflictError,
    ErrorCode.MOBILE_NUMBER_CONFLICT: MobileNumberConflictError,
    ErrorCode.CARD_NUMBERS_EXHAUSTED: CardNumbersExhaustedError,
    ErrorCode.ACCOUNT_BLOCKED: AccountBlockedError,
    ErrorCode.SERVICE_UNAVAILABLE: ServiceUnavailableError,
    ErrorCode.RATE_LIMITED: RateLimitedError,
    ErrorCode.LOGIN_RATE_LIMITED: RateLimitedError,
    ErrorCode.LOGIN_RATE_LIMIT_WARNING: RateLimitedError,
}
EXPECTED_BY_STATUS: dict[int, type[APIError]] = {
    400: ValidationError,
    404: NotFoundError,
    410: GoneError,
    500: ServerError,
}

# A valid call of each operation; a login row is met by the first call of any operation.
CALLS: dict[Operation, tuple[str, dict[str, Any], dict[str, str]]] = {
    Operation.CREATE_CREDENTIAL: (
        "create_credential",
        {
            "user_id": USER_ID,
            "mobile_number": "+15551237890",
            "card_format": "26A",
            "facility_code": 1,
        },
        {},
    ),
    Operation.RESEND_INVITE: ("resend_invite", {"user_id": USER_ID}, {"userId": USER_ID}),
    Operation.SAVE_NO_TOUR_PAYLOADS: (
        "save_no_tour_payloads",
        {
            "credential_id": CREDENTIAL_ID,
            "payloads": [{"lockId": 1, "serialNumber": "SN1", "noTourPayload": HEX}],
        },
        {"credentialId": CREDENTIAL_ID},
    ),
    Operation.GET_CREDENTIAL: (
        "get_credential",
        {"credential_id": CREDENTIAL_ID},
        {"credentialId": CREDENTIAL_ID},
    ),
    Operation.GET_CREDENTIAL_BY_USER: (
        "get_credential_by_user",
        {"user_id": USER_ID},
        {"userId": USER_ID},
    ),
    Operation.LIST_CREDENTIALS: ("list_credentials", {"page_number": 1}, {}),
    Operation.DELETE_NO_TOUR_PAYLOADS: (
        "delete_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID},
        {"credentialId": CREDENTIAL_ID},
    ),
    Operation.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE: (
        "delete_no_tour_payloads_by_device",
        {"serial_number": "SN1"},
        {"serialNumber": "U04x"},
    ),
    Operation.DELETE_CREDENTIAL: (
        "delete_credential",
        {"credential_id": CREDENTIAL_ID},
        {"credentialId": CREDENTIAL_ID},
    ),
    Operation.DELETE_CREDENTIAL_BY_USER: (
        "delete_credential_by_user",
        {"user_id": USER_ID},
        {"userId": USER_ID},
    ),
}


def _message(row: SeedErrorRow) -> str:
    return row.message.format(**FILL)


def _ambiguous(row: SeedErrorRow) -> bool:
    """Whether another row of the same table and status has the same words."""
    return match_code(row.operation, row.status, _message(row)) is not row.code


# A 404 is about the id in the path, whatever its words say (the status decides).
BY_USER = {
    Operation.RESEND_INVITE,
    Operation.GET_CREDENTIAL_BY_USER,
    Operation.DELETE_CREDENTIAL_BY_USER,
}
BY_CREDENTIAL = {
    Operation.SAVE_NO_TOUR_PAYLOADS,
    Operation.GET_CREDENTIAL,
    Operation.DELETE_NO_TOUR_PAYLOADS,
    Operation.DELETE_CREDENTIAL,
}


def _expected(row: SeedErrorRow) -> type[APIError]:
    if row.status == 404 and row.operation in BY_USER:
        return UserNotFoundError
    if row.status == 404 and row.operation in BY_CREDENTIAL:
        return CredentialNotFoundError
    return EXPECTED_BY_CODE.get(row.code) or EXPECTED_BY_STATUS[row.status]


def _row_id(row: SeedErrorRow) -> str:
    mark = "I" if row.inferred else str(row.number)
    return f"{row.operation.value}-{mark}-{row.status}-{row.code.value}"


@pytest.mark.parametrize("row", SEED_ERROR_ROWS, ids=[_row_id(r) for r in SEED_ERROR_ROWS])
async def test_seed_error_row_raises_its_class(fake: Any, client: Any, row: SeedErrorRow) -> None:
    """The service's answer for a row raises that row's class with status, messages, code."""
    message = _message(row)
    reply = fake.Reply(row.status, {"message": message, "messages": [message]})
    if row.operation is Operation.LOGIN:
        name, kwargs, _ = CALLS[Operation.GET_CREDENTIAL]
        fake.on("POST", "/authentication/token", reply)
    else:
        name, kwargs, params = CALLS[row.operation]
        route = ROUTES[row.operation]
        fake.on(route.method, route.format(**params), reply)

    with pytest.raises(APIError) as caught:
        await getattr(client, name)(**kwargs, retry=RetryPolicy.none())

    error = caught.value
    assert error.operation is row.operation
    assert error.status == row.status
    assert error.messages == (message,)
    assert error.sent is True
    assert error.request_id == fake.request_ids[-1]
    if _ambiguous(row):
        # Same words as a not-found row: the client cannot tell them apart, and need not.
        assert type(error) is _expected(row)
    else:
        assert type(error) is _expected(row)
        assert error.code is row.code
    if row.operation is Operation.LOGIN:
        assert fake.calls() == []  # the operation itself was never sent


def test_only_the_inferred_malformed_id_rows_share_words_with_another_row() -> None:
    """Exactly four rows are ambiguous: the inferred malformed-id rows of resend/deletes."""
    ambiguous = [r for r in SEED_ERROR_ROWS if _ambiguous(r)]
    assert [(r.operation, r.code, r.inferred) for r in ambiguous] == [
        (Operation.RESEND_INVITE, ErrorCode.MALFORMED_ID, True),
        (Operation.DELETE_NO_TOUR_PAYLOADS, ErrorCode.MALFORMED_ID, True),
        (Operation.DELETE_CREDENTIAL, ErrorCode.MALFORMED_ID, True),
        (Operation.DELETE_CREDENTIAL_BY_USER, ErrorCode.MALFORMED_ID, True),
    ]


@pytest.mark.parametrize(
    ("body", "messages"),
    [
        pytest.param(
            {"message": "a b", "messages": ["a", "b"]}, ("a", "b"), id="messages-list-wins"
        ),
        pytest.param({"message": "only one"}, ("only one",), id="message-only"),
        pytest.param({}, (), id="empty-object"),
        pytest.param(
            {"code": "X", "message": "engage style"}, ("engage style",), id="code-message"
        ),
    ],
)
async def test_error_messages_read_from_messages_or_message(
    fake: Any, client: Any, body: dict[str, Any], messages: tuple[str, ...]
) -> None:
    """Messages come from the body's "messages" list, else its "message"."""
    fake.on("GET", f"/credentials/mobile/basic/{CREDENTIAL_ID}", fake.Reply(409, body))
    with pytest.raises(APIError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.messages == messages
    assert caught.value.status == 409


@pytest.mark.parametrize(
    "header", ["x-request-id", "request-id", "x-ms-request-id", "apim-request-id"]
)
async def test_request_id_read_from_any_known_header(fake: Any, client: Any, header: str) -> None:
    """The request id is taken from whichever of the gateway's id headers is present."""

    reply = fake.Reply(404, {"message": "No content"}, headers={header: "rid-42"})
    fake.on("GET", f"/credentials/mobile/basic/{CREDENTIAL_ID}", reply)
    with pytest.raises(NotFoundError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.request_id == "rid-42"
    assert "rid-42" in str(caught.value)
