"""Chain fulfilments: one row per on-chain request the fulfiller served; relayer nonce locks.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neo_service_layer.db.base import UTCDateTime

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_fulfilments",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("service", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("relayer", sa.String(length=42), nullable=True),
        sa.Column("nonce", sa.BigInteger(), nullable=True),
        sa.Column("tx", sa.JSON(), nullable=True),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("tx_hashes", sa.JSON(), nullable=False),
        sa.Column("raw_tx", sa.LargeBinary(), nullable=True),
        sa.Column("gas_limit", sa.BigInteger(), nullable=True),
        sa.Column("max_fee_per_gas", sa.BigInteger(), nullable=True),
        sa.Column("max_priority_fee_per_gas", sa.BigInteger(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("effective_gas_price", sa.BigInteger(), nullable=True),
        sa.Column("callback_success", sa.Boolean(), nullable=True),
        sa.Column("failure_reason", sa.String(length=64), nullable=True),
        sa.Column("failure_detail", sa.Text(), nullable=True),
        sa.Column("sent_at", UTCDateTime(), nullable=True),
        sa.Column("finished_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chain", "request_id", name=op.f("pk_chain_fulfilments")),
    )
    op.create_index(
        "ix_chain_fulfilments_relayer_status",
        "chain_fulfilments",
        ["chain", "relayer", "status"],
        unique=False,
    )
    op.create_table(
        "chain_nonces",
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("next_nonce", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("chain", "address", name=op.f("pk_chain_nonces")),
    )


def downgrade() -> None:
    op.drop_table("chain_nonces")
    op.drop_index("ix_chain_fulfilments_relayer_status", table_name="chain_fulfilments")
    op.drop_table("chain_fulfilments")
