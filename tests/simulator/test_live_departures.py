"""The public QA suite's cases of the live service, as plain HTTP against the simulator.

The facts are the contract's [V] items (API-CONTRACT.md, "Where the live service departs
from the guide"); the cases are written here, not copied. In the default (live) wording
all 14 hold; with ``wording="guide"`` all but the three whose words changed hold, and
those three answer with the guide's words instead.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from schlage_async._routes import Operation
from schlage_async.simulator import SimulatorConfig

from .conftest import Api, ApiFactory, new_mobile, new_user_id

LIVE_NOT_FOUND = "The requested credential was not found."
LIVE_NO_USER = "The requested user is not associated with credential."
ROLE_203 = (
    "You do not have permission to access the requested resource. Please contact your site "
    "administrator for more information (203)."
)
# The three cases whose words the live service changed, as each wording answers them.
CHANGED = {
    "live": {"get": LIVE_NOT_FOUND, "get_by_user": LIVE_NO_USER, "resend": LIVE_NO_USER},
    "guide": {
        "get": "The requested credential was not found",
        "get_by_user": "The requested user is not associated with a credential",
        "resend": "The requested user was not found",
    },
}


@pytest.fixture(params=["live", "guide"])
async def qa(request: pytest.FixtureRequest, make_api: ApiFactory) -> tuple[Api, str]:
    """A caller for a simulator in each wording, and the wording's name."""
    wording = request.param
    return await make_api(SimulatorConfig(wording=wording)), wording


def _qa_body() -> dict[str, Any]:
    """The suite's create body: numbers as strings, attributes capitalised."""
    return {
        "userId": new_user_id(),
        "mobileNumber": new_mobile(),
        "cardFormat": "26A",
        "facilityCode": "0",
        "issueCode": "0",
        "Attributes": {"SiteId": "site-7", "SiteName": "Maple Court"},
    }


async def _created(api: Api) -> tuple[str, dict[str, Any], dict[str, Any]]:
    token = await api.token()
    body = _qa_body()
    reply = await api.call(Operation.CREATE_CREDENTIAL, token=token, json=body)
    assert reply.status == 201, reply.body
    return token, body, reply.json


async def test_qa_01_login_answers_a_jwt(qa: tuple[Api, str]) -> None:
    """Case 1: the login answers 200 with a JWT-shaped token."""
    api, _ = qa
    reply = await api.login_reply(api.sim.admin.username, api.sim.admin.password)
    assert reply.status == 200
    assert reply.json["token"].count(".") == 2


async def test_qa_02_create_accepts_numbers_sent_as_strings(qa: tuple[Api, str]) -> None:
    """Case 2: facilityCode "0" and issueCode "0" as strings are accepted: 201 with the ids."""
    api, _ = qa
    _, _, created = await _created(api)
    assert uuid.UUID(created["credentialId"])
    assert isinstance(created["cardNumber"], int)


async def test_qa_03_get_by_credential_id_answers_every_field(qa: tuple[Api, str]) -> None:
    """Case 3: Get by credential id answers the credential with the suite's fields."""
    api, _ = qa
    token, body, created = await _created(api)
    reply = await api.call(
        Operation.GET_CREDENTIAL, token=token, path={"credentialId": created["credentialId"]}
    )
    assert reply.status == 200
    got = reply.json
    assert got["credentialId"] == created["credentialId"]
    assert got["userId"] == body["userId"]
    assert got["mobileNumber"] == body["mobileNumber"]
    assert got["cardNumber"] == created["cardNumber"]
    assert (got["facilityCode"], got["issueCode"], got["isDownloaded"]) == (0, 0, False)
    assert got["payloadType"]
    assert got["attributes"] == {"siteId": "site-7", "siteName": "Maple Court"}


async def test_qa_04_get_by_user_id_answers_the_same_credential(qa: tuple[Api, str]) -> None:
    """Case 4: Get by user id answers the credential just created."""
    api, _ = qa
    token, body, created = await _created(api)
    reply = await api.call(
        Operation.GET_CREDENTIAL_BY_USER, token=token, path={"userId": body["userId"]}
    )
    assert reply.status == 200
    assert reply.json["credentialId"] == created["credentialId"]


async def test_qa_05_resend_answers_204(qa: tuple[Api, str]) -> None:
    """Case 5: resending the invite of a fresh credential answers 204, no body."""
    api, _ = qa
    token, body, _ = await _created(api)
    reply = await api.call(Operation.RESEND_INVITE, token=token, path={"userId": body["userId"]})
    assert (reply.status, reply.body) == (204, b"")


