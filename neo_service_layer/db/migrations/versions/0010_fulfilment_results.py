"""Chain fulfilments keep the signed result they send, and the result that landed (issue 14 item 7).

An oracle answer is not deterministic (the web changes), so a fulfiller that must send again (a fee
bump, an expired N3 transaction, a restart) re-sends the result it recorded before its first send
instead of asking the enclave again: ``result`` and ``signature``. Once the request is confirmed,
``result`` is the one the chain's ``Fulfilled`` event carries.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("chain_fulfilments") as batch:
        batch.add_column(sa.Column("result", sa.LargeBinary(), nullable=True))
        batch.add_column(sa.Column("signature", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("chain_fulfilments") as batch:
        batch.drop_column("signature")
        batch.drop_column("result")
