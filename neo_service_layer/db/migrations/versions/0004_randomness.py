"""Randomness requests: each proved output with its seed, enclave nonce, proof, β and signed envelope.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neo_service_layer.db.base import UTCDateTime

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "randomness_requests",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("key_version", sa.Integer(), nullable=False),
        sa.Column("scheme", sa.String(length=40), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("seed", sa.LargeBinary(), nullable=False),
        sa.Column("nonce", sa.LargeBinary(), nullable=False),
        sa.Column("output_kind", sa.String(length=10), nullable=False),
        sa.Column("output_count", sa.Integer(), nullable=False),
        sa.Column("range_min", sa.String(length=80), nullable=True),
        sa.Column("range_max", sa.String(length=80), nullable=True),
        sa.Column("alpha", sa.LargeBinary(), nullable=False),
        sa.Column("proof", sa.LargeBinary(), nullable=False),
        sa.Column("beta", sa.LargeBinary(), nullable=False),
        sa.Column("output", sa.JSON(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("batch_id", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_randomness_requests_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_randomness_requests")),
    )
    with op.batch_alter_table("randomness_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_randomness_requests_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_randomness_requests_batch_id"), ["batch_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("randomness_requests", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_randomness_requests_batch_id"))
        batch_op.drop_index(batch_op.f("ix_randomness_requests_account_id"))

    op.drop_table("randomness_requests")
