"""Wire models of both surfaces: frozen msgspec Structs, one reused decoder per type.

Every response type ignores unknown fields (the service may add some), and every field
not confirmed by a public source is marked [I] so it can be corrected here alone.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Final, Literal

import msgspec

__all__ = [
    "CARD_FORMATS",
    "FACILITY_CODE_RANGES",
    "OPEN_CARD_FORMATS",
    "RESTRICTED_CARD_FORMAT",
    "AuthToken",
    "CardFormat",
    "CreatedCredential",
    "Credential",
    "CredentialAttributes",
    "CredentialPage",
    "EngageCredential",
    "EngageCredentialList",
    "EngageCredentialStatus",
    "EngageDevice",
    "EngageDeviceList",
    "EngageDeviceModel",
    "ErrorBody",
    "NoTourPayload",
]

CardFormat = Literal["26A", "34S", "35X", "37H", "37X", "48X"]
CARD_FORMATS: Final[tuple[str, ...]] = ("26A", "34S", "35X", "37H", "37X", "48X")
OPEN_CARD_FORMATS: Final[frozenset[str]] = frozenset({"26A", "34S", "35X", "37H", "37X"})
RESTRICTED_CARD_FORMAT: Final = "48X"
FACILITY_CODE_RANGES: Final[dict[str, tuple[int, int] | None]] = {
    "26A": (0, 255),
    "34S": (0, 4095),
    "35X": (0, 4095),
    "37H": None,  # the guide: "N/A"
    "37X": (0, 65535),
    "48X": (0, 65535),  # [I] the guide only says "configured for your integration"
}
"""Facility-code range per card format, as the guide's table gives it."""


class _Wire(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    """Base of every wire type: immutable, keyword-only, camelCase on the wire."""


class AuthToken(_Wire, frozen=True):
    """Answer of the Authentication Token operation."""

    token: str

    def __repr__(self) -> str:  # the token is a secret: never in a repr
        return "AuthToken(token='***')"


class CredentialAttributes(_Wire, frozen=True):
    """The optional site attributes of a credential (``siteId``, ``siteName``)."""

    site_id: str | None = None
    site_name: str | None = None


class Credential(_Wire, frozen=True):
    """A mobile credential, as Get Credential and Get All Credentials answer it."""

    credential_id: str
    user_id: str
    mobile_number: str
    card_number: int | None = None
    facility_code: int | None = None
    issue_code: int | None = None
    payload_type: str | None = None
    is_downloaded: bool = False
    attributes: CredentialAttributes | None = None
    card_format: str | None = None  # [I]
    created_at: str | None = None  # [I]


class CreatedCredential(_Wire, frozen=True):
    """Answer of Create Credential: at least the new id and the assigned card number."""

    credential_id: str
    card_number: int
    user_id: str | None = None
    mobile_number: str | None = None
    facility_code: int | None = None
    issue_code: int | None = None
    card_format: str | None = None
    payload_type: str | None = None
    attributes: CredentialAttributes | None = None


class CredentialPage(_Wire, frozen=True):
    """One page of Get All Credentials ([I] field names)."""

    credentials: tuple[Credential, ...] = ()
    page_number: int = 1
    page_size: int = 0
    total_pages: int = 0
    total_count: int = 0


class NoTourPayload(_Wire, frozen=True):
    """One door's no-tour payload: which lock, which device, which access commands."""

    lock_id: int
    serial_number: str
    no_tour_payload: str


class ErrorBody(msgspec.Struct, frozen=True, kw_only=True):
    """An error answer ([I]): the service's ``message``; ``messages`` when it joins several."""

    message: str | None = None
    messages: tuple[str, ...] = ()
    code: str | None = None  # surface B's Error schema


# --- Surface B: ENGAGE Cloud Credentialing (seed 001) -------------------------------------


class EngageCredentialStatus(enum.StrEnum):
    """An ENGAGE credential's status, as the seed lists them (a ``str``, so it compares
    and serialises as its value)."""

    ACTIVE = "Active"
    REVOKED = "Revoked"
    EXPIRED = "Expired"


EngageDeviceModel = Literal[
    "BE467B",
    "FE410B",
    "NDEB",
    "LEBMS",
    "LEBMD",
    "MTKB",
    "XE360",
    "CTE",
    "VonDuprinRU",
    "VonDuprinRM",
]


class EngageCredential(_Wire, frozen=True):
    """The seed's ``MobileCredential`` schema."""

    credential_id: str
    user_id: str | None = None
    user_email: str | None = None
    user_name: str | None = None
    status: EngageCredentialStatus | None = None
    access_profile: str | None = None
    valid_from: dt.datetime | None = None
    valid_to: dt.datetime | None = None
    created_at: dt.datetime | None = None
    revoked_at: dt.datetime | None = None


class EngageCredentialList(_Wire, frozen=True):
    """Answer of List credentials."""

    credentials: tuple[EngageCredential, ...] = ()


class EngageDevice(_Wire, frozen=True):
    """The seed's ``EngageDevice`` schema."""

    device_id: str
    name: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    site_id: str | None = None


class EngageDeviceList(_Wire, frozen=True):
    """Answer of List devices."""

    devices: tuple[EngageDevice, ...] = ()
