"""The caller's own account (``/v1/account``) and its members."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Response

from neo_service_layer.api.context import RequestContext
from neo_service_layer.api.guards import Requires, idempotent
from neo_service_layer.api.pagination import Page, PageDep, paginate
from neo_service_layer.api.routes import AUTHENTICATED, PathId, problems
from neo_service_layer.api.routes.schemas import AccountOut, MemberIn, MemberOut
from neo_service_layer.db.models import Member
from neo_service_layer.errors import Forbidden
from neo_service_layer.services.accounts import service
from neo_service_layer.services.accounts.scopes import READ, WRITE, role_can_grant

SERVICE = "account"
AccountRead = Annotated[RequestContext, Requires(SERVICE, READ)]
# Writes of the "account" service are for owners only (services.accounts.scopes): people, credentials,
# the master key.
AccountWrite = Annotated[RequestContext, Requires(SERVICE, WRITE)]
router = APIRouter(prefix="/v1/account", tags=["account"], responses=AUTHENTICATED)


@router.get("", name="account.get")
async def get_account(ctx: AccountRead) -> AccountOut:
    """The account of the calling credential (as read with it: at most the auth-cache TTL old)."""
    return AccountOut.of(ctx.account)


@router.get("/members", name="account.members.list")
async def list_members(ctx: AccountRead, page: PageDep) -> Page[MemberOut]:
    return await paginate(ctx.session, service.member_list_statement(), Member.id, page, MemberOut.of)


@router.post(
    "/members",
    status_code=201,
    response_model=MemberOut,
    name="account.members.create",
    responses=problems(409),
)
@idempotent()
async def add_member(body: MemberIn, ctx: AccountWrite) -> MemberOut:
    """Add a person to the account with a role no higher than the caller's."""
    if not role_can_grant(ctx.principal.role, body.role):
        raise Forbidden(f"a {ctx.principal.role.value} cannot add a {body.role.value}")
    member = await service.add_member(ctx.session, ctx.principal.account_id, str(body.email), body.role)
    ctx.audit_details = {"member_id": member.id, "role": body.role.value}
    return MemberOut.of(member)


@router.delete(
    "/members/{member_id}", status_code=204, name="account.members.delete", responses=problems(404)
)
async def remove_member(member_id: PathId, ctx: AccountWrite) -> Response:
    await service.remove_member(ctx.session, member_id)
    return Response(status_code=204)
