"""The ENGAGE Cloud client (seed 001): request shapes, Basic auth, decoding, errors."""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from schlage_async import (
    AuthenticationError,
    EngageClient,
    EngageCredential,
    EngageCredentialList,
    EngageDeviceList,
    NotFoundError,
    Operation,
    OutcomeUnknownError,
    RetryPolicy,
    ValidationError,
)

USER = "engage-user"
PASSWORD = "engage-Pa55word"
KEY = "sk-engage-0000"
CREDENTIAL = {
    "credentialId": "c-1",
    "userId": "acs-7",
    "userEmail": "r@example.com",
    "status": "Active",
    "accessProfile": "ap-1",
    "validFrom": "2024-01-01T00:00:00Z",
    "future": True,
}
DEVICE = {"deviceId": "d-1", "name": "Front door", "model": "NDEB", "firmwareVersion": "1.2"}


@pytest.fixture
async def engage(fake: Any, sleeps: Any) -> AsyncIterator[Callable[..., EngageClient]]:
    """Build EngageClients aimed at the fake service's root; closed at teardown."""
    made: list[EngageClient] = []

    def build(**overrides: Any) -> EngageClient:
        options: dict[str, Any] = {
            "base_url": fake.root_url,
            "username": USER,
            "password": PASSWORD,
            "subscription_key": KEY,
            "sleep": sleeps,
            "random": 3,
        }
        options.update(overrides)
        client = EngageClient(**options)
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()


OPERATIONS = [
    pytest.param(
        "list_credentials",
        {"user_id": "acs-7", "status": "Active"},
        "GET",
        "/credentials",
        {"userId": "acs-7", "status": "Active"},
        None,
        200,
        {"credentials": [CREDENTIAL]},
        EngageCredentialList,
        id="list_credentials",
    ),
    pytest.param(
        "upload_credential",
        {
            "user_id": "acs-7",
            "access_profile": "ap-1",
            "user_email": "r@example.com",
            "valid_from": dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
            "valid_to": "2025-01-01T00:00:00Z",
        },
        "POST",
        "/credentials",
        {},
        {
            "userId": "acs-7",
            "accessProfile": "ap-1",
            "userEmail": "r@example.com",
            "validFrom": "2024-01-01T00:00:00+00:00",
            "validTo": "2025-01-01T00:00:00Z",
        },
        201,
        CREDENTIAL,
        EngageCredential,
        id="upload_credential",
    ),
    pytest.param(
        "get_credential",
        {"credential_id": "c/1"},
        "GET",
        "/credentials/c%2F1",
        {},
        None,
        200,
        CREDENTIAL,
        EngageCredential,
        id="get_credential",
    ),
    pytest.param(
        "delete_credential",
        {"credential_id": "c-1"},
        "DELETE",
        "/credentials/c-1",
        {},
        None,
        204,
        None,
        type(None),
        id="delete_credential",
    ),
    pytest.param(
        "list_devices",
        {},
        "GET",
        "/devices",
        {},
        None,
        200,
        {"devices": [DEVICE]},
        EngageDeviceList,
        id="list_devices",
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "method", "raw_path", "query", "body", "status", "reply", "result_type"),
    OPERATIONS,
)
async def test_engage_operation_request_and_answer(
    fake: Any,
    engage: Any,
    name: str,
    kwargs: dict[str, Any],
    method: str,
    raw_path: str,
    query: dict[str, str],
    body: Any,
    status: int,
    reply: Any,
    result_type: type,
) -> None:
    """Each ENGAGE operation sends its method, path, Basic auth, key and body; decodes."""
    decoded = raw_path.replace("%2F", "/")
    fake.on(method, "/" + decoded, fake.Reply(status, reply))
    result = await getattr(engage(), name)(**kwargs)
    (sent,) = fake.requests
    assert sent.method == method
    assert sent.raw_path == raw_path
    assert sent.query == query
    assert sent.json == body
    expected_basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    assert sent.headers["Authorization"] == f"Basic {expected_basic}"
    assert sent.headers["alle-subscription-key"] == KEY
    assert sent.headers["Accept"] == "application/json;version=1"
    assert sent.headers["Content-Type"] == "application/json"
    assert isinstance(result, result_type)


async def test_engage_list_decodes_and_ignores_unknown_fields(fake: Any, engage: Any) -> None:
    """Credentials and devices decode into frozen Structs; unknown fields are ignored."""
    fake.on("GET", "//credentials", fake.Reply(200, {"credentials": [CREDENTIAL], "next": None}))
    fake.on("GET", "//devices", fake.Reply(200, {"devices": [DEVICE]}))
    client = engage()
    (credential,) = (await client.list_credentials()).credentials
    assert credential.access_profile == "ap-1"
    assert credential.status == "Active"
    (device,) = (await client.list_devices()).devices
    assert device.model == "NDEB"


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(400, ValidationError, id="400"),
        pytest.param(401, AuthenticationError, id="401"),
        pytest.param(404, NotFoundError, id="404"),
    ],
)
async def test_engage_error_schema(
    fake: Any, engage: Any, status: int, error: type[Exception]
) -> None:
    """The seed's Error schema ({code, message}) maps by status; 401 is not retried."""
    body = {"code": f"E{status}", "message": f"problem {status}"}
    fake.on("GET", "//credentials/c-1", fake.Reply(status, body))
    with pytest.raises(error) as caught:
        await engage().get_credential(credential_id="c-1")
    assert caught.value.messages == (f"problem {status}",)  # type: ignore[attr-defined]
    assert caught.value.operation is Operation.ENGAGE_GET_CREDENTIAL  # type: ignore[attr-defined]
    assert len(fake.requests) == 1


async def test_engage_upload_never_replayed(fake: Any, engage: Any, faults: Any) -> None:
    """An upload whose answer was lost raises OutcomeUnknownError and is not resent."""

    faults.add("POST", "/credentials", TimeoutError())
    with pytest.raises(OutcomeUnknownError):
        await engage().upload_credential(user_id="acs-7", access_profile="ap-1")
    assert fake.requests == []
    assert len(faults.raised) == 1


async def test_engage_reads_retried(fake: Any, engage: Any, sleeps: Any) -> None:
    """ENGAGE reads share the retry rules: a 503 then a 200 succeeds."""
    fake.on(
        "GET",
        "//devices",
        fake.Reply(503, {"code": "Unavailable", "message": "later"}),
        fake.Reply(200, {"devices": []}),
    )
    devices = await engage().list_devices(retry=RetryPolicy(attempts=2))
    assert devices.devices == ()
    assert len(sleeps.delays) == 1


@pytest.mark.parametrize(
    ("name", "kwargs"),
    [
        pytest.param("upload_credential", {"user_id": "", "access_profile": "ap"}, id="no-user"),
        pytest.param("upload_credential", {"user_id": "u", "access_profile": " "}, id="no-profile"),
        pytest.param("get_credential", {"credential_id": ""}, id="empty-id"),
        pytest.param("list_credentials", {"status": "Paused"}, id="bad-status"),
    ],
)
async def test_engage_validation_refuses_before_sending(
    fake: Any, engage: Any, name: str, kwargs: dict[str, Any]
) -> None:
    """Missing required fields or an unknown status are refused without a request."""
    with pytest.raises(ValidationError) as caught:
        await getattr(engage(), name)(**kwargs)
    assert caught.value.sent is False
    assert fake.requests == []
