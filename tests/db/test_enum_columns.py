"""Enum columns (``db/base.py`` ``enum_column``): the database keeps the value as text, the ORM gives members.

The schema side (a plain ``VARCHAR`` of the migrations' length, no CHECK constraint) is
``test_migrations.py``'s: the models and the migrated schema must not differ.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import StatementError

from neo_service_layer.db.models import Member, Role
from neo_service_layer.db.session import Database
from neo_service_layer.ids import IdPrefix, new_id
from neo_service_layer.services.accounts.service import create_account


async def _member(db: Database, role: Role) -> str:
    async with db.transaction() as session:
        account = await create_account(session, "acme")
        member = Member(id=new_id(IdPrefix.MEMBER), account_id=account.id, email="a@example.com", role=role)
        session.add(member)
    return member.id


async def test_a_member_is_stored_as_its_value_and_read_back_as_the_member(db: Database) -> None:
    member_id = await _member(db, Role.DEVELOPER)
    async with db.transaction() as session:
        stored = (
            await session.execute(text("SELECT role FROM members WHERE id = :id"), {"id": member_id})
        ).scalar_one()
        loaded = (await session.execute(select(Member.role).where(Member.id == member_id))).scalar_one()
    assert (type(stored), stored) == (str, "developer")
    assert loaded is Role.DEVELOPER


@pytest.mark.parametrize("value", ["emperor", "DEVELOPER", ""], ids=["unknown", "member-name", "empty"])
async def test_a_value_outside_the_enum_is_refused_before_it_reaches_the_database(
    db: Database, value: str
) -> None:
    member_id = await _member(db, Role.VIEWER)
    with pytest.raises(StatementError, match="is not among the defined enum values"):
        async with db.transaction() as session:
            await session.execute(update(Member).where(Member.id == member_id).values(role=value))
    async with db.transaction() as session:
        assert await session.scalar(select(Member.role).where(Member.id == member_id)) is Role.VIEWER
