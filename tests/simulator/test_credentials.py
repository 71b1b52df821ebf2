"""The credential lifecycle of surface A: create, read, list, payloads, invites, deletes."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from schlage_async._models import CreatedCredential, Credential, CredentialPage
from schlage_async._routes import Operation, encode_serial_number

from .conftest import PAYLOAD, Api, new_mobile, new_user_id

Op = Operation


async def test_create_answers_201_with_every_credential_field(api: Api) -> None:
    """A new credential comes back with its id, card number and the fields that were sent."""
    user_id, mobile = new_user_id(), new_mobile()
    reply = await api.call(
        Op.CREATE_CREDENTIAL,
        token=await api.token(),
        json={
            "userId": user_id,
            "mobileNumber": mobile,
            "cardFormat": "26A",
            "facilityCode": 12,
            "issueCode": 0,
            "Attributes": {"SiteId": "site-1", "SiteName": "Main"},
        },
    )
    assert reply.status == 201
    body = reply.json
    assert body["userId"] == user_id
    assert body["mobileNumber"] == mobile
    assert body["cardNumber"] == 1
    assert body["cardFormat"] == "26A"
    assert body["facilityCode"] == 12
    assert body["issueCode"] == 0
    assert body["isDownloaded"] is False
    assert body["payloadType"] == "Tour"
    assert body["attributes"] == {"siteId": "site-1", "siteName": "Main"}
    assert body["createdAt"].endswith("Z")
    created = msgspec.json.decode(reply.body, type=CreatedCredential)
    assert created.credential_id == body["credentialId"]


async def test_attributes_are_left_out_when_none_were_given(api: Api) -> None:
    """A credential created without attributes has no ``attributes`` key at all."""
    created = await api.create()
    assert "attributes" not in created


async def test_answers_decode_with_the_shared_wire_models(api: Api) -> None:
    """Get, Get by user and Get All answers decode with the client's own models."""
    token = await api.token()
    created = await api.create(token, attributes={"siteid": "s"})
    by_id = await api.call(
        Op.GET_CREDENTIAL, token=token, path={"credentialId": created["credentialId"]}
    )
    by_user = await api.call(
        Op.GET_CREDENTIAL_BY_USER, token=token, path={"userId": created["userId"]}
    )
    page = await api.call(Op.LIST_CREDENTIALS, token=token)
    first = msgspec.json.decode(by_id.body, type=Credential)
    second = msgspec.json.decode(by_user.body, type=Credential)
    listing = msgspec.json.decode(page.body, type=CredentialPage)
    assert first == second == listing.credentials[0]
    assert first.attributes is not None
    assert first.attributes.site_id == "s"
    assert (listing.total_count, listing.total_pages, listing.page_number) == (1, 1, 1)


async def test_card_numbers_count_up_per_format_and_facility_code(api: Api) -> None:
    """Each (format, facility code) has its own sequence starting at 1."""
    token = await api.token()
    numbers = [(await api.create(token, facilityCode=fc))["cardNumber"] for fc in (1, 1, 2, 1, 2)]
    assert numbers == [1, 2, 1, 3, 2]
    other = await api.create(token, cardFormat="37X", facilityCode=1)
    assert other["cardNumber"] == 1


async def test_restricted_format_numbers_are_per_integration(api: Api) -> None:
    """48X with the integration's own facility and issue code is accepted and numbered."""
    token = await api.token()
    first = await api.create(token, cardFormat="48X", facilityCode=1234, issueCode=20)
    second = await api.create(token, cardFormat="48X", facilityCode=1234, issueCode=20)
    assert (first["cardNumber"], second["cardNumber"]) == (1, 2)
    assert second["issueCode"] == 20


async def test_37h_needs_no_facility_code(api: Api) -> None:
    """37H has no facility-code range, so a credential without one is created."""
    created = await api.create(cardFormat="37H", facilityCode=None)
    assert created["facilityCode"] is None
    assert created["cardNumber"] == 1


