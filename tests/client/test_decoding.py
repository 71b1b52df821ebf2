"""Strict where the caller relies on a field, lenient where it does not (the _models table)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
import pytest

from schlage_async import (
    CreatedCredential,
    Credential,
    CredentialPage,
    EngageCredentialList,
    EngageDeviceList,
    InvalidResponseError,
    RetryPolicy,
)
from schlage_async._models import decode_answer

CREDENTIAL: dict[str, Any] = {
    "credentialId": "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d",
    "userId": "3f2c9a4e-8b1d-4c7e-9f0a-1b2c3d4e5f60",
    "mobileNumber": "+15551237890",
    "payloadType": "Tour",
    "cardNumber": 12,
    "facilityCode": 0,
    "issueCode": 0,
    "isDownloaded": False,
    "attributes": {"siteId": "s-1", "siteName": "Maple"},
}
CREATED: dict[str, Any] = {"credentialId": CREDENTIAL["credentialId"], "cardNumber": 12}
PAGE: dict[str, Any] = {
    "credentials": [CREDENTIAL],
    "pageNumber": 1,
    "pageSize": 50,
    "totalPages": 1,
    "totalCount": 1,
}


def _without(value: dict[str, Any], key: str) -> bytes:
    return json.dumps({k: v for k, v in value.items() if k != key}).encode()


@pytest.mark.parametrize(
    ("kind", "value", "field"),
    [
        pytest.param(Credential, CREDENTIAL, "credentialId", id="credential-credentialId"),
        pytest.param(Credential, CREDENTIAL, "userId", id="credential-userId"),
        pytest.param(Credential, CREDENTIAL, "mobileNumber", id="credential-mobileNumber"),
        pytest.param(CreatedCredential, CREATED, "credentialId", id="created-credentialId"),
        pytest.param(CreatedCredential, CREATED, "cardNumber", id="created-cardNumber"),
        pytest.param(CredentialPage, PAGE, "credentials", id="page-credentials"),
        pytest.param(EngageCredentialList, {"credentials": []}, "credentials", id="engage-list"),
        pytest.param(EngageDeviceList, {"devices": []}, "devices", id="engage-devices"),
    ],
)
def test_an_essential_field_missing_is_refused_naming_it(
    kind: type[Any], value: dict[str, Any], field: str
) -> None:
    """Without a field the caller relies on, decoding fails and the error names the field."""
    with pytest.raises(msgspec.ValidationError, match=f"`{field}`"):
        decode_answer(kind, _without(value, field))
    with pytest.raises(msgspec.ValidationError, match=field):
        decode_answer(kind, json.dumps({**value, field: None}).encode())


def test_a_page_under_another_key_is_refused_not_empty() -> None:
    """A Get-All page whose list hides under another key is an error, not an empty page."""
    with pytest.raises(msgspec.ValidationError, match="`credentials`"):
        decode_answer(CredentialPage, json.dumps({"items": [CREDENTIAL]}).encode())


def test_a_credential_in_a_page_missing_its_user_id_is_refused_with_its_path() -> None:
    """The error says where in the page the field is missing."""
    bad = {**PAGE, "credentials": [CREDENTIAL, {**CREDENTIAL, "userId": None}]}
    with pytest.raises(msgspec.ValidationError, match=r"\$\.credentials\[1\]\.userId"):
        decode_answer(CredentialPage, json.dumps(bad).encode())


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"cardNumber": "12", "facilityCode": "0", "issueCode": "0"}, id="strings"),
        pytest.param({"isDownloaded": "false"}, id="bool-string"),
        pytest.param({"attributes": {"SiteId": "s-1", "SiteName": "Maple"}}, id="SiteId"),
        pytest.param({"attributes": {"SITEID": "s-1", "sitename": "Maple"}}, id="SITEID"),
        pytest.param(
            {"attributes": {"siteId": "s-1", "siteName": "Maple", "floor": "3"}}, id="extra-attr"
        ),
        pytest.param({"createdAt": None, "payloadType": None, "isDownloaded": None}, id="nulls"),
        pytest.param({"etag": "W/1", "links": {"self": "/x"}, "new": [1, 2]}, id="extra-fields"),
    ],
)
def test_lenient_readings_keep_every_value(change: dict[str, Any]) -> None:
    """Numeric strings, attribute key case, extra fields and optional nulls all decode."""
    got = decode_answer(Credential, json.dumps({**CREDENTIAL, **change}).encode())
    assert got.credential_id == CREDENTIAL["credentialId"]
    assert got.card_number == 12
    assert (got.facility_code, got.issue_code, got.is_downloaded) == (0, 0, False)
    assert got.attributes is not None
    assert (got.attributes.site_id, got.attributes.site_name) == ("s-1", "Maple")


def test_a_created_answer_with_a_string_card_number_decodes() -> None:
    """``"cardNumber": "12"`` in a create answer is the number 12."""
    got = decode_answer(CreatedCredential, json.dumps({**CREATED, "cardNumber": "12"}).encode())
    assert got.card_number == 12


def test_a_non_numeric_string_where_a_number_belongs_is_refused() -> None:
    """Leniency has a limit: "twelve" is not a card number."""
    with pytest.raises(msgspec.ValidationError, match="cardNumber"):
        decode_answer(CreatedCredential, json.dumps({**CREATED, "cardNumber": "twelve"}).encode())


async def test_over_http_a_wrong_shape_names_the_field(fake: Any, client: Any) -> None:
    """The client's InvalidResponseError names the missing field."""
    cid = CREDENTIAL["credentialId"]
    fake.on(
        "GET",
        f"/credentials/mobile/basic/{cid}",
        fake.Reply(200, body=_without(CREDENTIAL, "userId")),
    )
    with pytest.raises(InvalidResponseError, match="userId"):
        await client.get_credential(credential_id=cid, retry=RetryPolicy.none())


async def test_iter_credentials_raises_on_a_page_without_its_list(fake: Any, client: Any) -> None:
    """iter_credentials() no longer ends silently on a page it cannot read."""
    fake.on("GET", "/credentials/mobile/basic", fake.Reply(200, {"items": [CREDENTIAL]}))
    with pytest.raises(InvalidResponseError, match="credentials"):
        [c async for c in client.iter_credentials(retry=RetryPolicy.none())]
