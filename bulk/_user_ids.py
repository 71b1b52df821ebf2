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
    if not external_id.strip():
        raise ValueError("the external id is empty")
    digest = uuid.uuid5(namespace, external_id.strip()).int
    digest &= ~(0xF << 76)  # clear the version nibble ...
    digest |= 0x4 << 76  # ... and set it to 4
    digest &= ~(0x3 << 62)  # clear the two variant bits ...
    digest |= 0x2 << 62  # ... and set them to RFC 4122's 10
    return str(uuid.UUID(int=digest))