async def test_open_formats_share_card_numbers_across_integrations(api: Api) -> None:
    """Open formats do not guarantee uniqueness, so integrations draw from one sequence."""
    ours = await api.create(facilityCode=40)
    theirs = await api.create(await api.token("other@sim.example"), facilityCode=40)
    assert (ours["cardNumber"], theirs["cardNumber"]) == (1, 2)


async def test_card_numbers_run_out_with_417(make_api: Any) -> None:
    """Once the format's range is used up, the next create is 417; other codes still work."""
    api = await make_api(max_card_numbers={"34S": 2})
    token = await api.token()
    await api.create(token, cardFormat="34S", facilityCode=5)
    await api.create(token, cardFormat="34S", facilityCode=5)
    reply = await api.call(
        Op.CREATE_CREDENTIAL,
        token=token,
        json={
            "userId": new_user_id(),
            "mobileNumber": new_mobile(),
            "cardFormat": "34S",
            "facilityCode": 5,
        },
    )
    assert reply.status == 417
    assert (await api.create(token, cardFormat="34S", facilityCode=6))["cardNumber"] == 1


async def test_deleting_frees_user_id_and_mobile_number(api: Api) -> None:
    """After a delete, the same user and number get a new credential and a new card number."""
    token = await api.token()
    first = await api.create(token)
    reply = await api.call(
        Op.DELETE_CREDENTIAL, token=token, path={"credentialId": first["credentialId"]}
    )
    assert reply.status == 204
    again = await api.create(token, userId=first["userId"], mobileNumber=first["mobileNumber"])
    assert again["credentialId"] != first["credentialId"]
    assert again["cardNumber"] == first["cardNumber"] + 1
    gone = await api.call(
        Op.GET_CREDENTIAL, token=token, path={"credentialId": first["credentialId"]}
    )
    assert gone.status == 404


async def test_user_id_conflict_is_reported_before_mobile_conflict(api: Api) -> None:
    """A body clashing on both fields names the user id."""
    token = await api.token()
    first = await api.create(token)
    reply = await api.call(
        Op.CREATE_CREDENTIAL,
        token=token,
        json={
            "userId": first["userId"],
            "mobileNumber": first["mobileNumber"],
            "cardFormat": "26A",
            "facilityCode": 1,
        },
    )
    assert reply.status == 409
    assert "User Id" in reply.json["message"]


async def test_user_ids_match_case_insensitively(api: Api) -> None:
    """A GUID sent in upper case is the same user when looked up in lower case."""
    token = await api.token()
    user_id = new_user_id()
    await api.create(token, userId=user_id.upper())
    reply = await api.call(Op.GET_CREDENTIAL_BY_USER, token=token, path={"userId": user_id})
    assert reply.status == 200
    assert reply.json["userId"] == user_id


async def test_delete_by_user_then_again_is_410(api: Api) -> None:
    """Deleting a user's credential twice: 204, then 410 Gone."""
    token = await api.token()
    created = await api.create(token)
    path = {"userId": created["userId"]}
    first = await api.call(Op.DELETE_CREDENTIAL_BY_USER, token=token, path=path)
    second = await api.call(Op.DELETE_CREDENTIAL_BY_USER, token=token, path=path)
    assert (first.status, second.status) == (204, 410)


