"""The status and the operation decide an error's class; words only refine it; any body reads.

Every (operation, status) of surface A is tried under every body form a service or its
gateway may send: with the guide's words, the live service's words, unknown words and no
words. The expected classes are written here from the contract, not read from the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from schlage_async import (
    AccountNotFoundError,
    APIError,
    AuthenticationError,
    CardNumbersExhaustedError,
    ConflictError,
    CredentialNotFoundError,
    ErrorCode,
    GoneError,
    InvalidTokenError,
    LoginError,
    NotFoundError,
    Operation,
    PermissionDeniedError,
    RateLimitedError,
    RetryPolicy,
    RoleForbiddenError,
    ServerError,
    ServiceUnavailableError,
    UserIdConflictError,
    UserNotFoundError,
    ValidationError,
)
from schlage_async._models import error_messages
from schlage_async._outcomes import ERROR_TABLE, EngineAction, classify_error, match_code
from schlage_async._seed_errors import LIVE_MESSAGES, SEED_ERROR_ROWS

OP = Operation
SURFACE_A = [op for op in Operation if not op.value.startswith("engage_")]
STATUSES = [400, 401, 403, 404, 409, 410, 417, 429, 500, 502, 503, 504]
BY_USER = {OP.RESEND_INVITE, OP.GET_CREDENTIAL_BY_USER, OP.DELETE_CREDENTIAL_BY_USER}
BY_CREDENTIAL = {
    OP.SAVE_NO_TOUR_PAYLOADS,
    OP.GET_CREDENTIAL,
    OP.DELETE_NO_TOUR_PAYLOADS,
    OP.DELETE_CREDENTIAL,
}
FILL = {"card_format": "26A", "key": "SiteX", "minimum": 0, "maximum": 255, "seconds": 30}
UNKNOWN = "Something we have never seen said."


def status_class(op: Operation, status: int) -> type[APIError]:
    """The class the contract gives (operation, status) whatever the body says."""
    if op is OP.LOGIN:
        login = {403: LoginError, 404: AccountNotFoundError}
        if status in login:
            return login[status]
    if status == 404 and op in BY_USER:
        return UserNotFoundError
    if status == 404 and op in BY_CREDENTIAL:
        return CredentialNotFoundError
    return {
        400: ValidationError,
        401: AuthenticationError,
        403: PermissionDeniedError,
        404: NotFoundError,
        409: ConflictError,
        410: GoneError,
        417: CardNumbersExhaustedError,
        429: RateLimitedError,
        500: ServerError,
        502: ServiceUnavailableError,
        503: ServiceUnavailableError,
        504: ServiceUnavailableError,
    }[status]


def _html(m: str) -> bytes:
    return f"<html><head><title>{m}</title></head><body><h1>{m}</h1></body></html>".encode()


BodyForm = Callable[[str, int], bytes]
FORMS: dict[str, BodyForm] = {
    "message+messages": lambda m, s: json.dumps({"message": m, "messages": [m]}).encode(),
    "message": lambda m, s: json.dumps({"message": m}).encode(),
    "messages": lambda m, s: json.dumps({"messages": [m]}).encode(),
    "Message-cased": lambda m, s: json.dumps({"Message": m}).encode(),
    "problem-detail": lambda m, s: json.dumps(
        {"type": "about:blank", "title": "Error", "status": s, "detail": m}
    ).encode(),
    "problem-errors": lambda m, s: json.dumps(
        {"title": "One or more validation errors occurred.", "status": s, "errors": {"x": [m]}}
    ).encode(),
    "errors-dict": lambda m, s: json.dumps({"errors": {"field": m}}).encode(),
    "json-string": lambda m, s: json.dumps(m).encode(),
    "text": lambda m, s: m.encode(),
    "html": lambda m, s: _html(m),
}
EMPTY_FORMS = {
    "empty": b"",
    "whitespace": b"  \n",
    "empty-object": b"{}",
    "null": b"null",
    "number": b"42",
    "cut-json": b'{"message": ',
    "bad-utf8": b"\xff\xfe\xfa",
}


def _wordings(op: Operation, status: int) -> list[tuple[ErrorCode, str]]:
    out: list[tuple[ErrorCode, str]] = []
    for row in SEED_ERROR_ROWS:
        if row.operation is op and row.status == status:
            out.append((row.code, row.message.format(**FILL)))
            live = LIVE_MESSAGES.get((op, row.code))
            if live is not None:
                out.append((row.code, live))
    return out


def _classify(op: Operation, status: int, body: bytes) -> APIError:
    return classify_error(op, status, error_messages(body))


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("op", SURFACE_A, ids=lambda o: o.value)
def test_every_body_form_gets_the_status_class(op: Operation, status: int) -> None:
    """Unknown words, no words or an unreadable body: exactly the status's class, never more."""
    expected = status_class(op, status)
    for name, form in FORMS.items():
        error = _classify(op, status, form(UNKNOWN, status))
        assert type(error) is expected, (name, error)
        assert UNKNOWN in error.message, name
        assert error.code is None
    for name, body in EMPTY_FORMS.items():
        error = _classify(op, status, body)
        assert type(error) is expected, (name, error)
        assert error.status == status


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("op", SURFACE_A, ids=lambda o: o.value)
def test_the_words_of_a_row_refine_within_the_status_in_every_form(
    op: Operation, status: int
) -> None:
    """A row's words (guide or live) in any body form pick its code, and a subclass at most."""
    base = status_class(op, status)
    for code, message in _wordings(op, status):
        for name, form in FORMS.items():
            error = _classify(op, status, form(message, status))
            allowed = isinstance(error, base) or (
                status == 400 and isinstance(error, InvalidTokenError | NotFoundError)
            )
            assert allowed, (code, name, error)
            assert error.code is not None, (code, name)
            assert message in error.message or name == "html", (code, name)


