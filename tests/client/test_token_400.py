"""An expired or invalid token answered with 400 is renewed once, like a 401."""

from __future__ import annotations

from typing import Any

import pytest

from schlage_async import InvalidTokenError, ValidationError

CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}"
OK = {"credentialId": CREDENTIAL_ID, "userId": "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"}
OK = {**OK, "mobileNumber": "+15551237890"}


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"message": "Invalid authentication token"}, id="guide"),
        pytest.param({"title": "Bad Request", "detail": "invalid authentication TOKEN."}, id="pd"),
        pytest.param("Invalid authentication token.", id="text"),
        pytest.param(
            {
                "message": "Invalid authentication token. The authentication token provided "
                "in the header is either expired or incorrect."
            },
            id="guide-sentence",
        ),
        pytest.param(
            {
                "message": "Invalid authentication token. Please ensure that the "
                "authentication token provided is a valid JWT format"
            },
            id="guide-jwt",
        ),
        pytest.param(
            {"messages": ["invalid AUTHENTICATION token: expired at 10:02"]}, id="trailing"
        ),
    ],
)
async def test_a_400_naming_the_token_renews_once_then_succeeds(
    fake: Any, client: Any, body: Any
) -> None:
    """The 400 costs one more login and one resend; the call then succeeds."""
    first = (
        fake.Reply(400, body=body, content_type="text/plain")
        if isinstance(body, str)
        else fake.Reply(400, body)
    )
    fake.on("GET", PATH, first, fake.Reply(200, OK))
    got = await client.get_credential(credential_id=CREDENTIAL_ID)
    assert got.credential_id == CREDENTIAL_ID
    assert len(fake.logins()) == 2
    assert len(fake.calls()) == 2
    tokens = [r.headers["Authorization"] for r in fake.calls()]
    assert tokens[0] != tokens[1]  # the resend carried the new token


async def test_a_second_token_400_with_a_fresh_token_is_invalid_token(
    fake: Any, client: Any
) -> None:
    """Refused again with the fresh token: InvalidTokenError (status 400), no third try."""
    fake.on("GET", PATH, fake.Reply(400, {"message": "Invalid authentication token"}))
    with pytest.raises(InvalidTokenError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.status == 400
    assert len(fake.logins()) == 2
    assert len(fake.calls()) == 2


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"message": "The Credential Id cannot be empty UUIDv4."}, id="rule"),
        pytest.param({}, id="no-words"),
    ],
)
async def test_a_400_not_naming_the_token_is_not_renewed(fake: Any, client: Any, body: Any) -> None:
    """A 400 about the request (or with no words) costs no login: ValidationError at once."""
    fake.on("GET", PATH, fake.Reply(400, body))
    with pytest.raises(ValidationError):
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 1
    assert len(fake.calls()) == 1
