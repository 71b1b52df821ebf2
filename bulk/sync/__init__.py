"""Keeping the service equal to the PACS after the migration.

* :mod:`bulk.sync.plan`: read the export and the service, write a plan (``plan_sync``);
  :mod:`bulk.sync.plan_file` is the plan's file format, :mod:`bulk.sync.history` the
  earlier runs' records the plan reads;
* :mod:`bulk.sync.apply`: carry a plan out exactly once, behind its rails (``apply_plan``);
* :mod:`bulk.sync.chase`: resend unopened invites within a daily cap (``chase_invites``);
* :mod:`bulk.sync.decommission`: take locks out of every credential (``decommission_locks``);
* :mod:`bulk.sync.resend`: the at-most-once resend rule; :mod:`bulk.sync.calls`: the
  engine's call path with a worker pool.
"""

from __future__ import annotations

from .apply import ApplyOptions, apply_plan
from .chase import ChaseResult, chase_invites
from .decommission import DecommissionResult, LockOutcome, decommission_locks
from .plan import SyncPlan, plan_sync
from .plan_file import (
    PlanError,
    PlanHeader,
    PlanStep,
    SyncAction,
    iter_plan_steps,
    read_plan_header,
)

__all__ = [
    "ApplyOptions",
    "ChaseResult",
    "DecommissionResult",
    "LockOutcome",
    "PlanError",
    "PlanHeader",
    "PlanStep",
    "SyncAction",
    "SyncPlan",
    "apply_plan",
    "chase_invites",
    "decommission_locks",
    "iter_plan_steps",
    "plan_sync",
    "read_plan_header",
]
