"""Accounts, members and the first start (bootstrap)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from neo_service_layer.db.models import Member, Role
from neo_service_layer.db.session import Database
from neo_service_layer.errors import Conflict, Forbidden, NotFound
from neo_service_layer.services.accounts import service
from neo_service_layer.services.accounts.api_keys import authenticate_key


async def test_bootstrap_runs_once(db: Database) -> None:
    async with db.transaction() as session:
        issued = await service.bootstrap(session)
    assert issued is not None
    assert issued.record.role == "admin"
    async with db.transaction() as session:
        assert await service.bootstrap(session) is None
        system = await service.system_account(session)
    assert system is not None
    assert (system.id, system.is_system, system.name) == (issued.record.account_id, True, "system")


async def test_bootstrap_with_a_pinned_key(db: Database) -> None:
    pinned = "nsl_boot_" + "k" * 40
    async with db.transaction() as session:
        issued = await service.bootstrap(session, plaintext=pinned)
    assert issued is not None
    assert issued.plaintext == pinned
    async with db.session() as session:
        principal, _ = await authenticate_key(session, pinned)
    assert principal.is_admin


async def test_get_account(db: Database) -> None:
    async with db.transaction() as session:
        account = await service.create_account(session, "acme")
    async with db.session() as session:
        assert (await service.get_account(session, account.id)).name == "acme"
        with pytest.raises(NotFound):
            await service.get_account(session, "acc_missing")


async def test_members_are_unique_per_account_case_insensitively(db: Database) -> None:
    async with db.transaction() as session:
        account = await service.create_account(session, "acme")
        member = await service.add_member(session, account.id, "Ada@Example.com", Role.DEVELOPER)
        assert member.email == "ada@example.com"
        with pytest.raises(Conflict):
            await service.add_member(session, account.id, "ADA@example.com", Role.VIEWER)
        # The failed insert was rolled back to its savepoint: the transaction goes on.
        await service.add_member(session, account.id, "bob@example.com", Role.VIEWER)
    async with db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Member))).scalar_one() == 2


@pytest.mark.parametrize(("system", "allowed"), [(True, True), (False, False)], ids=["system", "tenant"])
async def test_admin_members_only_in_the_system_account(db: Database, system: bool, allowed: bool) -> None:
    async with db.transaction() as session:
        account = await service.create_account(session, "x", is_system=system)
        if allowed:
            assert (
                await service.add_member(session, account.id, "op@example.com", Role.ADMIN)
            ).role == "admin"
        else:
            with pytest.raises(Forbidden):
                await service.add_member(session, account.id, "op@example.com", Role.ADMIN)


async def test_remove_member_within_the_tenant_only(db: Database) -> None:
    async with db.transaction() as session:
        mine = await service.create_account(session, "mine")
        theirs = await service.create_account(session, "theirs")
        their_member = await service.add_member(session, theirs.id, "t@example.com", Role.OWNER)
        my_member = await service.add_member(session, mine.id, "m@example.com", Role.OWNER)
    async with db.transaction(mine.id) as session:
        with pytest.raises(NotFound):
            await service.remove_member(session, their_member.id)
        await service.remove_member(session, my_member.id)
    async with db.session() as session:
        remaining = (await session.execute(select(Member.id))).scalars().all()
    assert remaining == [their_member.id]
