"""Functions called from contracts (issue 16 item 4): the allow-list of consumers, and chain-triggered runs.

- ``functions.onchain_consumers``: the contracts (``consumer_key`` form: ``evm:<chain id>:<address>`` /
  ``n3:<magic>:<script hash>``) the function's owner lets call it through the gateways; empty (the
  default, and every existing function's value) = no contract may call it;
- ``function_runs.trigger``: ``api`` (every existing run) or ``chain``;
- ``function_runs.chain_request``: the gateway request a ``chain`` run serves, unique when set — one run
  row per request whatever number of times the fulfiller retries (NULLs never collide).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("functions") as batch:
        batch.add_column(sa.Column("onchain_consumers", sa.JSON(), nullable=False, server_default="[]"))
    with op.batch_alter_table("function_runs") as batch:
        batch.add_column(sa.Column("trigger", sa.String(length=8), nullable=False, server_default="api"))
        batch.add_column(sa.Column("chain_request", sa.String(length=200), nullable=True))
        batch.create_unique_constraint("uq_function_runs_chain_request", ["chain_request"])


def downgrade() -> None:
    with op.batch_alter_table("function_runs") as batch:
        batch.drop_constraint("uq_function_runs_chain_request", type_="unique")
        batch.drop_column("chain_request")
        batch.drop_column("trigger")
    with op.batch_alter_table("functions") as batch:
        batch.drop_column("onchain_consumers")
