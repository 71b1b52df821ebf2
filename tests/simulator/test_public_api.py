"""The simulator's public surface is pinned: a change to it must be deliberate."""

from __future__ import annotations

import schlage_async.simulator as simulator


def test_all_is_sorted_and_pinned() -> None:
    """``schlage_async.simulator.__all__`` is exactly this list, sorted as ruff sorts it."""

    def ruff_order(name: str) -> tuple[int, str]:  # CONSTANTS, then Classes, then functions
        return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)

    assert simulator.__all__ == sorted(simulator.__all__, key=ruff_order)
    assert simulator.__all__ == [
        "DEFAULT_ACCOUNTS",
        "DEFAULT_MAX_CARD_NUMBERS",
        "Account",
        "AccountStatus",
        "Accounts",
        "AccountsFileError",
        "AdminLogin",
        "CredentialRecord",
        "FaultKind",
        "FaultSpec",
        "FaultSpecError",
        "Integration",
        "Role",
        "SimClock",
        "SimulatorConfig",
        "SimulatorHandle",
        "SimulatorState",
        "SmsMessage",
        "load_accounts",
        "run_simulator",
    ]
    for name in simulator.__all__:
        assert getattr(simulator, name) is not None


def test_default_accounts_are_the_documented_ones() -> None:
    """Other suites code against these defaults; they must not drift."""
    accounts = simulator.DEFAULT_ACCOUNTS
    assert accounts.subscription_keys == frozenset({"sim-subscription-key"})
    assert accounts.admin.username == "admin@sim.example"
    rows = {
        (a.username, a.password, a.role.value, a.status.value, a.integration)
        for a in accounts.accounts.values()
    }
    assert rows == {
        ("admin@sim.example", "sim-admin-password", "administrator", "active", "sim-integration"),
        ("manager@sim.example", "sim-manager-password", "manager", "active", "sim-integration"),
        ("operator@sim.example", "sim-operator-password", "operator", "active", "sim-integration"),
        (
            "unverified@sim.example",
            "sim-unverified-password",
            "administrator",
            "unverified",
            "sim-integration",
        ),
        (
            "deleted@sim.example",
            "sim-deleted-password",
            "administrator",
            "deleted",
            "sim-integration",
        ),
        (
            "pending@sim.example",
            "sim-pending-password",
            "administrator",
            "active",
            "sim-pending-integration",
        ),
        (
            "other@sim.example",
            "sim-other-password",
            "administrator",
            "active",
            "sim-other-integration",
        ),
    }
    main = accounts.integrations["sim-integration"]
    assert (main.onboarded, main.restricted_facility_code, main.restricted_issue_code) == (
        True,
        1234,
        20,
    )
    assert not accounts.integrations["sim-pending-integration"].onboarded
    assert accounts.integrations["sim-other-integration"].onboarded
    assert "sim-admin-password" not in repr(accounts)
