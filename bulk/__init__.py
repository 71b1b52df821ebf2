"""Exactly-once, resumable bulk provisioning of Schlage mobile credentials.

The command line is ``python -m bulk`` (``schlage-bulk``); services call :func:`migrate`
with a client, an iterator of rows and a :class:`CheckpointStore`.

Where things are (each module holds one thing; all private, re-exported here):

* ``_state_machine.py``: one resident's state machine. The state diagram is at its top;
  every transition (reject, admit, reconcile, create, save, done, deferred) is one method
  of ``ResidentMachine``, and the exactly-once rules are written beside them.
* ``_calls.py``: the path every API call takes out: the pause gate (``_pause.py``), the
  limiter (``_limiter.py``), the 429 policy and the conditions that stop a run.
* ``_engine.py``: the run that uses both: the reader (``_input.py`` parses, dedups), the
  workers, progress snapshots (``_progress.py``), the summary (``_summary.py``).
* ``_checkpoint.py``: the store seam (one record per input line); ``_checkpoint_sqlite.py``
  and ``_checkpoint_memory.py`` implement it.
* ``_reports.py``: the report files; ``_verify.py``: checking a service's state against
  the input; ``_generate.py``: synthetic portfolios.
* ``_cli.py`` and ``_demo.py``: the command line, a thin caller of the above.
* ``_sync_*.py``: keeping the service in sync after the migration: the plan (``_sync_plan``,
  its file ``_sync_plan_file``, the history it reads ``_sync_history``), ``_sync_apply``,
  ``_sync_chase``, ``_sync_decommission``, the shared resend rule ``_sync_resend`` and
  call path ``_sync_calls``; ``_cli_sync.py`` their commands.
"""

from __future__ import annotations

from . import _signals

if _signals.started_as_command():  # before the slow imports: a signal must not kill us
    _signals.hold()

from ._binding import InputScan, ServiceIdentity, bind_input, default_state_path
from ._checkpoint import (
    FINAL_STATES,
    CheckpointStore,
    ResidentRecord,
    ResidentState,
    ResumeView,
)
from ._checkpoint_memory import MemoryCheckpointStore
from ._checkpoint_sqlite import SQLiteCheckpointStore
from ._engine import ENGINE_RETRY_POLICY, MigrationOptions, ProvisioningClient, migrate
from ._errors import (
    BulkError,
    InputError,
    InputMismatchError,
    MigrationOptionsError,
    StateFileError,
    StateInUseError,
    StoreClosedError,
    StoreError,
)
from ._generate import GeneratedPortfolio, generate_portfolio
from ._input import (
    Deduplicator,
    InputFingerprint,
    ParseOptions,
    check_input,
    input_fingerprint,
    iter_csv,
    iter_jsonl,
    parse_jsonl_line,
    parse_resident,
    read_input,
    row_digest,
)
from ._limiter import (
    AdaptiveRateLimiter,
    AimdController,
    FixedRateLimiter,
    RateLimiter,
    RateReport,
    UnlimitedLimiter,
)
from ._masking import mask_numbers
from ._pause import PauseGate
from ._phones import PhoneNumberError, normalize_mobile
from ._progress import LogProgress, NullProgress, ProgressSink, ProgressSnapshot, RichProgress
from ._reports import ReportError, ReportPaths, write_reports
from ._resident import ParsedRow, RejectedRow, Resident
from ._service import MigrationSource, ProgressCallback, dry_run, input_binding, run_migration
from ._summary import MigrationStatus, MigrationSummary, StopReason
from ._sync_apply import ApplyOptions, apply_plan
from ._sync_chase import ChaseResult, chase_invites
from ._sync_decommission import DecommissionResult, LockOutcome, decommission_locks
from ._sync_plan import SyncPlan, plan_sync
from ._sync_plan_file import (
    PlanError,
    PlanHeader,
    PlanStep,
    SyncAction,
    iter_plan_steps,
    read_plan_header,
)
from ._user_ids import DEFAULT_NAMESPACE, integration_namespace, user_id_for
from ._verify import Verification, verify_against_state

__all__ = [
    "DEFAULT_NAMESPACE",
    "ENGINE_RETRY_POLICY",
    "FINAL_STATES",
    "AdaptiveRateLimiter",
    "AimdController",
    "ApplyOptions",
    "BulkError",
    "ChaseResult",
    "CheckpointStore",
    "DecommissionResult",
    "Deduplicator",
    "FixedRateLimiter",
    "GeneratedPortfolio",
    "InputError",
    "InputFingerprint",
    "InputMismatchError",
    "InputScan",
    "LockOutcome",
    "LogProgress",
    "MemoryCheckpointStore",
    "MigrationOptions",
    "MigrationOptionsError",
    "MigrationSource",
    "MigrationStatus",
    "MigrationSummary",
    "NullProgress",
    "ParseOptions",
    "ParsedRow",
    "PauseGate",
    "PhoneNumberError",
    "PlanError",
    "PlanHeader",
    "PlanStep",
    "ProgressCallback",
    "ProgressSink",
    "ProgressSnapshot",
    "ProvisioningClient",
    "RateLimiter",
    "RateReport",
    "RejectedRow",
    "ReportError",
    "ReportPaths",
    "Resident",
    "ResidentRecord",
    "ResidentState",
    "ResumeView",
    "RichProgress",
    "SQLiteCheckpointStore",
    "ServiceIdentity",
    "StateFileError",
    "StateInUseError",
    "StopReason",
    "StoreClosedError",
    "StoreError",
    "SyncAction",
    "SyncPlan",
    "UnlimitedLimiter",
    "Verification",
    "apply_plan",
    "bind_input",
    "chase_invites",
    "check_input",
    "decommission_locks",
    "default_state_path",
    "dry_run",
    "generate_portfolio",
    "input_binding",
    "input_fingerprint",
    "integration_namespace",
    "iter_csv",
    "iter_jsonl",
    "iter_plan_steps",
    "mask_numbers",
    "migrate",
    "normalize_mobile",
    "parse_jsonl_line",
    "parse_resident",
    "plan_sync",
    "read_input",
    "read_plan_header",
    "row_digest",
    "run_migration",
    "user_id_for",
    "verify_against_state",
    "write_reports",
]
