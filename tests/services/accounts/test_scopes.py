"""Scopes and roles, table-driven: what each credential may do, and what it may hand out."""

from __future__ import annotations

import pytest

from neo_service_layer.db.models import Role
from neo_service_layer.errors import Forbidden, MissingScope, ValidationFailed
from neo_service_layer.services.accounts.principal import Principal
from neo_service_layer.services.accounts.scopes import (
    SERVICES,
    role_allows,
    role_can_grant,
    scopes_allow,
    uncovered_scopes,
    validate_scopes,
)


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (["*"], ["*"]),
        (["audit:read"], ["audit:read"]),
        (["keys:write", "audit:read", "keys:write"], ["audit:read", "keys:write"]),
        (["*", "keys:read"], ["*", "keys:read"]),
        ([f"{service}:read" for service in SERVICES], sorted(f"{service}:read" for service in SERVICES)),
    ],
    ids=["all", "one", "dedup-sorted", "star-and-one", "every-service"],
)
def test_valid_scopes_are_sorted_and_deduplicated(given: list[str], expected: list[str]) -> None:
    assert validate_scopes(given) == expected


@pytest.mark.parametrize(
    "given",
    [
        [],
        ["nosuch:read"],
        ["keys:delete"],
        ["keys"],
        ["keys:"],
        [":read"],
        ["Keys:read"],
        ["keys:read:x"],
        ["**"],
    ],
    ids=[
        "empty",
        "unknown-service",
        "unknown-action",
        "no-colon",
        "no-action",
        "no-service",
        "case",
        "extra",
        "stars",
    ],
)
def test_invalid_scopes_are_refused(given: list[str]) -> None:
    with pytest.raises(ValidationFailed):
        validate_scopes(given)


# role, service, action, allowed
ROLE_TABLE = [
    (Role.ADMIN, "account", "write", True),
    (Role.ADMIN, "keys", "write", True),
    (Role.OWNER, "account", "write", True),
    (Role.OWNER, "keys", "write", True),
    (Role.OWNER, "audit", "read", True),
    (Role.DEVELOPER, "keys", "write", True),
    (Role.DEVELOPER, "secrets", "write", True),
    (Role.DEVELOPER, "account", "read", True),
    (Role.DEVELOPER, "account", "write", False),
    (Role.VIEWER, "keys", "read", True),
    (Role.VIEWER, "account", "read", True),
    (Role.VIEWER, "audit", "read", True),
    (Role.VIEWER, "keys", "write", False),
    (Role.VIEWER, "account", "write", False),
    # Secret values: developers and owners, never viewers (docs/secrets.md).
    (Role.ADMIN, "secrets", "read_value", True),
    (Role.OWNER, "secrets", "read_value", True),
    (Role.DEVELOPER, "secrets", "read_value", True),
    (Role.VIEWER, "secrets", "read_value", False),
    (Role.VIEWER, "secrets", "read", True),
]


@pytest.mark.parametrize(
    ("role", "service", "action", "allowed"),
    ROLE_TABLE,
    ids=[f"{role.value}-{service}-{action}" for role, service, action, _ in ROLE_TABLE],
)
def test_role_caps(role: Role, service: str, action: str, allowed: bool) -> None:
    assert role_allows(role, service, action) is allowed


SCOPE_TABLE = [
    (["*"], "keys", "write", True),
    (["keys:read"], "keys", "read", True),
    (["keys:read"], "keys", "write", False),
    (["keys:write"], "keys", "read", True),
    (["keys:write"], "secrets", "read", False),
    (["audit:read"], "account", "read", False),
    ([], "keys", "read", False),
    (["secrets:read"], "secrets", "read_value", True),
    (["secrets:write"], "secrets", "read_value", True),
    (["keys:write"], "secrets", "read_value", False),
]


