"""What each surface-A operation puts on the wire, and how its answer is decoded."""

from __future__ import annotations

import base64
import datetime as dt
from typing import Any
from urllib.parse import quote

import pytest

from schlage_async import (
    CreatedCredential,
    Credential,
    CredentialAttributes,
    CredentialPage,
    NoTourPayload,
)

USER_ID = "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60"
CREDENTIAL_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
MOBILE = "+15551237890"
SERIAL = "ab?>>>x"  # base64 "YWI/Pj4+eA==": a "/", a "+" and "=" padding in one serial
HEX = "0A1b" * 24
BASIC = "/smc-api/credentials/mobile/basic"

CREDENTIAL_JSON = {
    "credentialId": CREDENTIAL_ID,
    "userId": USER_ID,
    "mobileNumber": MOBILE,
    "payloadType": "BLE",
    "cardNumber": 17,
    "facilityCode": 12,
    "issueCode": 0,
    "isDownloaded": False,
    "attributes": {"siteId": "s-1", "siteName": "Main"},
    "somethingNew": {"the": "service may add fields"},
}
PAGE_JSON = {
    "credentials": [CREDENTIAL_JSON],
    "pageNumber": 2,
    "pageSize": 1,
    "totalPages": 3,
    "totalCount": 3,
}

# (method name, kwargs, HTTP method, raw path, body sent, reply status, reply JSON, result type)
OPERATIONS = [
    pytest.param(
        "create_credential",
        {
            "user_id": USER_ID,
            "mobile_number": MOBILE,
            "card_format": "26A",
            "facility_code": 12,
            "issue_code": 0,
            "attributes": {"SiteID": "s-1", "sitename": "Main"},
        },
        "POST",
        BASIC,
        {
            "userId": USER_ID,
            "mobileNumber": MOBILE,
            "cardFormat": "26A",
            "facilityCode": 12,
            "issueCode": 0,
            "attributes": {"siteId": "s-1", "siteName": "Main"},
        },
        201,
        {"credentialId": CREDENTIAL_ID, "cardNumber": 17, "extra": 1},
        CreatedCredential,
        id="create_credential",
    ),
    pytest.param(
        "resend_invite",
        {"user_id": USER_ID},
        "POST",
        f"{BASIC}/users/{USER_ID}/resendinvite",
        None,
        204,
        None,
        type(None),
        id="resend_invite",
    ),
    pytest.param(
        "save_no_tour_payloads",
        {
            "credential_id": CREDENTIAL_ID,
            "payloads": [
                NoTourPayload(lock_id=1, serial_number="SN-1", no_tour_payload=HEX),
                {"LockId": 2, "serialNumber": "SN-2", "no_tour_payload": HEX},
            ],
        },
        "POST",
        f"{BASIC}/{CREDENTIAL_ID}/notourpayloads",
        {
            "noTourPayloadDetails": [
                {"lockId": 1, "serialNumber": "SN-1", "noTourPayload": HEX},
                {"lockId": 2, "serialNumber": "SN-2", "noTourPayload": HEX},
            ]
        },
        200,
        {},
        type(None),
        id="save_no_tour_payloads",
    ),
    pytest.param(
        "get_credential",
        {"credential_id": CREDENTIAL_ID},
        "GET",
        f"{BASIC}/{CREDENTIAL_ID}",
        None,
        200,
        CREDENTIAL_JSON,
        Credential,
        id="get_credential",
    ),
    pytest.param(
        "get_credential_by_user",
        {"user_id": USER_ID},
        "GET",
        f"{BASIC}/users/{USER_ID}",
        None,
        200,
        CREDENTIAL_JSON,
        Credential,
        id="get_credential_by_user",
    ),
    pytest.param(
        "list_credentials",
        {"page_number": 2, "page_size": 1},
        "GET",
        BASIC,
        None,
        200,
        PAGE_JSON,
        CredentialPage,
        id="list_credentials",
    ),
    pytest.param(
        "delete_no_tour_payloads",
        {"credential_id": CREDENTIAL_ID},
        "DELETE",
        f"{BASIC}/{CREDENTIAL_ID}/notourpayloads",
        None,
        204,
        None,
        type(None),
        id="delete_no_tour_payloads",
    ),
    pytest.param(
        "delete_no_tour_payloads_by_device",
        {"serial_number": SERIAL},
        "DELETE",
        f"{BASIC}/notourpayloads/devices/"
        + quote(base64.b64encode(SERIAL.encode()).decode(), safe=""),
        None,
        204,
        None,
        type(None),
        id="delete_no_tour_payloads_by_device",
    ),
    pytest.param(
        "delete_credential",
        {"credential_id": CREDENTIAL_ID},
        "DELETE",
        f"{BASIC}/{CREDENTIAL_ID}",
        None,
        204,
        None,
        type(None),
        id="delete_credential",
    ),
    pytest.param(
        "delete_credential_by_user",
        {"user_id": USER_ID},
        "DELETE",
        f"{BASIC}/users/{USER_ID}",
        None,
        204,
        None,
        type(None),
        id="delete_credential_by_user",
    ),
]


