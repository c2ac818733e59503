"""Price feeds (issue 15): feeds, their published rounds, and each round's transmission to each chain.

Answers and fees are integers of any size kept as decimal text (``IntegerText``: exact on SQLite and
PostgreSQL alike); the rounds keep the enclave's signed observation (request and envelope).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neo_service_layer.db.base import IntegerText, UTCDateTime

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "price_feeds",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("pair", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=200), nullable=False),
        sa.Column("decimals", sa.Integer(), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("min_sources", sa.Integer(), nullable=False),
        sa.Column("max_quote_age_seconds", sa.Integer(), nullable=False),
        sa.Column("outlier_mad_k", sa.String(length=32), nullable=False),
        sa.Column("max_spread_bps", sa.Integer(), nullable=False),
        sa.Column("deviation_bps", sa.Integer(), nullable=False),
        sa.Column("heartbeat_seconds", sa.Integer(), nullable=False),
        sa.Column("poll_interval_seconds", sa.Integer(), nullable=False),
        sa.Column("breaker_bps", sa.Integer(), nullable=False),
        sa.Column("targets", sa.JSON(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("pending_answer", IntegerText(), nullable=True),
        sa.Column("pending_observed_at", sa.BigInteger(), nullable=True),
        sa.Column("last_observation", sa.JSON(), nullable=True),
        sa.Column("next_poll_at", UTCDateTime(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_price_feeds")),
        sa.UniqueConstraint("pair", name=op.f("uq_price_feeds_pair")),
    )
    op.create_index(op.f("ix_price_feeds_next_poll_at"), "price_feeds", ["next_poll_at"], unique=False)
    op.create_table(
        "price_rounds",
        sa.Column("feed_id", sa.String(length=40), nullable=False),
        sa.Column("round_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("answer", IntegerText(), nullable=False),
        sa.Column("observed_at", sa.BigInteger(), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("sources", sa.JSON(), nullable=False),
        sa.Column("request", sa.JSON(), nullable=False),
        sa.Column("envelope", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["price_feeds.id"],
            name=op.f("fk_price_rounds_feed_id_price_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_id", "round_id", name=op.f("pk_price_rounds")),
    )
    op.create_table(
        "price_transmissions",
        sa.Column("feed_id", sa.String(length=40), nullable=False),
        sa.Column("round_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chain", sa.String(length=64), nullable=False),
        sa.Column("target", sa.String(length=66), nullable=False),
        sa.Column("chain_round_id", sa.BigInteger(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("block_number", sa.BigInteger(), nullable=True),
        sa.Column("gas_used", sa.BigInteger(), nullable=True),
        sa.Column("fee", IntegerText(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["price_feeds.id"],
            name=op.f("fk_price_transmissions_feed_id_price_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_id", "round_id", "chain", name=op.f("pk_price_transmissions")),
    )
    op.create_index(op.f("ix_price_transmissions_status"), "price_transmissions", ["status"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_price_transmissions_status"), table_name="price_transmissions")
    op.drop_table("price_transmissions")
    op.drop_table("price_rounds")
    op.drop_index(op.f("ix_price_feeds_next_poll_at"), table_name="price_feeds")
    op.drop_table("price_feeds")
