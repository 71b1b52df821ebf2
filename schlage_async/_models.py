"""Wire models of both surfaces, and how answers are read: the decoding decisions, in one place.

Every field not confirmed by a public source is marked [I] so it can be corrected here
alone. **Strict where the caller relies on it, lenient where it does not** (per field):

==========================================  ==========================================
Refused (``InvalidResponseError`` naming it)  Accepted
==========================================  ==========================================
a page without its ``credentials`` list       unknown fields, anywhere
a credential without ``credentialId``,        numbers sent as numeric strings
``userId`` or ``mobileNumber`` (the engine    (``"cardNumber": "12"``), booleans as
compares the number when it reconciles)       ``"true"``
a create answer without ``credentialId`` or   ``attributes`` keys in any letter case
``cardNumber`` (both [V]; the engine records  (``SiteId``, ``SITENAME``); unknown
them)                                         attribute keys are dropped
a field of the wrong type that no lenient     ``null`` in an optional field (the
reading fixes                                 default applies)
an empty or non-JSON body where an answer is  an empty or non-JSON 2xx body where
read (login, create, gets, lists)             none is read (resend, save, deletes):
                                              success, with a debug log line
==========================================  ==========================================

Ids are read as any GUID: the guide says UUIDv4, and refusing another version the
service issued would lose a resident ([I], the reading that loses nothing).

Error answers are read by :func:`error_messages`, which takes whatever text a body holds
(JSON ``message``/``messages``, ProblemDetails ``title``/``detail``/``errors``, a JSON
string, plain text, HTML) and never fails: the status decides the error's class.
"""

from __future__ import annotations

import datetime as dt
import enum
import html
import re
import types
from typing import Any, Final, Literal, TypeVar, Union, get_args, get_origin

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
    "decode_answer",
    "error_messages",
]

_T = TypeVar("_T")

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


class CredentialAttributes(_Wire, frozen=True, forbid_unknown_fields=True):
    """The optional site attributes of a credential (``siteId``, ``siteName``).

    Unknown keys are refused on the fast path only so that another letter case
    (``SiteId``) reaches the lenient reading instead of decoding silently to None.
    """

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

    credentials: tuple[Credential, ...]  # required: a page without it is not a page
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

    credentials: tuple[EngageCredential, ...]


class EngageDevice(_Wire, frozen=True):
    """The seed's ``EngageDevice`` schema."""

    device_id: str
    name: str | None = None
    model: str | None = None
    firmware_version: str | None = None
    site_id: str | None = None


class EngageDeviceList(_Wire, frozen=True):
    """Answer of List devices."""

    devices: tuple[EngageDevice, ...]


# --- reading answers ------------------------------------------------------------------------

_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def _fast(kind: type[_T]) -> msgspec.json.Decoder[_T]:
    decoder = _DECODERS.get(kind)
    if decoder is None:
        # strict=False: numeric strings become numbers, "true" a bool (ASP.NET's default).
        decoder = _DECODERS[kind] = msgspec.json.Decoder(kind, strict=False)
    return decoder


def decode_answer(kind: type[_T], body: bytes) -> _T:
    """Decode a success answer into ``kind`` by the rules of this module's table.

    The typed decoder reads the usual answer in one pass; only an answer it refuses is
    read again leniently (keys matched in any letter case, nulls in optional fields
    dropped) before the refusal stands. Raises ``msgspec.DecodeError`` for a body that is
    not JSON and ``msgspec.ValidationError`` (naming the field) for the wrong shape.
    """
    try:
        return _fast(kind).decode(body)
    except msgspec.ValidationError as first:
        try:
            return msgspec.convert(_lenient(msgspec.json.decode(body), kind), kind, strict=False)
        except msgspec.ValidationError:
            raise first from None


_FIELDS: dict[type[Any], dict[str, tuple[str, Any, bool]]] = {}


