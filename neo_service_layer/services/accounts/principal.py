"""The authenticated caller of a request, and what a route requires of it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from neo_service_layer.db.models import Role
from neo_service_layer.errors import Forbidden, MissingScope
from neo_service_layer.services.accounts.scopes import (
    READ,
    READ_VALUE,
    SERVICES,
    WRITE,
    role_allows,
    scope_for,
    scopes_allow,
)


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: their account, role, scopes and the credential used."""

    account_id: str
    role: Role
    scopes: tuple[str, ...]
    credential_id: str
    actor: str

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    def require(self, service: str, action: str) -> None:
        """Raise unless this principal may perform ``action`` on ``service``."""
        if not role_allows(self.role, service, action):
            if action == READ_VALUE:
                raise Forbidden(f"role {self.role.value!r} may read {service} metadata, not values")
            raise Forbidden(f"role {self.role.value!r} may not {action} {service}")
        if not scopes_allow(self.scopes, service, action):
            scope = scope_for(service, action)
            raise MissingScope(f"scope {scope} is required", scope=scope)

    def require_admin(self) -> None:
        """Raise unless this principal is a platform operator."""
        if not self.is_admin:
            raise Forbidden("platform administrators only")


@dataclass(frozen=True, slots=True)
class AccountView:
    """The caller's account as read when its credential was checked: cached with the principal for the
    auth-cache TTL, so ``GET /v1/account`` reads nothing. No staler than the principal itself (a
    disabled account stops its credentials within the same TTL)."""

    id: str
    name: str
    is_system: bool
    disabled: bool
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Caller:
    """An authenticated credential's principal and its account, as the auth cache keeps them."""

    principal: Principal
    account: AccountView


@dataclass(frozen=True, slots=True)
class Requirement:
    """What a route requires of its caller: ``action`` on ``service`` (role, then scope), or the platform
    operator role (``platform``), or nothing beyond a valid credential (neither).

    Routes declare one (``api.context.Requires``); a typo in a service or action fails at import.
    """

    service: str | None = None
    action: str | None = None
    platform: bool = False

    def __post_init__(self) -> None:
        if (self.service is None) != (self.action is None) or (self.platform and self.service is not None):
            raise ValueError("a requirement names a service and an action, or the platform role, or neither")
        if self.service is not None and self.service not in SERVICES:
            raise ValueError(f"unknown service {self.service!r}; add it to scopes.SERVICES")
        if self.action is not None and self.action not in (READ, WRITE, READ_VALUE):
            raise ValueError(f"unknown action {self.action!r}")

    def check(self, principal: Principal) -> None:
        """Raise unless ``principal`` meets this requirement (403 ``forbidden`` or ``missing_scope``)."""
        if self.platform:
            principal.require_admin()
        elif self.service is not None and self.action is not None:
            principal.require(self.service, self.action)


#: Platform administration: the admin role of the system account, whatever its scopes.
PLATFORM_ADMIN = Requirement(platform=True)
#: Any valid credential: for routes that never give more than the credential already has.
ANY_CREDENTIAL = Requirement()