@pytest.mark.parametrize(
    ("name", "kwargs", "method", "raw_path", "body", "status", "reply", "result_type"),
    OPERATIONS,
)
async def test_operation_request_and_answer(
    fake: Any,
    client: Any,
    creds: Any,
    name: str,
    kwargs: dict[str, Any],
    method: str,
    raw_path: str,
    body: Any,
    status: int,
    reply: Any,
    result_type: type,
) -> None:
    """Each operation sends the contract's method, path, headers and body, and decodes."""
    fake.on(method, raw_path.removeprefix("/smc-api"), fake.Reply(status, reply))
    if name == "delete_no_tour_payloads_by_device":  # the router sees the decoded path
        decoded = (
            "/credentials/mobile/basic/notourpayloads/devices/"
            + base64.b64encode(SERIAL.encode()).decode()
        )
        fake.on(method, decoded, fake.Reply(status, reply))

    result = await getattr(client, name)(**kwargs)

    (login,) = fake.logins()
    (sent,) = fake.calls()
    assert sent.method == method
    assert sent.raw_path == raw_path
    assert sent.json == body
    assert sent.headers["alle-subscription-key"] == creds.subscription_key
    assert sent.headers["Accept"] == "application/json;version=1"
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == "Bearer " + fake.issued[0]
    assert "Authorization" not in login.headers
    assert isinstance(result, result_type)


async def test_login_request_shape(fake: Any, client: Any, creds: Any) -> None:
    """The login posts the user name and password with the key and no Authorization."""
    fake.on("GET", f"/credentials/mobile/basic/{CREDENTIAL_ID}", fake.Reply(200, CREDENTIAL_JSON))
    await client.get_credential(credential_id=CREDENTIAL_ID)
    (login,) = fake.logins()
    assert login.method == "POST"
    assert login.json == {"username": creds.username, "password": creds.password}
    assert login.headers["alle-subscription-key"] == creds.subscription_key
    assert login.headers["Accept"] == "application/json;version=1"
    assert login.headers["Content-Type"] == "application/json"
    assert "Authorization" not in login.headers


async def test_credential_decodes_every_field_and_ignores_unknown(fake: Any, client: Any) -> None:
    """A credential decodes into the frozen Struct; fields the service adds are ignored."""
    fake.on("GET", f"/credentials/mobile/basic/users/{USER_ID}", fake.Reply(200, CREDENTIAL_JSON))
    credential = await client.get_credential_by_user(user_id=USER_ID)
    assert credential == Credential(
        credential_id=CREDENTIAL_ID,
        user_id=USER_ID,
        mobile_number=MOBILE,
        payload_type="BLE",
        card_number=17,
        facility_code=12,
        issue_code=0,
        is_downloaded=False,
        attributes=CredentialAttributes(site_id="s-1", site_name="Main"),
    )


