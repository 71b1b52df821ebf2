"""What machine a figure was measured on, recorded beside every figure."""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

__all__ = ["machine"]


def machine() -> dict[str, Any]:
    """Cores, memory, Python and platform of this run."""
    try:
        import psutil  # type: ignore[import-untyped]  # no stubs in the bench extra

        memory_gb = round(psutil.virtual_memory().total / 2**30, 1)
    except ImportError:  # psutil is in the bench extra; the figure is optional
        memory_gb = None
    return {
        "cores": os.cpu_count(),
        "memory_gb": memory_gb,
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }
