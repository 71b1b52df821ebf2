"""No secret and no unmasked mobile number in a log line, a repr or an exception."""

from __future__ import annotations

import base64
import traceback
from typing import Any

import pytest
import structlog

from schlage_async import EngageClient, SchlageError, mask_mobile

USER_ID = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
GET_PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}"
CREATE_PATH = "/credentials/mobile/basic"
CONFLICT = (
    "The Mobile Number is already associated with a User. Please check the Mobile Number and "
    "try again."
)


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        pytest.param("+15551237890", "+1******7890", id="us"),
        pytest.param("+491511234567", "+4*******4567", id="de"),
        pytest.param(" +15551237890 ", "+1******7890", id="padded"),
        pytest.param("5551237890", "******7890", id="no-plus"),
        pytest.param("+1555", "*****", id="too-short"),
        pytest.param("", "", id="empty"),
    ],
)
def test_mask_mobile(number: str, masked: str) -> None:
    """Only the country prefix and the last four digits stay visible."""
    assert mask_mobile(number) == masked


def _texts_of(error: BaseException) -> list[str]:
    return [str(error), repr(error), "".join(traceback.format_exception(error))]


async def test_no_secret_in_logs_reprs_or_errors(
    fake: Any, make_client: Any, faults: Any, creds: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Across successes, 401s, errors, echoes and lost answers, secrets never show."""
    client = make_client()
    errors: list[BaseException] = []

    def echo_secrets(rec: Any) -> Any:
        # A misbehaving gateway that echoes the request's headers back in its error page.
        page = (
            f"<html>key={rec.headers['alle-subscription-key']} auth={rec.headers['Authorization']}"
        )
        return fake.Reply(502, body=page + f" pw={creds.password}</html>", content_type="text/html")

    def echo_in_json(rec: Any) -> Any:
        return fake.Reply(409, {"message": f"token {rec.headers['Authorization']} refused"})

    create_args = {
        "user_id": USER_ID,
        "mobile_number": creds.mobile,
        "card_format": "26A",
        "facility_code": 1,
    }
    with structlog.testing.capture_logs() as logs:
        fake.on(
            "POST",
            CREATE_PATH,
            fake.Reply(401, {"message": "Invalid authentication token."}),
            fake.Reply(201, {"credentialId": CREDENTIAL_ID, "cardNumber": 3}),
            fake.Reply(409, {"message": CONFLICT}),
        )
        await client.create_credential(**create_args)
        for handler in (None, echo_secrets, echo_in_json):
            if handler is not None:
                fake.on("GET", GET_PATH, handler)
            try:
                if handler is None:
                    await client.create_credential(**create_args)
                else:
                    await client.get_credential(credential_id=CREDENTIAL_ID, retry=None)
            except SchlageError as exc:
                errors.append(exc)
        faults.add("POST", CREATE_PATH, TimeoutError())
        try:
            await client.create_credential(**create_args)
        except SchlageError as exc:
            errors.append(exc)
        fake.on("POST", "/authentication/token", fake.Reply(403, {"message": "nope"}))
        other = make_client(validate=False, token_cache=None)
        try:
            await other.get_credential(credential_id=CREDENTIAL_ID)
        except SchlageError as exc:
            errors.append(exc)

    assert len(errors) == 5
    assert {type(e).__name__ for e in errors} >= {
        "MobileNumberConflictError",
        "OutcomeUnknownError",
    }
    texts = [repr(entry) for entry in logs]
    texts += [repr(client), repr(other), repr(client.stats), repr(client._transport)]
    for error in errors:
        texts += _texts_of(error)
    texts.append(capsys.readouterr().out)
    haystack = "\n".join(texts)

    secrets = [creds.password, creds.subscription_key, *fake.issued]
    assert fake.issued  # tokens were issued, so the check below means something
    for secret in secrets:
        assert secret not in haystack
    assert creds.mobile not in haystack
    assert mask_mobile(creds.mobile) in haystack  # the log does say whose credential
    assert all(entry["event"] == "schlage.request" for entry in logs)
    assert {
        "operation",
        "method",
        "status",
        "attempt",
        "duration_ms",
        "request_id",
        "outcome",
    } <= set(logs[0])


async def test_engage_basic_credentials_never_shown(fake: Any, sleeps: Any) -> None:
    """ENGAGE's password and its Basic header value stay out of errors and reprs."""
    password = "engage-Pa55word"
    basic = base64.b64encode(f"user:{password}".encode()).decode()

    def echo(rec: Any) -> Any:
        return fake.Reply(401, {"code": "Unauthorized", "message": rec.headers["Authorization"]})

    fake.on("GET", "//devices", echo)
    async with EngageClient(
        base_url=fake.root_url, username="user", password=password, subscription_key="key-1234"
    ) as client:
        with structlog.testing.capture_logs() as logs, pytest.raises(SchlageError) as caught:
            await client.list_devices()
        haystack = "\n".join([*_texts_of(caught.value), repr(client), repr(logs)])
    assert password not in haystack
    assert basic not in haystack
    assert "key-1234" not in haystack
