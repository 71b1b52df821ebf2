"""Surface B, ENGAGE Cloud Credentialing (seed 001): its credentials, devices and rules.

The OpenAPI document gives schemas and statuses but no error wording, so the messages
here are the simulator's own ([I]), in the document's ``Error`` shape ``{code, message}``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, get_args

import msgspec

from .._models import (
    EngageCredential,
    EngageCredentialList,
    EngageCredentialStatus,
    EngageDevice,
    EngageDeviceList,
    EngageDeviceModel,
)
from ._accounts import Account, Accounts, AccountStatus
from ._answers import Answer, lower_keys
from ._clock import SimClock

__all__ = ["ENGAGE_STATUSES", "EngageError", "EngageRecord", "EngageState"]

ENGAGE_STATUSES: Final = ("Active", "Revoked", "Expired")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_DEVICE_NAMESPACE: Final = uuid.UUID("0b6f3c9e-5a57-4c55-9d0e-6a1f6c1d2e3f")


class _ErrorBody(msgspec.Struct):
    code: str
    message: str


class EngageError(Exception):
    """Surface B refuses a request: status, the Error schema's code, and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def answer(self) -> Answer:
        """This error in the seed's ``Error`` shape."""
        return Answer.json(self.status, _ErrorBody(self.code, self.message))


