"""What every command of ``python -m bulk`` shares: argument types with one set of limits.

The limits themselves are the library's (:mod:`bulk._options`); here they become
``argparse`` types, so every command refuses the same values with the same words.
"""

from __future__ import annotations
