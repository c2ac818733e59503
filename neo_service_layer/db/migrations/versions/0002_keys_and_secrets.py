"""Keys and secrets: account master keys, keys and their versions, secrets, versions and grants.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from neo_service_layer.db.base import UTCDateTime

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "account_master_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("sealed", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_account_master_keys_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_master_keys")),
        sa.UniqueConstraint("account_id", "version", name="uq_account_master_keys_version"),
    )
    with op.batch_alter_table("account_master_keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_account_master_keys_account_id"), ["account_id"], unique=False)

    op.create_table(
        "keys",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("latest_version", sa.Integer(), nullable=False),
        sa.Column("min_decryption_version", sa.Integer(), nullable=False),
        sa.Column("min_encryption_version", sa.Integer(), nullable=False),
        sa.Column("exportable", sa.Boolean(), nullable=False),
        sa.Column("allowed_operations", sa.JSON(), nullable=False),
        sa.Column("deletion_date", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_keys_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keys")),
        sa.UniqueConstraint("account_id", "name", name="uq_keys_account_name"),
    )
    with op.batch_alter_table("keys", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_keys_account_id"), ["account_id"], unique=False)

    op.create_table(
        "secrets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("max_versions", sa.Integer(), nullable=False),
        sa.Column("cas_required", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_secrets_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secrets")),
        sa.UniqueConstraint("account_id", "name", name="uq_secrets_account_name"),
    )
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secrets_account_id"), ["account_id"], unique=False)

    op.create_table(
        "key_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("wrapped_material", sa.LargeBinary(), nullable=False),
        sa.Column("amk_version", sa.Integer(), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_key_versions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["key_id"], ["keys.id"], name=op.f("fk_key_versions_key_id_keys"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_key_versions")),
        sa.UniqueConstraint("key_id", "version", name="uq_key_versions_key_version"),
    )
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_key_versions_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_key_versions_key_id"), ["key_id"], unique=False)

    op.create_table(
        "secret_grants",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("secret_id", sa.String(length=40), nullable=False),
        sa.Column("grantee_kind", sa.String(length=20), nullable=False),
        sa.Column("grantee", sa.String(length=200), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_secret_grants_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["secret_id"], ["secrets.id"], name=op.f("fk_secret_grants_secret_id_secrets"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_grants")),
        sa.UniqueConstraint("secret_id", "grantee_kind", "grantee", name="uq_secret_grants_grantee"),
    )
    with op.batch_alter_table("secret_grants", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_grants_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_secret_grants_secret_id"), ["secret_id"], unique=False)

    op.create_table(
        "secret_versions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("secret_id", sa.String(length=40), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("ciphertext", sa.LargeBinary(), nullable=True),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("amk_version", sa.Integer(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("deleted_at", UTCDateTime(), nullable=True),
        sa.Column("destroyed", sa.Boolean(), nullable=False),
        sa.Column("account_id", sa.String(length=40), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_secret_versions_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["secret_id"],
            ["secrets.id"],
            name=op.f("fk_secret_versions_secret_id_secrets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_secret_versions")),
        sa.UniqueConstraint("secret_id", "version", name="uq_secret_versions_secret_version"),
    )
    with op.batch_alter_table("secret_versions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_secret_versions_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_secret_versions_secret_id"), ["secret_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("secret_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_versions_secret_id"))
        batch_op.drop_index(batch_op.f("ix_secret_versions_account_id"))

    op.drop_table("secret_versions")
    with op.batch_alter_table("secret_grants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secret_grants_secret_id"))
        batch_op.drop_index(batch_op.f("ix_secret_grants_account_id"))

    op.drop_table("secret_grants")
    with op.batch_alter_table("key_versions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_key_versions_key_id"))
        batch_op.drop_index(batch_op.f("ix_key_versions_account_id"))

    op.drop_table("key_versions")
    with op.batch_alter_table("secrets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_secrets_account_id"))

    op.drop_table("secrets")
    with op.batch_alter_table("keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_keys_account_id"))

    op.drop_table("keys")
    with op.batch_alter_table("account_master_keys", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_account_master_keys_account_id"))

    op.drop_table("account_master_keys")
