"""Fault injection: the spec grammar, and the seeded source that decides each request's fate.

A spec is a comma-separated list of ``key=value`` pairs, for example
``500=0.05,502=0.01,503=0.01,reset_before=0.01,reset_after=0.01,slow=0.01,slow_seconds=5,
truncate=0.01,html=0.01,block_after=1000,block_seconds=900,storm=0.0``. Shares are
probabilities per request (0 to 1, summing to at most 1); one draw per request picks at
most one kind. See the README's "The simulator" section for what each kind does.
"""

from __future__ import annotations

import enum
import math
import random
from collections import Counter
from dataclasses import dataclass
from typing import Final

from ._clock import SimClock

__all__ = ["FaultInjector", "FaultKind", "FaultSpec", "FaultSpecError"]


class FaultSpecError(ValueError):
    """A fault spec that does not parse; the message is one line naming the problem."""


class FaultKind(enum.StrEnum):
    """What a fault does to one request; the value is the spec key (and counter name)."""

    RESET_BEFORE = "reset_before"  # drop the connection before doing anything
    SERVER_ERROR = "500"  # 500, the operation's generic server-error message
    OPERATION_FAILED = "fail"  # 500, the operation's own "failed to ..." message
    BAD_GATEWAY = "502"  # 502 with a gateway's HTML page
    UNAVAILABLE = "503"  # 503 with the SERVICE_UNAVAILABLE JSON
    STORM = "storm"  # 429 RATE_LIMITED with Retry-After: 1
    RESET_AFTER = "reset_after"  # do the operation, commit, then drop the connection
    SLOW = "slow"  # do the operation, then wait slow_seconds before answering
    TRUNCATE = "truncate"  # do the operation, answer half of the JSON body
    HTML = "html"  # do the operation, answer 200 with an HTML page instead
    BLOCK = "block"  # the account block of block_after/block_seconds (429)


PRE_PROCESSING: Final = frozenset(
    {
        FaultKind.RESET_BEFORE,
        FaultKind.SERVER_ERROR,
        FaultKind.OPERATION_FAILED,
        FaultKind.BAD_GATEWAY,
        FaultKind.UNAVAILABLE,
        FaultKind.STORM,
        FaultKind.BLOCK,
    }
)
"""Kinds that answer without carrying the operation out (state is untouched)."""

# Spec key -> dataclass field, for the shares (probabilities) in draw order.
_SHARE_FIELDS: Final[dict[str, str]] = {
    "reset_before": "reset_before",
    "500": "server_error",
    "fail": "operation_failed",
    "502": "bad_gateway",
    "503": "unavailable",
    "storm": "storm",
    "reset_after": "reset_after",
    "slow": "slow",
    "truncate": "truncate",
    "html": "html",
}
_ALIASES: Final[dict[str, str]] = {"rate_storm": "storm"}
_OTHER_FIELDS: Final[tuple[str, ...]] = ("slow_seconds", "block_after", "block_seconds")