@pytest.mark.parametrize(
    ("case", "operation", "name"),
    [
        pytest.param("get", Operation.GET_CREDENTIAL, "credentialId", id="06-get"),
        pytest.param("get_by_user", Operation.GET_CREDENTIAL_BY_USER, "userId", id="07-by-user"),
        pytest.param("resend", Operation.RESEND_INVITE, "userId", id="08-resend"),
    ],
)
async def test_qa_06_to_08_unknown_ids_answer_404_in_the_wording(
    qa: tuple[Api, str], case: str, operation: Operation, name: str
) -> None:
    """Cases 6-8: unknown ids answer 404; the live words in live wording, else the guide's."""
    api, wording = qa
    token = await api.token()
    reply = await api.call(operation, token=token, path={name: str(uuid.uuid4())})
    assert reply.status == 404
    assert reply.json["message"] == CHANGED[wording][case]
    # The words that held in the suite are the live service's: only live wording has them.
    live = {"get": LIVE_NOT_FOUND, "get_by_user": LIVE_NO_USER, "resend": LIVE_NO_USER}[case]
    assert (reply.json["message"] == live) is (wording == "live")


@pytest.mark.parametrize(
    ("operation", "name"),
    [
        pytest.param(Operation.GET_CREDENTIAL, "credentialId", id="09-credential-id"),
        pytest.param(Operation.GET_CREDENTIAL_BY_USER, "userId", id="10-user-id"),
    ],
)
async def test_qa_09_10_a_malformed_id_in_the_path_is_404(
    qa: tuple[Api, str], operation: Operation, name: str
) -> None:
    """Cases 9-10: a malformed id in the path answers 404."""
    api, _ = qa
    token = await api.token()
    reply = await api.call(operation, token=token, path={name: "not-a-guid"})
    assert reply.status == 404


@pytest.mark.parametrize("who", ["manager", "operator"], ids=["11-manager", "12-operator"])
async def test_qa_11_12_managers_and_operators_get_403_with_203(
    qa: tuple[Api, str], who: str
) -> None:
    """Cases 11-12: a manager or an operator creating a credential gets 403 and "(203)."."""
    api, _ = qa
    token = await api.token(f"{who}@sim.example")
    reply = await api.call(Operation.CREATE_CREDENTIAL, token=token, json=_qa_body())
    assert reply.status == 403
    assert reply.json["message"] == ROLE_203


async def test_qa_13_a_call_without_the_bearer_token_is_401(qa: tuple[Api, str]) -> None:
    """Case 13: a credential call without ``Authorization`` answers 401."""
    api, _ = qa
    reply = await api.call(Operation.GET_CREDENTIAL, path={"credentialId": str(uuid.uuid4())})
    assert reply.status == 401


async def test_qa_14_create_with_json_numbers_still_201(qa: tuple[Api, str]) -> None:
    """Case 14: the same create with JSON numbers (what our client sends) answers 201."""
    api, _ = qa
    body = {**_qa_body(), "facilityCode": 0, "issueCode": 0}
    reply = await api.call(Operation.CREATE_CREDENTIAL, token=await api.token(), json=body)
    assert reply.status == 201


@pytest.mark.parametrize(
    ("field", "value", "accepted"),
    [
        pytest.param("facilityCode", "12", True, id="facility-digits"),
        pytest.param("facilityCode", "1x", False, id="facility-not-digits"),
        pytest.param("facilityCode", "-1", False, id="facility-negative"),
        pytest.param("facilityCode", "256", False, id="facility-out-of-range"),
        pytest.param("issueCode", "1", False, id="issue-not-zero"),
    ],
)
async def test_numeric_strings_obey_the_same_rules_as_numbers(
    qa: tuple[Api, str], field: str, value: str, accepted: bool
) -> None:
    """A numeric string is read as its number; anything else is refused as a non-number."""
    api, _ = qa
    body = {**_qa_body(), field: value}
    reply = await api.call(Operation.CREATE_CREDENTIAL, token=await api.token(), json=body)
    assert (reply.status == 201) is accepted, reply.body
    if accepted:
        assert reply.json["facilityCode"] == int(value)


async def test_a_lock_id_sent_as_a_string_is_saved(qa: tuple[Api, str]) -> None:
    """``lockId`` as a numeric string is accepted by Save No-Tour Payloads."""
    api, _ = qa
    token, _, created = await _created(api)
    reply = await api.call(
        Operation.SAVE_NO_TOUR_PAYLOADS,
        token=token,
        path={"credentialId": created["credentialId"]},
        json={
            "noTourPayloadDetails": [
                {"lockId": "42", "serialNumber": "SN-1", "noTourPayload": "ab" * 48}
            ]
        },
    )
    assert reply.status == 200
    assert reply.json["noTourPayloadDetails"][0]["lockId"] == 42
