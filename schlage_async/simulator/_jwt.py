"""The simulator's bearer tokens: HS256 JWTs signed with a per-process secret.

Hand-written with ``hmac`` and ``base64`` rather than a JWT library: none is a
dependency of the project, HS256 signing is a dozen lines, and the simulator needs the
exact split the guide draws between a token that is not a JWT at all (400) and one that
is expired, revoked or wrongly signed (401), which libraries blur.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Final

import msgspec

__all__ = ["TOKEN_LIFETIME", "Claims", "TokenMalformed", "TokenRejected", "TokenSigner"]

TOKEN_LIFETIME: Final = 36_000
"""Seconds a token stays valid (the guide: 10 hours)."""

_SEGMENT = re.compile(r"^[A-Za-z0-9_-]+$")
_SIGNATURE = re.compile(r"^[A-Za-z0-9_-]*$")
_HEADER: Final = b'{"alg":"HS256","typ":"JWT"}'


class TokenMalformed(Exception):
    """The bearer value is not a JWT (not three base64url segments of JSON)."""


class TokenRejected(Exception):
    """A JWT that is expired, revoked, wrongly signed or names no known user."""


@dataclass(frozen=True, slots=True)
class Claims:
    """What the simulator reads back from a token."""

    sub: str  # the account's user name
    exp: float  # wall-clock expiry (simulator clock)
    serial: int  # issue order; tokens below the revocation mark are refused


class _Payload(msgspec.Struct, frozen=True):
    sub: str
    exp: float
    iat: float
    jti: int
    iss: str = "schlage-simulator"


def _b64(raw: bytes) -> bytes:
    return base64.urlsafe_b64encode(raw).rstrip(b"=")


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


class TokenSigner:
    """Issues and checks tokens; remembers checked tokens so a repeat costs one lookup."""

    __slots__ = ("_cache", "_encoder", "_key", "_next_serial", "_revoked_below")

    def __init__(self, secret: bytes | None = None) -> None:
        self._key = secret or secrets.token_bytes(32)  # the HS256 key, never shown
        self._next_serial = 1  # serial of the next token issued
        self._revoked_below = 1  # tokens with a smaller serial were revoked
        self._cache: dict[str, Claims] = {}  # verified token -> its claims
        self._encoder = msgspec.json.Encoder()

    def issue(self, subject: str, *, now: float) -> str:
        """Return a new token for ``subject`` valid :data:`TOKEN_LIFETIME` from ``now``."""
        serial = self._next_serial
        self._next_serial += 1
        payload = _Payload(sub=subject, exp=now + TOKEN_LIFETIME, iat=now, jti=serial)
        signing_input = _b64(_HEADER) + b"." + _b64(self._encoder.encode(payload))
        signature = hmac.new(self._key, signing_input, hashlib.sha256).digest()
        return (signing_input + b"." + _b64(signature)).decode("ascii")

    def revoke_all(self) -> None:
        """Invalidate every token issued so far."""
        self._revoked_below = self._next_serial
        self._cache.clear()

    def verify(self, token: str, *, now: float) -> Claims:
        """Return the token's claims; raise TokenMalformed (400) or TokenRejected (401)."""
        claims = self._cache.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._cache) > 50_000:  # bounded: tokens are few, but never unbounded
                self._cache.clear()
            self._cache[token] = claims
        if claims.serial < self._revoked_below:
            raise TokenRejected("revoked")
        if now >= claims.exp:
            raise TokenRejected("expired")
        return claims

    def _decode(self, token: str) -> Claims:
        parts = token.split(".")
        # An empty signature is still a JWT (an unsecured one): refused as unsigned, 401.
        if (
            len(parts) != 3
            or _SEGMENT.match(parts[0]) is None
            or _SEGMENT.match(parts[1]) is None
            or _SIGNATURE.match(parts[2]) is None
        ):
            raise TokenMalformed("not three base64url segments")
        try:
            header = msgspec.json.decode(_unb64(parts[0]))
            payload = msgspec.json.decode(_unb64(parts[1]))
            signature = _unb64(parts[2])
        except (binascii.Error, ValueError, RecursionError, msgspec.DecodeError):
            raise TokenMalformed("segments are not base64url JSON") from None
        if not isinstance(header, dict) or not isinstance(payload, dict):
            raise TokenMalformed("header or payload is not a JSON object")
        expected = hmac.new(
            self._key, (parts[0] + "." + parts[1]).encode("ascii"), hashlib.sha256
        ).digest()
        if header.get("alg") != "HS256" or not hmac.compare_digest(signature, expected):
            raise TokenRejected("bad signature")
        try:
            claims = msgspec.convert(payload, _Payload)
        except msgspec.ValidationError:
            raise TokenRejected("unexpected claims") from None
        return Claims(sub=claims.sub, exp=claims.exp, serial=claims.jti)
