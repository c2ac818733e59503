"""Accounts and members."""

from __future__ import annotations

from sqlalchemy import Select, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from neo_service_layer.db.models import Account, Member, Role
from neo_service_layer.errors import Conflict, Forbidden, NotFound
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.accounts.api_keys import IssuedKey, create_key
from neo_service_layer.services.accounts.principal import AccountView
from neo_service_layer.services.accounts.scopes import ALL_SCOPES

SYSTEM_ACCOUNT_NAME = "system"


async def create_account(session: AsyncSession, name: str, *, is_system: bool = False) -> Account:
    account = Account(id=new_id(IdPrefix.ACCOUNT), name=name, is_system=is_system, disabled=False)
    session.add(account)
    await session.flush()
    return account


async def get_account(session: AsyncSession, account_id: str) -> Account:
    account = await session.get(Account, account_id)
    if account is None:
        raise NotFound(f"account {account_id} not found")
    return account


async def account_view(session: AsyncSession, account_id: str) -> AccountView:
    """A detached copy of account ``account_id`` (what the auth cache keeps with a principal)."""
    account = await get_account(session, account_id)
    return AccountView(account.id, account.name, account.is_system, account.disabled, account.created_at)


def account_list_statement() -> Select[Account]:
    """Every account (the system account included), for the operators' list."""
    return select(Account)


async def system_account(session: AsyncSession) -> Account | None:
    """The operators' account, if bootstrapped."""
    return (await session.execute(select(Account).where(Account.is_system.is_(True)))).scalar_one_or_none()


async def bootstrap(session: AsyncSession, *, plaintext: str | None = None) -> IssuedKey | None:
    """On first start: the system account and an admin key. Returns None when already done."""
    if await system_account(session) is not None:
        return None
    account = await create_account(session, SYSTEM_ACCOUNT_NAME, is_system=True)
    return await create_key(
        session,
        account_id=account.id,
        name="bootstrap admin",
        role=Role.ADMIN,
        scopes=[ALL_SCOPES],
        expires_at=None,
        created_by="bootstrap",
        plaintext=plaintext,
    )


def member_list_statement() -> Select[Member]:
    """The account's members (the session adds the account filter)."""
    return select(Member)


async def add_member(session: AsyncSession, account_id: str, email: str, role: Role) -> Member:
    if role == Role.ADMIN:
        account = await get_account(session, account_id)
        if not account.is_system:
            raise Forbidden("the admin role exists only in the system account")
    member = Member(id=new_id(IdPrefix.MEMBER), account_id=account_id, email=email.lower(), role=role)
    try:
        # Added inside the savepoint, so that its rollback also forgets the row and the caller's
        # transaction can go on after the Conflict.
        async with session.begin_nested():
            session.add(member)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(f"{email} is already a member") from exc
    return member


async def remove_member(session: AsyncSession, member_id: str) -> None:
    member = (await session.execute(select(Member).where(Member.id == member_id))).scalar_one_or_none()
    if member is None:
        raise NotFound(f"member {member_id} not found")
    await session.delete(member)
    await session.flush()
