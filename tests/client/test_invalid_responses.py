"""Success answers that are not the contract's JSON, and redirects, become InvalidResponseError.

An error status never does: whatever its body, it is the status's class (see
``test_error_classification.py``).
"""

from __future__ import annotations

import traceback
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from aiohttp import web
from aiohttp.test_utils import TestServer

from schlage_async import (
    ConflictError,
    CredentialNotFoundError,
    InvalidResponseError,
    PermissionDeniedError,
    RetryPolicy,
    ServiceUnavailableError,
)

CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
GET_PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}"
HTML = "<html><head><title>502 Bad Gateway</title></head><body>" + "x" * 5000 + "</body></html>"


@pytest.mark.parametrize(
    ("status", "body", "content_type", "reason"),
    [
        pytest.param(200, HTML, "text/html", "not JSON", id="200-html"),
        pytest.param(200, "", "application/json", "empty", id="200-empty"),
        pytest.param(
            200,
            '{"credentialId": "abc", "userId"',
            "application/json",
            "not JSON",
            id="200-truncated",
        ),
        pytest.param(
            200,
            '{"credentialId": 5, "userId": "u", "mobileNumber": "m"}',
            "application/json",
            "wrong shape",
            id="200-wrong-type",
        ),
        pytest.param(200, "[1, 2, 3]", "application/json", "wrong shape", id="200-array"),
    ],
)
async def test_unreadable_answer_is_invalid_response(
    fake: Any, client: Any, status: int, body: str, content_type: str, reason: str
) -> None:
    """HTML, empty, truncated or wrong-shape 2xx bodies raise InvalidResponseError, no traceback."""
    fake.on("GET", GET_PATH, fake.Reply(status, body=body, content_type=content_type))
    with pytest.raises(InvalidResponseError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=RetryPolicy.none())
    error = caught.value
    assert error.status == status
    assert reason in error.reason
    assert len(error.excerpt) <= 200
    assert error.excerpt == " ".join(body.split())[:200]
    assert error.request_id == fake.request_ids[-1]
    assert content_type in (error.content_type or "")
    # no decoder's exception is chained into what the user sees
    assert error.__cause__ is None
    assert error.__context__ is None
    assert "msgspec" not in "".join(traceback.format_exception(error))


@pytest.mark.parametrize(
    ("status", "body", "content_type", "expected", "messages"),
    [
        pytest.param(
            403, HTML, "text/html", PermissionDeniedError, ("502 Bad Gateway",), id="403-html"
        ),
        pytest.param(404, "", "text/plain", CredentialNotFoundError, (), id="404-empty"),
        pytest.param(
            409,
            '{"message": "cut',
            "application/json",
            ConflictError,
            ('{"message": "cut',),
            id="409-truncated",
        ),
    ],
)
async def test_an_error_status_with_an_unreadable_body_keeps_its_class(
    fake: Any,
    client: Any,
    status: int,
    body: str,
    content_type: str,
    expected: type[Exception],
    messages: tuple[str, ...],
) -> None:
    """An error status with an HTML, empty or cut body is its status's class, with its text."""
    fake.on("GET", GET_PATH, fake.Reply(status, body=body, content_type=content_type))
    with pytest.raises(expected) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=RetryPolicy.none())
    assert caught.value.status == status  # type: ignore[attr-defined]
    assert caught.value.messages == messages  # type: ignore[attr-defined]
    assert caught.value.__context__ is None


async def test_gateway_html_503_retried_then_service_unavailable(
    fake: Any, client: Any, sleeps: Any
) -> None:
    """An HTML 503 from a gateway is retried for a read; the last one is raised as a 503."""
    fake.on("GET", GET_PATH, fake.Reply(503, body=HTML, content_type="text/html"))
    with pytest.raises(ServiceUnavailableError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID, retry=RetryPolicy(attempts=2))
    assert caught.value.status == 503
    assert caught.value.messages == ("502 Bad Gateway",)
    assert len(fake.calls()) == 2


@pytest.fixture
async def elsewhere() -> AsyncIterator[Any]:
    """A second server, standing for another host a redirect points to."""
    seen: list[dict[str, str]] = []

    async def handle(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.json_response({"credentialId": "stolen", "userId": "u", "mobileNumber": "m"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    server.seen = seen  # type: ignore[attr-defined]
    yield server
    await server.close()


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_redirect_not_followed_so_secrets_stay_home(
    fake: Any, client: Any, elsewhere: Any, creds: Any, status: int
) -> None:
    """A redirect is refused: the token and key never reach the host it points to."""
    location = str(elsewhere.make_url("/steal"))
    fake.on("GET", GET_PATH, fake.Reply(status, body="", headers={"Location": location}))
    with pytest.raises(InvalidResponseError) as caught:
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert caught.value.status == status
    assert "redirect" in str(caught.value)
    assert elsewhere.seen == []
    assert creds.subscription_key not in str(caught.value)


SAVE_PATH = f"/credentials/mobile/basic/{CREDENTIAL_ID}/notourpayloads"


@pytest.fixture
def stdlib_events() -> Iterator[None]:
    """The library's events through stdlib logging (structlog unconfigured), restored after."""
    was = structlog.is_configured()
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    if was:
        structlog.configure(**saved)
    else:
        structlog.reset_defaults()


PAYLOAD = {"lockId": 1, "serialNumber": "SN-1", "noTourPayload": "ab" * 48}


@pytest.mark.parametrize(
    ("status", "body", "content_type", "logged"),
    [
        pytest.param(200, '{"credentialId": "x"}', "application/json", False, id="200-json"),
        pytest.param(204, "", "application/json", False, id="204-empty"),
        pytest.param(200, "", "application/json", False, id="200-empty"),
        pytest.param(200, HTML, "text/html", True, id="200-html"),
        pytest.param(200, "OK", "text/plain", True, id="200-text"),
        pytest.param(200, '{"credentialId": "x", "noTour', "application/json", True, id="cut"),
    ],
)
async def test_a_save_answered_2xx_is_done_whatever_the_body(
    fake: Any,
    client: Any,
    caplog: pytest.LogCaptureFixture,
    stdlib_events: None,
    status: int,
    body: str,
    content_type: str,
    logged: bool,
) -> None:
    """A save's answer is never read: any 2xx body is success, a non-JSON one logged at DEBUG."""
    caplog.set_level("DEBUG", logger="schlage_async")
    fake.on("POST", SAVE_PATH, fake.Reply(status, body=body, content_type=content_type))
    saved = await client.save_no_tour_payloads(
        credential_id=CREDENTIAL_ID, payloads=[PAYLOAD], retry=RetryPolicy.none()
    )
    assert saved is None
    noted = [r for r in caplog.records if "schlage.answer_not_json" in r.getMessage()]
    assert bool(noted) is logged
    assert all(r.levelname == "DEBUG" for r in noted)
