"""Exactly-once, resumable bulk provisioning of Schlage mobile credentials.

Services call :func:`run_migration` (and :func:`dry_run`, :func:`plan_sync`,
:func:`apply_plan`, :func:`chase_invites`, :func:`decommission_locks`); the command line
is ``python -m bulk`` (``schlage-bulk``), a thin caller of the same functions.

The picture with every part, where a resident's row goes and where to add a store, a
sync action or a command is ``docs/architecture.md``; the map below names every module.

The map (arrows point from a caller to what it uses; never back)::

    cli/ ─────────────► _service.py ──► _engine.py ──► _state_machine.py
     │  (commands)       (entries)       (the run)       (one resident)
     │                      │ _guards.py    │
     │                      │ (every entry) │
     ├──► sync/ ────────────┤               └──► _calls.py ──► _pause.py, _limiter.py
     │   (plan, apply,      │                    (call path)
     │    chase, ...)       ▼
     └────────────────► store/ (protocol, sqlite, postgres, memory, open_store)

Engine core (top level):

* ``_guards.py``: the one guarded path every command and library entry takes before
  anything is sent: the option limits, the service identity, the store opened or claimed
  (one run per store), a known account block, the report folder's owner.
* ``_service.py``: the library entries :func:`run_migration` and :func:`dry_run`.
* ``_engine.py``: the run: the reader, the workers, progress snapshots, the summary.
* ``_state_machine.py``: one resident's state machine; the diagram is at its top and every
  transition (reject, admit, reconcile, create, save, done, deferred) is one method.
* ``_calls.py``: the path every API call takes out: the pause gate (``_pause.py``, and
  ``_fleet_pause.py`` joining a fleet's), the limiter (``_limiter.py``: evenly spaced
  calls, steered under ``--adaptive`` by ``schlage_async.AimdController``), the 429 policy and the
  conditions that stop a run.
* ``_options.py``: :class:`MigrationOptions`; ``_summary.py``: what a run reports;
  ``_progress.py``: progress snapshots and sinks; ``_errors.py``: the error tree.
* ``_input.py``: the readers (JSON Lines, CSV) and the deduplicator; ``_resident.py``: what
  a row becomes; ``_phones.py``: mobile numbers; ``_user_ids.py``: stable user ids;
  ``_masking.py``: masking numbers in any text we repeat; ``_sqlite_batch.py``: many rows
  in one SQLite statement (the deduplicator's and the SQLite checkpoint's batches).
* ``_lanes.py``: ``budget=`` (an account shared with other callers): the run's lane of
  the :class:`~schlage_async.AccountBudget` as its limiter, and the weight's limits.
* ``_binding.py``: what a checkpoint is bound to (service, account, each input row);
  ``_block.py``: a known account block, honoured before any call.
* ``_reports.py``: the report files; ``_verify.py``: a service's state against the input;
  ``_generate.py``: synthetic portfolios; ``_signals.py``: signals from the first instant.
* ``_telemetry.py``: the runs' spans and the engine's metrics through OpenTelemetry (the
  ``otel`` extra; nothing is recorded without it or a configured provider).

Packages:

* ``store/``: the checkpoint seam ``store/protocol.py``; ``store/sqlite.py`` (one
  machine), ``store/postgres.py`` (a fleet, the ``scale`` extra), ``store/memory.py``
  (tests); ``store/_open.py`` holds :func:`bulk.store.open_store`, the one constructor.
* ``sync/``: ``sync/plan.py`` (with its file ``sync/plan_file.py`` and the history it
  reads ``sync/history.py``), ``sync/apply.py``, ``sync/chase.py``,
  ``sync/decommission.py``, the at-most-once resend ``sync/resend.py`` with the machine's
  ledger of resends ``sync/ledger.py`` (one invite a day, whatever state file), and the
  call path ``sync/calls.py``.
* ``cli/``: ``cli/main.py`` (parser, migrate, dry run, demo), ``cli/fleet.py`` and
  ``cli/fleet_args.py`` (migrate into PostgreSQL, work, report), ``cli/sync.py`` (plan,
  apply, chase, decommission), ``cli/demo.py``, ``cli/exits.py`` (exit codes, only here),
  ``cli/logs.py`` (log set-up), ``cli/metrics.py`` (``--metrics-port``: a Prometheus
  endpoint, the ``metrics`` extra), ``cli/_common.py`` (what every command shares).
* ``__main__.py``: ``python -m bulk``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import _signals

if _signals.started_as_command():  # before the slow imports: a signal must not kill us
    _signals.hold()

from ._binding import ServiceIdentity, bind_input
from ._engine import MigrationOptions, ProvisioningClient, migrate
from ._errors import (
    AccountBlockedError,
    BulkError,
    InputError,
    InputMismatchError,
    LeaseLostError,
    MigrationOptionsError,
    PhoneNumberError,
    PlanError,
    ReportFolderTakenError,
    StateFileError,
    StateInUseError,
    StoreError,
    StoreNotFoundError,
)
from ._generate import generate_portfolio
from ._input import ParseOptions, read_input
from ._limiter import AdaptiveRateLimiter, FixedRateLimiter, RateLimiter, UnlimitedLimiter
from ._progress import ProgressSink, ProgressSnapshot
from ._reports import write_reports
from ._resident import RejectedRow, Resident
from ._service import dry_run, report_run, run_migration
from ._summary import MigrationStatus, MigrationSummary, StopReason
from ._verify import verify_against_state
from .store import open_store
from .store.memory import MemoryCheckpointStore
from .store.protocol import CheckpointStore, ResidentRecord, ResidentState
from .store.sqlite import SQLiteCheckpointStore
from .sync.apply import ApplyOptions, apply_plan
from .sync.chase import ChaseResult, chase_invites
from .sync.decommission import DecommissionResult, decommission_locks
from .sync.plan import SyncPlan, plan_sync

if TYPE_CHECKING:  # imported on first use (the scale extra): the base install has no psycopg
    from .store.postgres import PostgresCheckpointStore

__all__ = [
    "AccountBlockedError",
    "AdaptiveRateLimiter",
    "ApplyOptions",
    "BulkError",
    "ChaseResult",
    "CheckpointStore",
    "DecommissionResult",
    "FixedRateLimiter",
    "InputError",
    "InputMismatchError",
    "LeaseLostError",
    "MemoryCheckpointStore",
    "MigrationOptions",
    "MigrationOptionsError",
    "MigrationStatus",
    "MigrationSummary",
    "ParseOptions",
    "PhoneNumberError",
    "PlanError",
    "PostgresCheckpointStore",
    "ProgressSink",
    "ProgressSnapshot",
    "ProvisioningClient",
    "RateLimiter",
    "RejectedRow",
    "ReportFolderTakenError",
    "Resident",
    "ResidentRecord",
    "ResidentState",
    "SQLiteCheckpointStore",
    "ServiceIdentity",
    "StateFileError",
    "StateInUseError",
    "StopReason",
    "StoreError",
    "StoreNotFoundError",
    "SyncPlan",
    "UnlimitedLimiter",
    "apply_plan",
    "bind_input",
    "chase_invites",
    "decommission_locks",
    "dry_run",
    "generate_portfolio",
    "migrate",
    "open_store",
    "plan_sync",
    "read_input",
    "report_run",
    "run_migration",
    "verify_against_state",
    "write_reports",
]


def __getattr__(name: str) -> object:
    """:class:`PostgresCheckpointStore` on first use: the base install has no psycopg."""
    if name == "PostgresCheckpointStore":
        from .store.postgres import PostgresCheckpointStore

        return PostgresCheckpointStore
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
