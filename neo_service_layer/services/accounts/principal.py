"""The authenticated caller of a request."""

from __future__ import annotations

from dataclasses import dataclass

from neo_service_layer.db.models import Role
from neo_service_layer.errors import Forbidden, MissingScope
from neo_service_layer.services.accounts.scopes import READ_VALUE, role_allows, scope_for, scopes_allow


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