def _iso(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_datetime(value: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=dt.UTC)


def _moment(text: str | None) -> dt.datetime | None:
    """A time the record keeps as ISO 8601 text, for the typed answer model."""
    return dt.datetime.fromisoformat(text) if text is not None else None


@dataclass(slots=True, eq=False)
class EngageRecord:
    """One ENGAGE mobile credential as the simulator keeps it."""

    credential_id: str
    integration: str
    user_id: str
    access_profile: str
    user_email: str | None
    user_name: str | None
    valid_from: str | None
    valid_to: str | None
    valid_to_ts: float | None  # valid_to as epoch seconds, for the Expired status
    created_at: str
    revoked_at: str | None = None

    def status(self, now: float) -> str:
        """Revoked once deleted, Expired after validTo, else Active."""
        if self.revoked_at is not None:
            return "Revoked"
        if self.valid_to_ts is not None and now >= self.valid_to_ts:
            return "Expired"
        return "Active"

    def answer(self, now: float) -> EngageCredential:
        """The seed's ``MobileCredential`` for this record."""
        return EngageCredential(
            credential_id=self.credential_id,
            user_id=self.user_id,
            user_email=self.user_email,
            user_name=self.user_name,
            status=EngageCredentialStatus(self.status(now)),
            access_profile=self.access_profile,
            valid_from=_moment(self.valid_from),
            valid_to=_moment(self.valid_to),
            created_at=_moment(self.created_at),
            revoked_at=_moment(self.revoked_at),
        )


class EngageState:
    """Each tenant's (integration's) ENGAGE credentials and its seeded devices."""

    def __init__(self, accounts: Accounts, clock: SimClock) -> None:
        self._accounts = accounts
        self._clock = clock
        self.credentials: dict[str, EngageRecord] = {}  # by credential id, oldest first
        self.devices: dict[str, tuple[EngageDevice, ...]] = {
            iid: _seed_devices(iid) for iid in accounts.integrations
        }

    def reset(self) -> None:
        """Forget every ENGAGE credential (devices stay)."""
        self.credentials.clear()

    def authenticate(self, header: str | None) -> Account:
        """Return the active account named by an HTTP Basic header; 401 otherwise."""
        unauthorized = EngageError(
            401, "unauthorized", "Missing or invalid Basic Auth credentials."
        )
        if not header or not header[:6].lower() == "basic ":
            raise unauthorized
        try:
            decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthorized from None
        username, sep, password = decoded.partition(":")
        account = self._accounts.account(username)
        if (
            not sep
            or account is None
            or account.status is not AccountStatus.ACTIVE
            or account.password != password
        ):
            raise unauthorized
        return account

    def list_credentials(
        self, account: Account, *, user_id: str | None, status: str | None
    ) -> EngageCredentialList:
        """List credentials of the tenant; ``status`` defaults to Active ([I])."""
        wanted = status or "Active"
        if wanted not in ENGAGE_STATUSES:
            raise EngageError(400, "bad_request", "status must be Active, Revoked or Expired.")
        now = self._clock.time()
        return EngageCredentialList(
            credentials=tuple(
                record.answer(now)
                for record in self.credentials.values()
                if record.integration == account.integration
                and (user_id is None or record.user_id == user_id)
                and record.status(now) == wanted
            )
        )

    def upload(self, account: Account, body: object) -> EngageCredential:
        """Upload a credential (``userId`` and ``accessProfile`` required)."""
        if not isinstance(body, Mapping):
            raise EngageError(400, "bad_request", "The request body must be a JSON object.")
        fields = lower_keys(body)
        problems: list[str] = []
        strings: dict[str, str | None] = {}
        for name, required in (
            ("userId", True),
            ("accessProfile", True),
            ("userEmail", False),
            ("userName", False),
            ("validFrom", False),
            ("validTo", False),
        ):
            value = fields.get(name.lower())
            if value is None:
                if required:
                    problems.append(f"{name} is required.")
                strings[name] = None
            elif not isinstance(value, str) or (required and not value.strip()):
                problems.append(f"{name} must be a non-empty string.")
                strings[name] = None
            else:
                strings[name] = value
        email = strings["userEmail"]
        if email is not None and _EMAIL.match(email) is None:
            problems.append("userEmail must be an email address.")
        moments: dict[str, dt.datetime | None] = {}
        for name in ("validFrom", "validTo"):
            text = strings[name]
            moments[name] = _parse_datetime(text) if text is not None else None
            if text is not None and moments[name] is None:
                problems.append(f"{name} must be an ISO 8601 date-time.")
        start, end = moments["validFrom"], moments["validTo"]
        if start is not None and end is not None and end <= start:
            problems.append("validTo must be after validFrom.")
        if problems:
            raise EngageError(400, "bad_request", " ".join(problems))
        record = EngageRecord(
            credential_id=str(uuid.uuid4()),
            integration=account.integration,
            user_id=str(strings["userId"]),
            access_profile=str(strings["accessProfile"]),
            user_email=email,
            user_name=strings["userName"],
            # Answered as full date-times (the seed's format), however they were sent. [I]
            valid_from=_iso(start) if start is not None else None,
            valid_to=_iso(end) if end is not None else None,
            valid_to_ts=end.timestamp() if end is not None else None,
            created_at=_iso(self._clock.now()),
        )
        self.credentials[record.credential_id] = record
        return record.answer(self._clock.time())

    def _record(self, account: Account, credential_id: str) -> EngageRecord:
        record = self.credentials.get(credential_id)
        if record is None or record.integration != account.integration:
            raise EngageError(404, "not_found", "Credential not found in tenant.")
        return record

    def get(self, account: Account, credential_id: str) -> EngageCredential:
        """Get one credential of the tenant (revoked ones too)."""
        return self._record(account, credential_id).answer(self._clock.time())

    def delete(self, account: Account, credential_id: str) -> None:
        """Revoke a credential; revoking it again is a no-op ([I])."""
        record = self._record(account, credential_id)
        if record.revoked_at is None:
            record.revoked_at = _iso(self._clock.now())

    def list_devices(self, account: Account) -> EngageDeviceList:
        """The tenant's seeded devices, one per model of the seed's enum."""
        return EngageDeviceList(devices=self.devices.get(account.integration, ()))

    def snapshot(self) -> list[dict[str, object]]:
        """Every ENGAGE credential, for ``GET /_sim/state``."""
        now = self._clock.time()
        return [
            {"integration": r.integration, **msgspec.to_builtins(r.answer(now))}
            for r in self.credentials.values()
        ]


def _seed_devices(integration: str) -> tuple[EngageDevice, ...]:
    """One device per model of the seed's enum, with ids stable across runs."""
    return tuple(
        EngageDevice(
            device_id=str(uuid.uuid5(_DEVICE_NAMESPACE, f"{integration}/{model}")),
            name=f"{model} door {n}",
            model=model,
            firmware_version=f"1.{n}.0",
            site_id=f"{integration}-site",
        )
        for n, model in enumerate(get_args(EngageDeviceModel), start=1)
    )
