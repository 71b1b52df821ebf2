"""``python -m benchmarks run [--quick] --json OUT``: the whole harness, one table."""

from __future__ import annotations

import sys

from ._cli import main

if __name__ == "__main__":
    sys.exit(main())
