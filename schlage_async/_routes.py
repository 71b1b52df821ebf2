"""The route table of both surfaces: every operation's method, path and contract marks.

This is the single place where the wire paths live. The client builds its URLs from it
and the simulator registers its handlers from it, so a correction to an inferred route
([I] in ``API-CONTRACT.md``) is one edit here.
"""

from __future__ import annotations

import base64
import enum
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass
from types import MappingProxyType
from typing import Final
from urllib.parse import quote

__all__ = [
    "ENGAGE_ROUTES",
    "ROUTES",
    "Operation",
    "Route",
    "Surface",
    "encode_serial_number",
]


class Surface(enum.Enum):
    """Which Allegion service an operation belongs to."""

    API_ONLY = "api-only"  # seed 000, Bearer JWT
    ENGAGE = "engage"  # seed 001, HTTP Basic


class Operation(enum.StrEnum):
    """Every operation of both surfaces; the value is what logs and errors show."""

    # Surface A: API-Only (seed 000), numbered as the guide numbers them.
    LOGIN = "authentication_token"
    CREATE_CREDENTIAL = "create_credential"
    RESEND_INVITE = "resend_invite"
    SAVE_NO_TOUR_PAYLOADS = "save_no_tour_payloads"
    GET_CREDENTIAL = "get_credential"
    GET_CREDENTIAL_BY_USER = "get_credential_by_user"
    LIST_CREDENTIALS = "list_credentials"
    DELETE_NO_TOUR_PAYLOADS = "delete_no_tour_payloads"
    DELETE_NO_TOUR_PAYLOADS_BY_DEVICE = "delete_no_tour_payloads_by_device"
    DELETE_CREDENTIAL = "delete_credential"
    DELETE_CREDENTIAL_BY_USER = "delete_credential_by_user"
    # Surface B: ENGAGE Cloud Credentialing (seed 001).
    ENGAGE_LIST_CREDENTIALS = "engage_list_credentials"
    ENGAGE_UPLOAD_CREDENTIAL = "engage_upload_credential"
    ENGAGE_GET_CREDENTIAL = "engage_get_credential"
    ENGAGE_DELETE_CREDENTIAL = "engage_delete_credential"
    ENGAGE_LIST_DEVICES = "engage_list_devices"


@dataclass(frozen=True, slots=True)
class Route:
    """One operation on the wire.

    ``path`` is relative to the surface's base URL and uses ``{name}`` placeholders,
    the syntax both :meth:`format` and aiohttp's router understand.
    """

    operation: Operation
    surface: Surface
    method: str
    path: str
    _: KW_ONLY
    success: int = 200  # the status the contract gives for success
    inferred: bool = False  # True where no public source names the path or status ([I])
    idempotent: bool = False  # safe to replay after an unknown outcome

    def format(self, **params: str) -> str:
        """Return the path with every placeholder percent-encoded (``/`` included)."""
        return self.path.format(**{k: _quote(v) for k, v in params.items()})


_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _quote(value: str) -> str:
    # A UUID (the usual path value) has nothing to encode: skip quote()'s machinery.
    if _UNRESERVED.issuperset(value):
        return value
    return quote(value, safe="")


def encode_serial_number(serial_number: str) -> str:
    """Return a lock serial number as the by-device delete route expects it: base64.

    The route then percent-encodes it, so ``+``, ``/`` and ``=`` survive the path.
    """
    return base64.b64encode(serial_number.encode("utf-8")).decode("ascii")


_A = Surface.API_ONLY
_B = Surface.ENGAGE
_BASIC = "/credentials/mobile/basic"

_ALL: tuple[Route, ...] = (
    # Surface A. [V] = confirmed by the public QA suite, [I] = inferred here.
    Route(Operation.LOGIN, _A, "POST", "/authentication/token", success=200),  # [V]
    Route(Operation.CREATE_CREDENTIAL, _A, "POST", _BASIC, success=201),  # [V]
    # [V]; not replayed: a replay sends the resident a second SMS.
    Route(
        Operation.RESEND_INVITE, _A, "POST", _BASIC + "/users/{userId}/resendinvite", success=204
    ),
    # [I] path and status; idempotent per the developer pages (a save replaces per device).
    Route(
        Operation.SAVE_NO_TOUR_PAYLOADS,
        _A,
        "POST",
        _BASIC + "/{credentialId}/notourpayloads",
        success=200,
        inferred=True,
        idempotent=True,
    ),
    Route(Operation.GET_CREDENTIAL, _A, "GET", _BASIC + "/{credentialId}", idempotent=True),  # [V]
    Route(
        Operation.GET_CREDENTIAL_BY_USER, _A, "GET", _BASIC + "/users/{userId}", idempotent=True
    ),  # [V]
    # [I] query names.
    Route(Operation.LIST_CREDENTIALS, _A, "GET", _BASIC, inferred=True, idempotent=True),
    Route(
        Operation.DELETE_NO_TOUR_PAYLOADS,
        _A,
        "DELETE",
        _BASIC + "/{credentialId}/notourpayloads",
        success=204,
        inferred=True,
        idempotent=True,
    ),
    Route(
        Operation.DELETE_NO_TOUR_PAYLOADS_BY_DEVICE,
        _A,
        "DELETE",
        _BASIC + "/notourpayloads/devices/{serialNumber}",
        success=204,
        inferred=True,
        idempotent=True,
    ),
    Route(
        Operation.DELETE_CREDENTIAL,
        _A,
        "DELETE",
        _BASIC + "/{credentialId}",
        success=204,
        inferred=True,
        idempotent=True,
    ),
    Route(
        Operation.DELETE_CREDENTIAL_BY_USER,
        _A,
        "DELETE",
        _BASIC + "/users/{userId}",
        success=204,
        inferred=True,
        idempotent=True,
    ),
    # Surface B: the OpenAPI document's own paths (its authors say they are inferred).
    Route(
        Operation.ENGAGE_LIST_CREDENTIALS, _B, "GET", "/credentials", inferred=True, idempotent=True
    ),
    Route(
        Operation.ENGAGE_UPLOAD_CREDENTIAL, _B, "POST", "/credentials", success=201, inferred=True
    ),
    Route(
        Operation.ENGAGE_GET_CREDENTIAL,
        _B,
        "GET",
        "/credentials/{credentialId}",
        inferred=True,
        idempotent=True,
    ),
    Route(
        Operation.ENGAGE_DELETE_CREDENTIAL,
        _B,
        "DELETE",
        "/credentials/{credentialId}",
        success=204,
        inferred=True,
        idempotent=True,
    ),
    Route(Operation.ENGAGE_LIST_DEVICES, _B, "GET", "/devices", inferred=True, idempotent=True),
)

ROUTES: Mapping[Operation, Route] = MappingProxyType(
    {r.operation: r for r in _ALL if r.surface is _A}
)
"""Surface A (API-Only) routes by operation."""

ENGAGE_ROUTES: Mapping[Operation, Route] = MappingProxyType(
    {r.operation: r for r in _ALL if r.surface is _B}
)
"""Surface B (ENGAGE Cloud) routes by operation."""
