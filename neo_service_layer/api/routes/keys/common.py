"""What the keys routes share: their declared requirements, error responses and audit details."""

from __future__ import annotations

from typing import Annotated, Protocol

from neo_service_layer.api.context import RequestContext
from neo_service_layer.api.guards import AuditDetails, Requires
from neo_service_layer.api.routes import problems
from neo_service_layer.services.accounts.scopes import READ, WRITE

SERVICE = "keys"
PREFIX = "/v1/keys"
KeysRead = Annotated[RequestContext, Requires(SERVICE, READ)]
KeysWrite = Annotated[RequestContext, Requires(SERVICE, WRITE)]
KEY_ERRORS = problems(404, 409)
OP_ERRORS = problems(404, 409, 422)


class OnVersion(Protocol):
    """A result about one version of a key."""

    @property
    def key_id(self) -> str: ...

    @property
    def version(self) -> int: ...


def on_version(op: str) -> AuditDetails[OnVersion]:
    """The audit details of ``op`` on one key version: the key, the operation and the version used."""
    return lambda result: {"key_id": result.key_id, "op": op, "version": result.version}
