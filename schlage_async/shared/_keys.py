"""Redis key names: a prefix per deployment, and account identities only as hashes."""

from __future__ import annotations

import hashlib
from typing import Final

__all__ = ["DEFAULT_PREFIX", "account_key", "hashed"]

DEFAULT_PREFIX: Final = "schlage:"
"""What every key of this library starts with unless told otherwise."""


def account_key(base_url: str, username: str) -> str:
    """The identity of one account on one service, as the client keys its token cache."""
    return f"{base_url.rstrip('/')}|{username}"


def hashed(identity: str) -> str:
    """A key-safe digest of ``identity``: Redis never sees a user name (or anything else)."""
    return hashlib.sha256(identity.encode("utf-8")).hexdigest()[:32]