async def test_listing_pages_oldest_first_and_skips_deleted_and_foreign(api: Api) -> None:
    """Get All pages through the caller's active credentials in creation order."""
    token = await api.token()
    created = [await api.create(token) for _ in range(5)]
    await api.create(await api.token("other@sim.example"))
    await api.call(
        Op.DELETE_CREDENTIAL, token=token, path={"credentialId": created[1]["credentialId"]}
    )
    expected = [c["credentialId"] for c in created if c is not created[1]]
    seen: list[str] = []
    for number in (1, 2):
        page = await api.call(
            Op.LIST_CREDENTIALS, token=token, query={"pageNumber": str(number), "pageSize": "2"}
        )
        assert page.status == 200
        assert (page.json["totalCount"], page.json["totalPages"]) == (4, 2)
        seen += [c["credentialId"] for c in page.json["credentials"]]
    assert seen == expected
    beyond = await api.call(
        Op.LIST_CREDENTIALS, token=token, query={"pageNumber": "3", "pageSize": "2"}
    )
    assert beyond.status == 404


@pytest.mark.parametrize(
    "query",
    [{}, {"pageNumber": "", "pageSize": "", "startDate": "", "endDate": ""}],
    ids=["no-query", "empty-values"],
)
async def test_listing_defaults_and_empty_first_page(api: Api, query: dict[str, str]) -> None:
    """Without a query (or with empty values) the page is 1 of 50; empty still answers."""
    page = await api.call(Op.LIST_CREDENTIALS, token=await api.token(), query=query)
    assert page.status == 200
    assert page.json == {
        "credentials": [],
        "pageNumber": 1,
        "pageSize": 50,
        "totalPages": 0,
        "totalCount": 0,
    }


async def test_listing_filters_by_creation_date(api: Api) -> None:
    """startDate and endDate select credentials by the day they were created."""
    token = await api.token()
    early = await api.create(token)
    api.sim.clock.advance(3 * 86_400)
    token = await api.token()  # the first one expired 10 hours in
    late = await api.create(token)
    day = late["createdAt"][:10]
    since = await api.call(Op.LIST_CREDENTIALS, token=token, query={"startDate": day})
    until = await api.call(
        Op.LIST_CREDENTIALS, token=token, query={"endDate": early["createdAt"][:10]}
    )
    assert [c["credentialId"] for c in since.json["credentials"]] == [late["credentialId"]]
    assert [c["credentialId"] for c in until.json["credentials"]] == [early["credentialId"]]


async def test_no_tour_payloads_replace_per_device_and_set_payload_type(api: Api) -> None:
    """Saving again for the same device replaces its payload; the answer lists all of them."""
    token = await api.token()
    created = await api.create(token)
    path = {"credentialId": created["credentialId"]}

    async def save(*items: dict[str, Any]) -> Any:
        reply = await api.call(
            Op.SAVE_NO_TOUR_PAYLOADS,
            token=token,
            path=path,
            json={"NoTourPayloadDetails": list(items)},
        )
        assert reply.status == 200, reply.body
        return reply.json

    await save({"lockId": 1, "serialNumber": "door-1", "noTourPayload": PAYLOAD})
    second = "f" * 96
    answer = await save(
        {"lockId": "1", "serialNumber": "door-1", "noTourPayload": second},
        {"lockId": 2, "serialNumber": "door-2", "noTourPayload": PAYLOAD},
    )
    assert answer == {
        "credentialId": created["credentialId"],
        "noTourPayloadDetails": [
            {"lockId": 1, "serialNumber": "door-1", "noTourPayload": second},
            {"lockId": 2, "serialNumber": "door-2", "noTourPayload": PAYLOAD},
        ],
    }
    got = await api.call(Op.GET_CREDENTIAL, token=token, path=path)
    assert got.json["payloadType"] == "NoTour"


async def test_delete_payloads_by_credential_then_410(api: Api) -> None:
    """Deleting a credential's payloads is 204 once, then 410 as none are left."""
    token = await api.token()
    created = await api.create(token)
    path = {"credentialId": created["credentialId"]}
    body = {"noTourPayloadDetails": [{"lockId": 1, "serialNumber": "d", "noTourPayload": PAYLOAD}]}
    assert (
        await api.call(Op.SAVE_NO_TOUR_PAYLOADS, token=token, path=path, json=body)
    ).status == 200
    first = await api.call(Op.DELETE_NO_TOUR_PAYLOADS, token=token, path=path)
    second = await api.call(Op.DELETE_NO_TOUR_PAYLOADS, token=token, path=path)
    assert (first.status, second.status) == (204, 410)
    assert (await api.call(Op.GET_CREDENTIAL, token=token, path=path)).json["payloadType"] == "Tour"


