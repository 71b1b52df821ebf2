"""The simulator's memory and the service's rules over it (surface A).

Every lookup a request makes is a dict access: credentials by id, the active
credential by (integration, user id) and by (integration, mobile number), credential
ids by (integration, device serial number), and the next card number per (card format,
facility code). Nothing a request does grows with the number of credentials except the
date-filtered listing, which scans.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import secrets
import uuid
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec

from .._models import RESTRICTED_CARD_FORMAT, NoTourPayload
from .._routes import Operation
from .._seed_errors import ErrorCode
from .._validation import (
    ATTRIBUTE_KEYS,
    as_uint,
    check_create_credential,
    check_save_no_tour_payloads,
)
from ._accounts import Integration
from ._answers import Refusal, lower_keys
from ._clock import SimClock
from ._config import SimulatorConfig
from ._engage import EngageState
from ._faults import FaultInjector
from ._wire import CredentialAnswer, PageAnswer, SavedPayloadsAnswer, SiteAttributes

__all__ = [
    "INVITE_LIFETIME",
    "Counters",
    "CredentialRecord",
    "DownloadRefused",
    "SimulatorState",
    "SmsMessage",
    "mask_mobile",
]

_log = logging.getLogger("schlage_async.simulator")

INVITE_LIFETIME: Final = 24 * 3600.0
"""Seconds an invite's deep link stays valid (the guide's FAQ: 24 hours)."""

_O = Operation
_C = ErrorCode


def mask_mobile(number: str) -> str:
    """A mobile number as logs may show it: ``+1******7890``."""
    if len(number) <= 6:
        return "*" * len(number)
    return number[:2] + "*" * (len(number) - 6) + number[-4:]


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _iso_epoch(seconds: float) -> str:
    return _iso(dt.datetime.fromtimestamp(seconds, dt.UTC))


@dataclass(frozen=True, slots=True, repr=False)
class SmsMessage:
    """One text message the simulator "sent": the invite with its deep link."""

    to: str  # the full E.164 number (tests read it; logs mask it)
    body: str
    link: str
    credential_id: str
    user_id: str
    sent_at: float  # epoch seconds, simulator clock
    expires_at: float  # when the link stops working (24 hours later)

    def __repr__(self) -> str:
        return (
            f"SmsMessage(to={mask_mobile(self.to)!r}, credential_id={self.credential_id!r}, "
            f"sent_at={self.sent_at!r})"
        )

    def as_json(self) -> dict[str, str]:
        """This message as ``GET /_sim/outbox`` lists it (times in ISO 8601)."""
        return {
            "to": self.to,
            "body": self.body,
            "link": self.link,
            "credentialId": self.credential_id,
            "userId": self.user_id,
            "sentAt": _iso_epoch(self.sent_at),
            "expiresAt": _iso_epoch(self.expires_at),
        }


@dataclass(slots=True, eq=False, repr=False)
class CredentialRecord:
    """One mobile credential as the simulator keeps it (active or deleted)."""

    credential_id: str
    integration: str
    user_id: str
    mobile_number: str
    card_format: str
    facility_code: int | None
    issue_code: int
    card_number: int
    attributes: SiteAttributes | None
    created_at: str
    created_date: dt.date
    invite_link: str
    invite_expires_at: float  # wall-clock seconds (simulator clock)
    is_downloaded: bool = False
    deleted: bool = False
    deleted_at: str | None = None
    payloads: dict[str, NoTourPayload] = field(default_factory=dict)  # by serial number

    def __repr__(self) -> str:
        return (
            f"CredentialRecord({self.credential_id!r}, user={self.user_id!r}, "
            f"mobile={mask_mobile(self.mobile_number)!r}, deleted={self.deleted})"
        )

    @property
    def payload_type(self) -> str:
        """The payload type: "NoTour" while no-tour payloads are stored, else "Tour" ([I])."""
        return "NoTour" if self.payloads else "Tour"

    def answer(self) -> CredentialAnswer:
        """The credential as the service answers it."""
        return CredentialAnswer(
            credential_id=self.credential_id,
            user_id=self.user_id,
            mobile_number=self.mobile_number,
            payload_type=self.payload_type,
            card_number=self.card_number,
            card_format=self.card_format,
            facility_code=self.facility_code,
            issue_code=self.issue_code,
            is_downloaded=self.is_downloaded,
            created_at=self.created_at,
            attributes=self.attributes,
        )

    def as_json(self) -> dict[str, object]:
        """Everything about the credential, as ``GET /_sim/state`` shows it."""
        return {
            "credentialId": self.credential_id,
            "integration": self.integration,
            "userId": self.user_id,
            "mobileNumber": self.mobile_number,
            "payloadType": self.payload_type,
            "cardNumber": self.card_number,
            "cardFormat": self.card_format,
            "facilityCode": self.facility_code,
            "issueCode": self.issue_code,
            "isDownloaded": self.is_downloaded,
            "attributes": self.attributes,
            "createdAt": self.created_at,
            "inviteLink": self.invite_link,
            "inviteExpiresAt": _iso_epoch(self.invite_expires_at),
            "deleted": self.deleted,
            "deletedAt": self.deleted_at,
            "noTourPayloads": list(self.payloads.values()),
        }


class DownloadRefused(Exception):
    """``/_sim/credentials/{id}/download`` cannot proceed: status and reason."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(slots=True)
