"""Checking a migration's result against a service's state: exactly once, nothing missing.

Used by the demo, the end-to-end tests and the benchmarks with the simulator's state
(``GET /_sim/state``, or ``SimulatorHandle.state.snapshot()``): every good resident of the
input must have exactly one active credential, with its mobile number and exactly its
no-tour payloads, and no other credential may exist.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from ._input import Deduplicator
from ._resident import ParsedRow, Resident

__all__ = ["Verification", "verify_against_state"]


@dataclass(frozen=True, slots=True)
class Verification:
    """How a service's credentials compare with the residents of an input."""

    expected: int
    """Good residents in the input."""
    matched: int
    """Residents with exactly one active credential, their number and their payloads."""
    missing: tuple[int, ...]
    """Lines whose resident has no active credential."""
    duplicated: tuple[str, ...]
    """User ids with more than one credential ever created (active or deleted)."""
    mismatched: tuple[int, ...]
    """Lines whose credential has another mobile number or other payloads."""
    unexpected: int
    """Active credentials of no resident of the input."""

    @property
    def ok(self) -> bool:
        """Whether the state is exactly the input."""
        return (
            self.matched == self.expected
            and not (self.missing or self.duplicated or self.mismatched)
            and self.unexpected == 0
        )

    def __str__(self) -> str:
        if self.ok:
            return f"verified: {self.matched:,} residents, each exactly one credential"
        return (
            f"NOT verified: {self.matched:,}/{self.expected:,} matched, "
            f"{len(self.missing)} missing, {len(self.duplicated)} duplicated, "
            f"{len(self.mismatched)} mismatched, {self.unexpected} unexpected"
        )


def _payloads(credential: Mapping[str, Any]) -> dict[str, tuple[int, str]]:
    out: dict[str, tuple[int, str]] = {}
    for item in credential.get("noTourPayloads") or ():
        out[str(item["serialNumber"])] = (int(item["lockId"]), str(item["noTourPayload"]).upper())
    return out


def verify_against_state(rows: Iterable[ParsedRow], state: Mapping[str, Any]) -> Verification:
    """Compare the input's residents with a simulator state snapshot."""
    data: Mapping[str, Any] = msgspec.to_builtins(state)
    credentials: list[Mapping[str, Any]] = list(data.get("credentials", ()))
    ever = Counter(str(c["userId"]).lower() for c in credentials)
    active = {str(c["userId"]).lower(): c for c in credentials if not c.get("deleted")}
    expected = matched = 0
    missing: list[int] = []
    mismatched: list[int] = []
    seen: set[str] = set()
    with Deduplicator() as dedup:
        for parsed in rows:
            row = dedup.check(parsed)
            if not isinstance(row, Resident):
                continue
            expected += 1
            user_id = row.user_id.lower()
            seen.add(user_id)
            credential = active.get(user_id)
            if credential is None:
                missing.append(row.line)
                continue
            wanted = {d.serial_number: (d.lock_id, d.no_tour_payload.upper()) for d in row.doors}
            if (
                credential.get("mobileNumber") != row.mobile_number
                or _payloads(credential) != wanted
            ):
                mismatched.append(row.line)
                continue
            matched += 1
    return Verification(
        expected=expected,
        matched=matched,
        missing=tuple(missing),
        duplicated=tuple(sorted(u for u, n in ever.items() if n > 1)),
        mismatched=tuple(mismatched),
        unexpected=sum(1 for u in active if u not in seen),
    )