def _fields(kind: type[Any]) -> dict[str, tuple[str, Any, bool]]:
    """lower-cased wire name -> (wire name, type, required), for a Struct type."""
    known = _FIELDS.get(kind)
    if known is None:
        known = _FIELDS[kind] = {
            f.encode_name.lower(): (f.encode_name, f.type, f.required)
            for f in msgspec.structs.fields(kind)
        }
    return known


def _struct_in(annotation: Any) -> tuple[str, type[Any]] | None:
    """("one", S) for S or S | None; ("many", S) for tuple[S, ...] / list[S]; else None."""
    if isinstance(annotation, type) and issubclass(annotation, msgspec.Struct):
        return "one", annotation
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        for arg in get_args(annotation):
            found = _struct_in(arg)
            if found is not None:
                return found
        return None
    if origin in (tuple, list):
        args = [a for a in get_args(annotation) if a is not Ellipsis]
        if len(args) == 1:
            inner = _struct_in(args[0])
            if inner is not None and inner[0] == "one":
                return "many", inner[1]
    return None


def _lenient(value: Any, kind: type[Any]) -> Any:
    """``value`` with keys in the model's spelling, unknown keys and optional nulls dropped."""
    if not isinstance(value, dict):
        return value
    fields = _fields(kind)
    out: dict[str, Any] = {}
    for key, item in value.items():
        known = fields.get(key.lower()) if isinstance(key, str) else None
        if known is None:
            continue
        name, annotation, required = known
        if item is None and not required:
            continue
        nested = _struct_in(annotation)
        if nested is not None:
            how, inner = nested
            if how == "one":
                item = _lenient(item, inner)
            elif isinstance(item, list):
                item = [_lenient(x, inner) for x in item]
        out.setdefault(name, item)
    return out


# --- reading error answers ------------------------------------------------------------------

_TEXT_LIMIT: Final = 300  # characters of plain text or HTML kept as a message
_TITLE: Final = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG: Final = re.compile(r"<[^>]*>")
_SCRIPT: Final = re.compile(r"<(script|style)[^>]*>.*?</\1>", re.IGNORECASE | re.DOTALL)
_MESSAGE_KEYS: Final = ("messages", "message", "errors", "detail", "title", "error")


def _texts(value: Any) -> list[str]:
    """Every string in a JSON value, in order (dict values, list items)."""
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, list):
        return [t for item in value for t in _texts(item)]
    if isinstance(value, dict):
        return [t for item in value.values() for t in _texts(item)]
    return []


def _from_json(value: Any) -> list[str]:
    if not isinstance(value, dict):
        return _texts(value)  # a JSON string or a list of them
    lowered: dict[str, Any] = {}
    for key, item in value.items():
        if isinstance(key, str):
            lowered.setdefault(key.lower(), item)
    found: list[str] = []
    for key in _MESSAGE_KEYS:
        if key == "message" and found:
            continue  # ``message`` is ``messages`` joined when both are sent
        if key in lowered:
            found.extend(_texts(lowered[key]))
    return found


def _from_text(text: str) -> list[str]:
    if "<" in text and ">" in text:  # HTML (a gateway's page): its title, else its text
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", _SCRIPT.sub(" ", text))
        text = html.unescape(text)
    text = " ".join(text.split())
    return [text[:_TEXT_LIMIT]] if text else []


def error_messages(body: bytes) -> tuple[str, ...]:
    """Whatever readable text an error answer's body holds, as the service's messages.

    Reads, in order: ``messages``, ``message``, ProblemDetails ``errors`` (every string
    of the dict), ``detail``, ``title``, ``error`` — any letter case — or a JSON string,
    or plain text, or an HTML page's title. An empty or unreadable body gives ``()``.
    The caller redacts what comes back; this never raises.
    """
    if not body.strip():
        return ()
    try:
        value = msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError):
        found = _from_text(body[: _TEXT_LIMIT * 8].decode("utf-8", "replace"))
    else:
        found = _from_json(value)
    return tuple(dict.fromkeys(m.strip() for m in found if m.strip()))