class Counters:
    """What the simulator has seen, for ``GET /_sim/state`` and benchmarks."""

    requests: Counter[tuple[str, int]] = field(default_factory=Counter)  # (operation, status)
    login_attempts: int = 0
    logins_succeeded: int = 0
    too_many_requests: int = 0  # 429 answers of every kind
    # (lane, status): answers by the X-Schlage-Lane header ("none" without one)
    lanes: Counter[tuple[str, int]] = field(default_factory=Counter)

    def as_json(self) -> dict[str, object]:
        """The counters as JSON: requests by operation, then by status."""
        by_op: dict[str, dict[str, int]] = {}
        for (operation, status), count in sorted(self.requests.items()):
            by_op.setdefault(operation, {})[str(status)] = count
        return {
            "requests": by_op,
            "logins": {"attempts": self.login_attempts, "succeeded": self.logins_succeeded},
            "tooManyRequests": self.too_many_requests,
            "lanes": self.lanes_json(),
        }

    def lanes_json(self) -> dict[str, dict[str, int]]:
        """Answers by lane: ``total``, ``ok`` (2xx), ``429``, and each status by its code."""
        lanes: dict[str, dict[str, int]] = {}
        for (lane, status), count in sorted(self.lanes.items()):
            entry = lanes.setdefault(lane, {"total": 0, "ok": 0, "429": 0})
            entry["total"] += count
            if 200 <= status < 300:
                entry["ok"] += count
            if status != 429:
                entry[str(status)] = entry.get(str(status), 0) + count
            else:
                entry["429"] += count
        return lanes


