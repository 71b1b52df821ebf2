"""The fleet's command-line options: ``migrate --state postgresql://... --shared redis://...``,
``work`` and ``report``. Only argparse here, so ``python -m bulk`` starts without the
``scale`` extra installed; the commands themselves are in :mod:`bulk.cli.fleet`.
"""

from __future__ import annotations

import argparse

from ..store import is_postgres_url
from ._common import add_metrics_option, add_output_options, add_run_options, seconds_arg

__all__ = ["add_fleet_commands", "add_fleet_options", "is_postgres_url"]

_STATE_HELP = "postgresql://[user@]host[:port]/db[?schema=NAME] (one schema per run)"


def add_fleet_options(parser: argparse.ArgumentParser) -> None:
    """``--lease``: what ``migrate`` and ``work`` take for a fleet (``--shared`` is every
    sending command's, :func:`~bulk.cli._common.add_run_options`)."""
    parser.add_argument(
        "--lease",
        type=seconds_arg,
        default=60.0,
        metavar="SECONDS",
        help="with a PostgreSQL state: a dead worker's residents are taken over after "
        "this long (default 60; renewed every third of it)",
    )


def add_fleet_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``work`` and ``report``."""
    work = commands.add_parser(
        "work", help="join a run kept in PostgreSQL (started by migrate) from any machine"
    )
    work.add_argument("--state", required=True, metavar="POSTGRES_URL", help=_STATE_HELP)
    work.add_argument("--base-url", help="the service's base URL (default: $SCHLAGE_BASE_URL)")
    add_run_options(work)
    work.add_argument("--report-dir", help="also write the run's reports here at the end")
    add_fleet_options(work)
    add_output_options(work)
    add_metrics_option(work)

    report = commands.add_parser(
        "report", help="write the reports of a run from its state (SQLite file or PostgreSQL)"
    )
    report.add_argument("--state", required=True, help="the state file or PostgreSQL URL")
    report.add_argument(
        "--report-dir",
        required=True,
        help="where the reports go (a folder holding another run's reports is refused)",
    )
    report.add_argument(
        "--input",
        metavar="FILE",
        help="the run's input, when it moved since the run (default: where the run read it); "
        "every line of it lands in exactly one report",
    )
