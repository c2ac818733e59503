"""Functions (issue 16): deployed functions, their immutable versions, and their runs.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neo_service_layer.db.base import UTCDateTime

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def _account_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["account_id"], ["accounts.id"], name=op.f(f"fk_{table}_account_id_accounts"), ondelete="CASCADE"
    )


def _function_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["function_id"], ["functions.id"], name=op.f(f"fk_{table}_function_id_functions"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "functions",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("live_name", sa.String(length=100), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("limits", sa.JSON(), nullable=False),
        sa.Column("allowed_domains", sa.JSON(), nullable=False),
        sa.Column("secrets", sa.JSON(), nullable=False),
        sa.Column("args_schema", sa.JSON(), nullable=True),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        _account_fk("functions"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_functions")),
        sa.UniqueConstraint("account_id", "live_name", name="uq_functions_account_live_name"),
    )
    with op.batch_alter_table("functions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_functions_account_id"), ["account_id"], unique=False)
    op.create_table(
        "function_versions",
        sa.Column("function_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("source_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        _account_fk("function_versions"),
        _function_fk("function_versions"),
        sa.PrimaryKeyConstraint("function_id", "version", name=op.f("pk_function_versions")),
    )
    with op.batch_alter_table("function_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_function_versions_account_id"), ["account_id"], unique=False)
    op.create_table(
        "function_runs",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("function_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("args", sa.JSON(), nullable=True),
        sa.Column("result", sa.Text(), nullable=True),
        sa.Column("error", sa.JSON(), nullable=True),
        sa.Column("logs", sa.Text(), nullable=False),
        sa.Column("logs_truncated", sa.Boolean(), nullable=False),
        sa.Column("fetches", sa.Integer(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("memory_bytes", sa.Integer(), nullable=True),
        sa.Column("envelope", sa.JSON(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("started_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        _account_fk("function_runs"),
        _function_fk("function_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_function_runs")),
    )
    with op.batch_alter_table("function_runs", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_function_runs_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_function_runs_function_id"), ["function_id"], unique=False)


def downgrade() -> None:
    op.drop_table("function_runs")
    op.drop_table("function_versions")
    op.drop_table("functions")
