"""The public surface of ``bulk``: pinned, so a change to it is deliberate."""

from __future__ import annotations

import bulk

EXPECTED = [
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


def test_the_public_names_are_exactly_these() -> None:
    """Adding or removing a public name is a decision, not an accident (about 50: the entry
    points, their options and results, the stores, the limiters, the errors)."""
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
