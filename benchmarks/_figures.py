"""One measured figure with its target and parameters; the table and JSON made of them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = ["Figure", "Target", "grid_cells_table", "markdown_table"]


@dataclass(frozen=True, slots=True)
class Target:
    """What a figure should reach: ``value OP threshold``."""

    op: Literal[">=", "<=", "=="]
    threshold: float

    def met(self, value: float) -> bool:
        """Whether ``value`` reaches the target."""
        if self.op == ">=":
            return value >= self.threshold
        if self.op == "<=":
            return value <= self.threshold
        return value == self.threshold

    def __str__(self) -> str:
        return f"{self.op} {_number(self.threshold)}"


@dataclass(frozen=True, slots=True)
class Figure:
    """A figure of the run: its value, unit, target (if any), parameters and details."""

    key: str
    label: str
    value: float
    unit: str = ""
    target: Target | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def met(self) -> bool | None:
        """Whether the target is reached; None when the figure has no target."""
        return None if self.target is None else self.target.met(self.value)

    def as_json(self) -> dict[str, Any]:
        """The figure as it goes into ``--json``."""
        return {
            "value": self.value,
            "unit": self.unit,
            "target": str(self.target) if self.target is not None else None,
            "met": self.met,
            "label": self.label,
            "params": dict(self.params),
            **({"details": dict(self.details)} if self.details else {}),
        }


def _number(value: float) -> str:
    if isinstance(value, int) or not math.isfinite(value):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def _value(figure: Figure) -> str:
    if figure.unit == "%":
        # Three decimals: a share of 1.002 % against a target of 1 % must not read 1.00 %.
        return f"{figure.value:.3%}"
    text = _number(figure.value)
    return f"{text} {figure.unit}" if figure.unit else text


def _target(figure: Figure) -> str:
    if figure.target is None:
        return "-"
    if figure.unit == "%":
        return f"{figure.target.op} {figure.target.threshold:.0%}"
    return str(figure.target)


def markdown_table(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table: figure, value, spread of rounds, target, met?"""
    lines = [
        "| figure | value | rounds (low-high) | target | met? |",
        "| --- | ---: | --- | --- | --- |",
    ]
    for figure in figures:
        met = {True: "yes", False: "**no**", None: "-"}[figure.met]
        spread = figure.details.get("spread")
        rounds = f"{_number(spread[0])}-{_number(spread[1])}" if spread else "-"
        lines.append(
            f"| {figure.label} | {_value(figure)} | {rounds} | {_target(figure)} | {met} |"
        )
    return "\n".join(lines)


def grid_cells_table(cells: Sequence[Mapping[str, Any]]) -> str:
    """The adaptive grid's every cell as a Markdown table (the figures keep the worst only)."""
    lines = [
        "| adaptive grid cell | settled rate / R | 429s (share of calls) | calls | wall s "
        "| advised --rate |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for cell in cells:
        advised = cell["advised_rate"]
        lines.append(
            f"| R = {cell['R']:g}, burst {cell['burst']:g} | {cell['utilization']:.3f} "
            f"| {cell['rate_limited_429']} ({cell['share_429']:.3%}) | {cell['api_calls']:,} "
            f"| {cell['wall_s']:.1f} | {'-' if advised is None else f'{advised:g}'} |"
        )
    return "\n".join(lines)
