"""Achieved request rate over time, from the engine's own per-request log lines.

The engine runs with ``--verbose --log-format json``: one JSON line per HTTP request
with its timestamp, operation and status. Binning them gives the rate the engine got
through (and the 429s) per interval, with no probe added to the simulator: polling
``/_sim/state`` would serialise every credential on every poll and stall the simulator
long enough to lower the very rate being measured.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["peak_sent_after_slow_start", "rate_series", "steady_rate"]

_LOGIN = "authentication_token"  # not a credential operation: outside the rate limit


def rate_series(lines: Iterable[str], *, bin_s: float = 0.5) -> list[dict[str, float]]:
    """Bin the request lines: per ``bin_s`` seconds, answered and 429 requests per second.

    Each point is ``{"t": seconds since the first request, "ok_per_s": ...,
    "throttled_per_s": ...}``; lines that are not request events are ignored.
    """
    stamps: list[tuple[float, bool]] = []
    for line in lines:
        event = _request_event(line)
        if event is None or event.get("operation") == _LOGIN or event.get("status") is None:
            continue
        when = dt.datetime.fromisoformat(str(event["timestamp"])).timestamp()
        stamps.append((when, event["status"] == 429))
    if not stamps:
        return []
    start = min(when for when, _ in stamps)
    bins = int((max(when for when, _ in stamps) - start) // bin_s) + 1
    ok = [0] * bins
    throttled = [0] * bins
    for when, was_429 in stamps:
        index = int((when - start) // bin_s)
        (throttled if was_429 else ok)[index] += 1
    return [
        {
            "t": round((i + 1) * bin_s, 3),
            "ok_per_s": ok[i] / bin_s,
            "throttled_per_s": throttled[i] / bin_s,
        }
        for i in range(max(bins - 1, 1))  # the last bin is cut short: left out
    ]


def _request_event(line: str) -> dict[str, Any] | None:
    if '"schlage.request"' not in line:
        return None
    try:
        event = json.loads(line)
    except ValueError:
        return None
    return event if isinstance(event, dict) and "timestamp" in event else None


def steady_rate(series: Sequence[Mapping[str, float]], *, after: float = 0.5) -> float:
    """Mean answered requests per second over the last ``1 - after`` of the run.

    With ``after=0.5`` the first half (slow start, the first cuts) is left out: what
    is left is where the rate settled.
    """
    if not series:
        return 0.0
    start = series[-1]["t"] * after
    tail = [point["ok_per_s"] for point in series if point["t"] > start]
    return sum(tail) / len(tail)


def peak_sent_after_slow_start(series: Sequence[Mapping[str, float]]) -> tuple[float, float]:
    """The highest requests sent per second (answered + 429) in a bin after slow start.

    Slow start ends with the first 429 (AIMD's first cut): the bins after the one that
    holds it count. A run without any 429 has no slow start to leave out but its first
    bin. Returns ``(peak, t)`` where ``t`` is when slow start ended.
    """
    if not series:
        return 0.0, 0.0
    first = next((i for i, p in enumerate(series) if p["throttled_per_s"] > 0), 0)
    tail = series[first + 1 :] or series[-1:]
    return max(p["ok_per_s"] + p["throttled_per_s"] for p in tail), series[first]["t"]
