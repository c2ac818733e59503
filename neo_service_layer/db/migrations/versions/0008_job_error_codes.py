"""Jobs: a stable code for the last failure; the EVM request job named as the N3 one (issue 12).

``last_error_code`` holds what ``last_error`` used to carry in its first words (``chain_not_configured``,
a fulfilment's reason, ``lease_expired``, …). The EVM fulfilment job is renamed from ``chains.request``
to ``chains.evm.request``, beside ``chains.n3.request``: queued, running and finished jobs of the old
name are renamed too, so a worker of this version serves the queued ones and history reads one name.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

OLD_KIND, NEW_KIND = "chains.request", "chains.evm.request"


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("last_error_code", sa.String(length=64), nullable=True))
    op.execute(
        sa.text("UPDATE jobs SET kind = :new WHERE kind = :old").bindparams(new=NEW_KIND, old=OLD_KIND)
    )


def downgrade() -> None:
    op.execute(
        sa.text("UPDATE jobs SET kind = :old WHERE kind = :new").bindparams(new=NEW_KIND, old=OLD_KIND)
    )
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("last_error_code")
