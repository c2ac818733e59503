"""Tenant scoping (db/session.py): a session opened for an account neither reads nor writes another's rows."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import delete, func, insert, select, update

from neo_service_layer.db.models import Account, ApiKey, Member
from neo_service_layer.db.session import CrossTenantWrite, Database, wrote
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.accounts.service import create_account


@dataclass(frozen=True)
class TwoTenants:
    mine: str
    theirs: str
    my_member: str
    their_member: str


@pytest.fixture
async def two(db: Database) -> TwoTenants:
    async with db.transaction() as session:
        mine = await create_account(session, "mine")
        theirs = await create_account(session, "theirs")
        my_member = Member(
            id=new_id(IdPrefix.MEMBER), account_id=mine.id, email="me@example.com", role="owner"
        )
        their_member = Member(
            id=new_id(IdPrefix.MEMBER), account_id=theirs.id, email="them@example.com", role="owner"
        )
        session.add_all([my_member, their_member])
    return TwoTenants(mine.id, theirs.id, my_member.id, their_member.id)


async def all_members(db: Database) -> dict[str, tuple[str, str]]:
    async with db.session() as session:
        rows = (await session.execute(select(Member.id, Member.account_id, Member.role))).all()
    return {row.id: (row.account_id, row.role) for row in rows}


async def test_orm_reads_see_only_the_tenants_rows(db: Database, two: TwoTenants) -> None:
    async with db.transaction(two.mine) as session:
        assert [m.id for m in (await session.execute(select(Member))).scalars()] == [two.my_member]
        assert (await session.execute(select(Member.id))).scalars().all() == [two.my_member]
        assert (await session.execute(select(func.count()).select_from(Member))).scalar_one() == 1
        assert await session.get(Member, two.their_member) is None
        assert await session.get(Member, two.my_member) is not None
        by_id = select(Member).where(Member.id == two.their_member)
        assert (await session.execute(by_id)).scalar_one_or_none() is None
        joined = select(Account.name).join(Member, Member.account_id == Account.id)
        assert (await session.execute(joined)).scalars().all() == ["mine"]
        subquery = select(Account.id).where(Account.id.in_(select(Member.account_id)))
        assert (await session.execute(subquery)).scalars().all() == [two.mine]


async def test_models_without_a_tenant_are_not_filtered(db: Database, two: TwoTenants) -> None:
    async with db.transaction(two.mine) as session:
        names = (await session.execute(select(Account.name).order_by(Account.name))).scalars().all()
    assert names == ["mine", "theirs"]


async def test_an_unscoped_session_sees_every_tenant(db: Database, two: TwoTenants) -> None:
    async with db.session() as session:
        assert (await session.execute(select(func.count()).select_from(Member))).scalar_one() == 2


async def test_bulk_update_and_delete_touch_only_the_tenants_rows(db: Database, two: TwoTenants) -> None:
    async with db.transaction(two.mine) as session:
        await session.execute(update(Member).values(role="viewer"))
    assert await all_members(db) == {
        two.my_member: (two.mine, "viewer"),
        two.their_member: (two.theirs, "owner"),
    }
    async with db.transaction(two.mine) as session:
        await session.execute(delete(Member))
    assert await all_members(db) == {two.their_member: (two.theirs, "owner")}


async def test_adding_a_row_of_another_tenant_is_refused(db: Database, two: TwoTenants) -> None:
    with pytest.raises(CrossTenantWrite):
        async with db.transaction(two.mine) as session:
            session.add(
                Member(id=new_id(IdPrefix.MEMBER), account_id=two.theirs, email="x@example.com", role="owner")
            )
    assert len(await all_members(db)) == 2


async def test_moving_a_row_to_another_tenant_is_refused(db: Database, two: TwoTenants) -> None:
    async def move() -> None:
        async with db.transaction(two.mine) as session:
            member = await session.get(Member, two.my_member)
            assert member is not None
            member.account_id = two.theirs

    with pytest.raises(CrossTenantWrite):
        await move()
    assert (await all_members(db))[two.my_member] == (two.mine, "owner")


async def test_merging_a_row_of_another_tenant_is_refused(db: Database, two: TwoTenants) -> None:
    with pytest.raises(CrossTenantWrite):
        async with db.transaction(two.mine) as session:
            await session.merge(
                Member(id=two.their_member, account_id=two.theirs, email="x@example.com", role="viewer")
            )
    assert (await all_members(db))[two.their_member] == (two.theirs, "owner")


async def test_a_tenant_writes_its_own_rows(db: Database, two: TwoTenants) -> None:
    async with db.transaction(two.mine) as session:
        session.add(
            Member(id=new_id(IdPrefix.MEMBER), account_id=two.mine, email="new@example.com", role="viewer")
        )
    assert len(await all_members(db)) == 3


async def test_transaction_rolls_back_on_error(db: Database, two: TwoTenants) -> None:
    async def fail_halfway() -> None:
        async with db.transaction(two.mine) as session:
            await session.execute(update(Member).values(role="viewer"))
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await fail_halfway()
    assert (await all_members(db))[two.my_member] == (two.mine, "owner")


async def test_bulk_insert_of_another_tenants_row_is_refused(db: Database, two: TwoTenants) -> None:
    try:
        async with db.transaction(two.mine) as session:
            await session.execute(
                insert(ApiKey).values(
                    id=new_id(IdPrefix.API_KEY),
                    account_id=two.theirs,
                    name="planted",
                    prefix="nsl_planted",
                    secret_hash=b"0" * 32,
                    role="owner",
                    scopes=["*"],
                    created_by="attacker",
                )
            )
    except CrossTenantWrite:
        pass
    async with db.session() as session:
        planted = (await session.execute(select(ApiKey).where(ApiKey.name == "planted"))).scalars().all()
    assert planted == []


async def test_deleting_another_tenants_row_is_refused(db: Database, two: TwoTenants) -> None:
    async with db.session() as session:
        detached = await session.get(Member, two.their_member)
    assert detached is not None
    try:
        async with db.transaction(two.mine) as session:
            await session.delete(detached)
    except CrossTenantWrite:
        pass
    assert two.their_member in await all_members(db)


async def test_a_read_session_does_not_hold_sqlites_write_lock(db: Database, two: TwoTenants) -> None:
    """A GET's transaction begins deferred: another process can write while it is open."""
    if not db.is_sqlite:
        pytest.skip("PostgreSQL has row locks, not one write lock")
    other = Database(db.url)  # another process's connection to the same file
    try:
        async with db.session(two.mine, for_read=True) as reading, reading.begin():
            assert [m.id for m in (await reading.execute(select(Member))).scalars()] == [two.my_member]
            # BEGIN IMMEDIATE here would have waited for the write lock (busy_timeout, 30 s).
            async with other.transaction() as writing:
                await writing.execute(update(Account).values(name="renamed"))
            assert not wrote(reading)
    finally:
        await other.dispose()


