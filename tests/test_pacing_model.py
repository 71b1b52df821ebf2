"""The virtual-time pacing model (``benchmarks/pacing_model.py``) stays the engine's.

It reproduced the engine's logged cuts in the R 5 / bucket 5 cell on the simulator (slow
start ending at 40/s 0.654 s in, then 25.7, 23.3, 18.0 and 12.5 met by 6.127 s, the
controller of then; the two-cycle estimate changed only what came after); a change to
the controller or the model that moves them should be seen.
"""

from __future__ import annotations

import pytest

from benchmarks.pacing_model import run_model


def test_the_model_meets_the_cuts_the_engine_logged() -> None:
    run = run_model(5.0, 5.0, 12.0, seed=1)
    met = [before for _, before, _ in run.cuts]
    assert met[:5] == pytest.approx([40.0, 25.7, 23.3, 18.0, 12.5], abs=0.1)
    assert run.cuts[0][0] == pytest.approx(0.654, abs=0.01)
    assert run.cuts[4][0] == pytest.approx(6.127, abs=0.1)


def test_the_model_counts_what_it_sent() -> None:
    run = run_model(50.0, 50.0, 20.0)
    assert run.refused <= run.calls
    assert 0.5 < run.utilization < 1.1
