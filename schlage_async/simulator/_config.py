"""How a simulator is configured: accounts, gateway limits, faults, card-number ceilings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from .._models import CARD_FORMATS
from .._seed_errors import Wording
from ._accounts import DEFAULT_ACCOUNTS, Accounts
from ._faults import FaultSpec

__all__ = [
    "DEFAULT_MAX_CARD_NUMBERS",
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_PAGE_SIZE_MAX",
    "SimulatorConfig",
    "parse_max_card_number",
]

DEFAULT_MAX_CARD_NUMBERS: Final[Mapping[str, int]] = MappingProxyType(
    {
        # [I] the guide gives no card-number range; these are the usual Wiegand layouts'.
        "26A": 65_535,  # H10301: 16-bit card number
        "34S": 65_535,
        "35X": 1_048_575,  # Corporate 1000 35-bit: 20-bit card number
        "37H": 34_359_738_367,  # no facility code: 35-bit card number
        "37X": 524_287,  # H10304: 19-bit card number
        "48X": 4_294_967_295,
    }
)
"""The highest card number assigned per card format before 417 ([I])."""

DEFAULT_PAGE_SIZE: Final = 50
"""Get All Credentials' page size when the query gives none ([I])."""

DEFAULT_PAGE_SIZE_MAX: Final = 100
"""Get All Credentials' largest allowed page size ([I])."""


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Everything a simulator run can be told; every field has a working default."""

    accounts: Accounts = DEFAULT_ACCOUNTS
    rate_limit: float = 0.0  # credential operations per second per integration; 0 = none
    burst: float | None = None  # the gateway bucket's size; None = one second of rate_limit
    faults: FaultSpec = field(default_factory=FaultSpec)
    seed: int = 0  # seeds the fault draws
    max_card_numbers: Mapping[str, int] = field(default_factory=lambda: DEFAULT_MAX_CARD_NUMBERS)
    page_size_max: int = DEFAULT_PAGE_SIZE_MAX
    access_log: bool = False  # aiohttp's access log (off: it costs per request)
    wording: Wording = "live"  # error messages as the live service words them, or the guide
    vary: int | None = None  # seed of the variance mode (None: one fixed reading)

    def __post_init__(self) -> None:
        if self.wording not in ("guide", "live"):
            raise ValueError(f"wording must be 'guide' or 'live', not {self.wording!r}")
        if self.rate_limit < 0:
            raise ValueError("rate_limit must be >= 0")
        if self.burst is not None and not self.burst >= 1:
            raise ValueError("burst must be >= 1")
        if self.page_size_max < 1:
            raise ValueError("page_size_max must be >= 1")
        for card_format, maximum in self.max_card_numbers.items():
            if card_format not in CARD_FORMATS or maximum < 0:
                raise ValueError(f"bad max card number {card_format}={maximum}")

    def max_card_number(self, card_format: str) -> int:
        """The highest card number this run assigns for ``card_format``."""
        return self.max_card_numbers.get(card_format, DEFAULT_MAX_CARD_NUMBERS[card_format])


def parse_max_card_number(text: str) -> tuple[str, int]:
    """Parse ``FORMAT=N`` (``--max-card-number``); raise ValueError with one line."""
    card_format, sep, raw = text.partition("=")
    card_format = card_format.strip().upper()
    if not sep or card_format not in CARD_FORMATS:
        raise ValueError(
            f"--max-card-number {text!r}: expected FORMAT=N with FORMAT one of "
            + ", ".join(CARD_FORMATS)
        )
    raw = raw.strip()
    if not raw.isdigit():
        raise ValueError(f"--max-card-number {text!r}: N must be a whole number >= 0")
    return card_format, int(raw)
