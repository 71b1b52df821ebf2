"""The command line, ``python -m bulk`` (``schlage-bulk``): a thin caller of the library.

* :mod:`bulk.cli.main`: the parser and the single-machine commands (migrate, dry run,
  check, verify, generate, demo);
* :mod:`bulk.cli.fleet` and :mod:`bulk.cli.fleet_args`: ``migrate --state postgresql://``,
  ``work`` and ``report``;
* :mod:`bulk.cli.sync`: plan, apply, chase and decommission;
* :mod:`bulk.cli.demo`: the demo on an embedded simulator;
* :mod:`bulk.cli.exits`: exit codes (and only here); :mod:`bulk.cli.logs`: log set-up;
* :mod:`bulk.cli._common`: what every command shares (the run options and their limits).
"""

from __future__ import annotations

__all__: list[str] = []  # the entry point is bulk.cli.main.main (``python -m bulk``)
