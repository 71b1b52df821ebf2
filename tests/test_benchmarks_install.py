"""The harness installs as documented: a section whose extra is missing is skipped alone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

_ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_a_section_without_its_extra_is_one_line_and_the_run_goes_on() -> None:
    """Without psycopg: the fleet sections say which extra they need; exit 0, no traceback."""
    code = (
        "import sys, runpy; sys.modules['psycopg'] = None; "
        "sys.argv = ['benchmarks', 'run', '--quick', '--only', 'fleet,pg-checkpoint']; "
        "runpy.run_module('benchmarks', run_name='__main__')"
    )
    done = subprocess.run(  # noqa: S603  # our interpreter
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=_ROOT,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "Traceback" not in done.stderr
    assert "SKIPPED fleet: needs the scale extra (missing module 'psycopg')" in done.stdout
    assert "SKIPPED pg-checkpoint" in done.stdout
