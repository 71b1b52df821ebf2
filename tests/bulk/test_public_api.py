"""The public surface of ``bulk``: pinned, so a change to it is deliberate."""

from __future__ import annotations

import bulk

EXPECTED = [
    "DEFAULT_NAMESPACE",
    "ENGINE_RETRY_POLICY",
    "FINAL_STATES",
    "AccountBlockedError",
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
    "LeaseLostError",
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
    "PostgresCheckpointStore",
    "ProgressCallback",
    "ProgressSink",
    "ProgressSnapshot",
    "ProvisioningClient",
    "RateLimiter",
    "RateReport",
    "RejectedRow",
    "ReportError",
    "ReportFolderTakenError",
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
    "StoreNotFoundError",
    "SyncAction",
    "SyncPlan",
    "UnlimitedLimiter",
    "Verification",
    "WorkQueue",
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
    "open_store",
    "parse_jsonl_line",
    "parse_resident",
    "plan_sync",
    "read_input",
    "read_plan_header",
    "report_run",
    "row_digest",
    "run_migration",
    "user_id_for",
    "verify_against_state",
    "write_reports",
]


def test_the_public_names_are_exactly_these() -> None:
    """Adding or removing a public name is a decision, not an accident."""
    assert bulk.__all__ == EXPECTED


def test_the_public_names_are_sorted_and_importable() -> None:
    """``__all__`` is sorted (ruff's order) and every name resolves."""
    assert sorted(bulk.__all__, key=lambda n: (not n.isupper(), n[0].islower(), n)) == bulk.__all__
    for name in bulk.__all__:
        assert getattr(bulk, name) is not None


def test_the_console_script_entry_point_exists() -> None:
    """pyproject's ``schlage-bulk = "bulk.__main__:main"`` resolves to a callable."""
    from bulk.__main__ import main

    assert callable(main)
