"""``python -m benchmarks run [--quick] --json OUT``: the whole harness, one table."""

from __future__ import annotations

import sys

_BENCH_EXTRA = frozenset({"psutil", "httpx", "pydantic", "tenacity"})
"""The modules of the bench extra (pyproject.toml); the harness imports them up front."""

if __name__ == "__main__":
    try:
        from ._cli import main
    except ModuleNotFoundError as exc:
        if exc.name not in _BENCH_EXTRA:
            raise
        sys.exit(
            f"python -m benchmarks: error: the benchmarks need the bench extra "
            f"(missing module {exc.name!r}): pip install -e '.[bench]'"
        )
    sys.exit(main())
