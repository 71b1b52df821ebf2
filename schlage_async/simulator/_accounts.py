"""Who may call the simulator: subscription keys, integrations and ENGAGE accounts.

The defaults (:data:`DEFAULT_ACCOUNTS`) are documented in ``--help`` and the README and
other parts of the project code against them; ``--accounts FILE`` replaces them with a
JSON file of the same shape.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import msgspec

from .._validation import RestrictedFormat

__all__ = [
    "DEFAULT_ACCOUNTS",
    "Account",
    "AccountStatus",
    "Accounts",
    "AccountsFileError",
    "AdminLogin",
    "Integration",
    "Role",
    "load_accounts",
    "parse_accounts",
]


class AccountsFileError(ValueError):
    """An accounts file that cannot be used; the message is one line."""


class Role(enum.StrEnum):
    """An ENGAGE account's role; only administrators may call the credential operations."""

    ADMINISTRATOR = "administrator"
    MANAGER = "manager"
    OPERATOR = "operator"


class AccountStatus(enum.StrEnum):
    """Whether an account can log in."""

    ACTIVE = "active"
    UNVERIFIED = "unverified"
    DELETED = "deleted"


@dataclass(frozen=True, slots=True)
class Integration:
    """A partner's integration with Allegion; owns credentials and (maybe) a 48X mapping."""

    id: str
    onboarded: bool
    restricted_facility_code: int | None = None
    restricted_issue_code: int | None = None

    @property
    def restricted(self) -> RestrictedFormat | None:
        """The integration's 48X facility and issue code, if it has them."""
        if self.restricted_facility_code is None or self.restricted_issue_code is None:
            return None
        return RestrictedFormat(self.restricted_facility_code, self.restricted_issue_code)


@dataclass(frozen=True, slots=True)
class Account:
    """An ENGAGE account: logs in to surface A and authenticates surface B."""

    username: str
    password: str = field(repr=False)
    role: Role
    status: AccountStatus
    integration: str


@dataclass(frozen=True, slots=True)
class AdminLogin:
    """What a test needs to log in as the default administrator."""

    username: str
    password: str = field(repr=False)
    subscription_key: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Accounts:
    """Every subscription key, integration and account the simulator knows."""

    subscription_keys: frozenset[str] = field(repr=False)
    integrations: Mapping[str, Integration]
    accounts: Mapping[str, Account]  # by lower-cased user name
    admin: AdminLogin  # the default administrator (first active admin of an onboarded one)

    def account(self, username: str) -> Account | None:
        """Return the account with this user name (case-insensitive), if any."""
        return self.accounts.get(username.lower())


class _IntegrationEntry(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    id: str
    onboarded: bool = True
    restricted_facility_code: int | None = None
    restricted_issue_code: int | None = None


class _AccountEntry(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    username: str
    password: str
    integration: str
    role: Literal["administrator", "manager", "operator"] = "administrator"
    status: Literal["active", "unverified", "deleted"] = "active"


class _AccountsFile(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    subscription_keys: list[str]
    integrations: list[_IntegrationEntry]
    accounts: list[_AccountEntry]


def parse_accounts(data: object) -> Accounts:
    """Build :class:`Accounts` from a decoded accounts file; raise AccountsFileError."""
    try:
        raw = msgspec.convert(data, _AccountsFile)
    except msgspec.ValidationError as exc:
        raise AccountsFileError(f"accounts file: {exc}") from None
    if not raw.subscription_keys or not all(raw.subscription_keys):
        raise AccountsFileError("accounts file: subscriptionKeys needs at least one non-empty key")
    integrations: dict[str, Integration] = {}
    for entry in raw.integrations:
        if entry.id in integrations:
            raise AccountsFileError(f"accounts file: integration {entry.id!r} is listed twice")
        integrations[entry.id] = Integration(
            entry.id, entry.onboarded, entry.restricted_facility_code, entry.restricted_issue_code
        )
    accounts: dict[str, Account] = {}
    for item in raw.accounts:
        key = item.username.lower()
        if key in accounts:
            raise AccountsFileError(f"accounts file: account {item.username!r} is listed twice")
        if item.integration not in integrations:
            raise AccountsFileError(
                f"accounts file: account {item.username!r} names unknown integration "
                f"{item.integration!r}"
            )
        accounts[key] = Account(
            item.username,
            item.password,
            Role(item.role),
            AccountStatus(item.status),
            item.integration,
        )
    admin = next(
        (
            a
            for a in accounts.values()
            if a.role is Role.ADMINISTRATOR
            and a.status is AccountStatus.ACTIVE
            and integrations[a.integration].onboarded
        ),
        None,
    )
    if admin is None:
        raise AccountsFileError(
            "accounts file: needs an active administrator of an onboarded integration"
        )
    return Accounts(
        subscription_keys=frozenset(raw.subscription_keys),
        integrations=MappingProxyType(integrations),
        accounts=MappingProxyType(accounts),
        admin=AdminLogin(admin.username, admin.password, raw.subscription_keys[0]),
    )


def load_accounts(path: str | Path) -> Accounts:
    """Read an accounts JSON file; raise :class:`AccountsFileError` with one clear line."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AccountsFileError(
            f"cannot read accounts file {str(path)!r}: {exc.strerror}"
        ) from None
    try:
        decoded = msgspec.json.decode(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise AccountsFileError(f"accounts file {str(path)!r} is not JSON: {exc}") from None
    return parse_accounts(decoded)


_DEFAULTS = {
    "subscriptionKeys": ["sim-subscription-key"],
    "integrations": [
        {
            "id": "sim-integration",
            "onboarded": True,
            "restrictedFacilityCode": 1234,
            "restrictedIssueCode": 20,
        },
        {"id": "sim-pending-integration", "onboarded": False},
        {"id": "sim-other-integration", "onboarded": True},
    ],
    "accounts": [
        {
            "username": username,
            "password": password,
            "role": role,
            "status": status,
            "integration": integration,
        }
        for username, password, role, status, integration in (
            (
                "admin@sim.example",
                "sim-admin-password",
                "administrator",
                "active",
                "sim-integration",
            ),
            ("manager@sim.example", "sim-manager-password", "manager", "active", "sim-integration"),
            (
                "operator@sim.example",
                "sim-operator-password",
                "operator",
                "active",
                "sim-integration",
            ),
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
        )
    ],
}

DEFAULT_ACCOUNTS: Accounts = parse_accounts(_DEFAULTS)
"""The documented default key, integrations and accounts (see ``--help``)."""
