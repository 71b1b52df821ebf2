"""The adaptive summary advises a --rate only when it measured one, never 0 or above the probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bulk import MigrationStatus, MigrationSummary, generate_portfolio
from bulk._limiter import AimdController
from bulk._reports import adaptive_advice
from bulk._summary import ADVICE_MIN_CALLS
from bulk.cli.main import main


def _adaptive(**fields: Any) -> MigrationSummary:
    return MigrationSummary(status=MigrationStatus.COMPLETED, **fields)


def test_no_rate_is_advised_when_nothing_succeeded() -> None:
    """A wrong password or an empty input measures 0 req/s: no advice, never ``--rate 0``."""
    summary = _adaptive(adaptive_rate=0.0, adaptive_ceiling=10.0)
    assert summary.advised_rate is None
    text = adaptive_advice(summary)
    assert "--rate 0" not in text
    assert "pass --rate" not in text
    assert "after slow start" not in text  # no slow start ended


def test_no_rate_is_advised_before_a_429_found_the_limit() -> None:
    """Without a 429 the service's limit is unknown: what got through is no limit to reuse."""
    summary = _adaptive(adaptive_rate=39.0, adaptive_ceiling=10.0, adaptive_calls=0)
    assert summary.advised_rate is None
    assert "no 429 ended the slow start" in adaptive_advice(summary)


def test_no_rate_is_advised_from_too_few_calls() -> None:
    """A handful of successes after the first 429 is no measurement."""
    summary = _adaptive(
        adaptive_rate=12.0,
        adaptive_ceiling=15.0,
        adaptive_found_limit=True,
        adaptive_calls=ADVICE_MIN_CALLS - 1,
    )
    assert summary.advised_rate is None
    assert "too few to measure a rate" in adaptive_advice(summary)


def test_the_advice_never_exceeds_what_was_probed() -> None:
    """Sustained 39 with a probe of 10 advises 10, not 39; the text says both."""
    summary = _adaptive(
        adaptive_rate=39.0, adaptive_ceiling=10.0, adaptive_found_limit=True, adaptive_calls=500
    )
    assert summary.advised_rate == 10
    text = adaptive_advice(summary)
    assert text.endswith("pass --rate 10 next time")
    assert "over 500 calls after the first 429" in text
    assert summary.to_dict()["this_run"]["advised_rate"] == 10


def test_a_measured_rate_below_one_is_not_advised() -> None:
    """0.4 req/s would round to 0, which means unlimited: no advice instead."""
    summary = _adaptive(
        adaptive_rate=0.4, adaptive_ceiling=3.0, adaptive_found_limit=True, adaptive_calls=900
    )
    assert summary.advised_rate is None


def test_the_controller_says_whether_it_found_the_limit(clock: Any) -> None:
    """``found_limit`` and ``successes_since_limit`` count only after the first 429."""
    aimd = AimdController(initial=10.0, clock=clock)
    for _ in range(5):
        aimd.on_success()
    assert not aimd.found_limit
    assert aimd.successes_since_limit == 0
    clock.now += 2
    aimd.on_throttled()
    for _ in range(7):
        aimd.on_success()
    assert aimd.found_limit
    assert aimd.successes_since_limit == 7


@pytest.mark.usefixtures("sim_env")
def test_a_failed_login_gives_no_rate_advice(
    threaded_simulator: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Wrong password under --adaptive: exit 2, and the summary does not say ``--rate 0``."""
    monkeypatch.setenv("SCHLAGE_PASSWORD", "not-the-password")
    sim = threaded_simulator()
    path = generate_portfolio(tmp_path / "p.jsonl", 20, seed=3).path
    code = main(
        [
            "migrate", str(path), "--base-url", sim.handle.api_base_url, "--adaptive",
            "--report-dir", str(tmp_path / "reports"), "--progress", "none",
        ]
    )  # fmt: skip
    assert code == 2
    out = capsys.readouterr().out
    assert "  adaptive     " in out
    assert "pass --rate" not in out
    assert "no --rate advice" in out


@pytest.mark.parametrize(
    ("recent", "sustained", "held", "advised"),
    [
        (200.0, 180.0, 199.0, 196),  # 98 % of the last minute
        (200.0, 199.0, 250.0, 199),  # never below what was sustained
        (260.0, 180.0, 210.0, 210),  # never above what was held without a 429
        (4.97, 4.6, 5.5, 4.8),  # tenths below 10 req/s (0.98 x 4.97 = 4.87)
    ],
    ids=["margin", "sustained-floor", "held-ceiling", "tenths"],
)
def test_the_advice_is_the_last_minute_within_sustained_and_held(
    recent: float, sustained: float, held: float, advised: float
) -> None:
    """What went through lately, never below the sustained rate nor above the held one."""
    summary = _adaptive(
        adaptive_rate=sustained,
        adaptive_recent=recent,
        adaptive_held=held,
        adaptive_ceiling=300.0,
        adaptive_found_limit=True,
        adaptive_calls=5_000,
    )
    assert summary.advised_rate == advised
    assert f"pass --rate {advised:g} next time" in adaptive_advice(summary)
