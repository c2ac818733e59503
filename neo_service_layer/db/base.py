"""Declarative base and column types shared by every table (ids: ``neo_service_layer.ids``)."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import DateTime, ForeignKey, MetaData, String
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC (the only kind of datetime the platform stores)."""
    return datetime.now(UTC)


def enum_column(enum_class: type[enum.StrEnum], length: int) -> SqlEnum:
    """A column type for ``enum_class`` stored as its members' values in a ``VARCHAR(length)``.

    The ORM reads members back and refuses any other value on write (``validate_strings``); the schema is
    the plain string column the migrations create (no native enum type, no CHECK constraint), so adding
    a member needs no migration unless it is longer than ``length``.
    """
    return SqlEnum(
        enum_class,
        native_enum=False,
        create_constraint=False,
        values_callable=lambda members: [member.value for member in members],
        length=length,
        validate_strings=True,
    )


class IntegerText(TypeDecorator[int]):
    """An integer of any size (int256 prices, fees in wei) kept as its decimal text.

    Portable and exact on both databases: SQLite keeps ``NUMERIC`` values beyond 64 bits as floating
    point, and PostgreSQL's ``NUMERIC`` would come back as ``Decimal``. Never compared in SQL.
    """

    impl = String(80)
    cache_ok = True

    def process_bind_param(self, value: int | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"an integer column was given {type(value).__name__}")
        return str(value)

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        return None if value is None else int(value)


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp that is always timezone-aware UTC in Python, whatever the database keeps."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every ORM model."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PlatformOwned:
    """Mixin for platform rows every account may read but none may write (price feeds).

    They are not :class:`TenantOwned` (no account filter: every tenant reads the same rows), and a
    session opened for a tenant refuses to write them (``neo_service_layer.db.session``): only the
    platform's own sessions (operators, the worker) change them.
    """


class TenantOwned:
    """Mixin for rows that belong to one account.

    Every ORM query on a session opened for a tenant gets ``account_id == <tenant>`` added in one
    place (``neo_service_layer.db.session``), so no route can forget the filter.
    """

    account_id: Mapped[str] = mapped_column(
        String(40), ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