@pytest.mark.parametrize(
    ("granted", "service", "action", "allowed"),
    SCOPE_TABLE,
    ids=[f"{'+'.join(g) or 'none'}-{s}-{a}" for g, s, a, _ in SCOPE_TABLE],
)
def test_scopes_allow(granted: list[str], service: str, action: str, allowed: bool) -> None:
    assert scopes_allow(granted, service, action) is allowed


COVER_TABLE = [
    (["*"], ["*"], []),
    (["*"], ["keys:write", "audit:read"], []),
    (["keys:write"], ["keys:read", "keys:write"], []),
    (["keys:read"], ["keys:write"], ["keys:write"]),
    (["keys:write"], ["*"], ["*"]),
    (["keys:write"], ["audit:read", "keys:read", "secrets:write"], ["audit:read", "secrets:write"]),
    ([], ["keys:read"], ["keys:read"]),
]


@pytest.mark.parametrize(
    ("granted", "requested", "missing"),
    COVER_TABLE,
    ids=["star-star", "star-any", "write-covers-read", "read-not-write", "not-star", "partial", "nothing"],
)
def test_uncovered_scopes(granted: list[str], requested: list[str], missing: list[str]) -> None:
    assert uncovered_scopes(granted, requested) == missing


ROLES = list(Role)


@pytest.mark.parametrize("granter", ROLES, ids=lambda r: r.value)
@pytest.mark.parametrize("grantee", ROLES, ids=lambda r: r.value)
def test_nobody_grants_a_role_above_their_own(granter: Role, grantee: Role) -> None:
    order = [Role.ADMIN, Role.OWNER, Role.DEVELOPER, Role.VIEWER]
    assert role_can_grant(granter, grantee) is (order.index(granter) <= order.index(grantee))


def principal(role: Role, *scopes: str) -> Principal:
    return Principal(
        account_id="acc_1", role=role, scopes=scopes, credential_id="key_1", actor="api_key:key_1"
    )


@pytest.mark.parametrize(
    ("who", "service", "action", "error"),
    [
        (principal(Role.OWNER, "*"), "account", "write", None),
        (principal(Role.VIEWER, "*"), "keys", "write", Forbidden),
        (principal(Role.OWNER, "audit:read"), "account", "read", MissingScope),
        (principal(Role.DEVELOPER, "keys:write"), "account", "write", Forbidden),
        (principal(Role.DEVELOPER, "keys:write"), "keys", "read", None),
        (principal(Role.VIEWER, "*"), "secrets", "read_value", Forbidden),
        (principal(Role.DEVELOPER, "secrets:read"), "secrets", "read_value", None),
        (principal(Role.DEVELOPER, "keys:write"), "secrets", "read_value", MissingScope),
    ],
    ids=[
        "owner-ok",
        "viewer-write",
        "scope-missing",
        "role-before-scope",
        "write-implies-read",
        "viewer-no-values",
        "read-scope-reads-values",
        "value-scope-missing",
    ],
)
def test_principal_require(who: Principal, service: str, action: str, error: type[Exception] | None) -> None:
    if error is None:
        who.require(service, action)
    else:
        with pytest.raises(error):
            who.require(service, action)


def test_a_value_read_names_the_read_scope_and_the_metadata_a_viewer_may_see() -> None:
    with pytest.raises(MissingScope) as missing:
        principal(Role.DEVELOPER, "keys:write").require("secrets", "read_value")
    assert missing.value.extra["scope"] == "secrets:read"  # there is no secrets:read_value scope
    with pytest.raises(Forbidden, match="may read secrets metadata, not values"):
        principal(Role.VIEWER, "*").require("secrets", "read_value")


@pytest.mark.parametrize(
    ("role", "is_admin"),
    [(Role.ADMIN, True), (Role.OWNER, False), (Role.VIEWER, False)],
    ids=lambda v: str(v),
)
def test_only_admins_pass_require_admin(role: Role, is_admin: bool) -> None:
    who = principal(role, "*")
    assert who.is_admin is is_admin
    if is_admin:
        who.require_admin()
    else:
        with pytest.raises(Forbidden):
            who.require_admin()
