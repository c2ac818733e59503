"""A function's version is the snapshot of everything that decides a run (issue 16).

``limits``, ``allowed_domains``, ``secrets`` and ``args_schema`` move from ``functions`` to
``function_versions``: each existing version gets its function's values (the only ones it can have run
with since the last PATCH; earlier values were never stored), then the function row loses them — a
version is the one place a run's config lives, so a later PATCH can no longer change what an older
version's runs appear to have run with. The downgrade puts the current version's values back on the
function row.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

#: The moved columns; each but ``args_schema`` (no schema: any args) is NOT NULL.
_NOT_NULL = ("limits", "allowed_domains", "secrets")
_COLUMNS = (*_NOT_NULL, "args_schema")
_FUNCTIONS = sa.table("functions", sa.column("id"), sa.column("version"), *map(sa.column, _COLUMNS))
_VERSIONS = sa.table(
    "function_versions", sa.column("function_id"), sa.column("version"), *map(sa.column, _COLUMNS)
)


def _add(target: sa.TableClause, source: sa.TableClause, join: sa.ColumnElement[bool]) -> None:
    """The columns on ``target``, nullable, each row's value copied from its ``source`` row."""
    # Added in place (SQLite's ALTER TABLE ADD COLUMN): never a recreate of ``functions`` (see _drop).
    with op.batch_alter_table(target.name, recreate="never") as batch:
        for column in _COLUMNS:
            batch.add_column(sa.Column(column, sa.JSON(), nullable=True))
    # A correlated subquery per column: the same statement on SQLite and PostgreSQL.
    values = {name: sa.select(source.c[name]).where(join).scalar_subquery() for name in _COLUMNS}
    op.execute(target.update().values(values))


def _not_null(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        for column in _NOT_NULL:
            batch.alter_column(column, existing_type=sa.JSON(), nullable=False)


def _drop(table: str) -> None:
    # In place (SQLite 3.35+: ALTER TABLE ... DROP COLUMN), never a batch recreate: recreating
    # ``functions`` drops it, and with foreign keys on SQLite's DROP TABLE deletes its rows first,
    # firing ON DELETE CASCADE into function_versions and function_runs — every version and run lost.
    with op.batch_alter_table(table, recreate="never") as batch:
        for column in _COLUMNS:
            batch.drop_column(column)


def upgrade() -> None:
    _add(_VERSIONS, _FUNCTIONS, _FUNCTIONS.c.id == _VERSIONS.c.function_id)
    _not_null("function_versions")  # a recreate on SQLite: no table refers to function_versions
    _drop("functions")


def downgrade() -> None:
    current = sa.and_(_VERSIONS.c.function_id == _FUNCTIONS.c.id, _VERSIONS.c.version == _FUNCTIONS.c.version)
    _add(_FUNCTIONS, _VERSIONS, current)
    # SQLite cannot make a column NOT NULL in place, and a recreate of ``functions`` would lose every
    # version and run (_drop): there the columns stay nullable, every row filled.
    if op.get_bind().dialect.name != "sqlite":
        _not_null("functions")
    _drop("function_versions")
