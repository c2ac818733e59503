"""Scopes and roles: what a credential may do.

A scope is ``<service>:<read|write>`` or ``*``. A role caps the scopes: a viewer only reads metadata
(never a secret value), a developer reads and writes services but cannot manage the account's people
and credentials, an owner does everything within the account, and an admin (system account only) runs
the platform.
"""

from __future__ import annotations

from collections.abc import Iterable

from neo_service_layer.db.models import Role
from neo_service_layer.errors import ValidationFailed

ALL_SCOPES = "*"
READ, WRITE = "read", "write"
# A read that returns a secret's value (sealed to the caller): the ``read`` scope suffices, but not the
# viewer role, who sees metadata only (docs/secrets.md, as Vault's read vs. list/metadata policies).
READ_VALUE = "read_value"
# Services whose routes check scopes. Later services add their name here.
SERVICES: tuple[str, ...] = (
    "account",
    "audit",
    "keys",
    "secrets",
    "randomness",
    "oracle",
    "pricefeed",
    "functions",
    "automation",
    "gasbank",
    "storage",
)
# Services whose writes change who can do what; developers may read them but not write.
ACCOUNT_ADMIN_SERVICES = frozenset({"account"})
ROLE_RANK = {Role.ADMIN: 0, Role.OWNER: 1, Role.DEVELOPER: 2, Role.VIEWER: 3}


def validate_scopes(scopes: Iterable[str]) -> list[str]:
    """Return the scopes sorted and de-duplicated, or raise for an unknown one."""
    clean: set[str] = set()
    for scope in scopes:
        if scope == ALL_SCOPES:
            clean.add(scope)
            continue
        service, _, action = scope.partition(":")
        if service not in SERVICES or action not in (READ, WRITE):
            raise ValidationFailed(f"unknown scope {scope!r}; use '<service>:read|write' or '*'", scope=scope)
        clean.add(scope)
    if not clean:
        raise ValidationFailed("at least one scope is required")
    return sorted(clean)


def role_allows(role: Role, service: str, action: str) -> bool:
    """Whether ``role`` may ever perform ``action`` on ``service`` (before scopes are looked at)."""
    if role in (Role.ADMIN, Role.OWNER):
        return True
    if action == READ:
        return True
    if action == READ_VALUE:
        return role == Role.DEVELOPER
    return role == Role.DEVELOPER and service not in ACCOUNT_ADMIN_SERVICES


def scope_for(service: str, action: str) -> str:
    """The scope that ``action`` on ``service`` needs: ``<service>:read`` also covers value reads."""
    return f"{service}:{READ if action == READ_VALUE else action}"


def scopes_allow(scopes: Iterable[str], service: str, action: str) -> bool:
    """Whether the granted ``scopes`` include :func:`scope_for` ``(service, action)`` (``write`` implies
    ``read``)."""
    granted = set(scopes)
    needed = scope_for(service, action)
    if ALL_SCOPES in granted or needed in granted:
        return True
    return needed == f"{service}:{READ}" and f"{service}:{WRITE}" in granted


def uncovered_scopes(granted: Iterable[str], requested: Iterable[str]) -> list[str]:
    """The ``requested`` scopes that ``granted`` does not include (empty: nothing beyond the granter's).

    ``*`` is covered only by ``*``; ``service:read`` also by ``service:write``, as in :func:`scopes_allow`.
    """
    have = set(granted)
    if ALL_SCOPES in have:
        return []
    missing: list[str] = []
    for scope in requested:
        service, _, action = scope.partition(":")
        if scope == ALL_SCOPES or not scopes_allow(have, service, action):
            missing.append(scope)
    return missing


def role_can_grant(granter: Role, grantee: Role) -> bool:
    """Nobody hands out a role above their own; only admins create admins."""
    return ROLE_RANK[granter] <= ROLE_RANK[grantee]
