"""The account's own audit entries (``/v1/audit``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from neo_service_layer.api.context import RequestContext
from neo_service_layer.api.guards import Requires
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED
from neo_service_layer.api.routes.schemas import AuditEntryOut
from neo_service_layer.db.models import AuditEntry, Outcome
from neo_service_layer.services.accounts.scopes import READ
from neo_service_layer.services.audit.chain import list_statement

SERVICE = "audit"
ACTION_PATTERN = r"^[A-Za-z0-9_.:-]+$"
router = APIRouter(prefix="/v1/audit", tags=["audit"], responses=AUTHENTICATED)


@router.get("", name="audit.list")
async def list_entries(
    ctx: Annotated[RequestContext, Requires(SERVICE, READ)],
    page: PageDep,
    action: Annotated[
        str | None, Query(max_length=200, pattern=ACTION_PATTERN, description="e.g. api_keys.create")
    ] = None,
    outcome: Outcome | None = None,
) -> Page[AuditEntryOut]:
    """Entries about this account, oldest first; filter by action or outcome."""
    statement = list_statement(ctx.principal.account_id, action=action, outcome=outcome)
    return await paginate(ctx.session, statement, AuditEntry.seq, page, AuditEntryOut.of)