@dataclass(frozen=True, slots=True)
class FaultSpec:
    """Which faults to inject and how often; parse one with :meth:`parse`.

    ``str(spec)`` gives the canonical spec string back (non-default keys only).
    """

    server_error: float = 0.0  # "500"
    operation_failed: float = 0.0  # "fail"
    bad_gateway: float = 0.0  # "502"
    unavailable: float = 0.0  # "503"
    reset_before: float = 0.0
    reset_after: float = 0.0
    slow: float = 0.0
    slow_seconds: float = 5.0
    truncate: float = 0.0
    html: float = 0.0
    storm: float = 0.0
    block_after: int = 0  # the Nth eligible request starts the block; 0 = never
    block_seconds: float = 900.0

    @classmethod
    def parse(cls, text: str) -> FaultSpec:
        """Parse a spec string (empty or ``none`` = no faults); raise :class:`FaultSpecError`."""
        text = text.strip()
        if not text or text.lower() == "none":
            return cls()
        values: dict[str, float | int] = {}
        seen: set[str] = set()
        for item in text.split(","):
            key, sep, raw = item.partition("=")
            key = key.strip().lower()
            key = _ALIASES.get(key, key)
            raw = raw.strip()
            if not sep or not key:
                raise FaultSpecError(f"fault spec item {item.strip()!r} is not key=value")
            if key in seen:
                raise FaultSpecError(f"fault spec key {key!r} is given twice")
            seen.add(key)
            if key in _SHARE_FIELDS:
                share = _number(key, raw)
                if not 0.0 <= share <= 1.0:
                    raise FaultSpecError(f"fault share {key}={raw} is not between 0 and 1")
                values[_SHARE_FIELDS[key]] = share
            elif key == "block_after":
                if not raw.isdigit():
                    raise FaultSpecError(f"block_after={raw} is not a whole number >= 0")
                values[key] = int(raw)
            elif key in _OTHER_FIELDS:
                seconds = _number(key, raw)
                if seconds < 0 or (key == "block_seconds" and seconds == 0):
                    raise FaultSpecError(f"{key}={raw} must be a positive number of seconds")
                values[key] = seconds
            else:
                known = ", ".join([*_SHARE_FIELDS, *_OTHER_FIELDS])
                raise FaultSpecError(f"unknown fault spec key {key!r} (known keys: {known})")
        spec = cls(**values)  # type: ignore[arg-type]  # keys are this class's own fields
        total = sum(share for _, share in spec.shares())
        if total > 1.0 + 1e-9:
            raise FaultSpecError(f"fault shares add up to {total:g}, more than 1")
        return spec

    def shares(self) -> tuple[tuple[FaultKind, float], ...]:
        """Each drawable kind with its share, in the fixed order draws walk them."""
        return tuple(
            (FaultKind(key), float(getattr(self, name))) for key, name in _SHARE_FIELDS.items()
        )

    @property
    def active(self) -> bool:
        """Whether this spec injects anything at all."""
        return self.block_after > 0 or any(share > 0 for _, share in self.shares())

    def __str__(self) -> str:
        default = FaultSpec()
        parts: list[str] = []
        for key, name in _SHARE_FIELDS.items():
            if getattr(self, name) != getattr(default, name):
                parts.append(f"{key}={getattr(self, name):g}")
        for name in _OTHER_FIELDS:
            if getattr(self, name) != getattr(default, name):
                parts.append(f"{name}={getattr(self, name):g}")
        return ",".join(parts) or "none"


def _number(key: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise FaultSpecError(f"fault spec value {key}={raw!r} is not a number") from None
    if not math.isfinite(value):
        raise FaultSpecError(f"fault spec value {key}={raw!r} is not a finite number")
    return value


class FaultInjector:
    """Decides, with a seeded random source, which fault (if any) hits each request."""

    __slots__ = (
        "_block_until",
        "_clock",
        "_cumulative",
        "_eligible",
        "_rng",
        "_seed",
        "counts",
        "spec",
    )

    def __init__(self, spec: FaultSpec, *, seed: int, clock: SimClock) -> None:
        self._clock = clock
        self._seed = seed
        self._rng = random.Random(seed)  # only fault draws use it, so runs replay exactly
        self.counts: Counter[str] = Counter()  # faults injected, by kind
        self.spec = spec
        self._cumulative: tuple[tuple[float, FaultKind], ...] = ()  # upper bounds for one draw
        self._eligible = 0  # requests seen since the spec was set (for block_after)
        self._block_until: float | None = None  # monotonic end of the block once started
        self.set_spec(spec)

    def set_spec(self, spec: FaultSpec) -> None:
        """Switch to ``spec``; the block_after count starts again from zero."""
        self.spec = spec
        bound = 0.0
        cumulative: list[tuple[float, FaultKind]] = []
        for kind, share in spec.shares():
            if share > 0:
                bound += share
                cumulative.append((bound, kind))
        self._cumulative = tuple(cumulative)
        self._eligible = 0
        self._block_until = None

    def reset(self, spec: FaultSpec) -> None:
        """Back to ``spec``, a fresh random source and no counts (the simulator's reset)."""
        self._rng = random.Random(self._seed)
        self.counts.clear()
        self.set_spec(spec)

    def draw(self) -> FaultKind | None:
        """Return the fault for the next eligible request, or None for a normal answer."""
        spec = self.spec
        if spec.block_after:
            self._eligible += 1
            now = self._clock.monotonic()
            if self._block_until is None and self._eligible >= spec.block_after:
                self._block_until = now + spec.block_seconds
            if self._block_until is not None and now < self._block_until:
                self.counts[FaultKind.BLOCK] += 1
                return FaultKind.BLOCK
        if not self._cumulative:
            return None
        u = self._rng.random()
        for bound, kind in self._cumulative:
            if u < bound:
                self.counts[kind] += 1
                return kind
        return None

    def block_retry_after(self) -> int:
        """Whole seconds left in the account block (at least 1)."""
        left = (self._block_until or 0.0) - self._clock.monotonic()
        return max(1, math.ceil(left))
