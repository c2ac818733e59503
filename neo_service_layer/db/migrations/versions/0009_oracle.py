"""Oracle requests (the signed request, per-source reports, answer); the hosts a secret version may go to.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neo_service_layer.db.base import UTCDateTime

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oracle_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("result", sa.LargeBinary(), nullable=False),
        sa.Column("abi", sa.LargeBinary(), nullable=True),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_oracle_requests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oracle_requests")),
    )
    with op.batch_alter_table("oracle_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_oracle_requests_account_id"), ["account_id"], unique=False)
    with op.batch_alter_table("secret_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("allowed_hosts", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("secret_versions", schema=None) as batch_op:
        batch_op.drop_column("allowed_hosts")
    with op.batch_alter_table("oracle_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_oracle_requests_account_id"))

    op.drop_table("oracle_requests")