@pytest.mark.parametrize(
    "serial", ["SN-0001", "serial/with+odd=chars?", "ünïcode-lock", "\u00ff\u00fe>"], ids=str
)
async def test_delete_by_device_removes_it_from_every_credential(api: Api, serial: str) -> None:
    """A base64 serial, percent-encoded in the path, clears that device for the integration."""
    token = await api.token()
    ours = [await api.create(token) for _ in range(2)]
    theirs_token = await api.token("other@sim.example")
    theirs = await api.create(theirs_token)
    item = {"lockId": 3, "serialNumber": serial, "noTourPayload": PAYLOAD}
    keep = {"lockId": 4, "serialNumber": "other-door", "noTourPayload": PAYLOAD}
    for created in ours:
        reply = await api.call(
            Op.SAVE_NO_TOUR_PAYLOADS,
            token=token,
            path={"credentialId": created["credentialId"]},
            json={"noTourPayloadDetails": [item, keep]},
        )
        assert reply.status == 200
    await api.call(
        Op.SAVE_NO_TOUR_PAYLOADS,
        token=theirs_token,
        path={"credentialId": theirs["credentialId"]},
        json={"noTourPayloadDetails": [item]},
    )
    path = {"serialNumber": encode_serial_number(serial)}
    first = await api.call(Op.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, token=token, path=path)
    second = await api.call(Op.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, token=token, path=path)
    assert (first.status, second.status) == (204, 404)
    for created in ours:
        record = api.sim.state.credentials[created["credentialId"]]
        assert list(record.payloads) == ["other-door"]
    assert list(api.sim.state.credentials[theirs["credentialId"]].payloads) == [serial]


async def test_invite_sms_is_in_the_outbox_with_a_24h_link(api: Api) -> None:
    """Create sends one text with a deep link; resend sends a fresh one."""
    token = await api.token()
    created = await api.create(token)
    assert len(api.sim.outbox) == 1
    sms = api.sim.outbox[0]
    assert sms.to == created["mobileNumber"]
    assert created["mobileNumber"] not in repr(sms)
    resend = await api.call(Op.RESEND_INVITE, token=token, path={"userId": created["userId"]})
    assert resend.status == 204
    outbox = (await api.control("GET", "/_sim/outbox")).json["messages"]
    assert len(outbox) == 2
    assert outbox[1]["to"] == created["mobileNumber"]
    assert outbox[0]["link"] != outbox[1]["link"]


async def test_download_marks_downloaded_and_expires_after_24h(api: Api) -> None:
    """The phone's download works within 24 h of the last invite, not after."""
    token = await api.token()
    late, fresh = await api.create(token), await api.create(token)
    api.sim.clock.advance(24 * 3600 + 1)
    token = await api.token()
    expired = await api.control("POST", f"/_sim/credentials/{late['credentialId']}/download")
    assert expired.status == 400
    assert (
        await api.call(Op.RESEND_INVITE, token=token, path={"userId": late["userId"]})
    ).status == 204
    ok = await api.control("POST", f"/_sim/credentials/{late['credentialId']}/download")
    assert ok.status == 200
    assert ok.json["isDownloaded"] is True
    got = await api.call(
        Op.GET_CREDENTIAL, token=token, path={"credentialId": late["credentialId"]}
    )
    assert got.json["isDownloaded"] is True
    unknown = await api.control("POST", f"/_sim/credentials/{new_user_id()}/download")
    assert unknown.status == 404
    assert fresh["isDownloaded"] is False


