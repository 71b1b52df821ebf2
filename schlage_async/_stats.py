"""Counters a client keeps about its own traffic, read as frozen snapshots."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

__all__ = ["ClientStats", "StatsCounter"]


@dataclass(frozen=True, slots=True)
class ClientStats:
    """A snapshot of a client's traffic since it was created."""

    requests: int = 0
    """HTTP requests sent (logins and retries included)."""
    logins: int = 0
    """Login requests sent."""
    retries: int = 0
    """Requests that were tries after a transient failure (not token refreshes)."""
    rate_limited: int = 0
    """429 answers seen."""
    transport_errors: int = 0
    """Requests that got no answer (connection lost, timeout)."""
    by_status: Mapping[int, int] = field(default_factory=lambda: MappingProxyType({}))
    """Answers seen, by HTTP status."""


class StatsCounter:
    """The mutable counters behind :class:`ClientStats`."""

    __slots__ = ("by_status", "logins", "rate_limited", "requests", "retries", "transport_errors")

    def __init__(self) -> None:
        self.requests = 0  # every request handed to aiohttp
        self.logins = 0  # of which logins
        self.retries = 0  # of which transient retries
        self.rate_limited = 0  # 429 answers
        self.transport_errors = 0  # requests with no answer
        self.by_status: Counter[int] = Counter()  # answers by status

    def snapshot(self) -> ClientStats:
        """Return the counters as they are now, frozen."""
        return ClientStats(
            requests=self.requests,
            logins=self.logins,
            retries=self.retries,
            rate_limited=self.rate_limited,
            transport_errors=self.transport_errors,
            by_status=MappingProxyType(dict(sorted(self.by_status.items()))),
        )
