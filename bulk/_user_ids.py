"""Stable user ids for PACS external ids: uuid5 under a per-integration namespace, as v4.

The service wants a UUIDv4 for every user id. A PACS export has its own ids instead, so
each ``externalId`` is mapped deterministically, which makes a re-run or a resume send
the same user id for the same resident (and so never create a second credential):

1. ``uuid5(namespace, external_id)``: SHA-1 of the namespace and the UTF-8 id;
2. the version nibble forced to 4 and the variant bits to RFC 4122 (``10xx``), so the
   result has the exact shape of a random UUIDv4 (122 bits of the hash survive).

The namespace is per integration: ``integration_namespace("acme-pacs")`` derives one from
a name (uuid5 of the URL namespace and ``schlage-bulk:<name>``); two integrations that
number their residents alike still get different user ids.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Final

__all__ = ["DEFAULT_NAMESPACE", "integration_namespace", "user_id_for"]


def integration_namespace(name: str) -> uuid.UUID:
    """Return the namespace UUID of the integration called ``name``."""
    if not name.strip():
        raise ValueError("the integration name is empty")
    return uuid.uuid5(uuid.NAMESPACE_URL, f"schlage-bulk:{name.strip()}")


DEFAULT_NAMESPACE: Final = integration_namespace("default")
"""The namespace used when no ``--namespace`` is given."""


def user_id_for(external_id: str, namespace: uuid.UUID = DEFAULT_NAMESPACE) -> str:
    """Return the UUIDv4-shaped user id that ``external_id`` maps to under ``namespace``."""
    name = external_id.strip()
    if not name:
        raise ValueError("the external id is empty")
    # uuid5 by hand (SHA-1 of the namespace and the UTF-8 name, first 16 bytes), without
    # its two UUID objects: once per row of a PACS export, on the reader's hot path.
    sha1 = hashlib.sha1(namespace.bytes + name.encode("utf-8"), usedforsecurity=False)
    digest = bytearray(sha1.digest()[:16])
    digest[6] = digest[6] & 0x0F | 0x40  # the version nibble (bits 76-79) set to 4
    digest[8] = digest[8] & 0x3F | 0x80  # the variant bits (62-63) set to RFC 4122's 10
    text = digest.hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