class SimulatorState:
    """Accounts' credentials, invites and counters, with the rules of every operation."""

    def __init__(self, config: SimulatorConfig, clock: SimClock, faults: FaultInjector) -> None:
        self._config = config
        self._clock = clock
        self._faults = faults  # only read, for snapshot()
        self.engage = EngageState(config.accounts, clock)
        self._clear()

    def reset(self) -> None:
        """Forget every credential, invite and counter (accounts and clock stay)."""
        self.engage.reset()
        self._clear()

    def _clear(self) -> None:
        self.counters = Counters()
        self.outbox: list[SmsMessage] = []
        self.credentials: dict[str, CredentialRecord] = {}  # every credential, by id
        self._active_by_user: dict[tuple[str, str], str] = {}  # (integration, user) -> id
        self._latest_by_user: dict[tuple[str, str], str] = {}  # incl. deleted
        self._active_by_mobile: dict[tuple[str, str], str] = {}  # (integration, mobile) -> id
        self._active: dict[str, dict[str, None]] = {}  # integration -> active ids, oldest first
        self._active_list: dict[str, list[str]] = {}  # cached list(self._active[i]) for paging
        self._devices: dict[tuple[str, str], set[str]] = {}  # (integration, serial) -> ids
        self._next_card: dict[tuple[str, str, int | None], int] = {}  # next card number per key

    # --- lookups -----------------------------------------------------------------------

    def active_for_user(self, integration: str, user_id: str) -> CredentialRecord | None:
        """The user's active credential in ``integration``, if any."""
        cid = self._active_by_user.get((integration, user_id.lower()))
        return self.credentials[cid] if cid is not None else None

    def _owned(
        self, op: Operation, integration: Integration, credential_id: str
    ) -> CredentialRecord:
        record = self.credentials.get(credential_id.lower())
        if record is None:
            raise Refusal.row(op, _C.CREDENTIAL_NOT_FOUND)
        if record.integration != integration.id:
            raise Refusal.row(op, _C.CREDENTIAL_NOT_OWNED)
        return record

    def _live(
        self, op: Operation, integration: Integration, credential_id: str
    ) -> CredentialRecord:
        record = self._owned(op, integration, credential_id)
        if record.deleted:  # [I] a deleted credential is "not found" to every lookup
            raise Refusal.row(op, _C.CREDENTIAL_NOT_FOUND)
        return record

    # --- operations --------------------------------------------------------------------

    def create_credential(self, integration: Integration, body: object) -> CredentialRecord:
        """Create Credential: validate, check conflicts, assign the next card number."""
        op = _O.CREATE_CREDENTIAL
        restricted = integration.restricted
        problems = check_create_credential(body, restricted=restricted)
        if problems:
            raise Refusal.of(op, problems)
        assert isinstance(body, Mapping)  # check_create_credential refused anything else
        fields = lower_keys(body)
        card_format = str(fields["cardformat"])
        if restricted is None and card_format == RESTRICTED_CARD_FORMAT:
            # An integration without a 48X mapping may not use the restricted format.
            raise Refusal.row(op, _C.RESTRICTED_FORMAT_FORBIDDEN)
        iid = integration.id
        user_id = str(fields["userid"]).lower()
        mobile = str(fields["mobilenumber"])
        if (iid, user_id) in self._active_by_user:
            raise Refusal.row(op, _C.USER_ID_CONFLICT)
        if (iid, mobile) in self._active_by_mobile:
            raise Refusal.row(op, _C.MOBILE_NUMBER_CONFLICT)
        # Numbers may arrive as numeric strings ([V]); validation accepted them.
        facility_code = as_uint(fields.get("facilitycode"))
        issue_code = as_uint(fields.get("issuecode")) or 0
        # [I] 48X numbers count per integration; open formats share one range per
        # (format, facility code) across integrations, as the guide's "no uniqueness" says.
        key = (iid if card_format == RESTRICTED_CARD_FORMAT else "", card_format, facility_code)
        card_number = self._next_card.get(key, 1)
        if card_number > self._config.max_card_number(card_format):
            raise Refusal.row(op, _C.CARD_NUMBERS_EXHAUSTED)
        self._next_card[key] = card_number + 1

        now = self._clock.now()
        record = CredentialRecord(
            credential_id=str(uuid.uuid4()),
            integration=iid,
            user_id=user_id,
            mobile_number=mobile,
            card_format=card_format,
            facility_code=facility_code,
            issue_code=issue_code,
            card_number=card_number,
            attributes=_attributes(fields.get("attributes")),
            created_at=_iso(now),
            created_date=now.date(),
            invite_link="",
            invite_expires_at=0.0,
        )
        cid = record.credential_id
        self.credentials[cid] = record
        self._active_by_user[(iid, user_id)] = cid
        self._latest_by_user[(iid, user_id)] = cid
        self._active_by_mobile[(iid, mobile)] = cid
        self._active.setdefault(iid, {})[cid] = None
        cached = self._active_list.get(iid)
        if cached is not None:
            cached.append(cid)
        self._send_invite(record)
        return record

    def resend_invite(self, integration: Integration, user_id: str) -> None:
        """Resend Text Message: a fresh deep link to the user's active credential."""
        op = _O.RESEND_INVITE
        key = (integration.id, user_id.lower())
        cid = self._active_by_user.get(key)
        if cid is None:
            if key in self._latest_by_user:
                raise Refusal.row(op, _C.CREDENTIAL_NOT_FOUND)
            raise Refusal.row(op, _C.USER_NOT_FOUND)
        record = self.credentials[cid]
        if record.is_downloaded:
            raise Refusal.row(op, _C.CREDENTIAL_DOWNLOADED)
        self._send_invite(record)

    def save_no_tour_payloads(
        self, integration: Integration, credential_id: str, body: object
    ) -> SavedPayloadsAnswer:
        """Save No-Tour Payloads: store per device, replacing that device's earlier one."""
        op = _O.SAVE_NO_TOUR_PAYLOADS
        problems = check_save_no_tour_payloads(body)
        if problems:
            raise Refusal.of(op, problems)
        record = self._live(op, integration, credential_id)
        assert isinstance(body, Mapping)  # check_save_no_tour_payloads refused anything else
        details = lower_keys(body)["notourpayloaddetails"]
        assert isinstance(details, list)
        for item in details:
            fields = lower_keys(item)
            serial = str(fields["serialnumber"])
            lock_id = fields["lockid"]
            payload = NoTourPayload(
                lock_id=int(str(lock_id).strip()),  # validated: an int or a string of digits
                serial_number=serial,
                no_tour_payload=str(fields["notourpayload"]),
            )
            record.payloads[serial] = payload
            self._devices.setdefault((integration.id, serial), set()).add(record.credential_id)
        return SavedPayloadsAnswer(
            credential_id=record.credential_id,
            no_tour_payload_details=list(record.payloads.values()),
        )

    def get_credential(self, integration: Integration, credential_id: str) -> CredentialRecord:
        """Get Credential by Credential Id."""
        return self._live(_O.GET_CREDENTIAL, integration, credential_id)

    def get_credential_by_user(self, integration: Integration, user_id: str) -> CredentialRecord:
        """Get Credential by User Id: the user's active credential."""
        record = self.active_for_user(integration.id, user_id)
        if record is None:
            raise Refusal.row(_O.GET_CREDENTIAL_BY_USER, _C.USER_NOT_FOUND)
        return record

    def list_credentials(
        self,
        integration: Integration,
        *,
        page_number: int,
        page_size: int,
        start: dt.date | None,
        end: dt.date | None,
    ) -> PageAnswer:
        """Get All Credentials: active ones, oldest first, optionally by creation date."""
        ids = self._active_list.get(integration.id)
        if ids is None:
            ids = self._active_list[integration.id] = list(self._active.get(integration.id, ()))
        first = (page_number - 1) * page_size
        if start is None and end is None:
            total = len(ids)
            page = [self.credentials[cid] for cid in ids[first : first + page_size]]
        else:
            chosen = [
                record
                for record in map(self.credentials.__getitem__, ids)
                if (start is None or record.created_date >= start)
                and (end is None or record.created_date <= end)
            ]
            total = len(chosen)
            page = chosen[first : first + page_size]
        total_pages = math.ceil(total / page_size)
        if page_number > max(1, total_pages):
            raise Refusal.row(_O.LIST_CREDENTIALS, _C.PAGE_NOT_FOUND)
        return PageAnswer(
            credentials=[record.answer() for record in page],
            page_number=page_number,
            page_size=page_size,
            total_pages=total_pages,
            total_count=total,
        )

    def delete_no_tour_payloads(self, integration: Integration, credential_id: str) -> None:
        """Delete No-Tour Payloads by Credential Id: 410 once none are left."""
        op = _O.DELETE_NO_TOUR_PAYLOADS
        record = self._live(op, integration, credential_id)
        if not record.payloads:
            raise Refusal.row(op, _C.PAYLOADS_GONE)
        self._drop_payloads(record)

    def delete_no_tour_payloads_by_device(self, integration: Integration, serial: str) -> None:
        """Delete No-Tour Payloads by Device: that device's payloads, every credential."""
        ids = self._devices.pop((integration.id, serial), None)
        if not ids:
            raise Refusal.row(_O.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE, _C.DEVICE_NOT_FOUND)
        for cid in ids:
            self.credentials[cid].payloads.pop(serial, None)

    def delete_credential(self, integration: Integration, credential_id: str) -> None:
        """Delete Credential by Credential Id: 410 when already deleted."""
        op = _O.DELETE_CREDENTIAL
        record = self._owned(op, integration, credential_id)
        if record.deleted:
            raise Refusal.row(op, _C.CREDENTIAL_DELETED)
        self._delete(record)

    def delete_credential_by_user(self, integration: Integration, user_id: str) -> None:
        """Delete Credential by User Id: the user's active one; 410 if the latest is deleted."""
        op = _O.DELETE_CREDENTIAL_BY_USER
        key = (integration.id, user_id.lower())
        cid = self._active_by_user.get(key)
        if cid is None:
            if key in self._latest_by_user:
                raise Refusal.row(op, _C.CREDENTIAL_DELETED)
            raise Refusal.row(op, _C.CREDENTIAL_NOT_FOUND)
        self._delete(self.credentials[cid])

    # --- what the patron's phone does ---------------------------------------------------

    def download(self, credential_id: str) -> CredentialRecord:
        """Mark a credential downloaded, as tapping the deep link in time does."""
        record = self.credentials.get(credential_id.lower())
        if record is None:
            raise DownloadRefused(404, "The requested credential was not found")
        if record.deleted:
            raise DownloadRefused(410, "The credential was deleted")
        if not record.is_downloaded and self._clock.time() >= record.invite_expires_at:
            raise DownloadRefused(400, "The invite has expired (24 hours after it was sent)")
        record.is_downloaded = True
        return record

    # --- internals ---------------------------------------------------------------------

    def _send_invite(self, record: CredentialRecord) -> None:
        now = self._clock.time()
        record.invite_link = "https://sim.example/mobile-access/invite/" + secrets.token_urlsafe(16)
        record.invite_expires_at = now + INVITE_LIFETIME
        self.outbox.append(
            SmsMessage(
                to=record.mobile_number,
                body=f"Your Schlage mobile credential is ready: {record.invite_link}",
                link=record.invite_link,
                credential_id=record.credential_id,
                user_id=record.user_id,
                sent_at=now,
                expires_at=record.invite_expires_at,
            )
        )
        _log.debug("invite sent to %s", mask_mobile(record.mobile_number))

    def _drop_payloads(self, record: CredentialRecord) -> None:
        for serial in record.payloads:
            ids = self._devices.get((record.integration, serial))
            if ids is not None:
                ids.discard(record.credential_id)
                if not ids:
                    del self._devices[(record.integration, serial)]
        record.payloads.clear()

    def _delete(self, record: CredentialRecord) -> None:
        iid, cid = record.integration, record.credential_id
        record.deleted = True
        record.deleted_at = _iso(self._clock.now())
        self._drop_payloads(record)  # [I] a deleted credential keeps no door access
        del self._active_by_user[(iid, record.user_id)]
        del self._active_by_mobile[(iid, record.mobile_number)]
        del self._active[iid][cid]
        self._active_list.pop(iid, None)  # rebuilt on the next listing

    def snapshot(self) -> dict[str, Any]:
        """Every credential, counter and injected fault as plain JSON-ready builtins.

        This is exactly what ``GET /_sim/state`` answers.
        """
        data = {
            "clock": {"now": _iso(self._clock.now()), "offsetSeconds": self._clock.offset},
            "credentials": [record.as_json() for record in self.credentials.values()],
            "engageCredentials": self.engage.snapshot(),
            "outboxSize": len(self.outbox),
            "counters": self.counters.as_json(),
            "faults": {"spec": str(self._faults.spec), "injected": dict(self._faults.counts)},
        }
        builtins: dict[str, Any] = msgspec.to_builtins(data)
        return builtins


def _attributes(value: object) -> SiteAttributes | None:
    if not isinstance(value, Mapping) or not value:
        return None
    named: dict[str, str] = {}
    for key, item in value.items():
        named.setdefault(ATTRIBUTE_KEYS[key.lower()], str(item))
    return SiteAttributes(site_id=named.get("siteId"), site_name=named.get("siteName"))