@pytest.mark.parametrize("change", ["flush", "pending", "statement"], ids=["flush", "pending", "statement"])
async def test_wrote_notices_every_kind_of_write(db: Database, two: TwoTenants, change: str) -> None:
    async with db.session(two.mine, for_read=True) as session, session.begin():
        assert not wrote(session)
        if change == "statement":
            await session.execute(update(Member).values(role="viewer"))
        else:
            session.add(Member(id=new_id(IdPrefix.MEMBER), account_id=two.mine, email="n@e.w", role="viewer"))
            if change == "flush":
                await session.flush()
        assert wrote(session)


async def test_a_connection_returned_mid_transaction_is_rolled_back(db: Database, two: TwoTenants) -> None:
    """Our pool reset on SQLite (it skips the rollback when idle) still ends a transaction left open."""
    if not db.is_sqlite:
        pytest.skip("the custom reset is SQLite's")
    async with db.engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        # Behind SQLAlchemy's back, so that only the pool's reset can end it.
        await driver.execute("BEGIN IMMEDIATE")
        await driver.execute("UPDATE accounts SET name = 'uncommitted'")
    # The one pooled connection again: its BEGIN IMMEDIATE would fail inside an open transaction.
    async with db.transaction() as session:
        names = set((await session.execute(select(Account.name))).scalars())
    assert "uncommitted" not in names
