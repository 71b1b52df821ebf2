"""A PNG of the achieved rate over time against the limit (matplotlib, the plot extra)."""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from pathlib import Path

__all__ = ["plot_available", "plot_rate_series"]


def plot_available() -> bool:
    """Whether matplotlib is installed (``pip install -e .[plot]``)."""
    return importlib.util.find_spec("matplotlib") is not None


def plot_rate_series(
    runs: Mapping[str, tuple[float, Sequence[Mapping[str, float]]]], out: Path
) -> None:
    """Draw one panel per run: requests answered per second over time, 429s as red bands.

    ``runs`` maps a title to ``(limit R, series)``; a series comes from ``_rate_series``.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(runs), 1, figsize=(9, 3.2 * len(runs)), squeeze=False)
    for ax, (title, (limit, series)) in zip(axes[:, 0], runs.items(), strict=True):
        t = [point["t"] for point in series]
        ax.plot(t, [p["ok_per_s"] for p in series], label="answered (not 429) req/s")
        throttled = [p["t"] for p in series if p["throttled_per_s"] > 0]
        for i, when in enumerate(throttled):  # a 429 is rare: a band, not a bar of height 2
            ax.axvspan(
                when - 0.5, when, color="tab:red", alpha=0.3, label="429s" if i == 0 else None
            )
        ax.axhline(limit, color="black", linestyle="--", linewidth=1, label=f"limit R = {limit:g}")
        ax.set_title(title)
        ax.set_xlabel("seconds since the first request")
        ax.set_ylabel("requests per second")
        ax.set_ylim(bottom=0, top=max(limit * 1.3, *(p["ok_per_s"] for p in series), 1))
        ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
