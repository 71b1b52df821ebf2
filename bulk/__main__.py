"""``python -m bulk``: the command line (see :mod:`bulk.cli.main`)."""

from __future__ import annotations

import sys

from .cli.main import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
