"""Surface B, ENGAGE Cloud Credentialing: upload, read, list, revoke, devices."""

from __future__ import annotations

import typing

import msgspec
import pytest

from schlage_async._models import (
    EngageCredential,
    EngageCredentialList,
    EngageDeviceList,
    EngageDeviceModel,
)
from schlage_async._routes import Operation

from .conftest import Api, basic

Op = Operation
ADMIN = basic("admin@sim.example", "sim-admin-password")
OTHER = basic("other@sim.example", "sim-other-password")


async def _upload(api: Api, auth: str = ADMIN, **fields: str) -> dict[str, typing.Any]:
    body = {"userId": "acs-user-1", "accessProfile": "residents", **fields}
    reply = await api.call(Op.ENGAGE_UPLOAD_CREDENTIAL, authorization=auth, json=body)
    assert reply.status == 201, reply.body
    return dict(reply.json)


async def test_upload_get_list_and_revoke(api: Api) -> None:
    """An uploaded credential is Active, listed, then Revoked and out of the default list."""
    created = await _upload(api, userEmail="pat@example.com", userName="Pat")
    credential = msgspec.convert(created, EngageCredential)
    assert credential.status == "Active"
    assert credential.revoked_at is None
    path = {"credentialId": credential.credential_id}
    got = await api.call(Op.ENGAGE_GET_CREDENTIAL, authorization=ADMIN, path=path)
    assert msgspec.json.decode(got.body, type=EngageCredential) == credential
    listed = await api.call(Op.ENGAGE_LIST_CREDENTIALS, authorization=ADMIN)
    assert msgspec.json.decode(listed.body, type=EngageCredentialList).credentials == (credential,)
    for _ in range(2):  # revoking again changes nothing
        deleted = await api.call(Op.ENGAGE_DELETE_CREDENTIAL, authorization=ADMIN, path=path)
        assert deleted.status == 204
    revoked = (await api.call(Op.ENGAGE_GET_CREDENTIAL, authorization=ADMIN, path=path)).json
    assert revoked["status"] == "Revoked"
    assert revoked["revokedAt"]
    default = await api.call(Op.ENGAGE_LIST_CREDENTIALS, authorization=ADMIN)
    assert default.json == {"credentials": []}
    by_status = await api.call(
        Op.ENGAGE_LIST_CREDENTIALS, authorization=ADMIN, query={"status": "Revoked"}
    )
    assert [c["credentialId"] for c in by_status.json["credentials"]] == [credential.credential_id]


async def test_list_filters_by_user_id_and_refuses_unknown_status(api: Api) -> None:
    """``userId`` narrows the list; a status outside the enum is a 400."""
    await _upload(api, userId="a")
    b = await _upload(api, userId="b")
    only_b = await api.call(Op.ENGAGE_LIST_CREDENTIALS, authorization=ADMIN, query={"userId": "b"})
    assert [c["credentialId"] for c in only_b.json["credentials"]] == [b["credentialId"]]
    bad = await api.call(Op.ENGAGE_LIST_CREDENTIALS, authorization=ADMIN, query={"status": "Gone"})
    assert bad.status == 400
    assert bad.json["code"] == "bad_request"


async def test_credentials_expire_after_valid_to(api: Api) -> None:
    """A credential past its validTo reads as Expired (simulator clock)."""
    now = api.sim.clock.now()
    valid_to = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
    created = await _upload(api, validFrom="2020-01-01T00:00:00Z", validTo=valid_to)
    api.sim.clock.advance(1)
    path = {"credentialId": created["credentialId"]}
    got = await api.call(Op.ENGAGE_GET_CREDENTIAL, authorization=ADMIN, path=path)
    assert got.json["status"] == "Expired"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ([1, 2], "JSON object"),
        ({"accessProfile": "p"}, "userId is required"),
        ({"userId": "u"}, "accessProfile is required"),
        ({"userId": 5, "accessProfile": "p"}, "userId must be a non-empty string"),
        ({"userId": "u", "accessProfile": "p", "userEmail": "nope"}, "email"),
        ({"userId": "u", "accessProfile": "p", "validTo": "tomorrow"}, "validTo"),
        (
            {
                "userId": "u",
                "accessProfile": "p",
                "validFrom": "2030-01-02T00:00:00Z",
                "validTo": "2030-01-01T00:00:00Z",
            },
            "after validFrom",
        ),
    ],
    ids=["array", "no-user", "no-profile", "user-not-string", "bad-email", "bad-date", "reversed"],
)
async def test_upload_validation_is_a_400_error(api: Api, body: object, needle: str) -> None:
    """Bad upload bodies get 400 in the seed's Error shape."""
    reply = await api.call(Op.ENGAGE_UPLOAD_CREDENTIAL, authorization=ADMIN, json=body)
    assert reply.status == 400
    assert reply.json["code"] == "bad_request"
    assert needle in reply.json["message"]


async def test_tenants_do_not_see_each_others_credentials(api: Api) -> None:
    """Another integration's credential is a 404 to read or delete."""
    created = await _upload(api)
    path = {"credentialId": created["credentialId"]}
    for op in (Op.ENGAGE_GET_CREDENTIAL, Op.ENGAGE_DELETE_CREDENTIAL):
        reply = await api.call(op, authorization=OTHER, path=path)
        assert reply.status == 404
        assert reply.json["code"] == "not_found"
    listed = await api.call(Op.ENGAGE_LIST_CREDENTIALS, authorization=OTHER)
    assert listed.json == {"credentials": []}


async def test_devices_cover_every_model_of_the_seed(api: Api) -> None:
    """The seeded devices include one of each model in the seed's enum."""
    reply = await api.call(Op.ENGAGE_LIST_DEVICES, authorization=ADMIN)
    devices = msgspec.json.decode(reply.body, type=EngageDeviceList).devices
    assert {d.model for d in devices} == set(typing.get_args(EngageDeviceModel))
    assert len({d.device_id for d in devices}) == len(devices)