@pytest.mark.parametrize(
    ("op", "status", "text", "expected", "code"),
    [
        pytest.param(
            OP.GET_CREDENTIAL_BY_USER,
            404,
            "The requested user is not associated with credential.",
            UserNotFoundError,
            ErrorCode.USER_NOT_FOUND,
            id="live-get-by-user",
        ),
        pytest.param(
            OP.RESEND_INVITE,
            404,
            "The requested user is not associated with credential.",
            UserNotFoundError,
            ErrorCode.USER_NOT_FOUND,
            id="live-resend",
        ),
        pytest.param(
            OP.GET_CREDENTIAL,
            404,
            "the requested credential WAS NOT found!!",
            CredentialNotFoundError,
            ErrorCode.CREDENTIAL_NOT_FOUND,
            id="case-and-punctuation",
        ),
        pytest.param(
            OP.CREATE_CREDENTIAL,
            409,
            "User is already associated with Mobile Credential; please check User Id and try again",
            UserIdConflictError,
            ErrorCode.USER_ID_CONFLICT,
            id="409-without-articles",
        ),
        pytest.param(
            OP.GET_CREDENTIAL,
            403,
            "You do not have permission to access the requested resource. Please contact your "
            "site administrator for more information (203).",
            RoleForbiddenError,
            ErrorCode.ROLE_FORBIDDEN,
            id="203-final-period",
        ),
        pytest.param(
            OP.GET_CREDENTIAL,
            400,
            "Invalid  authentication token.",
            InvalidTokenError,
            ErrorCode.TOKEN_MALFORMED,
            id="400-token",
        ),
    ],
)
def test_live_and_loose_wordings_match_the_guides_code(
    op: Operation, status: int, text: str, expected: type[APIError], code: ErrorCode
) -> None:
    """Case, punctuation, articles and whitespace do not count; the live words map too."""
    assert match_code(op, status, text) is code
    error = classify_error(op, status, [text])
    assert type(error) is expected


def test_words_never_move_an_answer_to_another_status_class() -> None:
    """A 404 saying "conflict" stays a 404; a 409 saying "not found" stays a 409."""
    conflict = "The User is already associated with a Mobile Credential."
    assert type(classify_error(OP.GET_CREDENTIAL, 404, [conflict])) is CredentialNotFoundError
    not_found = "The requested credential was not found"
    assert type(classify_error(OP.CREATE_CREDENTIAL, 409, [not_found])) is ConflictError


def test_the_engine_reconciles_every_409_on_create_and_every_create_5xx() -> None:
    """The table says "look the user up first" for any 409 or 5xx answer to a create."""
    for status in (409, 500, 502, 503, 504):
        assert ERROR_TABLE[(OP.CREATE_CREDENTIAL, status)].action is EngineAction.RECONCILE
    assert ERROR_TABLE[(OP.GET_CREDENTIAL_BY_USER, 404)].action is EngineAction.ABSENT


def test_every_surface_a_operation_has_a_row_for_every_status() -> None:
    """The table is complete for the statuses the contract and the gateway use."""
    for op in SURFACE_A:
        for status in STATUSES:
            outcome = ERROR_TABLE[(op, status)]
            assert outcome.error is status_class(op, status), (op, status)


@pytest.mark.parametrize("form", [*FORMS, *EMPTY_FORMS])
async def test_over_http_any_404_body_is_a_user_not_found(
    fake: Any, client: Any, creds: Any, form: str
) -> None:
    """Over the wire: a by-user 404 in any body form is UserNotFoundError, secrets redacted."""
    user_id = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
    text = f"no such user; key {creds.subscription_key} mobile {creds.mobile}"
    body = FORMS[form](text, 404) if form in FORMS else EMPTY_FORMS[form]
    content_type = "text/html" if form == "html" else "application/json"
    fake.on(
        "GET",
        f"/credentials/mobile/basic/users/{user_id}",
        fake.Reply(404, body=body, content_type=content_type),
    )
    with pytest.raises(UserNotFoundError) as caught:
        await client.get_credential_by_user(user_id=user_id, retry=RetryPolicy.none())
    shown = str(caught.value)
    assert creds.subscription_key not in shown
    assert creds.mobile not in shown
    if form in FORMS:
        assert "no such user" in shown