async def test_state_endpoint_shows_credentials_payloads_and_counters(api: Api) -> None:
    """``GET /_sim/state`` lists each credential with its integration and the counters."""
    token = await api.token()
    created = await api.create(token)
    await api.call(
        Op.DELETE_CREDENTIAL, token=token, path={"credentialId": created["credentialId"]}
    )
    state = (await api.control("GET", "/_sim/state")).json
    (record,) = state["credentials"]
    assert record["integration"] == "sim-integration"
    assert record["deleted"] is True
    assert record["noTourPayloads"] == []
    assert state["counters"]["requests"]["create_credential"] == {"201": 1}
    assert state["counters"]["requests"]["delete_credential"] == {"204": 1}
    assert state["counters"]["logins"] == {"attempts": 1, "succeeded": 1}


async def test_reset_forgets_credentials_but_keeps_tokens(api: Api) -> None:
    """After ``/_sim/reset`` the state is empty and an issued token still works."""
    token = await api.token()
    await api.create(token)
    assert (await api.control("POST", "/_sim/reset")).status == 204
    assert api.sim.state.credentials == {}
    assert api.sim.outbox == []
    assert (await api.call(Op.LIST_CREDENTIALS, token=token)).json["totalCount"] == 0


async def test_in_process_snapshot_matches_the_state_endpoint(api: Api) -> None:
    """``sim.state.snapshot()`` is plain JSON data, the same as ``GET /_sim/state``."""
    token = await api.token()
    created = await api.create(token, attributes={"SiteName": "Main"})
    body = {
        "noTourPayloadDetails": [{"lockId": 9, "serialNumber": "d-9", "noTourPayload": PAYLOAD}]
    }
    path = {"credentialId": created["credentialId"]}
    await api.call(Op.SAVE_NO_TOUR_PAYLOADS, token=token, path=path, json=body)
    snapshot = api.sim.state.snapshot()
    over_http = (await api.control("GET", "/_sim/state")).json
    del snapshot["clock"], over_http["clock"]
    assert msgspec.json.decode(msgspec.json.encode(snapshot)) == snapshot
    (record,) = snapshot["credentials"]
    assert record["noTourPayloads"] == [
        {"lockId": 9, "serialNumber": "d-9", "noTourPayload": PAYLOAD}
    ]
    assert record["attributes"] == {"siteName": "Main"}
    assert snapshot == over_http


async def test_integration_without_48x_mapping_may_not_use_48x(api: Api) -> None:
    """An integration with no restricted facility code gets the restricted-format 400."""
    reply = await api.call(
        Op.CREATE_CREDENTIAL,
        token=await api.token("other@sim.example"),
        json={
            "userId": new_user_id(),
            "mobileNumber": new_mobile(),
            "cardFormat": "48X",
            "facilityCode": 1234,
            "issueCode": 20,
        },
    )
    assert reply.status == 400
    assert reply.json["message"].startswith("You do not have permission to create")


async def test_a_deleted_credential_is_not_found_to_reads_and_payloads(api: Api) -> None:
    """After a delete: get, save and delete-payloads are 404; a second delete is 410."""
    token = await api.token()
    created = await api.create(token)
    path = {"credentialId": created["credentialId"]}
    assert (await api.call(Op.DELETE_CREDENTIAL, token=token, path=path)).status == 204
    body = {"noTourPayloadDetails": [{"lockId": 1, "serialNumber": "d", "noTourPayload": PAYLOAD}]}
    statuses = [
        (await api.call(Op.GET_CREDENTIAL, token=token, path=path)).status,
        (await api.call(Op.SAVE_NO_TOUR_PAYLOADS, token=token, path=path, json=body)).status,
        (await api.call(Op.DELETE_NO_TOUR_PAYLOADS, token=token, path=path)).status,
        (await api.call(Op.DELETE_CREDENTIAL, token=token, path=path)).status,
    ]
    assert statuses == [404, 404, 404, 410]