@pytest.mark.parametrize(
    ("kwargs", "query"),
    [
        pytest.param({}, {}, id="no-query"),
        pytest.param(
            {"start_date": dt.date(2024, 1, 2), "end_date": "2024-02-03"},
            {"startDate": "2024-01-02", "endDate": "2024-02-03"},
            id="date-and-string",
        ),
        pytest.param(
            {"page_number": 1, "page_size": 50, "start_date": dt.datetime(2024, 5, 6, 7, 8)},
            {"pageNumber": "1", "pageSize": "50", "startDate": "2024-05-06"},
            id="datetime-is-its-date",
        ),
    ],
)
async def test_list_query(
    fake: Any, client: Any, kwargs: dict[str, Any], query: dict[str, str]
) -> None:
    """List sends pageNumber, pageSize, startDate and endDate (yyyy-MM-dd) as given."""
    fake.on("GET", "/credentials/mobile/basic", fake.Reply(200, PAGE_JSON))
    page = await client.list_credentials(**kwargs)
    (sent,) = fake.calls()
    assert sent.query == query
    assert page.total_pages == 3
    assert page.credentials[0].credential_id == CREDENTIAL_ID


async def test_iter_credentials_walks_every_page(fake: Any, client: Any) -> None:
    """iter_credentials asks page after page until the last one and yields every item."""

    def page(rec: Any) -> Any:
        number = int(rec.query["pageNumber"])
        item = {**CREDENTIAL_JSON, "userId": f"{number:08d}-0000-4000-8000-000000000000"}
        return fake.Reply(
            200, {**PAGE_JSON, "credentials": [item], "pageNumber": number, "totalPages": 3}
        )

    fake.on("GET", "/credentials/mobile/basic", page)
    users = [c.user_id async for c in client.iter_credentials(page_size=1)]
    assert [u[:8] for u in users] == ["00000001", "00000002", "00000003"]
    assert [r.query["pageNumber"] for r in fake.calls()] == ["1", "2", "3"]


async def test_iter_credentials_empty_listing_ends_on_page_not_found(
    fake: Any, client: Any
) -> None:
    """An empty listing (the service's 404 page-not-found on page 1) yields nothing."""
    fake.on(
        "GET",
        "/credentials/mobile/basic",
        fake.Reply(
            404,
            {
                "message": "Page not found. The requested page number exceeds the total number "
                "of available pages."
            },
        ),
    )
    assert [c async for c in client.iter_credentials()] == []


@pytest.mark.parametrize(
    ("attributes", "sent"),
    [
        pytest.param(
            {"SiteId": "1", "SiteName": "A"}, {"siteId": "1", "siteName": "A"}, id="qa-suite"
        ),
        pytest.param({"SITEID": "1"}, {"siteId": "1"}, id="upper"),
        pytest.param({"site_name": "A"}, {"siteName": "A"}, id="snake"),
        pytest.param(CredentialAttributes(site_id="1"), {"siteId": "1"}, id="struct"),
    ],
)
async def test_attributes_any_letter_case(
    fake: Any, client: Any, attributes: Any, sent: dict[str, str]
) -> None:
    """Attributes in any letter case (or as the Struct) go out as siteId / siteName."""
    fake.on(
        "POST",
        "/credentials/mobile/basic",
        fake.Reply(201, {"credentialId": CREDENTIAL_ID, "cardNumber": 1}),
    )
    await client.create_credential(
        user_id=USER_ID, mobile_number=MOBILE, card_format="37H", attributes=attributes
    )
    (request,) = fake.calls()
    assert request.json["attributes"] == sent
    assert "facilityCode" not in request.json  # 37H: facility codes do not apply


async def test_token_reused_across_calls(fake: Any, client: Any) -> None:
    """One login serves many calls: the token is cached."""
    fake.on("GET", f"/credentials/mobile/basic/{CREDENTIAL_ID}", fake.Reply(200, CREDENTIAL_JSON))
    for _ in range(5):
        await client.get_credential(credential_id=CREDENTIAL_ID)
    assert len(fake.logins()) == 1
    assert len(fake.calls()) == 5
    assert client.stats.requests == 6
    assert client.stats.logins == 1
    assert client.stats.by_status == {200: 6}
